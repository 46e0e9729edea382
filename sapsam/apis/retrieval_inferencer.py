"""Text-to-image search of a gallery with a trained retriever.

Typical use::

    inferencer = TextToImageRetrievalInferencer(
        'configs/baseline/clip_sdm_cuhk.py', 'best.pth',
        prototype='my_images/', prototype_cache='my_images.index')
    hits = inferencer('a woman in a red coat', topk=10)
    hits[0][0]  # {'rank': 1, 'index': .., 'path': .., 'score': .., 'pid': ..}

The retriever must follow the contract of ``TextToImageRetrievalLoop``: its
``val_step`` writes ``image_feat`` for image batches and ``text_feat`` for
caption batches (``CLIPRetriever`` and ``SAPSAM`` do). Images and captions go
through the config's test pipelines (``test_cfg.gallery_dataloader`` and
``test_dataloader``), so they are preprocessed exactly as in evaluation.
"""
import copy
import functools
import hashlib
import json
import logging
import os
import os.path as osp
import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from torch.utils.data import DataLoader, Dataset

from sapsam.utils.hashing import state_dict_digest
from .gallery_index import GalleryIndex, read_gallery

#: Config keys whose values are file locations, not architecture.
_LOCATION_KEYS = ('pretrained', 'init_cfg', 'checkpoint')


# ---------------------------------------------------------------- config
def _plain(value: Any) -> Any:
    """JSON-ready copy of a config value.

    Classes and ``type`` strings become bare names, so a config that names
    ``LoadImageFromFile`` by class, by ``'LoadImageFromFile'`` or by
    ``'mmcv.transforms.LoadImageFromFile'`` (a dumped config) is the same.
    """
    if isinstance(value, dict):
        out = {str(k): _plain(v) for k, v in value.items()}
        if isinstance(out.get('type'), str):
            out['type'] = out['type'].rsplit('.', 1)[-1]
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, type) or callable(value):
        return getattr(value, '__name__', repr(value))
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _without_locations(value: Any) -> Any:
    """Drop weight-file locations from a model config (recursively)."""
    if isinstance(value, dict):
        return {k: _without_locations(v) for k, v in value.items()
                if k not in _LOCATION_KEYS}
    if isinstance(value, list):
        return [_without_locations(v) for v in value]
    return value


def _find_pipeline(cfg: Config, keys: Sequence[str]) -> Optional[list]:
    for key in keys:
        node: Any = cfg
        for part in key.split('.'):
            node = node.get(part) if isinstance(node, (dict, Config)) \
                else None
            if node is None:
                break
        if node is not None:
            return list(node)
    return None


def gallery_pipeline_cfg(cfg: Config) -> list:
    """The image pipeline of the config's test (or val) gallery."""
    pipeline = _find_pipeline(cfg, (
        'test_cfg.gallery_dataloader.dataset.pipeline',
        'val_cfg.gallery_dataloader.dataset.pipeline'))
    if pipeline is None:
        raise KeyError('the config has no test_cfg.gallery_dataloader.'
                       'dataset.pipeline (the image pipeline of a '
                       'TextToImageRetrievalLoop); a search needs one')
    return pipeline


def query_pipeline_cfg(cfg: Config) -> list:
    """The caption pipeline of the config's test (or val) queries."""
    pipeline = _find_pipeline(cfg, ('test_dataloader.dataset.pipeline',
                                    'val_dataloader.dataset.pipeline'))
    if pipeline is None:
        raise KeyError('the config has no test_dataloader.dataset.pipeline '
                       '(the caption pipeline); a search needs one')
    return pipeline


