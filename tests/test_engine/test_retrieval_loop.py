"""Unit test of TextToImageRetrievalLoop with a stand-in model and runner."""
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
from mmengine.evaluator import Evaluator
from torch.utils.data import DataLoader

from sapsam.engine.runners import TextToImageRetrievalLoop
from sapsam.evaluation.functional import (query_rank_stats,
                                          summarize_rank_stats)
from sapsam.evaluation.metrics import TBPRMetric


class FeatureModel(torch.nn.Module):
    """``val_step`` returns samples carrying the batch's features as
    ``image_feat`` (gallery items) or ``text_feat`` (query captions)."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Linear(1, 1)

    def val_step(self, batch):
        return [SimpleNamespace(pid=pid, **{f'{kind}_feat': feat})
                for kind, feat, pid in batch]


def loader(kind, feats, pids, batch_size):
    items = [(kind, feat, int(pid)) for feat, pid in zip(feats, pids)]
    return DataLoader(items, batch_size=batch_size, collate_fn=list)


def test_loop_ranks_every_query_against_the_whole_gallery():
    generator = torch.Generator().manual_seed(0)
    gallery_pids = torch.arange(30) % 7
    query_pids = gallery_pids[torch.randperm(30, generator=generator)][:25]
    image = torch.randn(30, 6, generator=generator)
    text = torch.randn(25, 6, generator=generator)
    runner = mock.MagicMock()
    runner.model = FeatureModel()
    loop = TextToImageRetrievalLoop(
        runner, loader('text', text, query_pids, batch_size=4),
        Evaluator(TBPRMetric(topk=(1, 3))),
        gallery_dataloader=loader('image', image, gallery_pids, 8),
        phase='test')
    metrics = loop.run()
    expected = summarize_rank_stats(
        **query_rank_stats(text @ image.T, query_pids, gallery_pids),
        topk=(1, 3))
    assert metrics == pytest.approx(
        {f't2i/{k}': v for k, v in expected.items()}, rel=1e-12)
    hooks = [c.args[0] for c in runner.call_hook.call_args_list]
    assert hooks[:2] == ['before_test', 'before_test_epoch']
    assert hooks[-2:] == ['after_test_epoch', 'after_test']
    assert hooks.count('after_test_iter') == 7  # ceil(25 / 4) query batches
