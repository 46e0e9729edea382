"""Tests of sapsam.evaluation.functional.rank_metrics and its benchmark."""
import pytest
import torch

from sapsam.evaluation.functional import (GalleryRanker, check_topk,
                                          feature_rank_stats,
                                          query_rank_stats,
                                          summarize_rank_stats)
from sapsam.evaluation.functional import rank_metrics as rank_module
from tests.helpers import load_script


def assert_stats_equal(actual, expected):
    assert torch.equal(actual['first_rank'].cpu(), expected['first_rank'])
    for key in ('ap', 'inp'):
        torch.testing.assert_close(actual[key].cpu(), expected[key],
                                   rtol=1e-12, atol=0)


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


def test_hand_computed_example(reference_rank_stats):
    stats = query_rank_stats(HAND_SIMILARITY, HAND_QUERY_PIDS,
                             HAND_GALLERY_PIDS)
    assert stats['first_rank'].tolist() == [1, 3, 2]
    assert stats['first_rank'].dtype == torch.long
    assert stats['ap'].tolist() == pytest.approx([0.75, 11 / 30, 0.5])
    assert stats['inp'].tolist() == pytest.approx([0.5, 0.4, 0.5])
    result = summarize_rank_stats(**stats, topk=(1, 2, 5, 10))
    assert list(result) == ['R1', 'R2', 'R5', 'R10', 'mAP', 'mINP']
    assert all(type(value) is float for value in result.values())
    assert result == pytest.approx(dict(R1=100 / 3, R2=200 / 3, R5=100.0,
                                        R10=100.0, mAP=100 * 48.5 / 90,
                                        mINP=100 * 1.4 / 3))
    # the test reference agrees with the hand computation
    assert_stats_equal(stats, reference_rank_stats(
        HAND_SIMILARITY, HAND_QUERY_PIDS, HAND_GALLERY_PIDS))


def test_pids_of_other_integer_types_and_sequences():
    expected = query_rank_stats(HAND_SIMILARITY, HAND_QUERY_PIDS,
                                HAND_GALLERY_PIDS)
    for similarity, query_pids, gallery_pids in [
        (HAND_SIMILARITY, HAND_QUERY_PIDS.int(), HAND_GALLERY_PIDS.tolist()),
        (HAND_SIMILARITY.double(), HAND_QUERY_PIDS.numpy(),
         HAND_GALLERY_PIDS.short()),
    ]:
        assert_stats_equal(query_rank_stats(similarity, query_pids,
                                            gallery_pids), expected)


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
    # -0.0 and 0.0 are one score: the lower index g0 ranks first
    'signed_zeros': ([0.0, -0.0, -0.5], [9, 7, 7], [2, 3],
                     (1 / 2 + 2 / 3) / 2, 2 / 3),
    # negative scores order by value, not by their bits
    'negative_scores': ([-2.0, -1.0, -3.0, -1.5], [7, 9, 7, 9], [3, 4],
                        (1 / 3 + 2 / 4) / 2, 2 / 4),
}


@pytest.mark.parametrize('case', sorted(TIE_CASES))
@pytest.mark.parametrize('num_bins,dtype', [(None, torch.float32),
                                            (1, torch.float32),
                                            (3, torch.float32),
                                            (1000, torch.float32),
                                            (None, torch.float64)])
def test_ties_rank_lower_gallery_index_first(case, num_bins, dtype):
    scores, gallery_pids, match_ranks, ap, inp = TIE_CASES[case]
    similarity = torch.tensor([scores], dtype=dtype)
    query_pids, gallery_pids = torch.tensor([7]), torch.tensor(gallery_pids)
    stats = query_rank_stats(similarity, query_pids, gallery_pids,
                             num_bins=num_bins)
    assert stats['first_rank'].tolist() == [match_ranks[0]]
    assert stats['ap'].item() == pytest.approx(ap)
    assert stats['inp'].item() == pytest.approx(inp)


@pytest.mark.parametrize('ties', [False, True])
@pytest.mark.parametrize('num_bins,dtype', [(1, torch.float32),
                                            (4, torch.float32),
                                            (64, torch.float32),
                                            (None, torch.float32),
                                            (None, torch.float64)])
def test_per_query_stats_equal_stable_sort(ties, num_bins, dtype,
                                           retrieval_data,
                                           reference_rank_stats):
    similarity, query_pids, gallery_pids = retrieval_data(40, 120, 15, 3,
                                                          ties=ties)
    similarity = similarity.to(dtype)
    assert_stats_equal(
        query_rank_stats(similarity, query_pids, gallery_pids,
                         num_bins=num_bins),
        reference_rank_stats(similarity, query_pids, gallery_pids))


