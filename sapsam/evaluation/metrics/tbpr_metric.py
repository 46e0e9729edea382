"""Text-based person retrieval metric: CMC R@K, mAP and mINP."""
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from prettytable import PrettyTable

from sapsam.evaluation.functional.rank_metrics import (GalleryRanker,
                                                       check_topk,
                                                       feature_rank_stats,
                                                       query_rank_stats,
                                                       summarize_rank_stats)
from sapsam.registry import METRICS


@METRICS.register_module()
class TBPRMetric(BaseMetric):
    """IRRA-style retrieval metric over a full gallery.

    Text-to-image (always): every query caption ranks the whole gallery.
    Image-to-text (``i2t=True``, IRRA's ``i2t_metric``): every gallery image
    ranks all query captions. Ties rank the lower index first.

    The retrieval loop hands one dict per query caption to :meth:`process`::

        {'text_feat': Tensor (D,), 'query_pid': int,
         'gallery_feats': Tensor (G, D), 'gallery_pids': LongTensor (G,)}

    (the gallery tensors are the same objects for every query). Each batch
    is scored and ranked on the features' device in chunks
    (:class:`~sapsam.evaluation.functional.GalleryRanker`), keeping three
    numbers per query. Precomputed rows ``{'similarity': Tensor (G,),
    'query_pid': int, 'gallery_pids': LongTensor (G,)}`` are accepted too
    (text-to-image only).

    Args:
        topk (Sequence[int]): The K of every reported ``R@K``.
            Defaults to (1, 5, 10).
        prefix (str, optional): Prefix of the text-to-image keys. Defaults
            to ``'t2i'``: ``t2i/R1``, ..., ``t2i/mAP``, ``t2i/mINP``.
        i2t (bool): Also report image-to-text metrics. Defaults to False;
            enable in a config with
            ``val_evaluator = dict(type=TBPRMetric, i2t=True)``.
        i2t_prefix (str): Prefix of the image-to-text keys. Defaults to
            ``'i2t'``: ``i2t/R1``, ..., ``i2t/mINP``.
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
                 i2t: bool = False,
                 i2t_prefix: str = 'i2t',
                 collect_device: str = 'cpu') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        # compute_metrics prefixes the keys itself (t2i and i2t each get
        # their own), so BaseMetric.evaluate must not add one.
        self.t2i_prefix, self.prefix = self.prefix, None
        self.topk = check_topk(topk)
        self.i2t = bool(i2t)
        self.i2t_prefix = i2t_prefix
        self._ranker: Optional[GalleryRanker] = None
        self._gallery = None  # (feats, pids) the ranker was built for

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Rank a batch of queries and keep their per-query statistics.

        Args:
            data_batch (Any): Unused (the loop passes ``None``).
            data_samples (Sequence[dict]): One dict per query, see the class
                docstring.
        """
        if len(data_samples) == 0:
            return
        with_feats = 'text_feat' in data_samples[0]
        row_key = 'text_feat' if with_feats else 'similarity'
        gallery_keys = ('gallery_feats', 'gallery_pids') if with_feats \
            else ('gallery_pids', )
        if self.i2t and not with_feats:
            raise ValueError(f'{self.__class__.__name__}(i2t=True) needs '
                             'text_feat and gallery_feats samples (the '
                             'retrieval loop passes them), not similarity '
                             'rows')
        rows, query_pids = [], []
        for index, sample in enumerate(data_samples):
            missing = [
                key for key in (row_key, 'query_pid', *gallery_keys)
                if key not in sample
            ]
            if missing:
                raise KeyError(f'{self.__class__.__name__}.process: data '
                               f'sample {index} has no {missing} (keys: '
                               f'{sorted(sample)})')
            row = torch.as_tensor(sample[row_key])
            if row.dim() != 1 or (rows and row.shape != rows[0].shape):
                raise ValueError(f'{self.__class__.__name__}.process: data '
                                 f'sample {index} {row_key} must be a 1-D '
                                 'row like sample 0, got shape '
                                 f'{tuple(row.shape)}')
            for key in gallery_keys:
                first = data_samples[0][key]
                if sample[key] is not first and not torch.equal(
                        torch.as_tensor(sample[key]), torch.as_tensor(first)):
                    raise ValueError(
                        f'{self.__class__.__name__}.process: data sample '
                        f'{index} has other {key} than sample 0; all queries '
                        'must be ranked against the same gallery')
            rows.append(row)
            query_pids.append(int(sample['query_pid']))
        rows = torch.stack(rows)
        query_pids = torch.tensor(query_pids, device=rows.device)
        if with_feats:
            ranker = self._gallery_ranker(data_samples[0]['gallery_feats'],
                                          data_samples[0]['gallery_pids'])
            stats = ranker.rank_features(rows, query_pids)
        else:
            stats = query_rank_stats(rows, query_pids,
                                     data_samples[0]['gallery_pids'])
        stats = [stats[key].tolist() for key in ('first_rank', 'ap', 'inp')]
        for index, (first_rank, ap, inp) in enumerate(zip(*stats)):
            result = dict(first_rank=first_rank, ap=ap, inp=inp)
            if self.i2t:
                result.update(text_feat=rows[index].cpu(),
                              pid=int(query_pids[index]))
            self.results.append(result)

    def _gallery_ranker(self, gallery_feats, gallery_pids) -> GalleryRanker:
        """The ranker of this gallery, built once per evaluation."""
        if self._gallery is None or self._gallery[0] is not gallery_feats:
            self._ranker = GalleryRanker(gallery_pids, gallery_feats)
            self._gallery = (gallery_feats, gallery_pids)
        return self._ranker

    def evaluate(self, size: int) -> dict:
        """Collect, compute and log the metrics; then drop the gallery."""
        try:
            return super().evaluate(size)
        finally:
            self._ranker = self._gallery = None

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Aggregate per-query statistics (and rank the images by text).

        Args:
            results (list[dict]): ``first_rank``, ``ap`` and ``inp`` of
                every query (and ``text_feat``, ``pid`` with ``i2t``),
                collected from all ranks.

        Returns:
            dict: ``<prefix>/R<k>`` for every k in ``topk``,
            ``<prefix>/mAP`` and ``<prefix>/mINP`` in percent; the same
            under ``i2t_prefix`` with ``i2t``.
        """
        metrics = summarize_rank_stats(
            torch.tensor([r['first_rank'] for r in results]),
            torch.tensor([r['ap'] for r in results], dtype=torch.float64),
            torch.tensor([r['inp'] for r in results], dtype=torch.float64),
            topk=self.topk)
        tables = {self.t2i_prefix or 'text-to-image': (len(results), metrics)}
        metrics = _prefixed(metrics, self.t2i_prefix)
        if self.i2t:
            i2t_metrics, num_images = self._image_to_text(results)
            tables[self.i2t_prefix] = (num_images, i2t_metrics)
            metrics.update(_prefixed(i2t_metrics, self.i2t_prefix))
        for name, (count, values) in tables.items():
            table = PrettyTable(field_names=['queries', *values])
            table.add_row([count, *(f'{v:.2f}' for v in values.values())])
            print_log(f'{name} results:\n{table}', logger='current')
        return metrics

    def _image_to_text(self, results: List[dict]):
        """Metrics of every gallery image ranking all query captions."""
        if self._gallery is None:
            raise RuntimeError('i2t metrics need the gallery features of '
                               'process(); none were seen')
        gallery_feats, gallery_pids = self._gallery
        device = gallery_feats.device
        text_feats = torch.stack([r['text_feat'] for r in results]).to(device)
        text_pids = torch.tensor([r['pid'] for r in results], device=device)
        stats = feature_rank_stats(gallery_feats, text_feats, gallery_pids,
                                   text_pids)
        return summarize_rank_stats(**stats, topk=self.topk), \
            gallery_feats.shape[0]


def _prefixed(metrics: Dict[str, float],
              prefix: Optional[str]) -> Dict[str, float]:
    return {f'{prefix}/{k}' if prefix else k: v for k, v in metrics.items()}
