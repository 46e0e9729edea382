# Supp. Table 7 baseline: CLIP ViT-L/14 + SDM on CUHK-PEDES, at 378x126
# (the 27x9 patch grid ViT-L/14 sees at 384x128; see elca_vitl14_cuhk.py).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.datasets.cuhk_pedes import *  # noqa: F401,F403
    from .._base_.models.clip_sdm_vitb16 import *  # noqa: F401,F403
    from .._base_.schedules.adam_60e import *  # noqa: F401,F403

image_size = (378, 126)  # (h, w)
model.backbone.update(arch='ViT-L/14', image_size=image_size,
                      pretrained='checkpoints/clip/ViT-L-14.pt')
resize = dict(resize, scale=image_size[::-1])
random_crop = dict(random_crop, size=image_size)
train_dataloader.dataset.pipeline = [load_image, resize, random_flip,
                                     random_crop, random_erasing, tokenize,
                                     pack]
gallery_pipeline_l14 = [load_image, resize, pack]
val_cfg.gallery_dataloader.dataset.pipeline = gallery_pipeline_l14
test_cfg.gallery_dataloader.dataset.pipeline = gallery_pipeline_l14
