# SAP-SAM with a tiny randomly initialised CLIP for the synthetic benchmark.
from sapsam.models import (SAPSAM, CLIPBackbone, CrossModalDecoder, ELCAAlign,
                           MaskedLanguageHead, SDMLoss)
from sapsam.models.data_preprocessors import TBPRDataPreprocessor

model = dict(
    type=SAPSAM,
    data_preprocessor=dict(type=TBPRDataPreprocessor),
    backbone=dict(type=CLIPBackbone, arch='tiny', image_size=(192, 64),
                  context_length=77),
    sdm_loss=dict(type=SDMLoss, temperature=0.02),
    cross_modal_decoder=dict(type=CrossModalDecoder, num_heads=2, depth=1),
    mlm_head=dict(type=MaskedLanguageHead),
    alignment_head=dict(type=ELCAAlign, num_heads=2, readout='region'),
    image_decoding_head=None,
    mlm_loss_weight=1.0,
    align_loss_weight=1.0,
)
