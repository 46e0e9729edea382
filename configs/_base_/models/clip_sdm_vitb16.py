# Baseline retriever: CLIP ViT-B/16 global features trained with SDM.
from sapsam.models import CLIPBackbone, CLIPRetriever, SDMLoss
from sapsam.models.data_preprocessors import TBPRDataPreprocessor

model = dict(
    type=CLIPRetriever,
    data_preprocessor=dict(type=TBPRDataPreprocessor),
    backbone=dict(
        type=CLIPBackbone,
        arch='ViT-B/16',
        image_size=(384, 128),
        context_length=77,
        # OpenAI's ViT-B-16.pt (TorchScript) or a plain state dict; see
        # docs/weights.md.
        pretrained='checkpoints/clip/ViT-B-16.pt'),
    sdm_loss=dict(type=SDMLoss, temperature=0.02),
)
