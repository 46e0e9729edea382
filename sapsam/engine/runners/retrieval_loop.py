"""Text-to-image retrieval loop used for validation and test."""
from typing import Dict, List, Optional, Union

import torch
from mmengine.dist import (broadcast_object_list, collect_results,
                           get_world_size)
from mmengine.model import is_model_wrapper
from mmengine.runner import ValLoop, autocast
from torch.utils.data import DataLoader

from sapsam.registry import LOOPS


@LOOPS.register_module()
class TextToImageRetrievalLoop(ValLoop):
    """Rank a gallery of images for every query caption.

    1. Every rank encodes its shard of the gallery (``gallery_dataloader``);
       the features are gathered in dataset order and shared with all ranks.
    2. Every rank encodes its shard of the queries (``dataloader``) and
       hands their features with the gallery's to the evaluator, which
       scores and ranks them in chunks on the device and keeps per-query
       statistics only (never the full matrix).
    3. The evaluator gathers the statistics in query order and computes the
       metrics (R@K, mAP, mINP).

    The model's ``val_step`` must write ``image_feat`` (gallery batches) or
    ``text_feat`` (query batches) into the returned data samples, which
    carry ``pid``. The same class serves ``val_cfg`` and ``test_cfg``.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): Query captions.
        evaluator (Evaluator | dict | list): E.g. ``TBPRMetric``.
        gallery_dataloader (DataLoader | dict): Gallery images.
        fp16 (bool): Run the model under autocast.
        phase (str, optional): ``'val'`` or ``'test'`` (which hooks to
            call); inferred from the runner when None.
    """

    def __init__(self, runner, dataloader: Union[DataLoader, Dict],
                 evaluator, gallery_dataloader: Union[DataLoader, Dict],
                 fp16: bool = False, phase: Optional[str] = None) -> None:
        super().__init__(runner, dataloader, evaluator, fp16=fp16)
        if isinstance(gallery_dataloader, dict):
            diff_rank_seed = runner._randomness_cfg.get('diff_rank_seed',
                                                        False)
            gallery_dataloader = runner.build_dataloader(
                gallery_dataloader, seed=runner.seed,
                diff_rank_seed=diff_rank_seed)
        self.gallery_dataloader = gallery_dataloader
        if phase not in (None, 'val', 'test'):
            raise ValueError(f'phase must be val or test, got {phase!r}')
        self.phase = phase

    def _phase(self) -> str:
        if self.phase is not None:
            return self.phase
        return 'test' if getattr(self.runner, '_test_loop', None) is self \
            else 'val'

    def _model(self):
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    @torch.no_grad()
    def encode_gallery(self):
        """Gallery features ``(G, D)`` and pids ``(G,)``, on every rank."""
        results: List = []
        for batch in self.gallery_dataloader:
            with autocast(enabled=self.fp16):
                samples = self.runner.model.val_step(batch)
            results.extend((s.image_feat.float().cpu(), int(s.pid))
                           for s in samples)
        size = len(self.gallery_dataloader.dataset)
        gathered = collect_results(results, size)
        shared = [gathered]
        if get_world_size() > 1:
            broadcast_object_list(shared, src=0)
        feats = torch.stack([f for f, _ in shared[0]])
        pids = torch.tensor([p for _, p in shared[0]], dtype=torch.long)
        return feats, pids

    def run(self) -> dict:
        phase = self._phase()
        self.runner.call_hook(f'before_{phase}')
        self.runner.call_hook(f'before_{phase}_epoch')
        self.runner.model.eval()
        gallery_feats, gallery_pids = self.encode_gallery()
        # The metric scores and ranks each batch on the model's device; only
        # per-query statistics come back.
        device = next(self._model().parameters()).device
        gallery_feats = gallery_feats.to(device)
        gallery_pids = gallery_pids.to(device)
        for idx, batch in enumerate(self.dataloader):
            self.runner.call_hook(f'before_{phase}_iter', batch_idx=idx,
                                  data_batch=batch)
            with torch.no_grad(), autocast(enabled=self.fp16):
                samples = self.runner.model.val_step(batch)
            rows = [dict(text_feat=s.text_feat.float(), query_pid=int(s.pid),
                         gallery_feats=gallery_feats,
                         gallery_pids=gallery_pids) for s in samples]
            self.evaluator.process(data_samples=rows, data_batch=batch)
            self.runner.call_hook(f'after_{phase}_iter', batch_idx=idx,
                                  data_batch=batch, outputs=samples)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        self.runner.call_hook(f'after_{phase}_epoch', metrics=metrics)
        self.runner.call_hook(f'after_{phase}')
        return metrics
