# Tiny randomly initialised CLIP for the synthetic benchmark on CPU.
from sapsam.models import CLIPBackbone, CLIPRetriever, SDMLoss
from sapsam.models.data_preprocessors import TBPRDataPreprocessor

model = dict(
    type=CLIPRetriever,
    data_preprocessor=dict(type=TBPRDataPreprocessor),
    backbone=dict(type=CLIPBackbone, arch='tiny', image_size=(192, 64),
                  context_length=77),
    sdm_loss=dict(type=SDMLoss, temperature=0.02),
)
