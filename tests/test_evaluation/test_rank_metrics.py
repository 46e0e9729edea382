"""Tests of sapsam.evaluation.functional.rank_metrics and its benchmark."""
import importlib.util
import math
import os

import pytest
import torch

from sapsam.evaluation.functional import (query_rank_stats, rank_metrics,
                                          rank_metrics_full_argsort)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def stable_sort_stats(similarity, query_pids, gallery_pids):
    """Per-query stats straight from the definition (stable full sort)."""
    order = torch.sort(similarity.float(), dim=1, descending=True,
                       stable=True).indices
    matches = gallery_pids[order] == query_pids[:, None]
    ranks = torch.arange(1, similarity.shape[1] + 1, dtype=torch.float64)
    first_rank = matches.to(torch.uint8).argmax(1) + 1
    ap = (matches.cumsum(1, dtype=torch.float64) / ranks * matches).sum(1) \
        / matches.sum(1)
    last_rank = similarity.shape[1] - matches.flip(1).to(torch.uint8).argmax(1)
    inp = matches.sum(1).double() / last_rank
    return dict(first_rank=first_rank, ap=ap, inp=inp)


def assert_metrics_close(actual, expected):
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        if key.startswith('R'):
            assert actual[key] == value, key  # counts: exactly equal
        else:
            assert math.isclose(actual[key], value, rel_tol=1e-9,
                                abs_tol=1e-12), (key, actual[key], value)


def random_retrieval(num_queries, num_gallery, num_ids, seed, ties=False):
    generator = torch.Generator().manual_seed(seed)
    gallery_pids = torch.randint(0, num_ids, (num_gallery, ),
                                 generator=generator)
    query_pids = gallery_pids[torch.randint(0, num_gallery, (num_queries, ),
                                            generator=generator)]
    if ties:  # few distinct values: ties everywhere
        similarity = torch.randint(0, 4, (num_queries, num_gallery),
                                   generator=generator).float()
    else:
        similarity = torch.randn(num_queries, num_gallery,
                                 generator=generator)
    return similarity, query_pids, gallery_pids


# Hand-computed 3 x 5 example.
# gallery pids:             g0=1  g1=2  g2=1  g3=3  g4=2
# q0 (pid 1) scores:        0.9   0.8   0.3   0.5   0.1
#   ranking g0 g1 g3 g2 g4 -> matches (g0, g2) at ranks 1, 4
#   AP = (1/1 + 2/4) / 2 = 0.75, INP = 2/4 = 0.5, first rank 1
# q1 (pid 2) scores:        0.7   0.2   0.6   0.4   0.5
#   ranking g0 g2 g4 g3 g1 -> matches (g4, g1) at ranks 3, 5
#   AP = (1/3 + 2/5) / 2 = 11/30, INP = 2/5 = 0.4, first rank 3
# q2 (pid 3) scores:        0.1   0.2   0.3   0.4   0.5
#   ranking g4 g3 g2 g1 g0 -> match g3 at rank 2
#   AP = 1/2, INP = 1/1 / 2 = 0.5, first rank 2
# R@1 = 100 * 1/3 (only q0), R@2 = 100 * 2/3 (q0, q2), R@5 = R@10 = 100
# mAP = 100 * (0.75 + 11/30 + 0.5) / 3 = 100 * 48.5 / 90 = 53.888...
# mINP = 100 * (0.5 + 0.4 + 0.5) / 3 = 46.666...
HAND_SIMILARITY = torch.tensor([[0.9, 0.8, 0.3, 0.5, 0.1],
                                [0.7, 0.2, 0.6, 0.4, 0.5],
                                [0.1, 0.2, 0.3, 0.4, 0.5]])
HAND_QUERY_PIDS = torch.tensor([1, 2, 3])
HAND_GALLERY_PIDS = torch.tensor([1, 2, 1, 3, 2])


