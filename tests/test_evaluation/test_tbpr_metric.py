"""Tests of sapsam.evaluation.metrics.TBPRMetric."""
from unittest import mock

import pytest
import torch
from mmengine.evaluator import Evaluator

from sapsam.evaluation.functional import rank_metrics
from sapsam.evaluation.metrics import TBPRMetric
from sapsam.registry import METRICS


def retrieval_data(num_queries=45, num_gallery=70, num_ids=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    gallery_pids = torch.randint(0, num_ids, (num_gallery, ),
                                 generator=generator)
    query_pids = gallery_pids[torch.randint(0, num_gallery, (num_queries, ),
                                            generator=generator)]
    similarity = torch.randn(num_queries, num_gallery, generator=generator)
    similarity[::4, ::3] = 0.5  # plenty of ties as well
    return similarity, query_pids, gallery_pids


def query_samples(similarity, query_pids, gallery_pids, start, stop):
    """The dicts the retrieval loop passes for queries [start, stop)."""
    return [
        dict(similarity=similarity[i], query_pid=int(query_pids[i]),
             gallery_pids=gallery_pids) for i in range(start, stop)
    ]


def test_process_and_compute_equal_rank_metrics():
    similarity, query_pids, gallery_pids = retrieval_data()
    metric = TBPRMetric(topk=(1, 5, 10))
    batch_bounds = [0, 7, 8, 30, 45]  # uneven batches, one of size 1
    for start, stop in zip(batch_bounds[:-1], batch_bounds[1:]):
        metric.process(None, query_samples(similarity, query_pids,
                                           gallery_pids, start, stop))
    # one small result per query, no (G,) rows kept
    assert len(metric.results) == 45
    for result in metric.results:
        assert set(result) == {'first_rank', 'ap', 'inp'}
        assert all(isinstance(v, (int, float)) for v in result.values())
    computed = metric.compute_metrics(metric.results)
    expected = rank_metrics(similarity, query_pids, gallery_pids)
    assert computed == expected
    assert 0 < computed['R1'] < computed['R10'] < 100


def test_evaluator_with_registry_config_gives_prefixed_keys(sapsam_scope):
    similarity, query_pids, gallery_pids = retrieval_data(seed=1)
    evaluator = Evaluator([dict(type='TBPRMetric')])
    for start in range(0, 45, 16):
        evaluator.process(
            data_samples=query_samples(similarity, query_pids, gallery_pids,
                                       start, min(start + 16, 45)),
            data_batch=None)
    metrics = evaluator.evaluate(45)
    expected = rank_metrics(similarity, query_pids, gallery_pids)
    assert metrics == {f't2i/{key}': value for key, value in expected.items()}
    assert list(metrics) == [
        't2i/R1', 't2i/R5', 't2i/R10', 't2i/mAP', 't2i/mINP'
    ]


def test_registry_build_prefix_topk_and_logged_table(sapsam_scope):
    metric = METRICS.build(dict(type='TBPRMetric', topk=(1, 3),
                                prefix='val'))
    assert isinstance(metric, TBPRMetric)
    # gallery pids 3 5 5; q0 (pid 3) ranks its match 1st; q1 (pid 5) has
    # matches at ranks 2 and 3 -> R1 50, R3 100, mAP (1 + (1/2 + 2/3) / 2)
    # / 2, mINP (1 + 2/3) / 2
    gallery_pids = torch.tensor([3, 5, 5])
    metric.process(None, [
        dict(similarity=torch.tensor([0.9, 0.2, 0.1]), query_pid=3,
             gallery_pids=gallery_pids),
        dict(similarity=torch.tensor([0.8, 0.1, 0.7]), query_pid=5,
             gallery_pids=gallery_pids)
    ])
    with mock.patch('sapsam.evaluation.metrics.tbpr_metric.print_log') \
            as print_log:
        metrics = metric.evaluate(2)
    assert metrics == pytest.approx({
        'val/R1': 50.0, 'val/R3': 100.0,
        'val/mAP': 100 * (1 + 7 / 12) / 2, 'val/mINP': 100 * (1 + 2 / 3) / 2
    })
    logged = print_log.call_args.args[0]
    for text in ('R1', 'R3', 'mAP', 'mINP', '50.00', '79.17', '83.33'):
        assert text in logged


def test_bad_samples_are_reported():
    metric = TBPRMetric()
    gallery_pids = torch.tensor([0, 1])
    with pytest.raises(KeyError, match=r"data sample 1 has no \['query_pid'"):
        metric.process(None, [
            dict(similarity=torch.rand(2), query_pid=0,
                 gallery_pids=gallery_pids),
            dict(similarity=torch.rand(2), gallery_pids=gallery_pids)
        ])
    with pytest.raises(ValueError, match='sample 1 has other gallery_pids'):
        metric.process(None, [
            dict(similarity=torch.rand(2), query_pid=0,
                 gallery_pids=gallery_pids),
            dict(similarity=torch.rand(2), query_pid=0,
                 gallery_pids=torch.tensor([1, 0]))
        ])
    with pytest.raises(ValueError, match=r'sample 0 similarity must be a '
                       r'1-D'):
        metric.process(None, [
            dict(similarity=torch.rand(1, 2), query_pid=0,
                 gallery_pids=gallery_pids)
        ])
    with pytest.raises(ValueError, match=r'sample 1 similarity .* got shape '
                       r'\(3,\)'):
        metric.process(None, [
            dict(similarity=torch.rand(2), query_pid=0,
                 gallery_pids=gallery_pids),
            dict(similarity=torch.rand(3), query_pid=0,
                 gallery_pids=gallery_pids)
        ])
    with pytest.raises(ValueError, match='no gallery item'):
        metric.process(None, [
            dict(similarity=torch.rand(2), query_pid=7,
                 gallery_pids=gallery_pids)
        ])
    with pytest.raises(ValueError, match='topk'):
        TBPRMetric(topk=(0, ))
    assert metric.results == []