def test_rows_whose_lowest_match_is_last_rank_everything(
        reference_rank_stats):
    """A useless model: every row's lowest match scores below the whole
    gallery, so every entry is a candidate."""
    generator = torch.Generator().manual_seed(8)
    similarity = torch.rand(12, 50, generator=generator)
    gallery_pids = torch.arange(50) % 6
    query_pids = torch.arange(12) % 6
    similarity[torch.arange(12), query_pids] = -1.0  # a match, last
    assert_stats_equal(
        query_rank_stats(similarity, query_pids, gallery_pids),
        reference_rank_stats(similarity, query_pids, gallery_pids))
    # the last match ranks 50th: INP = |rel| / 50
    num_matches = torch.bincount(gallery_pids)[query_pids]
    assert torch.allclose(query_rank_stats(similarity, query_pids,
                                           gallery_pids)['inp'],
                          num_matches.double() / 50)


@pytest.mark.parametrize('num_queries,num_gallery,num_ids,seed', [
    (1, 1, 1, 0),
    (5, 200, 3, 1),
    (64, 300, 40, 2),
    (150, 1000, 90, 3),
])
@pytest.mark.parametrize('ties', [False, True])
def test_chunked_ranking_equals_stable_sort(num_queries, num_gallery,
                                            num_ids, seed, ties, monkeypatch,
                                            retrieval_data,
                                            reference_rank_stats):
    similarity, query_pids, gallery_pids = retrieval_data(
        num_queries, num_gallery, num_ids, seed, ties=ties)
    expected = reference_rank_stats(similarity, query_pids, gallery_pids)
    # chunks of a few rows, as at ICFG size (so buffers are reused)
    monkeypatch.setattr(rank_module, '_CHUNK_NUM_ELEMENTS', 7 * num_gallery)
    assert_stats_equal(query_rank_stats(similarity, query_pids,
                                        gallery_pids), expected)


@pytest.mark.parametrize('threads', [1, 2, 3])
def test_ranking_in_parallel_parts_equals_one_thread(threads, monkeypatch,
                                                     retrieval_data,
                                                     reference_rank_stats):
    """With T torch threads each chunk is ranked as T parts of rows, one
    Python thread each; every part has its own tables."""
    similarity, query_pids, gallery_pids = retrieval_data(61, 300, 20, 6,
                                                          ties=True)
    similarity[5, 7] = float('inf')  # a row of one part sorted exactly
    expected = reference_rank_stats(similarity, query_pids, gallery_pids)
    monkeypatch.setattr(rank_module, '_CHUNK_NUM_ELEMENTS', 25 * 300)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ranker = GalleryRanker(gallery_pids)
        for _ in range(2):  # tables reused
            assert_stats_equal(ranker.rank_similarity(similarity,
                                                      query_pids), expected)
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
    assert len(ranker._tables_of) == (1 if threads == 1 else threads)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_feature_path_equals_ranking_the_product(dtype, monkeypatch,
                                                 reference_rank_stats):
    generator = torch.Generator().manual_seed(5)
    gallery_pids = torch.randint(0, 30, (400, ), generator=generator)
    query_pids = gallery_pids[torch.randperm(400, generator=generator)[:90]]
    query_feats = torch.randn(90, 16, generator=generator, dtype=dtype)
    gallery_feats = torch.randn(400, 16, generator=generator, dtype=dtype)
    gallery_feats[7] = gallery_feats[3]  # exact ties between columns
    monkeypatch.setattr(rank_module, '_CHUNK_NUM_ELEMENTS', 4000)
    ranker = GalleryRanker(gallery_pids, gallery_feats)
    assert ranker.chunk_rows == 10
    # one ranker serves several batches (the metric's use)
    stats = [ranker.rank_features(query_feats[start:start + 32],
                                  query_pids[start:start + 32])
             for start in range(0, 90, 32)]
    stats = {key: torch.cat([s[key] for s in stats]) for key in stats[0]}
    expected = reference_rank_stats(query_feats @ gallery_feats.T,
                                    query_pids, gallery_pids)
    assert_stats_equal(stats, expected)
    assert_stats_equal(feature_rank_stats(query_feats, gallery_feats,
                                          query_pids, gallery_pids),
                       expected)


