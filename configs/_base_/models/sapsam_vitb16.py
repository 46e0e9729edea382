# SAP-SAM on CLIP ViT-B/16: SDM + part-aware masked-language decoding +
# ELCA alignment (the paper's main model). Swap `alignment_head` for the
# Table 6 ablations.
from sapsam.models import (SAPSAM, CLIPBackbone, CrossModalDecoder, ELCAAlign,
                           MaskedLanguageHead, SDMLoss)
from sapsam.models.data_preprocessors import TBPRDataPreprocessor

model = dict(
    type=SAPSAM,
    data_preprocessor=dict(type=TBPRDataPreprocessor),
    backbone=dict(type=CLIPBackbone, arch='ViT-B/16', image_size=(384, 128),
                  context_length=77,
                  pretrained='checkpoints/clip/ViT-B-16.pt'),
    sdm_loss=dict(type=SDMLoss, temperature=0.02),
    cross_modal_decoder=dict(type=CrossModalDecoder, num_heads=8, depth=4),
    mlm_head=dict(type=MaskedLanguageHead),
    alignment_head=dict(type=ELCAAlign, num_heads=8, readout='region'),
    image_decoding_head=None,
    mlm_loss_weight=1.0,
    align_loss_weight=1.0,
)