@pytest.mark.parametrize('chunk_size', [None, 1, 2])
def test_hand_computed_example(chunk_size):
    result = rank_metrics(HAND_SIMILARITY, HAND_QUERY_PIDS, HAND_GALLERY_PIDS,
                          topk=(1, 2, 5, 10), chunk_size=chunk_size)
    assert list(result) == ['R1', 'R2', 'R5', 'R10', 'mAP', 'mINP']
    assert all(type(value) is float for value in result.values())
    assert result['R1'] == pytest.approx(100 / 3)
    assert result['R2'] == pytest.approx(200 / 3)
    assert result['R5'] == 100.0
    assert result['R10'] == 100.0
    assert result['mAP'] == pytest.approx(100 * 48.5 / 90)
    assert result['mINP'] == pytest.approx(100 * 1.4 / 3)
    assert rank_metrics(HAND_SIMILARITY, HAND_QUERY_PIDS,
                        HAND_GALLERY_PIDS).keys() == {
                            'R1', 'R5', 'R10', 'mAP', 'mINP'}


def test_hand_computed_per_query_stats():
    stats = query_rank_stats(HAND_SIMILARITY, HAND_QUERY_PIDS,
                             HAND_GALLERY_PIDS)
    assert stats['first_rank'].tolist() == [1, 3, 2]
    assert stats['first_rank'].dtype == torch.long
    assert stats['ap'].tolist() == pytest.approx([0.75, 11 / 30, 0.5])
    assert stats['inp'].tolist() == pytest.approx([0.5, 0.4, 0.5])


def test_pids_of_other_integer_types_and_sequences():
    expected = rank_metrics(HAND_SIMILARITY, HAND_QUERY_PIDS,
                            HAND_GALLERY_PIDS)
    assert rank_metrics(HAND_SIMILARITY, HAND_QUERY_PIDS.int(),
                        HAND_GALLERY_PIDS.tolist()) == expected
    assert rank_metrics(HAND_SIMILARITY.double(), HAND_QUERY_PIDS.numpy(),
                        HAND_GALLERY_PIDS.short()) == expected


def test_reference_matches_hand_computed_example():
    result = rank_metrics_full_argsort(HAND_SIMILARITY, HAND_QUERY_PIDS,
                                       HAND_GALLERY_PIDS, topk=(1, 2, 5, 10))
    assert result == pytest.approx(dict(R1=100 / 3, R2=200 / 3, R5=100.0,
                                        R10=100.0, mAP=100 * 48.5 / 90,
                                        mINP=100 * 1.4 / 3))


# Ties rank the lower gallery index first (stable sort). Query pid 7.
TIE_CASES = {
    # match g0 tied with a later non-match g1 -> match at rank 1
    'match_before_tied_non_match': ([0.5, 0.5, 0.1], [7, 9, 9], [1], 1.0,
                                    1.0),
    # non-match g0 tied with a later match g1 -> match at rank 2
    'match_after_tied_non_match': ([0.5, 0.5, 0.1], [9, 7, 9], [2], 0.5, 0.5),
    # matches g0, g2, g3 tied with each other below non-match g1:
    # ranks 2, 3, 4 -> AP = (1/2 + 2/3 + 3/4) / 3, INP = 3/4
    'ties_among_matches': ([0.5, 0.6, 0.5, 0.5], [7, 9, 7, 7], [2, 3, 4],
                           (1 / 2 + 2 / 3 + 3 / 4) / 3, 3 / 4),
    # everything tied: index order, matches g0, g2, g4 at ranks 1, 3, 5
    # -> AP = (1 + 2/3 + 3/5) / 3, INP = 3/5
    'all_tied': ([0.3] * 5, [7, 9, 7, 9, 7], [1, 3, 5],
                 (1 + 2 / 3 + 3 / 5) / 3, 3 / 5),
    # infinite scores: ranking g1 (+inf), g2, g0, g3 (-inf); matches g0, g3
    # at ranks 3, 4 -> AP = (1/3 + 2/4) / 2, INP = 2/4
    'infinite_scores': ([0.2, float('inf'), 0.4, -float('inf')],
                        [7, 9, 9, 7], [3, 4], (1 / 3 + 2 / 4) / 2, 2 / 4),
}


