"""Text-to-image person retrieval metric: CMC R@K, mAP and mINP."""
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from prettytable import PrettyTable

from sapsam.evaluation.functional.rank_metrics import (_check_topk,
                                                       query_rank_stats,
                                                       summarize_rank_stats)
from sapsam.registry import METRICS


@METRICS.register_module()
class TBPRMetric(BaseMetric):
    """IRRA-style text-to-image retrieval metric over a full gallery.

    The retrieval loop scores every query caption against the whole gallery
    and feeds one dict per query to :meth:`process`::

        {'similarity': Tensor (G,), 'query_pid': int,
         'gallery_pids': LongTensor (G,)}

    ``process`` ranks each batch at once with
    :func:`~sapsam.evaluation.functional.query_rank_stats` and keeps only
    three numbers per query (first match rank, AP, INP), so the (G,) rows
    are never stored or gathered across ranks. ``compute_metrics`` gives the
    same values as :func:`~sapsam.evaluation.functional.rank_metrics` on the
    full matrix (ties rank the lower gallery index first).

    Args:
        topk (Sequence[int]): The K of every reported ``R@K``.
            Defaults to (1, 5, 10).
        prefix (str, optional): Prefix of the result keys. Defaults to
            ``'t2i'``, giving ``t2i/R1``, ..., ``t2i/mAP``, ``t2i/mINP``.
        collect_device (str): Device used to collect results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.

    Examples:
        >>> import torch
        >>> from mmengine.evaluator import Evaluator
        >>> gallery_pids = torch.tensor([3, 5, 5])
        >>> samples = [
        ...     dict(similarity=torch.tensor([0.9, 0.2, 0.1]), query_pid=3,
        ...          gallery_pids=gallery_pids),
        ...     dict(similarity=torch.tensor([0.8, 0.1, 0.7]), query_pid=5,
        ...          gallery_pids=gallery_pids)]
        >>> evaluator = Evaluator(TBPRMetric(topk=(1, )))
        >>> evaluator.process(samples)
        >>> # evaluate() also logs a table of the results
        >>> evaluator.evaluate(2)  # doctest: +SKIP
        {'t2i/R1': 50.0, 't2i/mAP': 79.166..., 't2i/mINP': 83.333...}
    """
    default_prefix: Optional[str] = 't2i'

    def __init__(self,
                 topk: Sequence[int] = (1, 5, 10),
                 prefix: Optional[str] = 't2i',
                 collect_device: str = 'cpu') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = _check_topk(topk)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Rank a batch of queries and keep their per-query statistics.

        Args:
            data_batch (Any): Unused (the loop passes ``None``).
            data_samples (Sequence[dict]): One dict per query with keys
                ``similarity`` (Tensor (G,)), ``query_pid`` (int) and
                ``gallery_pids`` (LongTensor (G,), the same for all).
        """
        if len(data_samples) == 0:
            return
        gallery_pids = None
        rows, query_pids = [], []
        for index, sample in enumerate(data_samples):
            missing = [
                key for key in ('similarity', 'query_pid', 'gallery_pids')
                if key not in sample
            ]
            if missing:
                raise KeyError(f'{self.__class__.__name__}.process: data '
                               f'sample {index} has no {missing} (keys: '
                               f'{sorted(sample)})')
            similarity = torch.as_tensor(sample['similarity'])
            if similarity.dim() != 1 or (rows and
                                         similarity.shape != rows[0].shape):
                raise ValueError(f'{self.__class__.__name__}.process: data '
                                 f'sample {index} similarity must be a 1-D '
                                 '(num_gallery,) row like sample 0, got '
                                 f'shape {tuple(similarity.shape)}')
            if gallery_pids is None:
                gallery_pids = sample['gallery_pids']
            elif sample['gallery_pids'] is not gallery_pids and \
                    not torch.equal(torch.as_tensor(sample['gallery_pids']),
                                    torch.as_tensor(gallery_pids)):
                raise ValueError(f'{self.__class__.__name__}.process: data '
                                 f'sample {index} has other gallery_pids '
                                 'than sample 0; all queries must be ranked '
                                 'against the same gallery')
            rows.append(similarity)
            query_pids.append(int(sample['query_pid']))
        similarity = torch.stack(rows)
        stats = query_rank_stats(
            similarity, torch.tensor(query_pids, device=similarity.device),
            torch.as_tensor(gallery_pids, device=similarity.device))
        for first_rank, ap, inp in zip(stats['first_rank'].tolist(),
                                       stats['ap'].tolist(),
                                       stats['inp'].tolist()):
            self.results.append(dict(first_rank=first_rank, ap=ap, inp=inp))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Aggregate per-query statistics.

        Args:
            results (list[dict]): ``first_rank``, ``ap`` and ``inp`` of
                every query, collected from all ranks.

        Returns:
            dict: ``R<k>`` for every k in ``topk``, ``mAP`` and ``mINP`` in
            percent.
        """
        metrics = summarize_rank_stats(
            torch.tensor([r['first_rank'] for r in results]),
            torch.tensor([r['ap'] for r in results], dtype=torch.float64),
            torch.tensor([r['inp'] for r in results], dtype=torch.float64),
            topk=self.topk)
        table = PrettyTable(field_names=['queries', *metrics])
        table.add_row([len(results), *(f'{v:.2f}' for v in metrics.values())])
        print_log(f'{self.prefix or "retrieval"} results:\n{table}',
                  logger='current')
        return metrics
