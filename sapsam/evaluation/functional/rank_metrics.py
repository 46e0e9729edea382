"""Text-to-image retrieval ranking metrics (CMC R@K, mAP, mINP).

The semantics follow IRRA's ``rank()`` (``utils/metrics.py``): every query row
of a similarity matrix ranks the whole gallery by descending score, and a
gallery item matches a query when their person ids are equal.

* ``R@K`` = 100 * mean over queries of [a match is in the top K] (CMC).
* ``AP_q`` = (1 / |rel_q|) * sum_k M_qk * precision@k, ``mAP`` = 100 * mean AP.
* ``INP_q`` = |rel_q| / (rank of the last match), ``mINP`` = 100 * mean INP.

Ties are broken by a **stable** sort: among equal scores the lower gallery
index ranks first, which is what
``torch.sort(similarity, dim=1, descending=True, stable=True)`` gives.

:func:`rank_metrics` never sorts a row. Only the ranks of the matches are
needed: the rank of the k-th match in ranking order is
``k + #{non-matches ranked before it}``, counted with per-row score
histograms and a few exact comparisons (see :func:`_histogram_match_ranks`).
Ties are resolved by gallery index there too; only rows with infinite scores
are re-ranked with a stable sort. The result always equals the full stable
argsort (:func:`rank_metrics_full_argsort`).
"""
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor

__all__ = [
    'query_rank_stats', 'summarize_rank_stats', 'rank_metrics',
    'rank_metrics_full_argsort'
]

# Similarity entries per chunk of query rows (chunk buffers of ~90 MB). Big
# chunks mean few parallel ops, which matters when other jobs share the CPU.
_CHUNK_NUM_ELEMENTS = 2**22
# Candidate-match comparisons per block.
_BLOCK_NUM_ELEMENTS = 2**21


class _GalleryIndex(NamedTuple):
    """Gallery items grouped by person id.

    ``order[starts[u]:starts[u] + counts[u]]`` are the gallery indices
    (ascending) of person id ``pids[u]``; ``pids`` is sorted.
    """
    order: Tensor
    pids: Tensor
    starts: Tensor
    counts: Tensor


def _index_gallery(gallery_pids: Tensor) -> _GalleryIndex:
    order = torch.sort(gallery_pids, stable=True).indices
    pids, counts = torch.unique_consecutive(gallery_pids[order],
                                            return_counts=True)
    return _GalleryIndex(order, pids, counts.cumsum(0) - counts, counts)


def _locate_matches(index: _GalleryIndex, query_pids: Tensor,
                    row_offset: int) -> Tuple[Tensor, Tensor]:
    """Number of matches of every query and the start of its block in
    ``index.order``; raises if a query has no match."""
    pid_ids = torch.searchsorted(index.pids, query_pids).clamp(
        max=index.pids.numel() - 1)
    unmatched = (index.pids[pid_ids] != query_pids).nonzero().flatten()
    if unmatched.numel() > 0:
        raise ValueError(
            f'{unmatched.numel()} of {query_pids.numel()} queries have no '
            'gallery item with the same person id (first query indices: '
            f'{(unmatched[:5] + row_offset).tolist()}, pids: '
            f'{query_pids[unmatched[:5]].tolist()}); every query needs at '
            'least one match to be ranked')
    return index.counts[pid_ids], index.starts[pid_ids]


def _as_pid_tensor(pids, name: str, device: torch.device) -> Tensor:
    pids = torch.as_tensor(pids, device=device)
    if pids.dim() != 1:
        raise ValueError(f'{name} must be a 1-D tensor of person ids, got '
                         f'shape {tuple(pids.shape)}')
    if pids.is_floating_point() or pids.is_complex():
        raise TypeError(f'{name} must hold integer person ids, got dtype '
                        f'{pids.dtype}')
    return pids.long()


