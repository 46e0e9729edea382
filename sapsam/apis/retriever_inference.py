"""Search a gallery of images with sentences using a trained retriever.

Typical use::

    model = init_retriever('configs/baseline/clip_sdm_cuhk.py', 'best.pth')
    index = build_gallery_index(model, 'my_images/')   # batches, features only
    index.save('my_images.index')
    index = load_gallery_index(model, 'my_images.index')  # same model only
    hits = search_gallery(model, index, ['a woman in a red coat'], topk=10)
    hits[0][0]  # {'rank': 1, 'index': .., 'path': .., 'score': .., 'pid': ..}

The retriever must follow the contract of ``TextToImageRetrievalLoop``: its
``val_step`` writes ``image_feat`` for image batches and ``text_feat`` for
caption batches (``CLIPRetriever`` and ``SAPSAM`` do). Images and captions go
through the config's test pipelines (``test_cfg.gallery_dataloader`` and
``test_dataloader``), so they are preprocessed exactly as in evaluation.
"""
import copy
import hashlib
import json
import logging
import os
import os.path as osp
import weakref
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import BaseDataset, Compose, pseudo_collate
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from mmengine.logging import print_log
from torch.utils.data import DataLoader, Dataset

from sapsam.parts.progress import LogProgressBar
from sapsam.registry import DATASETS, MODELS
from .gallery_index import GalleryIndex

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
#: Config keys whose values are file locations, not architecture.
_LOCATION_KEYS = ('pretrained', 'init_cfg', 'checkpoint')
# Built caption pipeline of each model (building the BPE tokenizer takes
# about half a second, longer than encoding a sentence).
_QUERY_PIPELINES: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()


# ---------------------------------------------------------------- helpers
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


def _config_of(model) -> Config:
    cfg = getattr(model, 'cfg', None)
    if not isinstance(cfg, Config):
        raise AttributeError('the model has no .cfg; build it with '
                             'sapsam.apis.init_retriever(config, checkpoint)')
    return cfg


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


def _scope(cfg: Config):
    return DefaultScope.overwrite_default_scope(
        cfg.get('default_scope', 'sapsam'))


# ----------------------------------------------------------------- model
def default_device() -> str:
    """``'cuda'`` when a GPU is available, else ``'cpu'``."""
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def init_retriever(config: Union[str, Config],
                   checkpoint: Optional[str] = None,
                   device: Optional[str] = None,
                   cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build a retriever from a config and load its trained weights.

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): MMEngine checkpoint (``tools/train.py``
            output). When given, the backbone's ``pretrained`` file is not
            read (the checkpoint holds all weights) and every key must fit.
        device (str, optional): Device of the model. Defaults to
            :func:`default_device` (the GPU if there is one).
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        nn.Module: The model in eval mode, with the config as ``model.cfg``
        and the checkpoint path as ``model.checkpoint_path``.
    """
    from sapsam.utils import register_all_modules
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    if isinstance(config, (str, os.PathLike)):
        cfg = Config.fromfile(str(config))
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        raise TypeError(f'config must be a file name or a Config, got '
                        f'{type(config).__name__}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise KeyError(f'{getattr(cfg, "filename", "config")} has no model')
    register_all_modules(init_default_scope=False)
    model_cfg = copy.deepcopy(cfg.model)
    if checkpoint is not None and isinstance(model_cfg.get('backbone'), dict):
        model_cfg.backbone.pop('pretrained', None)
    with _scope(cfg):
        model = MODELS.build(model_cfg)
    if checkpoint is not None:
        try:
            load_checkpoint(model, checkpoint, map_location='cpu',
                            strict=True)
        except RuntimeError as err:
            raise RuntimeError(f'{checkpoint} does not fit the model of '
                               f'{getattr(cfg, "filename", "the config")}: '
                               f'{err}') from err
    model.cfg = cfg
    model.checkpoint_path = checkpoint
    return model.to(device or default_device()).eval()


def _forget_identity(module, *args, **kwargs) -> None:
    module.__dict__.pop('_sapsam_identity', None)


def model_identity(model: torch.nn.Module) -> Dict[str, Any]:
    """What identifies the features a model produces.

    ``weights_hash`` is a BLAKE2b hash of every state-dict tensor (name,
    dtype, shape, bytes); ``model_cfg_hash`` hashes the model config without
    weight-file locations. Both are compared when an index is loaded. The
    checkpoint path, size and mtime are recorded for information only.
    The result is cached on the model and dropped when it loads a state
    dict.
    """
    cached = model.__dict__.get('_sapsam_identity')
    if cached is not None:
        return dict(cached)
    digest = hashlib.blake2b(digest_size=32)
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f'{name}|{tensor.dtype}|{tuple(tensor.shape)}'.encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    cfg = getattr(model, 'cfg', None)
    model_cfg = _plain(_without_locations(
        cfg.model.to_dict() if isinstance(cfg, Config) and 'model' in cfg
        else {'type': type(model).__name__}))
    cfg_text = json.dumps(model_cfg, sort_keys=True)
    identity = dict(
        weights_hash=digest.hexdigest(),
        model_cfg_hash=hashlib.blake2b(cfg_text.encode(),
                                       digest_size=32).hexdigest(),
        model_type=type(model).__name__,
        config=getattr(cfg, 'filename', None))
    checkpoint = getattr(model, 'checkpoint_path', None)
    identity['checkpoint'] = checkpoint
    if checkpoint and osp.isfile(checkpoint):
        stat = os.stat(checkpoint)
        identity['checkpoint_size'] = stat.st_size
        identity['checkpoint_mtime'] = stat.st_mtime
    if not getattr(model, '_sapsam_identity_hooked', False):
        model.register_load_state_dict_pre_hook(
            lambda *a, **k: _forget_identity(model))
        model._sapsam_identity_hooked = True
    model.__dict__['_sapsam_identity'] = identity
    return dict(identity)


def gallery_preprocessing(model: torch.nn.Module) -> Dict[str, Any]:
    """The gallery image pipeline and normalisation, as JSON-ready data."""
    cfg = _config_of(model)
    preprocessor = model.data_preprocessor
    norm = dict(type=type(preprocessor).__name__)
    for name in ('mean', 'std'):
        value = getattr(preprocessor, name, None)
        if isinstance(value, torch.Tensor):
            norm[name] = [round(float(v), 6) for v in value.flatten()]
    for name in ('bgr_to_rgb', '_channel_conversion'):
        if hasattr(preprocessor, name):
            norm[name.lstrip('_')] = bool(getattr(preprocessor, name))
    return dict(pipeline=_plain(gallery_pipeline_cfg(cfg)),
                data_preprocessor=norm)


# --------------------------------------------------------------- gallery
def list_gallery_images(folder: str) -> List[str]:
    """Image files under ``folder`` (recursive, sorted, hidden skipped),
    relative to ``folder``."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'gallery folder not found: {folder}')
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        for name in files:
            if name.lower().endswith(IMAGE_EXTENSIONS) and \
                    not name.startswith('.'):
                found.append(osp.relpath(osp.join(root, name), folder))
    found.sort()
    if not found:
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) '
                                f'under {folder}')
    return found


