"""Tests of sapsam.evaluation.metrics.TBPRMetric."""
from unittest import mock

import pytest
import torch
from mmengine.evaluator import Evaluator

from mmengine.config import Config

from sapsam.evaluation.functional import (query_rank_stats,
                                          summarize_rank_stats)
from sapsam.evaluation.metrics import TBPRMetric
from sapsam.registry import METRICS


def rank_metrics(similarity, query_pids, gallery_pids, topk=(1, 5, 10)):
    return summarize_rank_stats(
        **query_rank_stats(similarity, query_pids, gallery_pids), topk=topk)


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


def feature_samples(text, image, query_pids, gallery_pids, start, stop):
    """The dicts the retrieval loop passes for queries [start, stop)."""
    return [
        dict(text_feat=text[i], query_pid=int(query_pids[i]),
             gallery_feats=image, gallery_pids=gallery_pids)
        for i in range(start, stop)
    ]


def feature_data(num_queries=60, num_gallery=50, num_ids=9, seed=0):
    """Captions of gallery images: every image and caption has a match."""
    generator = torch.Generator().manual_seed(seed)
    gallery_pids = torch.arange(num_gallery) % num_ids
    query_pids = gallery_pids[torch.arange(num_queries) % num_gallery]
    text = torch.randn(num_queries, 8, generator=generator)
    image = torch.randn(num_gallery, 8, generator=generator)
    image[5] = image[2]  # tied gallery columns
    return text, image, query_pids, gallery_pids


def test_loop_samples_rank_text_to_image(reference_rank_stats):
    text, image, query_pids, gallery_pids = feature_data()
    metric = TBPRMetric(topk=(1, 5, 10))
    for start, stop in [(0, 17), (17, 18), (18, 60)]:
        metric.process(None, feature_samples(text, image, query_pids,
                                             gallery_pids, start, stop))
    assert len(metric.results) == 60
    assert all(set(r) == {'first_rank', 'ap', 'inp'} for r in metric.results)
    expected = summarize_rank_stats(
        **reference_rank_stats(text @ image.T, query_pids, gallery_pids))
    assert metric.compute_metrics(metric.results) == pytest.approx(
        {f't2i/{k}': v for k, v in expected.items()}, rel=1e-12)


def test_i2t_is_off_by_default_and_one_config_line_enables_it(
        sapsam_scope, reference_rank_stats):
    cfg = Config.fromfile('configs/baseline/clip_sdm_synthetic.py')
    assert not METRICS.build(cfg.val_evaluator).i2t
    cfg.merge_from_dict({'val_evaluator.i2t': True})  # the one config line
    evaluator = Evaluator(cfg.val_evaluator)
    text, image, query_pids, gallery_pids = feature_data(seed=2)
    for start in range(0, 60, 25):
        evaluator.process(data_samples=feature_samples(
            text, image, query_pids, gallery_pids, start,
            min(start + 25, 60)), data_batch=None)
    metrics = evaluator.evaluate(60)
    similarity = text @ image.T
    t2i = summarize_rank_stats(
        **reference_rank_stats(similarity, query_pids, gallery_pids))
    # IRRA's i2t: every gallery image queries the captions (rows of S.T)
    i2t = summarize_rank_stats(
        **reference_rank_stats(similarity.T, gallery_pids, query_pids))
    assert metrics == pytest.approx(
        {**{f't2i/{k}': v for k, v in t2i.items()},
         **{f'i2t/{k}': v for k, v in i2t.items()}}, rel=1e-12)
    assert list(metrics)[5:] == ['i2t/R1', 'i2t/R5', 'i2t/R10', 'i2t/mAP',
                                 'i2t/mINP']
    assert t2i != i2t


def test_i2t_needs_features():
    with pytest.raises(ValueError, match='i2t=True.* needs text_feat'):
        TBPRMetric(i2t=True).process(None, [
            dict(similarity=torch.rand(3), query_pid=0,
                 gallery_pids=torch.tensor([0, 1, 0]))
        ])


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
    assert computed == {f't2i/{k}': v for k, v in expected.items()}
    computed = {k[len('t2i/'):]: v for k, v in computed.items()}
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