def _check_inputs(similarity: Tensor, query_pids, gallery_pids):
    """Validate shapes and dtypes; return the pids as tensors on the device
    of ``similarity``."""
    if not isinstance(similarity, Tensor):
        raise TypeError('similarity must be a torch.Tensor of shape '
                        f'(num_queries, num_gallery), got {type(similarity)}')
    if similarity.dim() != 2:
        raise ValueError('similarity must be a 2-D (num_queries, num_gallery) '
                         f'tensor, got shape {tuple(similarity.shape)}')
    if not similarity.is_floating_point():
        raise TypeError('similarity must be a floating point tensor, got '
                        f'dtype {similarity.dtype}')
    num_queries, num_gallery = similarity.shape
    if num_queries == 0 or num_gallery == 0:
        raise ValueError('similarity must have at least one query and one '
                         f'gallery item, got shape {tuple(similarity.shape)}')
    query_pids = _as_pid_tensor(query_pids, 'query_pids', similarity.device)
    gallery_pids = _as_pid_tensor(gallery_pids, 'gallery_pids',
                                  similarity.device)
    if query_pids.numel() != num_queries:
        raise ValueError(f'query_pids has {query_pids.numel()} entries but '
                         f'similarity has {num_queries} query rows (shape '
                         f'{tuple(similarity.shape)})')
    if gallery_pids.numel() != num_gallery:
        raise ValueError(f'gallery_pids has {gallery_pids.numel()} entries '
                         f'but similarity has {num_gallery} gallery columns '
                         f'(shape {tuple(similarity.shape)})')
    return query_pids, gallery_pids


def _check_topk(topk) -> tuple:
    if isinstance(topk, int):
        topk = (topk, )
    topk = tuple(topk)
    if not topk or any(not isinstance(k, int) or isinstance(k, bool) or k < 1
                       for k in topk):
        raise ValueError(f'topk must be positive integers, got {topk}')
    return topk


def _raise_on_nan(row_has_nan: Tensor, row_offset: int):
    nan_rows = row_has_nan.nonzero().flatten()
    if nan_rows.numel() > 0:
        raise ValueError(f'similarity has NaN scores in {nan_rows.numel()} '
                         'query rows (first query indices: '
                         f'{(nan_rows[:5] + row_offset).tolist()})')