@pytest.mark.parametrize('case', sorted(TIE_CASES))
@pytest.mark.parametrize('num_bins', [None, 1, 3, 1000])
def test_ties_rank_lower_gallery_index_first(case, num_bins):
    scores, gallery_pids, match_ranks, ap, inp = TIE_CASES[case]
    similarity = torch.tensor([scores])
    query_pids, gallery_pids = torch.tensor([7]), torch.tensor(gallery_pids)
    stats = query_rank_stats(similarity, query_pids, gallery_pids,
                             num_bins=num_bins)
    assert stats['first_rank'].tolist() == [match_ranks[0]]
    assert stats['ap'].item() == pytest.approx(ap)
    assert stats['inp'].item() == pytest.approx(inp)
    expected = dict(R1=100.0 * (match_ranks[0] == 1), R5=100.0, R10=100.0,
                    mAP=100 * ap, mINP=100 * inp)
    assert rank_metrics(similarity, query_pids, gallery_pids) == \
        pytest.approx(expected)
    assert rank_metrics_full_argsort(similarity, query_pids, gallery_pids) \
        == pytest.approx(expected)


@pytest.mark.parametrize('ties', [False, True])
@pytest.mark.parametrize('num_bins', [1, 4, 64])
def test_per_query_stats_equal_stable_sort_definition(ties, num_bins):
    similarity, query_pids, gallery_pids = random_retrieval(
        40, 120, 15, seed=3, ties=ties)
    stats = query_rank_stats(similarity, query_pids, gallery_pids,
                             num_bins=num_bins)
    expected = stable_sort_stats(similarity, query_pids, gallery_pids)
    assert torch.equal(stats['first_rank'], expected['first_rank'])
    torch.testing.assert_close(stats['ap'], expected['ap'], rtol=1e-12,
                               atol=0)
    torch.testing.assert_close(stats['inp'], expected['inp'], rtol=1e-12,
                               atol=0)


@pytest.mark.parametrize('ties', [False, True])
def test_chunk_size_does_not_change_results(ties):
    similarity, query_pids, gallery_pids = random_retrieval(
        37, 53, 6, seed=1, ties=ties)
    results = [
        rank_metrics(similarity, query_pids, gallery_pids, chunk_size=size)
        for size in (1, 7, 37, None)
    ]
    assert all(result == results[0] for result in results[1:])
    # Not a degenerate case: queries differ in rank and some miss R@1.
    assert 0 < results[0]['R1'] < 100


@pytest.mark.parametrize('num_queries,num_gallery,num_ids,seed', [
    (1, 1, 1, 0),
    (5, 200, 3, 1),
    (64, 300, 40, 2),
    (150, 1000, 90, 3),
])
@pytest.mark.parametrize('ties', [False, True])
def test_random_agreement_with_full_argsort(num_queries, num_gallery,
                                            num_ids, seed, ties):
    similarity, query_pids, gallery_pids = random_retrieval(
        num_queries, num_gallery, num_ids, seed, ties=ties)
    expected = rank_metrics_full_argsort(similarity, query_pids, gallery_pids,
                                         topk=(1, 3, 10))
    actual = rank_metrics(similarity, query_pids, gallery_pids,
                          topk=(1, 3, 10), chunk_size=17)
    assert_metrics_close(actual, expected)


def test_half_precision_and_infinite_rows_agree_with_reference():
    similarity, query_pids, gallery_pids = random_retrieval(30, 90, 9, 4)
    similarity[3, 5] = float('inf')
    similarity[4, :40] = -float('inf')  # e.g. masked-out gallery items
    assert_metrics_close(
        rank_metrics(similarity, query_pids, gallery_pids, chunk_size=8),
        rank_metrics_full_argsort(similarity, query_pids, gallery_pids))
    half = similarity.half()
    assert_metrics_close(
        rank_metrics(half, query_pids, gallery_pids, chunk_size=8),
        rank_metrics_full_argsort(half.float(), query_pids, gallery_pids))


def test_query_without_match_is_an_error():
    similarity = torch.rand(4, 3)
    gallery_pids = torch.tensor([0, 2, 4])
    query_pids = torch.tensor([0, 1, 2, 3])  # pids 1 and 3 not in gallery
    with pytest.raises(ValueError,
                       match=r'2 of 4 queries .*first query indices: '
                       r'\[1, 3\]'):
        rank_metrics(similarity, query_pids, gallery_pids, chunk_size=2)
    with pytest.raises(ValueError, match=r'2 of 4 queries'):
        query_rank_stats(similarity, query_pids, gallery_pids)
    with pytest.raises(ValueError, match=r'2 of 4 queries'):
        rank_metrics_full_argsort(similarity, query_pids, gallery_pids)


