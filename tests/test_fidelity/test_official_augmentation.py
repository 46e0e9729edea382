"""The official `--img_aug` bundle and resizing (docs/fidelity.md A1, R1):
each operation's effect on the image and the part labels, the bundle's
rate, and PIL-bicubic resizing of image and labels."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from sapsam.datasets.transforms import ResizeWithLabels, TorchvisionTransforms

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PIPELINES = Config.fromfile(
    osp.join(REPO, 'configs/_base_/datasets/tbpr_part_pipelines.py'))
BUNDLE = PIPELINES.official_img_aug
NAMES = [t['type'].__name__ for t in BUNDLE.transforms]
GEOMETRIC = {'RandomHorizontalFlip', 'RandomRotation', 'RandomAffine'}
#: BGR colour of each part label; the background is grey.
COLOURS = np.array([[150, 150, 150], [20, 60, 200], [200, 30, 90],
                    [40, 180, 60]], dtype=np.uint8)


def _sample():
    labels = np.zeros((48, 24), dtype=np.uint8)
    labels[4:20, 3:12] = 1
    labels[22:40, 6:20] = 2
    labels[30:46, 1:8] = 3
    return dict(img=COLOURS[labels].copy(), gt_seg_map=labels,
                img_path='person.jpg')


def _single(name):
    """The bundle's operation ``name`` alone, always applied."""
    cfg = copy.deepcopy(dict(BUNDLE.transforms[NAMES.index(name)]))
    if 'p' in cfg:
        cfg['p'] = 1.0
    return TorchvisionTransforms(transforms=[cfg], prob=1.0)


def test_bundle_is_the_official_list_in_order():
    assert BUNDLE.prob == 0.45
    assert NAMES == [
        'RandomHorizontalFlip', 'RandomGrayscale', 'ColorJitter',
        'GaussianBlur', 'RandomInvert', 'RandomPosterize',
        'RandomAdjustSharpness', 'RandomAutocontrast', 'AugMix',
        'RandomRotation', 'RandomAffine', 'RandomEqualize']


@pytest.mark.parametrize('name', sorted(GEOMETRIC))
def test_geometric_operations_move_the_labels_with_the_pixels(name):
    torch.manual_seed(1)  # seed 0 draws a rotation of -0.2 degrees
    sample = _sample()
    out = _single(name)(copy.deepcopy(sample))
    labels, img = out['gt_seg_map'], out['img']
    assert img.shape == sample['img'].shape and labels.dtype == np.uint8
    assert not np.array_equal(labels, sample['gt_seg_map'])
    assert set(np.unique(labels)) <= {0, 1, 2, 3}  # nearest: no new labels
    fg = labels > 0
    # Every labelled pixel still carries its part's colour.
    assert (img[fg] == COLOURS[labels[fg]]).all()
    if name == 'RandomHorizontalFlip':
        assert np.array_equal(labels, sample['gt_seg_map'][:, ::-1])
    else:  # rotated/sheared out of the frame: image 0, labels 0
        corners = (img == 0).all(-1)
        assert corners.any() and (labels[corners] == 0).all()


@pytest.mark.parametrize('name', [n for n in NAMES if n not in GEOMETRIC])
def test_photometric_operations_leave_the_labels_alone(name):
    torch.manual_seed(0)
    sample = _sample()
    before = sample['img'].astype(int)
    out = _single(name)(copy.deepcopy(sample))
    assert np.array_equal(out['gt_seg_map'], sample['gt_seg_map'])
    assert out['img'].shape == before.shape
    assert not np.array_equal(out['img'], before)
    if name == 'RandomInvert':
        assert np.array_equal(out['img'], 255 - before)
    if name == 'RandomPosterize':
        assert np.array_equal(out['img'], before & 0b11100000)
    if name == 'RandomGrayscale':
        assert (out['img'] == out['img'][..., :1]).all()


def test_colour_operations_see_rgb_not_bgr():
    blue = dict(img=np.zeros((8, 8, 3), np.uint8), img_path='blue.jpg')
    blue['img'][..., 0] = 255  # BGR: pure blue
    gray = _single('RandomGrayscale')(blue)['img']
    assert abs(int(gray[0, 0, 0]) - round(0.114 * 255)) <= 1  # not 0.299


def test_bundle_applies_to_45_percent_of_the_samples():
    torch.manual_seed(0)
    bundle = TorchvisionTransforms(transforms=BUNDLE.transforms, prob=0.45)
    draws = 300
    sample = _sample()
    changed = sum(not np.array_equal(bundle(copy.deepcopy(sample))['img'],
                                     sample['img']) for _ in range(draws))
    sd = (draws * 0.45 * 0.55) ** 0.5
    assert abs(changed - 0.45 * draws) < 4 * sd, changed


def test_faithful_resize_is_pil_bicubic_for_image_and_labels():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (100, 40, 3), dtype=np.uint8)
    labels = np.zeros((100, 40), np.uint8)
    labels[20:70, 5:30] = 6
    labels[50:90, 10:35] = 2
    step = [s for s in PIPELINES.faithful_part_train_pipeline
            if s['type'] is ResizeWithLabels][0]
    resize = ResizeWithLabels(**{k: v for k, v in step.items()
                                 if k != 'type'})
    out = resize(dict(img=img.copy(), gt_seg_map=labels.copy()))
    official_img = np.asarray(Image.fromarray(img).resize((128, 384)))
    official_labels = np.asarray(Image.fromarray(labels).resize((128, 384)))
    assert np.array_equal(out['img'], official_img)
    assert np.array_equal(out['gt_seg_map'], official_labels)
    # Bicubic invents labels at boundaries; the default stays exact.
    assert set(np.unique(out['gt_seg_map'])) - {0, 2, 6}
    default = ResizeWithLabels(scale=(128, 384), keep_ratio=False)(
        dict(img=img.copy(), gt_seg_map=labels.copy()))
    assert set(np.unique(default['gt_seg_map'])) == {0, 2, 6}
