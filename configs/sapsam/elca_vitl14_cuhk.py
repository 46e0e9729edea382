# Supp. Table 7: SAP-SAM (SDM + part-aware MLM + ELCA) on CLIP ViT-L/14,
# CUHK-PEDES. A 14-pixel patch does not divide 384x128; the ViT would see a
# 27x9 grid and drop the last 6x2 pixels, so the input is 378x126 (the same
# 27x9 grid) and the part labels use 14x14 patches.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.datasets.cuhk_pedes_parts import *  # noqa: F401,F403
    from .._base_.models.sapsam_vitb16 import *  # noqa: F401,F403
    from .._base_.schedules.adam_60e import *  # noqa: F401,F403

image_size = (378, 126)  # (h, w)
patch_size = 14
model.backbone.update(arch='ViT-L/14', image_size=image_size,
                      pretrained='checkpoints/clip/ViT-L-14.pt')
resize = dict(resize, scale=image_size[::-1])
random_crop = dict(random_crop, size=image_size)
patch_labels = dict(patch_labels, patch_size=patch_size)
train_dataloader.dataset.pipeline = [*part_load, resize, random_flip,
                                     random_crop, random_erasing,
                                     patch_labels, *part_text]
gallery_pipeline_l14 = [load_image, resize, pack]
val_cfg.gallery_dataloader.dataset.pipeline = gallery_pipeline_l14
test_cfg.gallery_dataloader.dataset.pipeline = gallery_pipeline_l14