def _default_num_bins(num_gallery: int) -> int:
    return max(1, min(4096, num_gallery // 4))


def _score_bins(similarity: Tensor, num_bins: int, row_offset: int):
    """Quantise every row to equal-width bins of its score range.

    ``bin(s) = trunc((s - row_min) * (num_bins / row_span))`` uses correctly
    rounded elementwise ops only, so it is monotone in ``s`` (a higher bin
    always means a strictly higher score) and lies in ``[0, num_bins]``.

    Returns:
        tuple: bins (LongTensor (N, G)) and exact_rows (BoolTensor (N,),
        rows with a non-finite score range, left for the exact path).
    """
    row_min, row_max = similarity.amin(dim=1), similarity.amax(dim=1)
    _raise_on_nan(torch.isnan(row_min) | torch.isnan(row_max), row_offset)
    span = row_max - row_min
    exact_rows = ~torch.isfinite(span)
    scale = torch.where(span > 0, num_bins / span, torch.zeros_like(span))
    scaled = similarity - row_min[:, None]
    scaled.mul_(scale[:, None])
    if exact_rows.any():
        scaled[exact_rows] = 0
    return scaled.long(), exact_rows


def _stable_sort_match_ranks(similarity: Tensor, matches: Tensor,
                             num_matches: Tensor,
                             max_matches: int) -> Tensor:
    """Exact match ranks of a few rows from a full stable sort.

    Returns:
        Tensor: (N, max_matches) ranks in the slot layout of
        :func:`_histogram_match_ranks`.
    """
    order = torch.sort(similarity, dim=1, descending=True, stable=True).indices
    rows, positions = matches.gather(1, order).nonzero(as_tuple=True)
    order_in_ranking = torch.arange(rows.numel(), device=rows.device) - (
        num_matches.cumsum(0) - num_matches)[rows]
    ranks = torch.zeros(similarity.shape[0], max_matches, dtype=torch.long,
                        device=similarity.device)
    ranks[rows, num_matches[rows] - 1 - order_in_ranking] = positions + 1
    return ranks


def _histogram_match_ranks(similarity: Tensor, match_rows: Tensor,
                           match_cols: Tensor, match_slots: Tensor,
                           num_matches: Tensor, max_matches: int,
                           num_bins: int, row_offset: int):
    """Ranks of every match without sorting the rows.

    The rank of the k-th match in ranking order is ``k + #{non-matches
    ranked before it}``. Each row is quantised into equal-width score bins
    (:func:`_score_bins`); non-matches in a strictly higher bin than a match
    score higher and are counted with a per-row histogram. Only the
    non-matches that share a bin with a match (candidates, a few percent of
    the gallery) are compared exactly with the matches of that bin, by the
    key (score, -gallery index), which reproduces the stable sort on ties.
    Cost: a few elementwise passes over the (N, G) scores, no sort.

    Args:
        similarity (Tensor): Scores (N, G).
        match_rows, match_cols, match_slots (Tensor): Row, gallery column
            and within-row slot of every match, 1-D.
        num_matches (Tensor): Matches per row, (N,), all > 0.
        max_matches (int): ``num_matches.max()``.
        num_bins (int): Score bins per row.
        row_offset (int): Index of the first row, for error messages.

    Returns:
        tuple: ranks (LongTensor (N, max_matches); slot ``i`` holds the rank
        of the ``(num_matches - i)``-th match in ranking order, so match
        scores ascend along the slots; padding slots are meaningless) and
        exact_rows (BoolTensor (N,), rows with infinite scores, whose ranks
        are meaningless and need the stable sort path).
    """
    num_rows, num_gallery = similarity.shape
    device = similarity.device
    bins, exact_rows = _score_bins(similarity, num_bins, row_offset)
    # Score bins are 0..num_bins; matches (and all items of exact rows) move
    # to an extra bin so they are neither counted nor candidates.
    aside_bin = num_bins + 1
    num_bin_ids = num_bins + 2
    match_bins = bins[match_rows, match_cols]
    bins[match_rows, match_cols] = aside_bin
    if exact_rows.any():
        bins[exact_rows] = aside_bin

    # Matches of every row by ascending score (reverse ranking order up to
    # ties, which only matter within a bin and are compared exactly there),
    # with their columns and bins; padding and the extra last slot are +inf.
    match_scores = similarity.new_full((num_rows, max_matches + 1),
                                       float('inf'))
    match_scores[match_rows, match_slots] = similarity[match_rows, match_cols]
    slot_cols = torch.full((num_rows, max_matches + 1), -1, dtype=torch.long,
                           device=device)
    slot_cols[match_rows, match_slots] = match_cols
    slot_bins = torch.full((num_rows, max_matches + 1), num_bins,
                           dtype=torch.long, device=device)
    slot_bins[match_rows, match_slots] = match_bins
    match_scores, order = match_scores.sort(dim=1, stable=True)
    slot_cols = slot_cols.gather(1, order)
    slot_bins = slot_bins.gather(1, order)[:, :max_matches]

    # k + #{non-matches in a strictly higher score bin}.
    items_up_to_bin = torch.zeros(num_rows, num_bin_ids, dtype=torch.long,
                                  device=device)
    items_up_to_bin.scatter_add_(
        1, bins,
        torch.ones(1, 1, dtype=torch.long, device=device).expand_as(bins))
    items_up_to_bin = items_up_to_bin.cumsum_(1)
    order_in_ranking = num_matches[:, None] - torch.arange(
        max_matches, device=device)[None, :]
    ranks = order_in_ranking + (items_up_to_bin[:, num_bins, None] -
                                items_up_to_bin.gather(1, slot_bins))

    # Candidates: non-matches in a bin that holds a match (flat indices).
    matches_per_bin = torch.zeros(num_rows, num_bin_ids, dtype=torch.long,
                                  device=device)
    matches_per_bin.index_put_((match_rows, match_bins),
                               torch.ones_like(match_bins),
                               accumulate=True)
    if exact_rows.any():
        matches_per_bin[exact_rows] = 0
    candidates = (matches_per_bin > 0).gather(1, bins).view(-1).nonzero()
    candidates = candidates.flatten()
    if candidates.numel() == 0:
        return ranks, exact_rows
    cand_rows = candidates // num_gallery
    cand_cols = candidates - cand_rows * num_gallery
    cand_scores = similarity.view(-1)[candidates]
    cand_bins = cand_rows * num_bin_ids + bins.view(-1)[candidates]
    del bins, candidates
    first_slot_of_bin = matches_per_bin.cumsum(1) - matches_per_bin
    first_slots = first_slot_of_bin.view(-1)[cand_bins]
    # A candidate ranks before the matches of its bin with a lower key
    # (score, -column): lower score, or equal score and higher column, as in
    # a stable sort. The slots after the bin score higher (higher bins or
    # +inf padding), so comparing bin-size many slots from the first counts
    # them all. The j-th lowest-key match of the bin is passed by the
    # candidates with more than j matches below them: +1 on the slots
    # [first slot, first slot + below) of a difference row.
    row_starts = cand_rows * (max_matches + 1)
    flat_scores, flat_cols = match_scores.view(-1), slot_cols.view(-1)
    cand_scores, cand_cols = cand_scores[:, None], cand_cols[:, None]
    below = torch.zeros_like(first_slots)
    max_bin_size = int(matches_per_bin.max())
    # (candidates, offsets) blocks of at most ~2M comparisons.
    block = max(1, min(max_bin_size,
                       _BLOCK_NUM_ELEMENTS // first_slots.numel()))
    for start in range(0, max_bin_size, block):
        offsets = torch.arange(start, min(start + block, max_bin_size),
                               device=device)
        slots = (first_slots[:, None] + offsets).clamp_(max=max_matches)
        slots += row_starts[:, None]
        slot_scores = flat_scores[slots]
        below += (slot_scores < cand_scores).sum(1)
        ties = slot_scores == cand_scores
        if ties.any():
            below += (ties & (flat_cols[slots] > cand_cols)).sum(1)
    passed = torch.zeros(num_rows * (max_matches + 1), dtype=torch.long,
                         device=device)
    passed.index_put_((row_starts + first_slots, ),
                      torch.ones_like(first_slots),
                      accumulate=True)
    passed.index_put_((row_starts + first_slots + below, ),
                      torch.full_like(first_slots, -1),
                      accumulate=True)
    ranks += passed.view(num_rows, max_matches + 1).cumsum(1)[:, :max_matches]
    return ranks, exact_rows


def _query_rank_stats(similarity: Tensor, query_pids: Tensor,
                      gallery_pids: Tensor, gallery_index: _GalleryIndex,
                      num_bins: Optional[int],
                      row_offset: int) -> Dict[str, Tensor]:
    """:func:`query_rank_stats` on validated inputs."""
    if similarity.dtype in (torch.float16, torch.bfloat16):
        similarity = similarity.float()  # exact upcast, same order
    similarity = similarity.contiguous()
    device = similarity.device
    num_rows, num_gallery = similarity.shape
    if num_bins is None:
        num_bins = _default_num_bins(num_gallery)
    num_matches, match_starts = _locate_matches(gallery_index, query_pids,
                                                row_offset)
    max_matches = int(num_matches.max())
    # Every match as (row, gallery column, slot), columns ascending per row.
    match_rows = torch.repeat_interleave(
        torch.arange(num_rows, device=device), num_matches)
    match_slots = torch.arange(match_rows.numel(), device=device) - (
        num_matches.cumsum(0) - num_matches)[match_rows]
    match_cols = gallery_index.order[match_starts[match_rows] + match_slots]
    ranks, exact_rows = _histogram_match_ranks(
        similarity, match_rows, match_cols, match_slots, num_matches,
        max_matches, num_bins, row_offset)
    if exact_rows.any():
        rows = exact_rows.nonzero().flatten()
        matches = query_pids[rows, None] == gallery_pids[None, :]
        ranks[rows] = _stable_sort_match_ranks(similarity[rows], matches,
                                               num_matches[rows], max_matches)

    # Slot i holds the (m - i)-th match in ranking order.
    order_in_ranking = num_matches[:, None] - torch.arange(
        max_matches, device=device)[None, :]
    valid = order_in_ranking > 0
    ranks = ranks.masked_fill(~valid, 1)
    first_rank = ranks.gather(1, (num_matches - 1)[:, None]).squeeze(1)
    precisions = order_in_ranking.double() / ranks
    precisions.masked_fill_(~valid, 0)
    # cumsum adds the terms in slot order whatever the padding width, so a
    # row's AP does not depend on the other rows of its chunk.
    ap = precisions.cumsum(1)[:, -1] / num_matches
    inp = num_matches.double() / ranks[:, 0]
    return dict(first_rank=first_rank, ap=ap, inp=inp)


def query_rank_stats(similarity: Tensor,
                     query_pids,
                     gallery_pids,
                     num_bins: Optional[int] = None) -> Dict[str, Tensor]:
    """Per-query ranking statistics, exact for the given rows.

    Ranks follow a stable descending sort of each row (ties: lower gallery
    index first), computed without sorting (see the module docstring).
    Memory is a few (Q, G) buffers, so pass chunks of rows.

    Args:
        similarity (Tensor): Query-to-gallery scores, shape (Q, G).
        query_pids (Tensor): Person id of every query, shape (Q,).
        gallery_pids (Tensor): Person id of every gallery item, shape (G,).
        num_bins (int, optional): Score bins per row of the counting
            histogram. Any value gives the same result; it only trades the
            histogram size against exact comparisons. Defaults to
            ``clip(G // 4, 1, 4096)``.

    Returns:
        dict: ``first_rank`` (LongTensor (Q,), 1-based rank of the best
        match), ``ap`` (float64 Tensor (Q,), average precision in [0, 1]) and
        ``inp`` (float64 Tensor (Q,), |rel| / rank of the last match).

    Raises:
        ValueError: On bad shapes, NaN scores, or a query without any
            gallery item of its person id.
    """
    query_pids, gallery_pids = _check_inputs(similarity, query_pids,
                                             gallery_pids)
    if num_bins is not None and (not isinstance(num_bins, int)
                                 or num_bins < 1):
        raise ValueError(f'num_bins must be a positive int, got {num_bins!r}')
    return _query_rank_stats(similarity, query_pids, gallery_pids,
                             _index_gallery(gallery_pids), num_bins,
                             row_offset=0)


def summarize_rank_stats(first_rank: Tensor,
                         ap: Tensor,
                         inp: Tensor,
                         topk: Sequence[int] = (1, 5, 10)) -> Dict[str, float]:
    """Aggregate per-query statistics to percentages.

    Args:
        first_rank (Tensor): 1-based rank of each query's best match, (Q,).
        ap (Tensor): Average precision of each query, (Q,).
        inp (Tensor): Inverse negative penalty of each query, (Q,).
        topk (Sequence[int]): The K of every reported ``R@K``.

    Returns:
        dict: ``{'R1': .., 'R5': .., 'R10': .., 'mAP': .., 'mINP': ..}`` as
        python floats in percent (one ``R<k>`` per k in ``topk``).
    """
    num_queries = first_rank.numel()
    if num_queries == 0:
        raise ValueError('cannot summarize ranking statistics of 0 queries')
    results = {}
    for k in _check_topk(topk):
        hits = int((first_rank <= k).sum())
        results[f'R{k}'] = 100.0 * hits / num_queries
    results['mAP'] = 100.0 * float(ap.double().mean())
    results['mINP'] = 100.0 * float(inp.double().mean())
    return results


def rank_metrics(similarity: Tensor,
                 query_pids,
                 gallery_pids,
                 topk: Sequence[int] = (1, 5, 10),
                 chunk_size: Optional[int] = None) -> Dict[str, float]:
    """CMC R@K, mAP and mINP of a query-gallery similarity matrix.

    Query rows are processed in chunks with :func:`query_rank_stats`, so no
    (Q, G) argsort is ever materialised. Ties rank the lower gallery index
    first (stable sort); the result equals :func:`rank_metrics_full_argsort`.

    Args:
        similarity (Tensor): Scores, shape (Q, G); higher = more similar.
        query_pids (Tensor): Person id of every query, shape (Q,).
        gallery_pids (Tensor): Person id of every gallery item, shape (G,).
        topk (Sequence[int]): Ks of the reported ``R@K``. Defaults to
            (1, 5, 10).
        chunk_size (int, optional): Query rows per chunk. Defaults to about
            4M similarity entries per chunk.

    Returns:
        dict: ``R<k>`` for every k, ``mAP`` and ``mINP``, python floats in
        percent.

    Examples:
        >>> import torch
        >>> sim = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3]])
        >>> rank_metrics(sim, torch.tensor([7, 8]), torch.tensor([7, 8, 8]),
        ...              topk=(1, ))
        {'R1': 100.0, 'mAP': 100.0, 'mINP': 100.0}
    """
    topk = _check_topk(topk)
    query_pids, gallery_pids = _check_inputs(similarity, query_pids,
                                             gallery_pids)
    gallery_index = _index_gallery(gallery_pids)
    _locate_matches(gallery_index, query_pids, row_offset=0)
    num_queries, num_gallery = similarity.shape
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_NUM_ELEMENTS // num_gallery)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f'chunk_size must be a positive int, got '
                         f'{chunk_size!r}')
    stats = dict(first_rank=[], ap=[], inp=[])
    for start in range(0, num_queries, chunk_size):
        chunk_stats = _query_rank_stats(
            similarity[start:start + chunk_size],
            query_pids[start:start + chunk_size],
            gallery_pids,
            gallery_index,
            num_bins=None,
            row_offset=start)
        for key, value in chunk_stats.items():
            stats[key].append(value.cpu())
    return summarize_rank_stats(
        torch.cat(stats['first_rank']),
        torch.cat(stats['ap']),
        torch.cat(stats['inp']),
        topk=topk)


def rank_metrics_full_argsort(similarity: Tensor,
                              query_pids,
                              gallery_pids,
                              topk: Sequence[int] = (1, 5, 10)
                              ) -> Dict[str, float]:
    """Reference implementation: IRRA's ``rank()`` with a stable argsort.

    Sorts every row in full, gathers the gallery pids in ranked order and
    takes cumulative match counts. Simple and memory hungry (several (Q, G)
    int64 / float64 buffers); the baseline of the tests and of
    ``benchmarks/rank_metrics.py``.

    Args:
        similarity (Tensor): Scores, shape (Q, G).
        query_pids (Tensor): Person ids of the queries, shape (Q,).
        gallery_pids (Tensor): Person ids of the gallery, shape (G,).
        topk (Sequence[int]): Ks of the reported ``R@K``.

    Returns:
        dict: Same keys and meaning as :func:`rank_metrics`.
    """
    topk = _check_topk(topk)
    query_pids, gallery_pids = _check_inputs(similarity, query_pids,
                                             gallery_pids)
    _raise_on_nan(torch.isnan(similarity).any(1), row_offset=0)
    _locate_matches(_index_gallery(gallery_pids), query_pids, row_offset=0)
    num_queries, num_gallery = similarity.shape
    order = torch.argsort(similarity, dim=1, descending=True, stable=True)
    matches = gallery_pids[order] == query_pids[:, None]  # (Q, G) ranked
    del order
    results = {}
    for k in topk:
        hits = int(matches[:, :k].any(1).sum())
        results[f'R{k}'] = 100.0 * hits / num_queries
    num_relevant = matches.sum(1)
    # precision@k = (matches in the top k) / k, summed where M_qk = 1.
    precision = matches.cumsum(1, dtype=torch.float64)
    precision /= torch.arange(1, num_gallery + 1, dtype=torch.float64)
    precision *= matches
    ap = precision.sum(1) / num_relevant
    del precision
    last_rank = num_gallery - matches.flip(1).to(torch.uint8).argmax(1)
    inp = num_relevant.double() / last_rank
    results['mAP'] = 100.0 * float(ap.mean())
    results['mINP'] = 100.0 * float(inp.mean())
    return results
