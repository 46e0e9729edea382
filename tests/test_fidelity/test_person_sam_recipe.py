"""The official Person-SAM training recipe (docs/fidelity.md P1-P4, S2)."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from sapsam.engine.optimizers import OfficialWarmupLR, RepeatedStepOptimWrapper
from sapsam.models import DiceLoss

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RECIPE = Config.fromfile(
    osp.join(REPO, 'configs/_base_/faithful_person_sam.py'))


def _recipe_model_overrides():
    overrides = dict(RECIPE.faithful_person_sam_model)
    overrides['losses'] = [dict(loss, type='DiceLoss')
                           for loss in overrides['losses']]
    return overrides


def test_two_optimizer_steps_per_iteration():
    """P1: each gradient is applied twice, as two AdamW steps."""
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(4))
    twin = torch.nn.Parameter(weight.detach().clone())
    wrapper = RepeatedStepOptimWrapper(
        repeats=2, optimizer=torch.optim.AdamW([weight], lr=0.1))
    reference = torch.optim.AdamW([twin], lr=0.1)
    for _ in range(3):
        wrapper.update_params((weight ** 2).sum())
        (twin ** 2).sum().backward()
        reference.step()
        reference.step()  # same gradient, second step
        reference.zero_grad()
    assert torch.equal(weight, twin)
    assert reference.state[twin]['step'] == 6
    assert RECIPE.faithful_person_sam_optim_wrapper.repeats == 2


def test_dice_only_with_squared_predictions():
    """P2: MONAI DiceCELoss(sigmoid, squared_pred) before 1.3, i.e. Dice
    1 - (2 sum(pg) + 1e-5) / (sum(p^2) + sum(g^2) + 1e-5) per sample."""
    torch.manual_seed(0)
    logits = torch.randn(3, 1, 8, 8)
    target = (torch.rand(3, 1, 8, 8) > 0.5).float()
    p, g = logits.sigmoid().flatten(1), target.flatten(1)
    official = 1 - (2 * (p * g).sum(1) + 1e-5) / (
        (p * p).sum(1) + (g * g).sum(1) + 1e-5)
    (loss, ) = RECIPE.faithful_person_sam_model.losses
    assert loss.squared_pred is True
    dice = DiceLoss(**{k: v for k, v in loss.items() if k != 'type'})
    assert torch.allclose(dice(logits, target), official.mean())


def test_faithful_model_trains_dice_only_and_scores_at_256(person_sam):
    """P2-P3 on the tiny model: only the Dice loss, the IoU head left
    untrained, predictions kept at the low-res size (64 here, 256 for SAM
    ViT-B) against the stretched ground truth, threshold 0."""
    model = person_sam(**_recipe_model_overrides())
    image = torch.randint(0, 255, (3, 192, 256), dtype=torch.uint8)
    gt = torch.zeros(1, 192, 256, dtype=torch.long)
    gt[:, 40:150, 60:200] = 1
    sample = SegDataSample(metainfo=dict(img_shape=(192, 256),
                                         ori_shape=(192, 256)))
    sample.gt_sem_seg = PixelData(data=gt)
    sample.set_metainfo(dict(text='a red coat'))
    data = model.data_preprocessor(
        dict(inputs=[image], data_samples=[sample]), training=True)
    losses = model.loss(**data)
    assert sorted(k for k in losses if k.startswith('loss')) == ['loss_dice']
    losses['loss_dice'].backward()
    iou_head = model.mask_decoder.iou_prediction_head
    assert all(p.grad is None or not p.grad.any()
               for p in iou_head.parameters())
    model.eval()
    with torch.no_grad():
        (out, ) = model.predict(**model.data_preprocessor(
            dict(inputs=[image], data_samples=[sample.clone()])))
    low_res = model.sam_settings['image_size'] // 4
    assert out.pred_sem_seg.data.shape[-2:] == (low_res, low_res)
    assert out.gt_sem_seg.data.shape[-2:] == (low_res, low_res)
    assert torch.equal(out.pred_sem_seg.data,
                       (out.seg_logits.data > 0).long())


def test_sam_preprocessing_matches_the_sam_image_processor():
    """P4: resize the longest side (Pillow bilinear), rescale, ImageNet
    normalisation, zero padding after normalisation: the pipeline's Resize
    plus SAMDataPreprocessor give transformers' SamImageProcessor output
    (at 256 here; 1024 in the configs) up to one grey level at rounding
    ties (0.1 % of the pixels)."""
    from mmcv.transforms import Resize
    from transformers import SamImageProcessor

    from sapsam.models import SAMDataPreprocessor
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (150, 97, 3), dtype=np.uint8)
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/person_sam/mca_atr_faithful.py'))
    resize_cfg = [s for s in cfg.train_pipeline if s['type'] is Resize][0]
    assert resize_cfg['keep_ratio'] and tuple(resize_cfg['scale']) == (
        1024, 1024)
    resize = Resize(scale=(256, 256), keep_ratio=True,
                    interpolation=resize_cfg['interpolation'],
                    backend=resize_cfg['backend'])
    bgr = resize(dict(img=rgb[..., ::-1].copy()))['img']
    ours = SAMDataPreprocessor(image_size=256)(dict(inputs=[torch.from_numpy(
        bgr.transpose(2, 0, 1).copy())]))['inputs']
    hf = SamImageProcessor(size={'longest_edge': 256},
                           pad_size={'height': 256, 'width': 256})(
        rgb, return_tensors='pt')['pixel_values']
    assert ours.shape == hf.shape == (1, 3, 256, 256)
    diff = (ours - hf).abs()
    one_level = 1 / (255 * 0.224) + 1e-4  # smallest std is 0.224
    assert diff.max() <= one_level
    assert (diff > 1e-4).float().mean() < 0.005
    assert (ours[..., 166:] == 0).all()  # padded after normalisation


def test_one_warm_up_epoch_then_constant():
    """S2: epoch 0 at 0.1 x 1e-4, epochs 1-19 at 1e-4."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=1e-4)
    (sched, ) = RECIPE.faithful_person_sam_param_scheduler
    scheduler = OfficialWarmupLR(optimizer, **{
        k: v for k, v in sched.items() if k != 'type'})
    lrs = []
    for _ in range(20):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([1e-5] + [1e-4] * 19)