def folder_fingerprint(folder: str, rel_paths: Sequence[str]) -> str:
    """Hash of the names, sizes and modification times of the images."""
    digest = hashlib.blake2b(digest_size=16)
    for rel in rel_paths:
        stat = os.stat(osp.join(folder, rel))
        digest.update(f'{rel}|{stat.st_size}|{stat.st_mtime_ns}\n'.encode())
    return digest.hexdigest()


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


def _gallery_infos(gallery) -> tuple:
    """``(infos, source)`` of a folder, a list of paths or a dataset."""
    if isinstance(gallery, (str, os.PathLike)):
        folder = osp.abspath(str(gallery))
        rel_paths = list_gallery_images(folder)
        infos = [dict(img_path=osp.join(folder, p)) for p in rel_paths]
        source = dict(kind='folder', root=folder, num_files=len(rel_paths),
                      fingerprint=folder_fingerprint(folder, rel_paths))
        return infos, source
    if isinstance(gallery, (list, tuple)):
        paths = [str(p) for p in gallery]
        missing = [p for p in paths if not osp.isfile(p)]
        if missing:
            raise FileNotFoundError(f'{len(missing)} gallery images not '
                                    f'found, e.g. {missing[:3]}')
        return [dict(img_path=p) for p in paths], dict(kind='files')
    if isinstance(gallery, dict):
        gallery = DATASETS.build(dict(gallery, pipeline=[]))
    if isinstance(gallery, BaseDataset):
        infos = []
        for i in range(len(gallery)):
            info = gallery.get_data_info(i)
            if 'img_path' not in info:
                raise ValueError(f'{type(gallery).__name__} sample {i} has '
                                 f'no img_path; build the dataset with '
                                 f"view='images'")
            item = dict(img_path=info['img_path'])
            if 'pid' in info:
                item['pid'] = int(info['pid'])
            infos.append(item)
        source = dict(kind='dataset', type=type(gallery).__name__,
                      data_root=getattr(gallery, 'data_root', None),
                      split=getattr(gallery, 'split', None),
                      ann_file=getattr(gallery, 'ann_file', None))
        return infos, source
    raise TypeError(f'gallery must be a folder, a list of image paths, a '
                    f'dataset or a dataset config, got '
                    f'{type(gallery).__name__}')