@pytest.mark.parametrize('similarity,query_pids,gallery_pids,error,match', [
    (torch.rand(5), [0], [0] * 5, ValueError, r'2-D .* got shape \(5,\)'),
    (torch.rand(2, 3), [0, 1, 0], [0, 1, 1], ValueError,
     r'query_pids has 3 entries but similarity has 2 query rows'),
    (torch.rand(2, 3), [0, 1], [0, 1], ValueError,
     r'gallery_pids has 2 entries but similarity has 3 gallery columns'),
    (torch.rand(2, 3), [[0, 1]], [0, 1, 1], ValueError,
     r'query_pids must be a 1-D'),
    (torch.rand(2, 3), [0.0, 1.0], [0, 1, 1], TypeError, r'integer'),
    (torch.ones(2, 3, dtype=torch.long), [0, 1], [0, 1, 1], TypeError,
     r'floating point'),
    (torch.rand(0, 3), [], [0, 1, 1], ValueError, r'at least one query'),
    ([[0.1, 0.2]], [0], [0, 1], TypeError, r'torch.Tensor'),
])
def test_bad_inputs_get_clear_errors(similarity, query_pids, gallery_pids,
                                     error, match):
    for function in (rank_metrics, query_rank_stats,
                     rank_metrics_full_argsort):
        with pytest.raises(error, match=match):
            function(similarity, query_pids, gallery_pids)


def test_nan_scores_and_bad_options_are_errors():
    similarity = torch.rand(6, 4)
    similarity[4, 2] = float('nan')
    pids = torch.tensor([0, 1, 0, 1, 0, 1])
    gallery_pids = torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r'NaN .*first query indices: \[4\]'):
        rank_metrics(similarity, pids, gallery_pids, chunk_size=3)
    with pytest.raises(ValueError, match='chunk_size'):
        rank_metrics(torch.rand(2, 2), [0, 1], [0, 1], chunk_size=0)
    with pytest.raises(ValueError, match='topk'):
        rank_metrics(torch.rand(2, 2), [0, 1], [0, 1], topk=(0, 5))
    with pytest.raises(ValueError, match='num_bins'):
        query_rank_stats(torch.rand(2, 2), [0, 1], [0, 1], num_bins=0)


def load_benchmark():
    path = os.path.join(REPO_ROOT, 'benchmarks', 'rank_metrics.py')
    spec = importlib.util.spec_from_file_location('bench_rank_metrics', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_data_has_uneven_identities():
    bench = load_benchmark()
    similarity, query_pids, gallery_pids = bench.make_retrieval_data(
        num_queries=300, num_gallery=400, num_ids=50, seed=0)
    assert similarity.shape == (300, 400)
    assert similarity.abs().max() <= 1.0 + 1e-5  # cosine of unit vectors
    images_per_id = torch.bincount(gallery_pids, minlength=50)
    assert images_per_id.min() >= 1 and images_per_id.max() >= 2 * 400 / 50
    assert torch.isin(query_pids, gallery_pids).all()
    again = bench.make_retrieval_data(300, 400, 50, seed=0)
    assert torch.equal(again[0], similarity)
    with pytest.raises(ValueError, match='num_gallery >= num_ids'):
        bench.make_retrieval_data(10, 5, 8, seed=0)


def test_benchmark_runs_at_tiny_size():
    bench = load_benchmark()
    result = bench.run(num_queries=40, num_gallery=30, num_ids=8, seed=0)
    data = bench.make_retrieval_data(40, 30, 8, seed=0)
    assert result['metrics'] == rank_metrics(*data)
    assert result['max_abs_diff'] <= 1e-9
    for impl in ('chunked', 'full_argsort'):
        assert result[impl]['time_s'] > 0
        assert result[impl]['peak_rss_mb'] >= result[impl]['rss_before_mb'] > 0
    assert result['speedup'] > 0 and result['peak_ratio'] > 0
    assert 'speedup' in bench._format_report(result)
