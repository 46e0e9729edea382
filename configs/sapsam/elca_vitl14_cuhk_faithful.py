# Table 7 SAP-SAM ViT-L/14 (76.28 R@1): elca_vitl14_cuhk.py with the
# official recipe (docs/fidelity.md), the pipeline rebuilt from the faithful
# pieces at 378x126 with 14-pixel patches.
from mmengine.config import read_base

from sapsam.models import SAPSAMFP16

with read_base():
    from .._base_.faithful_retriever import *  # noqa: F401,F403
    from .elca_vitl14_cuhk import *  # noqa: F401,F403

train_dataloader.dataset.update(faithful_part_dataset)
faithful_resize = dict(faithful_resize, scale=image_size[::-1])
faithful_crop = dict(faithful_crop, size=image_size)
train_dataloader.dataset.pipeline = [
    *faithful_part_load, faithful_resize, official_img_aug, faithful_crop,
    random_erasing, patch_labels, *faithful_part_text]
param_scheduler = faithful_param_scheduler
model.update(type=SAPSAMFP16)
model['alignment_head'].update(readout='cls')
