# SAP-SAM ViT-B/16 with image cross-modal decoding (supp. Table 4): SDM + the
# image decoding head. The supplement reports image decoding alone
# (combining it with text decoding hurt), so the part MLM and the alignment
# head are off. Leaves choose the head's `variant`; the discrete ones predict
# the tokens of `dvae_tokenizer`.
from mmengine.config import read_base

from sapsam.models import DVAEImageTokenizer, ImageDecodingHead

with read_base():
    from .sapsam_vitb16 import *  # noqa: F401,F403

# DALL-E dVAE encoder weights as a state dict (docs/weights.md).
dvae_tokenizer = dict(type=DVAEImageTokenizer,
                      checkpoint='checkpoints/dalle/encoder.pth')
model.update(
    mlm_head=None,
    alignment_head=None,
    image_decoding_head=dict(
        type=ImageDecodingHead, variant='linear_after_pe',
        foreground_mask_rate=0.5, background_mask_rate=0.2),
    mim_loss_weight=1.0)