@torch.no_grad()
def build_gallery_index(model: torch.nn.Module,
                        gallery,
                        batch_size: int = 64,
                        num_workers: int = 0,
                        progress: bool = True) -> GalleryIndex:
    """Encode a gallery into a :class:`GalleryIndex`, batch by batch.

    Only one batch of images is in memory at a time; the index keeps the
    ``(N, D)`` features.

    Args:
        model (nn.Module): From :func:`init_retriever`.
        gallery (str | list | BaseDataset | dict): A folder of images
            (recursive), a list of image paths, or a TBPR dataset (object or
            config) with ``view='images'``, whose pids label the gallery.
        batch_size (int): Images per forward pass.
        num_workers (int): Image-loading worker processes.
        progress (bool): Show an MMEngine progress bar.
    """
    cfg = _config_of(model)
    with _scope(cfg):
        infos, source = _gallery_infos(gallery)
        pipeline = Compose(gallery_pipeline_cfg(cfg))
    loader = DataLoader(_PipelineImages(infos, pipeline),
                        batch_size=batch_size, num_workers=num_workers,
                        shuffle=False, collate_fn=list)
    features: Optional[np.ndarray] = None
    bar = LogProgressBar(len(infos), what='gallery images') \
        if progress else None
    row, kept, skipped = 0, [], []
    model.eval()
    for items in loader:
        readable = [item for item in items if 'data' in item]
        skipped += [dict(path=infos[item['row']]['img_path'],
                         reason=item['unreadable'])
                    for item in items if 'data' not in item]
        if readable:
            samples = model.val_step(pseudo_collate(
                [item['data'] for item in readable]))
            feats = torch.stack([s.image_feat for s in samples]).float()
            if features is None:
                features = np.empty((len(infos), feats.shape[1]), np.float32)
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
                  (' ...' if len(skipped) > 20 else ''), logger='current',
                  level=logging.WARNING)
    if features is None:
        raise ValueError(f'none of the {len(infos)} gallery images could be '
                         f'read, e.g. {skipped[0]["path"]}: '
                         f'{skipped[0]["reason"]}')
    kept_infos = [infos[i] for i in kept]
    pids = [info['pid'] for info in kept_infos] \
        if all('pid' in info for info in kept_infos) else None
    index = GalleryIndex(features[:row], [i['img_path'] for i in kept_infos],
                         model_identity(model), gallery_preprocessing(model),
                         pids=pids, source=dict(source, skipped=skipped))
    return index


def load_gallery_index(model: torch.nn.Module, path: str) -> GalleryIndex:
    """Read a saved index and check that ``model`` built it.

    Images deleted since the index was built are left out of the results
    (with a warning naming them).

    Raises:
        ValueError: a corrupted index, or features of another size than
            the model's (names the file).
        IndexMismatchError: another model or preprocessing built it.
    """
    index = GalleryIndex.load(path)
    dim = feature_dim(model)
    if dim is not None and index.dim != dim:
        raise ValueError(f'{osp.join(path, "features.npy")}: features have '
                         f'{index.dim} dimensions, this model makes {dim}; '
                         f'the index belongs to another model, rebuild it')
    index.check_compatible(model_identity(model), gallery_preprocessing(model),
                           where=f'gallery index {path}')
    index.drop_missing_files(where=f'gallery index {path}')
    return index


def feature_dim(model: torch.nn.Module) -> Optional[int]:
    """Size D of the model's global features (None if unknown)."""
    return getattr(getattr(model, 'backbone', None), 'embed_dim', None)


# ---------------------------------------------------------------- search
@torch.no_grad()
def encode_captions(model: torch.nn.Module, captions: Sequence[str],
                    batch_size: int = 256) -> torch.Tensor:
    """``(Q, D)`` L2-normalised features of sentences (the config's test
    caption pipeline)."""
    if isinstance(captions, str):
        captions = [captions]
    for i, caption in enumerate(captions):
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f'query {i} is empty or not a string: '
                             f'{caption!r}')
    cfg = _config_of(model)
    with _scope(cfg):
        cached = _QUERY_PIPELINES.get(model)
        if cached is None or cached[0] is not cfg:
            cached = (cfg, Compose(query_pipeline_cfg(cfg)))
            _QUERY_PIPELINES[model] = cached
        pipeline = cached[1]
        feats = []
        model.eval()
        for start in range(0, len(captions), batch_size):
            batch = pseudo_collate([
                pipeline(dict(caption=c))
                for c in captions[start:start + batch_size]])
            samples = model.val_step(batch)
            feats.append(torch.stack([s.text_feat for s in samples]).float())
    return torch.cat(feats).cpu()


def search_gallery(model: torch.nn.Module,
                   index: GalleryIndex,
                   queries: Union[str, Sequence[str]],
                   topk: int = 10,
                   check: bool = True) -> List[List[Dict[str, Any]]]:
    """Rank the gallery for every sentence.

    Args:
        model (nn.Module): From :func:`init_retriever`.
        index (GalleryIndex): Built by this model.
        queries (str | list[str]): Sentences.
        topk (int): Results per sentence.
        check (bool): Refuse an index built by another model.

    Returns:
        list: per query, ``topk`` dicts with ``rank`` (1-based), ``index``
        (gallery row), ``path``, ``score`` (cosine) and ``pid`` (None for an
        unlabelled gallery), best first.
    """
    if check:
        index.check_compatible(model_identity(model),
                               gallery_preprocessing(model))
    text_feats = encode_captions(model, [queries] if isinstance(
        queries, str) else list(queries))
    scores, rows = index.query(text_feats, topk)
    results = []
    for query_scores, query_rows in zip(scores.tolist(), rows.tolist()):
        results.append([
            dict(rank=r + 1, index=g, path=index.paths[g], score=s,
                 pid=None if index.pids is None else index.pids[g])
            for r, (s, g) in enumerate(zip(query_scores, query_rows))
        ])
    return results