def default_device() -> str:
    """``'cuda'`` when a GPU is available, else ``'cpu'``."""
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def compute_model_identity(model: torch.nn.Module,
                           cfg: Optional[Config] = None,
                           checkpoint: Optional[str] = None
                           ) -> Dict[str, Any]:
    """What identifies the features a model produces.

    ``weights_hash`` is a BLAKE2b hash of every state-dict tensor (name,
    dtype, shape, bytes); ``model_cfg_hash`` hashes the model config
    without weight-file locations (the model class name without a config).
    Both are compared when an index is loaded. The config file, checkpoint
    path, size and mtime are recorded for information only.
    """
    model_cfg = _plain(_without_locations(
        cfg.model.to_dict() if isinstance(cfg, Config) and 'model' in cfg
        else {'type': type(model).__name__}))
    cfg_text = json.dumps(model_cfg, sort_keys=True)
    identity = dict(
        weights_hash=state_dict_digest(model.state_dict()),
        model_cfg_hash=hashlib.blake2b(cfg_text.encode(),
                                       digest_size=32).hexdigest(),
        model_type=type(model).__name__,
        config=getattr(cfg, 'filename', None),
        checkpoint=checkpoint)
    if checkpoint and osp.isfile(checkpoint):
        stat = os.stat(checkpoint)
        identity['checkpoint_size'] = stat.st_size
        identity['checkpoint_mtime'] = stat.st_mtime
    return identity


class _PipelineImages(Dataset):
    """Gallery images run through a pipeline one at a time."""

    def __init__(self, infos: List[dict], pipeline: Compose) -> None:
        self.infos = infos
        self.pipeline = pipeline

    def __len__(self) -> int:
        return len(self.infos)

    def __getitem__(self, i: int) -> dict:
        """``{'row': i, 'data': pipeline output}``, or ``{'row': i,
        'unreadable': reason}`` for an image that cannot be decoded (it is
        skipped and listed)."""
        info = self.infos[i]
        try:
            return dict(row=i, data=self.pipeline(dict(info)))
        except Exception as err:  # any decoding/pipeline failure of a file
            return dict(row=i,
                        unreadable=f'{type(err).__name__}: {err}'.strip())


class _ForgetIdentity:
    """``load_state_dict`` pre-hook: new weights, new identity."""

    def __init__(self, inferencer: 'TextToImageRetrievalInferencer') -> None:
        self.inferencer = weakref.ref(inferencer)

    def __call__(self, *args, **kwargs) -> None:
        inferencer = self.inferencer()
        if inferencer is not None:
            inferencer._identity = None


def _gallery_name(gallery) -> str:
    """How the logs name a gallery."""
    if isinstance(gallery, (str, os.PathLike)):
        return osp.abspath(str(gallery))
    if isinstance(gallery, dict):
        return f'{gallery.get("data_root")}/{gallery.get("split")}'
    if isinstance(gallery, (list, tuple)):
        return f'of {len(gallery)} image files'
    return type(gallery).__name__


