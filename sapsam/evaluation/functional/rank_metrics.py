"""Retrieval ranking statistics (CMC R@K, mAP, mINP) without sorting rows.

Semantics are those of IRRA's ``rank()``: every query ranks the whole
gallery by descending score and a gallery item matches a query when their
person ids are equal. Ties rank the lower gallery index first, as
``torch.sort(similarity, dim=1, descending=True, stable=True)`` does.

* ``R@K`` = 100 * mean over queries of [a match is in the top K] (CMC).
* ``AP_q`` = (1 / |rel_q|) * sum_k M_qk * precision@k, ``mAP`` = 100 * mean.
* ``INP_q`` = |rel_q| / (rank of the last match), ``mINP`` = 100 * mean.

Production path: ``TextToImageRetrievalLoop`` -> ``TBPRMetric.process`` ->
:func:`feature_rank_stats`, which computes the similarity one chunk of query
rows at a time and ranks the chunk while it is still in cache; only three
numbers per query leave it. :func:`query_rank_stats` ranks given rows with
the same code.

How a chunk is ranked. The rank of a match ``m`` of a row ``s`` is
``1 + #{j : s_j > s_m} + #{j < m : s_j == s_m}``, so only the matches need
ranks, never the whole row:

1. The range of the row's match scores is cut into ``num_bins`` equal bins
   (scores below it go to bin 0, above it to the top bins). The bin of a
   score is a monotone function of it, computed once per entry in place.
2. A histogram of the bins counts, for every match, the entries in higher
   bins: they all score higher.
3. The few entries that share a bin with a match are compared with the
   matches of that bin exactly, by (score, -gallery index).

Rows with an infinite score are ranked by a stable sort instead; NaN scores
are an error. The result equals the full stable argsort exactly.
"""
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor

__all__ = [
    'GalleryRanker', 'check_topk', 'feature_rank_stats', 'query_rank_stats',
    'summarize_rank_stats'
]

# Similarity entries per chunk (32 MB of float32): enough query rows that
# the chunk products run as fast as one big product.
_CHUNK_NUM_ELEMENTS = 2**23
# Comparisons per block in the exact in-bin step.
_BLOCK_NUM_ELEMENTS = 2**21
# Score bins per row: about 4 entries per bin, at most 4096.
_MAX_DEFAULT_BINS = 4096


class _GalleryByPid(NamedTuple):
    """Gallery items grouped by person id: ``order[starts[u]:starts[u] +
    counts[u]]`` are the gallery indices (ascending) of id ``pids[u]``."""
    order: Tensor
    pids: Tensor
    starts: Tensor
    counts: Tensor


def _group_gallery(gallery_pids: Tensor) -> _GalleryByPid:
    order = torch.sort(gallery_pids, stable=True).indices
    pids, counts = torch.unique_consecutive(gallery_pids[order],
                                            return_counts=True)
    return _GalleryByPid(order, pids, counts.cumsum(0) - counts, counts)


def _pid_ids(gallery: _GalleryByPid, query_pids: Tensor) -> Tensor:
    """Index into ``gallery.pids`` of every query's person id (Q,)."""
    return torch.searchsorted(gallery.pids, query_pids).clamp_(
        max=gallery.pids.numel() - 1)


def _check_matched(gallery: _GalleryByPid, query_pids: Tensor) -> None:
    """Raise ValueError if a query has no gallery item of its person id."""
    unmatched = (gallery.pids[_pid_ids(gallery, query_pids)] !=
                 query_pids).nonzero().flatten()
    if unmatched.numel() > 0:
        raise ValueError(
            f'{unmatched.numel()} of {query_pids.numel()} queries have no '
            'gallery item with the same person id (first query indices: '
            f'{unmatched[:5].tolist()}, pids: '
            f'{query_pids[unmatched[:5]].tolist()}); every query needs at '
            'least one match to be ranked')


