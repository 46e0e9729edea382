"""Reference ranking of the evaluation tests: IRRA's ``rank`` semantics."""
import pytest
import torch


def stable_sort_rank_stats(similarity, query_pids, gallery_pids):
    """Per-query stats straight from the definition: a full stable argsort
    of every row (ties: lower gallery index first), as IRRA's ``rank``."""
    order = torch.sort(similarity.double(), dim=1, descending=True,
                       stable=True).indices
    matches = gallery_pids[order] == query_pids[:, None]
    positions = torch.arange(1, similarity.shape[1] + 1, dtype=torch.float64)
    first_rank = matches.to(torch.uint8).argmax(1) + 1
    ap = (matches.cumsum(1, dtype=torch.float64) / positions *
          matches).sum(1) / matches.sum(1)
    last_rank = similarity.shape[1] - matches.flip(1).to(
        torch.uint8).argmax(1)
    inp = matches.sum(1).double() / last_rank
    return dict(first_rank=first_rank, ap=ap, inp=inp)


@pytest.fixture
def reference_rank_stats():
    return stable_sort_rank_stats


def random_retrieval(num_queries, num_gallery, num_ids, seed, ties=False):
    """Similarity (Q, G), query pids (Q,) and gallery pids (G,); every query
    has a match. ``ties``: four distinct scores only."""
    generator = torch.Generator().manual_seed(seed)
    gallery_pids = torch.randint(0, num_ids, (num_gallery, ),
                                 generator=generator)
    query_pids = gallery_pids[torch.randint(0, num_gallery, (num_queries, ),
                                            generator=generator)]
    if ties:
        similarity = torch.randint(0, 4, (num_queries, num_gallery),
                                   generator=generator).float()
    else:
        similarity = torch.randn(num_queries, num_gallery,
                                 generator=generator)
    return similarity, query_pids, gallery_pids


@pytest.fixture
def retrieval_data():
    return random_retrieval