class TextToImageRetrievalInferencer:
    """Rank the images of a gallery (the prototype) for sentences.

    In the manner of mmpretrain's ``TextToImageRetrievalInferencer``: the
    model, its config, the identity of its weights and the built pipelines
    are this object's attributes; the gallery features are a
    :class:`GalleryIndex` (``self.prototype``), optionally cached on disk.

    Args:
        model (str | Config): Config file or object of the retriever.
        pretrained (str, optional): MMEngine checkpoint (``tools/train.py``
            output). When given, the backbone's ``pretrained`` file is not
            read (the checkpoint holds all weights) and every key must fit.
        prototype (str | list | BaseDataset | dict | GalleryIndex,
            optional): The gallery: a folder of images (recursive), a list
            of image paths, a TBPR dataset (object or config) with
            ``view='images'``, a saved index folder or an index.
        prototype_cache (str, optional): Index folder of ``prototype``:
            reused when this model built it and the gallery is unchanged,
            else (re)built and saved there.
        device (str, optional): Device of the model. Defaults to
            :func:`default_device` (the GPU if there is one).
        cfg_options (dict, optional): Overrides merged into the config.
        batch_size (int): Images per forward pass when encoding the
            prototype.
        num_workers (int): Image-loading worker processes.
        progress (bool): Show a progress bar while encoding the prototype.

    The retriever itself is ``self.model`` (an ``nn.Module``): read its
    modules and weights there (``inferencer.model.backbone``,
    ``inferencer.model.state_dict()``). Loading a state dict into it
    drops the cached :meth:`identity`.
    """

    def __init__(self,
                 model: Union[str, Config],
                 pretrained: Optional[str] = None,
                 prototype=None,
                 prototype_cache: Optional[str] = None,
                 device: Optional[str] = None,
                 cfg_options: Optional[dict] = None,
                 batch_size: int = 64,
                 num_workers: int = 0,
                 progress: bool = True) -> None:
        if pretrained is not None and not osp.isfile(pretrained):
            raise FileNotFoundError(f'checkpoint not found: {pretrained}')
        if isinstance(model, (str, os.PathLike)):
            cfg = Config.fromfile(str(model))
        elif isinstance(model, Config):
            cfg = copy.deepcopy(model)
        else:
            raise TypeError(f'config must be a file name or a Config, got '
                            f'{type(model).__name__}')
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        if 'model' not in cfg:
            raise KeyError(f'{getattr(cfg, "filename", "config")} has no '
                           f'model')
        #: The config (with ``cfg_options`` merged).
        self.cfg = cfg
        #: The checkpoint the weights came from (None: initialisation).
        self.checkpoint = pretrained
        #: The retriever, in eval mode.
        self.model = self._build_model(cfg, pretrained).to(
            device or default_device()).eval()
        self._identity: Optional[Dict[str, Any]] = None
        self._identity_hook = self.model.register_load_state_dict_pre_hook(
            _ForgetIdentity(self))
        # Built on first use (building the BPE tokenizer takes about half a
        # second, longer than encoding a sentence).
        self._query_pipeline: Optional[Compose] = None
        self._gallery_pipeline: Optional[Compose] = None
        #: The gallery searched by default (:meth:`prepare_prototype`).
        self.prototype: Optional[GalleryIndex] = None
        if prototype is not None:
            self.prepare_prototype(prototype, prototype_cache,
                                   batch_size=batch_size,
                                   num_workers=num_workers,
                                   progress=progress)

    @staticmethod
    def _build_model(cfg: Config,
                     checkpoint: Optional[str]) -> torch.nn.Module:
        from mmengine.runner import load_checkpoint

        from sapsam.registry import MODELS
        from sapsam.utils import register_all_modules
        register_all_modules(init_default_scope=False)
        model_cfg = copy.deepcopy(cfg.model)
        if checkpoint is not None and \
                isinstance(model_cfg.get('backbone'), dict):
            model_cfg.backbone.pop('pretrained', None)
        with DefaultScope.overwrite_default_scope(
                cfg.get('default_scope', 'sapsam')):
            model = MODELS.build(model_cfg)
        if checkpoint is not None:
            try:
                load_checkpoint(model, checkpoint, map_location='cpu',
                                strict=True)
            except RuntimeError as err:
                raise RuntimeError(
                    f'{checkpoint} does not fit the model of '
                    f'{getattr(cfg, "filename", "the config")}: {err}'
                ) from err
        return model

    def _scope(self):
        return DefaultScope.overwrite_default_scope(
            self.cfg.get('default_scope', 'sapsam'))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(model={type(self.model).__name__}, '
                f'config={getattr(self.cfg, "filename", None)}, '
                f'checkpoint={self.checkpoint}, prototype={self.prototype})')

    # ------------------------------------------------------------ identity
    def identity(self) -> Dict[str, Any]:
        """:func:`compute_model_identity` of the model, computed once and
        again after the model loads a state dict."""
        if self._identity is None:
            self._identity = compute_model_identity(self.model, self.cfg,
                                                    self.checkpoint)
        return dict(self._identity)

    def preprocessing(self) -> Dict[str, Any]:
        """The gallery image pipeline and normalisation, as JSON-ready
        data."""
        preprocessor = self.model.data_preprocessor
        norm = dict(type=type(preprocessor).__name__)
        for name in ('mean', 'std'):
            value = getattr(preprocessor, name, None)
            if isinstance(value, torch.Tensor):
                norm[name] = [round(float(v), 6) for v in value.flatten()]
        for name in ('bgr_to_rgb', '_channel_conversion'):
            if hasattr(preprocessor, name):
                norm[name.lstrip('_')] = bool(getattr(preprocessor, name))
        return dict(pipeline=_plain(gallery_pipeline_cfg(self.cfg)),
                    data_preprocessor=norm)

    @property
    def feature_dim(self) -> Optional[int]:
        """Size D of the model's global features (None if unknown)."""
        return getattr(getattr(self.model, 'backbone', None), 'embed_dim',
                       None)

    # ------------------------------------------------------------- gallery
    @torch.no_grad()
    def build_index(self, gallery, batch_size: int = 64,
                    num_workers: int = 0,
                    progress: bool = True) -> GalleryIndex:
        """Encode a gallery into a :class:`GalleryIndex`, batch by batch.

        Only one batch of images is in memory at a time; the index keeps
        the ``(N, D)`` features. Unreadable images are skipped, named in a
        warning and listed in ``index.source['skipped']``.

        Args:
            gallery (str | list | BaseDataset | dict): A folder of images
                (recursive), a list of image paths, or a TBPR dataset
                (object or config) with ``view='images'``, whose pids label
                the gallery.
            batch_size (int): Images per forward pass.
            num_workers (int): Image-loading worker processes.
            progress (bool): Show an MMEngine progress bar.
        """
        from sapsam.parts.progress import LogProgressBar
        with self._scope():
            infos, source = read_gallery(gallery)
            if self._gallery_pipeline is None:
                self._gallery_pipeline = Compose(
                    gallery_pipeline_cfg(self.cfg))
        loader = DataLoader(_PipelineImages(infos, self._gallery_pipeline),
                            batch_size=batch_size, num_workers=num_workers,
                            shuffle=False, collate_fn=list)
        features: Optional[np.ndarray] = None
        bar = LogProgressBar(len(infos), what='gallery images') \
            if progress else None
        row, kept, skipped = 0, [], []
        self.model.eval()
        for items in loader:
            readable = [item for item in items if 'data' in item]
            skipped += [dict(path=infos[item['row']]['img_path'],
                             reason=item['unreadable'])
                        for item in items if 'data' not in item]
            if readable:
                samples = self.model.val_step(pseudo_collate(
                    [item['data'] for item in readable]))
                feats = torch.stack([s.image_feat for s in samples]).float()
                if features is None:
                    features = np.empty((len(infos), feats.shape[1]),
                                        np.float32)
                features[row:row + len(feats)] = feats.cpu().numpy()
                row += len(feats)
                kept += [item['row'] for item in readable]
            if bar is not None:
                bar.update(len(items))
        if bar is not None:
            bar.finish()
        if skipped:
            print_log(f'skipped {len(skipped)} unreadable gallery images: ' +
                      '; '.join(f'{s["path"]} ({s["reason"]})'
                                for s in skipped[:20]) +
                      (' ...' if len(skipped) > 20 else ''),
                      logger='current', level=logging.WARNING)
        if features is None:
            raise ValueError(f'none of the {len(infos)} gallery images could '
                             f'be read, e.g. {skipped[0]["path"]}: '
                             f'{skipped[0]["reason"]}')
        kept_infos = [infos[i] for i in kept]
        pids = [info['pid'] for info in kept_infos] \
            if all('pid' in info for info in kept_infos) else None
        return GalleryIndex(features[:row],
                            [i['img_path'] for i in kept_infos],
                            self.identity(), self.preprocessing(), pids=pids,
                            source=dict(source, skipped=skipped))

    def load_index(self, path: str) -> GalleryIndex:
        """Read a saved index and check that this model built it
        (:meth:`GalleryIndex.load_compatible`)."""
        return GalleryIndex.load_compatible(path, self.identity(),
                                            self.preprocessing(),
                                            dim=self.feature_dim)

    def prepare_prototype(self, prototype, cache: Optional[str] = None,
                          rebuild: bool = False, batch_size: int = 64,
                          num_workers: int = 0, progress: bool = True,
                          dtype: str = 'float32',
                          log: Optional[Callable[[str], Any]] = None
                          ) -> GalleryIndex:
        """Set ``self.prototype`` to the index of a gallery and return it.

        An index (object or saved folder) is checked against this model. A
        gallery is encoded, unless ``cache`` holds an index that this model
        built of the same, unchanged gallery (:meth:`GalleryIndex.is_fresh`)
        and ``rebuild`` is False; a new index is saved to ``cache``.

        Args:
            prototype: See the class arguments.
            cache (str, optional): Index folder to reuse or write.
            rebuild (bool): Encode the gallery even if ``cache`` is fresh.
            batch_size, num_workers, progress: See :meth:`build_index`.
            dtype (str): Feature type saved to ``cache`` (``'float32'`` or
                ``'float16'``).
            log (callable, optional): Receives one line per step (reused,
                out of date, encoding, saved). Default: the current MMEngine
                logger.

        Raises:
            IndexMismatchError: ``cache`` or the index was built by another
                model or preprocessing.
        """
        log = log or functools.partial(print_log, logger='current')
        if isinstance(prototype, GalleryIndex):
            prototype.check_compatible(self.identity(), self.preprocessing())
            self.prototype = prototype
            return prototype
        if isinstance(prototype, (str, os.PathLike)) and \
                GalleryIndex.is_index(str(prototype)):
            self.prototype = self.load_index(str(prototype))
            return self.prototype
        if cache is not None and GalleryIndex.is_index(cache) and \
                not rebuild:
            index = self.load_index(cache)  # refuses another model
            if index.is_fresh(prototype):
                log(f'reusing index {cache} ({len(index)} images)')
                self.prototype = index
                return index
            log(f'index {cache} is out of date (the gallery changed): '
                'rebuilding')
        log(f'encoding the gallery {_gallery_name(prototype)}')
        index = self.build_index(prototype, batch_size=batch_size,
                                 num_workers=num_workers, progress=progress)
        if cache is not None:
            index.save(cache, dtype=dtype)
            log(f'saved index {cache} ({len(index)} images)')
        self.prototype = index
        return index

    # -------------------------------------------------------------- search
    @torch.no_grad()
    def encode_text(self, captions: Union[str, Sequence[str]],
                    batch_size: int = 256) -> torch.Tensor:
        """``(Q, D)`` L2-normalised features of sentences (the config's test
        caption pipeline)."""
        if isinstance(captions, str):
            captions = [captions]
        for i, caption in enumerate(captions):
            if not isinstance(caption, str) or not caption.strip():
                raise ValueError(f'query {i} is empty or not a string: '
                                 f'{caption!r}')
        with self._scope():
            if self._query_pipeline is None:
                self._query_pipeline = Compose(query_pipeline_cfg(self.cfg))
            feats = []
            self.model.eval()
            for start in range(0, len(captions), batch_size):
                batch = pseudo_collate([
                    self._query_pipeline(dict(caption=c))
                    for c in captions[start:start + batch_size]])
                samples = self.model.val_step(batch)
                feats.append(
                    torch.stack([s.text_feat for s in samples]).float())
        return torch.cat(feats).cpu()

    def search(self, queries: Union[str, Sequence[str]], topk: int = 10,
               index: Optional[GalleryIndex] = None,
               check: bool = True) -> List[List[Dict[str, Any]]]:
        """Rank the gallery for every sentence.

        Args:
            queries (str | list[str]): Sentences.
            topk (int): Results per sentence.
            index (GalleryIndex, optional): The gallery; default
                ``self.prototype``.
            check (bool): Refuse an index built by another model.

        Returns:
            list: per query, ``topk`` dicts with ``rank`` (1-based),
            ``index`` (gallery row), ``path``, ``score`` (cosine) and ``pid``
            (None for an unlabelled gallery), best first.
        """
        index = self.prototype if index is None else index
        if index is None:
            raise ValueError('no gallery to search: give prototype= or call '
                             'prepare_prototype(gallery) first')
        if check:
            index.check_compatible(self.identity(), self.preprocessing())
        text_feats = self.encode_text([queries] if isinstance(queries, str)
                                      else list(queries))
        scores, rows = index.query(text_feats, topk)
        results = []
        for query_scores, query_rows in zip(scores.tolist(), rows.tolist()):
            results.append([
                dict(rank=r + 1, index=g, path=index.paths[g], score=s,
                     pid=None if index.pids is None else index.pids[g])
                for r, (s, g) in enumerate(zip(query_scores, query_rows))
            ])
        return results

    __call__ = search
