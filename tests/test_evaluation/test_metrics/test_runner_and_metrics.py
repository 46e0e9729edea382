"""mmseg IoUMetric + PerSampleIoU, end to end through MMEngine's Runner."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from tests.helpers import REPO

# One intra-op thread (tests/conftest.py), as every Person-SAM test.
pytestmark = pytest.mark.usefixtures('one_thread')

LEAVES = ['cls', 'dense', 'dot', 'mca']


def seg_sample(pred, gt, group=None):
    sample = SegDataSample(
        pred_sem_seg=PixelData(data=torch.tensor(pred)[None]),
        gt_sem_seg=PixelData(data=torch.tensor(gt)[None]))
    if group is not None:
        sample.set_metainfo(dict(group_id=group))
    return sample


def test_per_sample_iou_and_iou_metric_by_hand(sapsam_scope):
    samples = [
        seg_sample([[1, 1, 0, 0]], [[1, 1, 1, 1]], '2'),    # IoU 2/4
        seg_sample([[1, 0, 0, 0]], [[1, 0, 0, 0]], '2'),    # IoU 1
        seg_sample([[0, 1, 1, 0]], [[0, 0, 1, 255]], '9'),  # 1/2, 255 ignored
        seg_sample([[0, 0, 0, 0]], [[0, 0, 0, 0]], '9'),    # empty: 0
    ]
    evaluator = Evaluator([
        dict(type='mmseg.IoUMetric', iou_metrics=['mIoU'], prefix='seg'),
        dict(type='PerSampleIoU')])
    evaluator.dataset_meta = dict(classes=('background', 'foreground'),
                                  group_names={'2': 'hair', '9': 'shoes'})
    evaluator.process(samples)
    metrics = evaluator.evaluate(len(samples))
    assert metrics['per_sample/mIoU'] == pytest.approx(100 * 2 / 4)
    assert metrics['per_sample/IoU_hair'] == pytest.approx(75.0)
    assert metrics['per_sample/IoU_shoes'] == pytest.approx(25.0)
    # Data-set level: foreground 4/7, background 8/11, mean over classes.
    assert metrics['seg/mIoU'] == pytest.approx(
        100 * (4 / 7 + 8 / 11) / 2, abs=0.01)


def test_all_leaf_configs_parse_and_swap_only_the_prompt():
    from mmengine.config import Config
    expected = {'cls': 'CLSPrompt', 'dense': 'DensePrompt',
                'dot': 'DotPrompt', 'mca': 'MCAPrompt'}
    for suffix in ('', '_synthetic'):
        models = {}
        for leaf in LEAVES:
            cfg = Config.fromfile(osp.join(
                REPO, f'configs/person_sam/{leaf}_atr{suffix}.py'))
            assert cfg.default_scope == 'sapsam'
            prompt = cfg.model.prompt_encoder.type
            assert expected[leaf] in str(prompt)
            model = cfg.model.to_dict()
            model.pop('prompt_encoder')
            models[leaf] = model
        assert all(m == models['mca'] for m in models.values())
        if not suffix:
            for part in (cfg.model.image_encoder, cfg.model.mask_decoder):
                assert part.arch == 'vit_b'
                assert part.init_cfg.type == 'Pretrained'
                assert part.init_cfg.checkpoint.endswith(
                    'sam_vit_b_01ec64.pth')
            assert cfg.model.data_preprocessor.image_size == 1024
            assert cfg.train_cfg.max_epochs == 20
            assert cfg.optim_wrapper.optimizer.lr == 1e-4
            assert 'AdamW' in str(cfg.optim_wrapper.optimizer.type)
            assert cfg.model.text_encoder.max_length == 16


@pytest.fixture
def tiny_atr(tmp_path_factory):
    from sapsam.datasets.synthetic import generate_synthetic_benchmark
    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_benchmark(root, scale=0.025, datasets=('ATR', ),
                                 progress=False)  # 10 images
    return osp.join(root, 'ATR')


def test_runner_trains_and_reports_both_metrics(tiny_weights, tiny_atr,
                                                tmp_path, sapsam_scope):
    from mmengine.config import Config
    from mmengine.runner import Runner, load_checkpoint

    from sapsam.registry import MODELS
    from sapsam.utils import patch_mmengine_checkpoint_loading
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/person_sam/mca_atr_synthetic.py'))
    cfg.model.image_encoder.init_cfg.checkpoint = tiny_weights['sam']
    cfg.model.mask_decoder.init_cfg.checkpoint = tiny_weights['sam']
    cfg.model.text_encoder.pretrained = tiny_weights['bert']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = tiny_atr
        cfg[loader].batch_size = 8
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    cfg.param_scheduler = []
    cfg.work_dir = str(tmp_path / 'work')
    cfg.default_hooks.logger.interval = 1
    # The atomic checkpoint writer and the safe loader, as tools/train.py
    # installs them (import sapsam no longer does).
    patch_mmengine_checkpoint_loading()
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    for key in ('seg/aAcc', 'seg/mIoU', 'seg/mAcc', 'per_sample/mIoU'):
        assert key in metrics and 0 <= metrics[key] <= 100, key
    assert any(k.startswith('per_sample/IoU_') for k in metrics)
    # The trained model, rebuilt from the config and its checkpoint (the
    # part pipeline's path), segments raw images like the trained one.
    model = MODELS.build(cfg.model)
    load_checkpoint(model, osp.join(cfg.work_dir, 'epoch_1.pth'),
                    map_location='cpu', strict=True)
    image = np.random.default_rng(0).integers(0, 256, (180, 90, 3),
                                              dtype=np.uint8)
    trained = runner.model.segment_phrases(image, ['long hair', 'a bag'])
    loaded = model.segment_phrases(image, ['long hair', 'a bag'])
    assert np.array_equal(trained[0], loaded[0])
    np.testing.assert_allclose(trained[1], loaded[1], atol=1e-6)