def _match_columns(gallery: _GalleryByPid,
                   query_pids: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Gallery columns of every query's matches (every query has one).

    Returns:
        tuple: ``columns`` (LongTensor (Q, M), ascending per row, padded),
        ``valid`` (BoolTensor (Q, M), False on padding) and ``num_matches``
        (LongTensor (Q,)), where M is the largest number of matches.
    """
    pid_ids = _pid_ids(gallery, query_pids)
    num_matches = gallery.counts[pid_ids]
    slots = torch.arange(int(num_matches.max()), device=query_pids.device)
    valid = slots < num_matches[:, None]
    positions = (gallery.starts[pid_ids, None] + slots).clamp_(
        max=gallery.order.numel() - 1)
    return gallery.order[positions], valid, num_matches


def _as_pid_tensor(pids, name: str, device: torch.device) -> Tensor:
    pids = torch.as_tensor(pids, device=device)
    if pids.dim() != 1:
        raise ValueError(f'{name} must be a 1-D tensor of person ids, got '
                         f'shape {tuple(pids.shape)}')
    if pids.is_floating_point() or pids.is_complex():
        raise TypeError(f'{name} must hold integer person ids, got dtype '
                        f'{pids.dtype}')
    return pids.long()


def _check_matrix(tensor, name: str, what: str) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f'{name} must be a torch.Tensor of shape {what}, got '
                        f'{type(tensor)}')
    if tensor.dim() != 2:
        raise ValueError(f'{name} must be a 2-D {what} tensor, got shape '
                         f'{tuple(tensor.shape)}')
    if not tensor.is_floating_point():
        raise TypeError(f'{name} must be a floating point tensor, got dtype '
                        f'{tensor.dtype}')
    if 0 in tensor.shape:
        raise ValueError(f'{name} must have at least one query and one '
                         f'gallery item, got shape {tuple(tensor.shape)}')


def _check_num_bins(num_bins: Optional[int], num_gallery: int) -> int:
    if num_bins is None:
        return max(1, min(_MAX_DEFAULT_BINS, num_gallery // 4))
    if not isinstance(num_bins, int) or isinstance(num_bins, bool) or \
            num_bins < 1:
        raise ValueError(f'num_bins must be a positive int, got {num_bins!r}')
    return num_bins


def check_topk(topk) -> Tuple[int, ...]:
    """``topk`` as a non-empty tuple of positive ints (an int is one K)."""
    if isinstance(topk, int):
        topk = (topk, )
    topk = tuple(topk)
    if not topk or any(not isinstance(k, int) or isinstance(k, bool) or k < 1
                       for k in topk):
        raise ValueError(f'topk must be positive integers, got {topk}')
    return topk


class GalleryRanker:
    """Ranks batches of queries against one gallery (module docstring).

    Everything that depends on the gallery only is prepared once: the
    gallery grouped by person id, the transposed gallery features and the
    chunk buffers, which every chunk of every batch reuses.

    Args:
        gallery_pids (Tensor): (G,) person ids of the gallery items.
        gallery_feats (Tensor, optional): (G, D) gallery features, needed by
            :meth:`rank_features`.
        num_bins (int, optional): Score bins per row. Any value gives the
            same result; it trades histogram size against exact
            comparisons. Defaults to ``clip(G // 4, 1, 4096)``.

    Examples:
        >>> ranker = GalleryRanker(gallery_pids, gallery_feats)
        >>> stats = ranker.rank_features(text_feats, text_pids)
        >>> summarize_rank_stats(**stats)  # {'R1': .., 'mAP': .., ...}
    """

    def __init__(self,
                 gallery_pids,
                 gallery_feats: Optional[Tensor] = None,
                 num_bins: Optional[int] = None) -> None:
        device = gallery_feats.device if gallery_feats is not None else None
        self.gallery_pids = _as_pid_tensor(gallery_pids, 'gallery_pids',
                                           device)
        self.num_gallery = self.gallery_pids.numel()
        if self.num_gallery == 0:
            raise ValueError('the gallery must have at least one item')
        self.gallery = _group_gallery(self.gallery_pids)
        self.gallery_t = None
        if gallery_feats is not None:
            _check_matrix(gallery_feats, 'gallery_feats',
                          '(num_gallery, dim)')
            if gallery_feats.shape[0] != self.num_gallery:
                raise ValueError(
                    f'gallery_feats has {gallery_feats.shape[0]} rows but '
                    f'gallery_pids has {self.num_gallery} entries')
            # (D, G) contiguous: the chunk products need no repacking.
            self.gallery_t = gallery_feats.to(
                _score_dtype(gallery_feats.dtype)).t().contiguous()
        self.num_bins = _check_num_bins(num_bins, self.num_gallery)
        self.bins_per_row = self.num_bins + 3  # bins 0 .. num_bins + 2
        # Rows per chunk; the bin tables stay below 2**22 entries, so float
        # bin ids are exact integers.
        self.chunk_rows = max(
            1, min(_CHUNK_NUM_ELEMENTS // self.num_gallery,
                   2**22 // self.bins_per_row))
        self._similarity_of: Optional[Tensor] = None
        self._tables_of: Dict[int, tuple] = {}
        self._gallery_abs_max = None

    def rank_features(self, query_feats: Tensor,
                      query_pids) -> Dict[str, Tensor]:
        """Stats of ``query_feats @ gallery_feats.T``, one chunk of query rows
        at a time, each ranked right after its product.

        Args:
            query_feats (Tensor): (Q, D) query features on the gallery's
                device.
            query_pids (Tensor): (Q,) person ids of the queries.

        Returns:
            dict: See :func:`query_rank_stats`.
        """
        if self.gallery_t is None:
            raise ValueError('rank_features needs the GalleryRanker built '
                             'with gallery_feats')
        _check_matrix(query_feats, 'query_feats', '(num_queries, dim)')
        if query_feats.shape[1] != self.gallery_t.shape[0]:
            raise ValueError(f'query_feats {tuple(query_feats.shape)} and '
                             f'gallery_feats {tuple(self.gallery_t.t().shape)}'
                             ' differ in feature size')
        query_pids = self._query_pids(query_pids, query_feats.shape[0])
        dtype = self.gallery_t.dtype
        chunk_rows = self._balanced_chunk_rows(query_feats.shape[0])
        similarity = self._similarity_buffer(dtype, query_feats.device,
                                             chunk_rows)
        chunks = []
        for start in range(0, query_feats.shape[0], chunk_rows):
            rows = query_feats[start:start + chunk_rows].to(dtype)
            scores = similarity[:rows.shape[0] * self.num_gallery].view(
                rows.shape[0], self.num_gallery)
            torch.mm(rows, self.gallery_t, out=scores)
            chunks.append(self._rank_chunk(
                scores, query_pids[start:start + rows.shape[0]], start,
                finite=self._products_finite(rows)))
        return _concat_stats(chunks)

    def rank_similarity(self, similarity: Tensor,
                        query_pids) -> Dict[str, Tensor]:
        """Stats of given similarity rows (Q, G), see
        :func:`query_rank_stats`."""
        _check_matrix(similarity, 'similarity', '(num_queries, num_gallery)')
        if similarity.shape[1] != self.num_gallery:
            raise ValueError(f'gallery_pids has {self.num_gallery} entries '
                             'but similarity has '
                             f'{similarity.shape[1]} gallery columns (shape '
                             f'{tuple(similarity.shape)})')
        query_pids = self._query_pids(query_pids, similarity.shape[0],
                                      tuple(similarity.shape))
        similarity = similarity.to(_score_dtype(similarity.dtype))
        chunk_rows = self._balanced_chunk_rows(similarity.shape[0])
        chunks = []
        for start in range(0, similarity.shape[0], chunk_rows):
            chunks.append(self._rank_chunk(
                similarity[start:start + chunk_rows].contiguous(),
                query_pids[start:start + chunk_rows], start))
        return _concat_stats(chunks)

    def _balanced_chunk_rows(self, num_queries: int) -> int:
        """Rows per chunk for ``num_queries`` rows: at most ``chunk_rows``,
        in chunks of equal size (a small last chunk multiplies slowly)."""
        num_chunks = -(-num_queries // self.chunk_rows)
        return -(-num_queries // num_chunks)

    def _products_finite(self, rows: Tensor) -> bool:
        """Whether ``rows @ gallery_t`` is surely finite: finite features
        whose products cannot overflow (checked on the small factors)."""
        if self._gallery_abs_max is None:
            self._gallery_abs_max = float(self.gallery_t.abs().max())
        bound = float(rows.abs().max()) * self._gallery_abs_max * \
            rows.shape[1]
        return bound < torch.finfo(rows.dtype).max / 2

    def _query_pids(self, query_pids, num_queries: int,
                    shape: Optional[tuple] = None) -> Tensor:
        query_pids = _as_pid_tensor(query_pids, 'query_pids',
                                    self.gallery_pids.device)
        if query_pids.numel() != num_queries:
            shape = shape or (num_queries, self.num_gallery)
            raise ValueError(f'query_pids has {query_pids.numel()} entries '
                             f'but similarity has {num_queries} query rows '
                             f'(shape {shape})')
        _check_matched(self.gallery, query_pids)
        return query_pids

    def _similarity_buffer(self, dtype: torch.dtype, device: torch.device,
                           rows: int) -> Tensor:
        """Flat buffer of a chunk of up to ``rows`` product rows, reused."""
        buffer = self._similarity_of
        if buffer is None or buffer.dtype != dtype or \
                buffer.device != device or \
                buffer.numel() < rows * self.num_gallery:
            buffer = torch.empty(rows * self.num_gallery, dtype=dtype,
                                 device=device)
            self._similarity_of = buffer
        return buffer

    def _tables(self, dtype: torch.dtype, device: torch.device, rows: int,
                part: int = 0) -> Dict[str, Tensor]:
        """Working tables of one part of a chunk, up to ``rows`` rows,
        allocated on first use (and when a dtype, device or more rows need
        new ones); each part ranked in parallel has its own."""
        key = (dtype, device)
        tables = self._tables_of.get(part)
        if tables is not None and tables[0] == key and tables[1] >= rows:
            return tables[2]
        num_entries = rows * self.num_gallery
        num_bin_ids = rows * self.bins_per_row
        id_dtype = torch.int32 if dtype == torch.float32 else torch.int64
        tables = dict(
            # Bin values are computed in place in the bin id buffer.
            bin_ids=torch.empty(num_entries, dtype=id_dtype, device=device),
            # "Shares a bin with a match" bytes, read 8 at a time.
            mask_words=torch.zeros((num_entries + 7) // 8,
                                   dtype=torch.int64, device=device),
            row_bases=torch.arange(rows, device=device) *
            self.bins_per_row,
            # Per-bin tables, written and read at the bins of matches only.
            bin_flags=torch.zeros(num_bin_ids, dtype=torch.uint8,
                                  device=device),
            bin_first_slot=torch.zeros(num_bin_ids, dtype=torch.long,
                                       device=device),
            bin_size=torch.zeros(num_bin_ids, dtype=torch.long,
                                 device=device))
        self._tables_of[part] = (key, rows, tables)
        return tables

    def _rank_chunk(self, similarity: Tensor, query_pids: Tensor,
                    row_offset: int, finite: bool = False
                    ) -> Dict[str, Tensor]:
        """Per-query stats of a contiguous chunk of rows; ``finite`` skips
        the check for infinite and NaN scores.

        On a CPU with ``T > 1`` torch threads the chunk is cut into ``T``
        parts of rows, each ranked on one thread by its own Python thread
        (torch releases the GIL in its kernels): the ranking passes are
        short and memory-bound, and splitting every pass over the intra-op
        threads would make each wait for all of them (much slower when other
        jobs share the cores). The products keep all threads.
        """
        threads = torch.get_num_threads()
        num_rows = similarity.shape[0]
        if similarity.device.type != 'cpu' or threads == 1 or num_rows == 1:
            return self._rank_rows(similarity, query_pids, row_offset,
                                   finite, 0)
        num_parts = min(threads, num_rows)
        bounds = [num_rows * part // num_parts
                  for part in range(num_parts + 1)]
        pool = _thread_pool(num_parts)
        torch.set_num_threads(1)
        try:
            futures = [
                pool.submit(self._rank_rows,
                                     similarity[start:end],
                                     query_pids[start:end],
                                     row_offset + start, finite, part)
                for part, (start, end) in enumerate(zip(bounds, bounds[1:]))
            ]
            return _concat_stats([future.result() for future in futures])
        finally:
            torch.set_num_threads(threads)

    def _rank_rows(self, similarity: Tensor, query_pids: Tensor,
                   row_offset: int, finite: bool,
                   part: int) -> Dict[str, Tensor]:
        """Stats of contiguous rows (R, G) with the tables of ``part``."""
        tables = self._tables(similarity.dtype, similarity.device,
                              similarity.shape[0], part)
        query_pids = query_pids.to(similarity.device)
        columns, valid, num_matches = _match_columns(self.gallery,
                                                     query_pids)
        # Matches by ascending key (score, -column), i.e. reverse ranking
        # order; padding scores +inf and goes last.
        columns, valid = columns.flip(1), valid.flip(1)
        scores = similarity.gather(1, columns).masked_fill_(~valid,
                                                            float('inf'))
        scores, order = scores.sort(dim=1, stable=True)
        columns = columns.gather(1, order)
        valid = valid.gather(1, order)
        ranks, exact_rows = self._binned_ranks(similarity, scores, columns,
                                               valid, num_matches,
                                               row_offset, finite, tables)
        if bool(exact_rows.any()):
            rows = exact_rows.nonzero().flatten()
            matches = query_pids[rows, None] == self.gallery_pids
            ranks[rows] = _stable_sort_ranks(similarity[rows], matches,
                                             num_matches[rows],
                                             ranks.shape[1])
        return _stats_from_ranks(ranks, num_matches)

    def _bin_ids(self, similarity: Tensor, scores: Tensor,
                 num_matches: Tensor, row_offset: int, finite: bool,
                 tables: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
        """Flat bin id of every entry, ``row * bins_per_row + bin`` (Q * G,),
        and the rows that need the exact sort (infinite scores)."""
        num_rows = similarity.shape[0]
        if finite:
            exact_rows = torch.zeros(num_rows, dtype=torch.bool,
                                     device=similarity.device)
        else:
            # A non-finite row sum flags infinite (sorted exactly) and NaN
            # (an error) scores with one cheap reduction.
            exact_rows = ~torch.isfinite(similarity.sum(1))
            if bool(exact_rows.any()):
                _raise_on_nan(similarity, exact_rows, row_offset)
        low = scores[:, 0]
        high = scores.gather(1, (num_matches - 1)[:, None]).squeeze(1)
        spread = high - low
        spread = torch.where(spread > 0, spread,
                             low.abs().clamp_min(torch.finfo(low.dtype).tiny))
        scale = self.num_bins / spread
        # The lowest match lands in bin 1 and the highest in bin num_bins + 1,
        # half a bin from their edges.
        shift = 1.5 - low * scale
        exact_rows |= ~(torch.isfinite(scale) & torch.isfinite(shift))
        scale.masked_fill_(exact_rows, 0)
        shift.masked_fill_(exact_rows, 0)

        bin_ids = tables['bin_ids'][:similarity.numel()].view(
            similarity.shape)
        values = bin_ids.view(similarity.dtype)
        # Separate multiply and add (not a fused one, whose rounding may
        # differ between vector and scalar lanes): bins stay monotone.
        torch.mul(similarity, scale[:, None], out=values)
        values.add_(shift[:, None])
        if bool(exact_rows.any()):
            values[exact_rows] = 0  # inf * 0 gave NaN there
        values.clamp_(0, self.num_bins + 2)
        # Row r's bins are r * bins_per_row + [0, num_bins + 2].
        values.add_(tables['row_bases'][:num_rows, None].to(values.dtype))
        bin_ids.copy_(values)  # in place: each entry is read, then written
        return bin_ids.view(-1), exact_rows

    @staticmethod
    def _entries_in_bins(flat_ids: Tensor,
                         tables: Dict[str, Tensor]) -> Tensor:
        """Flat indices (ascending) of the entries whose bin is flagged."""
        num_entries = flat_ids.numel()
        bin_flags = tables['bin_flags']
        words = tables['mask_words'][:(num_entries + 7) // 8]
        mask = words.view(torch.uint8)
        torch.index_select(bin_flags, 0, flat_ids, out=mask[:num_entries])
        mask[num_entries:] = 0
        # Few entries are flagged: find the non-zero 8-byte words first.
        word_ids = words.nonzero().flatten()
        word_rows, byte_ids = words[word_ids].view(torch.uint8).view(
            -1, 8).nonzero(as_tuple=True)
        return word_ids[word_rows] * 8 + byte_ids

    def _binned_ranks(self, similarity: Tensor, scores: Tensor,
                      columns: Tensor, valid: Tensor, num_matches: Tensor,
                      row_offset: int, finite: bool,
                      tables: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
        """Ranks (Q, M) of the sorted match slots; rows to re-rank."""
        num_rows, num_gallery = similarity.shape
        device = similarity.device
        flat_ids, exact_rows = self._bin_ids(similarity, scores, num_matches,
                                             row_offset, finite, tables)
        # Entries in a higher bin than a match score higher than it.
        num_bin_ids = num_rows * self.bins_per_row
        counts = torch.bincount(flat_ids, minlength=num_bin_ids)
        at_or_below = counts.view(num_rows, -1).cumsum(1).view(-1)
        match_bins = flat_ids.view(num_rows, -1).gather(1, columns).long()
        ranks = (num_gallery + 1) - at_or_below[match_bins]

        # Entries sharing a bin with a match (the matches among them) are
        # compared with the matches of their bin. Matches of one bin have
        # consecutive slots (bins are monotone); first slot and count per bin:
        width = scores.shape[1]
        valid = valid & ~exact_rows[:, None]
        slot_ids = torch.arange(width, device=device).expand_as(match_bins)
        new_bin = torch.ones_like(valid)
        new_bin[:, 1:] = match_bins[:, 1:] != match_bins[:, :-1]
        first_slot = torch.where(new_bin, slot_ids, 0).cummax(1).values
        valid_bins = match_bins[valid]
        tables['bin_first_slot'][valid_bins] = first_slot[valid]
        tables['bin_size'].index_add_(0, valid_bins,
                                      torch.ones_like(valid_bins))
        tables['bin_flags'][valid_bins] = 1
        candidates = self._entries_in_bins(flat_ids, tables)
        cand_bins = flat_ids.index_select(0, candidates).long()
        first_slots = tables['bin_first_slot'].index_select(0, cand_bins)
        sizes = tables['bin_size'].index_select(0, cand_bins)
        tables['bin_size'][valid_bins] = 0
        tables['bin_flags'][valid_bins] = 0
        if candidates.numel() == 0:
            return ranks, exact_rows
        cand_scores = similarity.view(-1).index_select(0, candidates)[:, None]
        cand_rows = candidates // num_gallery
        cand_cols = (candidates - cand_rows * num_gallery)[:, None]
        slot_scores, slot_cols = scores.view(-1), columns.view(-1)
        row_starts = cand_rows * width + first_slots
        # A candidate ranks before the matches of its bin with a lower key
        # (score, -column): the first `beaten` slots of the bin.
        beaten = torch.zeros_like(first_slots)
        max_size = int(sizes.max())
        block = max(1, _BLOCK_NUM_ELEMENTS // candidates.numel())
        for start in range(0, max_size, block):
            offsets = torch.arange(start, min(start + block, max_size),
                                   device=device)
            in_bin = offsets < sizes[:, None]
            slots = row_starts[:, None] + offsets.minimum(sizes[:, None] - 1)
            other = slot_scores.take(slots)
            lower_key = other < cand_scores
            ties = other == cand_scores
            if bool(ties.any()):  # rare with float scores
                lower_key |= ties & (slot_cols.take(slots) > cand_cols)
            beaten += (lower_key & in_bin).sum(1)
        # +1 on the slots [first, first + beaten) of each candidate's row.
        passed = torch.zeros(num_rows * (width + 1), dtype=torch.long,
                             device=device)
        starts = row_starts + cand_rows
        passed.index_add_(0, starts, torch.ones_like(starts))
        passed.index_add_(0, starts + beaten, -torch.ones_like(starts))
        ranks += passed.view(num_rows, width + 1).cumsum(1)[:, :width]
        return ranks, exact_rows


# (number of workers, pool) of the ranking threads, made on first use.
_POOL: Optional[Tuple[int, ThreadPoolExecutor]] = None


def _thread_pool(num_workers: int) -> ThreadPoolExecutor:
    """The ranking thread pool, with at least ``num_workers`` threads."""
    global _POOL
    if _POOL is None or _POOL[0] < num_workers:
        if _POOL is not None:
            _POOL[1].shutdown(wait=False)
        _POOL = (num_workers,
                 ThreadPoolExecutor(num_workers,
                                    thread_name_prefix='GalleryRanker'))
    return _POOL[1]


def _raise_on_nan(similarity: Tensor, rows: Tensor, row_offset: int) -> None:
    rows = rows.nonzero().flatten()
    nan_rows = rows[torch.isnan(similarity[rows]).any(1)]
    if nan_rows.numel() > 0:
        raise ValueError(f'similarity has NaN scores in {nan_rows.numel()} '
                         'query rows (first query indices: '
                         f'{(nan_rows[:5] + row_offset).tolist()})')


def _stable_sort_ranks(similarity: Tensor, matches: Tensor,
                       num_matches: Tensor, width: int) -> Tensor:
    """Match ranks of a few rows from a full stable sort, in the slot layout
    of :class:`GalleryRanker` (slot i = the (m - i)-th match)."""
    order = torch.sort(similarity, dim=1, descending=True, stable=True).indices
    rows, positions = matches.gather(1, order).nonzero(as_tuple=True)
    order_in_ranking = torch.arange(rows.numel(), device=rows.device) - (
        num_matches.cumsum(0) - num_matches)[rows]
    ranks = torch.ones(similarity.shape[0], width, dtype=torch.long,
                       device=similarity.device)
    ranks[rows, num_matches[rows] - 1 - order_in_ranking] = positions + 1
    return ranks


def _stats_from_ranks(ranks: Tensor, num_matches: Tensor) -> Dict[str, Tensor]:
    """First rank, AP and INP from match ranks (Q, M) in slot layout."""
    order_in_ranking = num_matches[:, None] - torch.arange(
        ranks.shape[1], device=ranks.device)
    valid = order_in_ranking > 0
    ranks = ranks.masked_fill(~valid, 1)
    first_rank = ranks.gather(1, (num_matches - 1)[:, None]).squeeze(1)
    precisions = (order_in_ranking.double() / ranks).masked_fill_(~valid, 0)
    # cumsum adds the terms in slot order whatever the padding width, so a
    # row's AP does not depend on the other rows of its chunk.
    ap = precisions.cumsum(1)[:, -1] / num_matches
    inp = num_matches.double() / ranks[:, 0]
    return dict(first_rank=first_rank, ap=ap, inp=inp)


def _concat_stats(chunks) -> Dict[str, Tensor]:
    return {key: torch.cat([chunk[key] for chunk in chunks])
            for key in ('first_rank', 'ap', 'inp')}


def _score_dtype(dtype: torch.dtype) -> torch.dtype:
    """Scores are ranked in float32 (half types upcast exactly) or float64."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def query_rank_stats(similarity: Tensor,
                     query_pids,
                     gallery_pids,
                     num_bins: Optional[int] = None) -> Dict[str, Tensor]:
    """Per-query ranking statistics of similarity rows.

    Ranks follow a stable descending sort of each row (ties: lower gallery
    index first), computed without sorting (see the module docstring).

    Args:
        similarity (Tensor): Query-to-gallery scores, shape (Q, G).
        query_pids (Tensor): Person id of every query, shape (Q,).
        gallery_pids (Tensor): Person id of every gallery item, shape (G,).
        num_bins (int, optional): See :class:`GalleryRanker`.

    Returns:
        dict: ``first_rank`` (LongTensor (Q,), 1-based rank of the best
        match), ``ap`` (float64 (Q,), average precision in [0, 1]) and
        ``inp`` (float64 (Q,), |rel| / rank of the last match), on the
        device of ``similarity``.

    Raises:
        ValueError: On bad shapes, NaN scores, or a query without any
            gallery item of its person id.
    """
    _check_matrix(similarity, 'similarity', '(num_queries, num_gallery)')
    gallery_pids = _as_pid_tensor(gallery_pids, 'gallery_pids',
                                  similarity.device)
    if gallery_pids.numel() != similarity.shape[1]:
        raise ValueError(f'gallery_pids has {gallery_pids.numel()} entries '
                         f'but similarity has {similarity.shape[1]} gallery '
                         f'columns (shape {tuple(similarity.shape)})')
    return GalleryRanker(gallery_pids, num_bins=num_bins).rank_similarity(
        similarity, query_pids)


def feature_rank_stats(query_feats: Tensor,
                       gallery_feats: Tensor,
                       query_pids,
                       gallery_pids,
                       num_bins: Optional[int] = None) -> Dict[str, Tensor]:
    """Per-query ranking statistics of ``query_feats @ gallery_feats.T``,
    computed and ranked chunk by chunk (:meth:`GalleryRanker.rank_features`);
    the (Q, G) matrix never exists.

    Args:
        query_feats (Tensor): (Q, D) query features.
        gallery_feats (Tensor): (G, D) gallery features, same device.
        query_pids (Tensor): (Q,) person ids of the queries.
        gallery_pids (Tensor): (G,) person ids of the gallery.
        num_bins (int, optional): See :class:`GalleryRanker`.

    Returns:
        dict: See :func:`query_rank_stats`.
    """
    return GalleryRanker(gallery_pids, gallery_feats,
                         num_bins).rank_features(query_feats, query_pids)


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
    for k in check_topk(topk):
        hits = int((first_rank <= k).sum())
        results[f'R{k}'] = 100.0 * hits / num_queries
    results['mAP'] = 100.0 * float(ap.double().mean())
    results['mINP'] = 100.0 * float(inp.double().mean())
    return results