def test_half_precision_and_infinite_rows(retrieval_data,
                                          reference_rank_stats):
    similarity, query_pids, gallery_pids = retrieval_data(30, 90, 9, 4)
    similarity[3, 5] = float('inf')
    similarity[4, :40] = -float('inf')  # e.g. masked-out gallery items
    assert_stats_equal(
        query_rank_stats(similarity, query_pids, gallery_pids),
        reference_rank_stats(similarity, query_pids, gallery_pids))
    half = similarity.half()
    assert_stats_equal(
        query_rank_stats(half, query_pids, gallery_pids),
        reference_rank_stats(half.float(), query_pids, gallery_pids))
    # infinite features give infinite products: ranked exactly as well
    query_feats, gallery_feats = torch.randn(6, 4), torch.randn(9, 4)
    query_feats[2, 0] = float('inf')
    pids = torch.arange(9) % 3
    assert_stats_equal(
        feature_rank_stats(query_feats, gallery_feats, pids[:6], pids),
        reference_rank_stats(query_feats @ gallery_feats.T, pids[:6], pids))


def test_query_without_match_is_an_error():
    similarity = torch.rand(4, 3)
    gallery_pids = torch.tensor([0, 2, 4])
    query_pids = torch.tensor([0, 1, 2, 3])  # pids 1 and 3 not in gallery
    with pytest.raises(ValueError,
                       match=r'2 of 4 queries .*first query indices: '
                       r'\[1, 3\]'):
        query_rank_stats(similarity, query_pids, gallery_pids)
    with pytest.raises(ValueError, match=r'2 of 4 queries'):
        feature_rank_stats(torch.rand(4, 2), torch.rand(3, 2), query_pids,
                           gallery_pids)


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
    with pytest.raises(error, match=match):
        query_rank_stats(similarity, query_pids, gallery_pids)


def test_bad_features_nan_scores_and_options_are_errors():
    with pytest.raises(ValueError, match='differ in feature size'):
        feature_rank_stats(torch.rand(2, 3), torch.rand(4, 5), [0, 1],
                           [0, 1, 0, 1])
    with pytest.raises(ValueError, match='gallery_feats has 4 rows'):
        GalleryRanker([0, 1], torch.rand(4, 3))
    with pytest.raises(ValueError, match='built with gallery_feats'):
        GalleryRanker([0, 1]).rank_features(torch.rand(2, 3), [0, 1])
    similarity = torch.rand(6, 4)
    similarity[4, 2] = float('nan')
    with pytest.raises(ValueError, match=r'NaN .*first query indices: \[4\]'):
        query_rank_stats(similarity, [0, 1, 0, 1, 0, 1], [0, 1, 0, 1])
    with pytest.raises(ValueError, match='num_bins'):
        query_rank_stats(torch.rand(2, 2), [0, 1], [0, 1], num_bins=0)
    with pytest.raises(ValueError, match='topk'):
        check_topk((0, 5))
    assert check_topk(5) == (5, )
    with pytest.raises(ValueError, match='0 queries'):
        summarize_rank_stats(torch.zeros(0), torch.zeros(0), torch.zeros(0))


def load_benchmark():
    return load_script('benchmarks/rank_metrics.py')


def test_benchmark_data_has_uneven_identities():
    bench = load_benchmark()
    text, image, query_pids, gallery_pids = bench.make_retrieval_data(
        num_queries=300, num_gallery=400, num_ids=50, seed=0)
    assert text.shape == (300, 512) and image.shape == (400, 512)
    assert torch.allclose(text.norm(dim=1), torch.ones(300))
    images_per_id = torch.bincount(gallery_pids, minlength=50)
    assert images_per_id.min() >= 1 and images_per_id.max() >= 2 * 400 / 50
    assert torch.isin(query_pids, gallery_pids).all()
    again = bench.make_retrieval_data(300, 400, 50, seed=0)
    assert torch.equal(again[0], text)
    with pytest.raises(ValueError, match='num_gallery >= num_ids'):
        bench.make_retrieval_data(10, 5, 8, seed=0)


def test_benchmark_runs_at_tiny_size(reference_rank_stats):
    bench = load_benchmark()
    result = bench.run(num_queries=40, num_gallery=30, num_ids=8, seed=0,
                       repeats=1, i2t=True)
    text, image, query_pids, gallery_pids = bench.make_retrieval_data(
        40, 30, 8, seed=0)
    expected = summarize_rank_stats(
        **reference_rank_stats(text @ image.T, query_pids, gallery_pids))
    assert result['metrics']['t2i'] == pytest.approx(expected, rel=1e-12)
    assert set(result['metrics']) == {'t2i', 'i2t'}
    assert set(result['timings']) == {'matmul', 'production', 'irra_rank'}
    assert 'production / matmul' in bench.format_report(result)
