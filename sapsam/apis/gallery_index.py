"""Image features of a search gallery, saved with the model that made them."""
import hashlib
import json
import os
import os.path as osp
import tempfile
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

#: Files of a saved index (a folder).
FEATURES_FILE = 'features.npy'
META_FILE = 'index.json'
INDEX_FORMAT = 'sapsam-gallery-index'
INDEX_VERSION = 1
_META_KEYS = ('num_images', 'dim', 'model_identity', 'preprocessing',
              'paths')

# About 2**24 similarity entries (64 MiB of float32) per query chunk.
_CHUNK_NUM_ELEMENTS = 2**24
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


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


def read_gallery(gallery) -> Tuple[List[dict], Dict[str, Any]]:
    """``(infos, source)`` of a gallery: one ``dict(img_path=..[, pid=..])``
    per image and what the gallery is (the ``source`` an index records).

    Args:
        gallery (str | list | BaseDataset | dict): A folder of images
            (recursive), a list of image paths, or a TBPR dataset (object or
            config) with ``view='images'``, whose pids label the gallery.
    """
    from mmengine.dataset import BaseDataset
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
        from sapsam.registry import DATASETS
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


class IndexMismatchError(RuntimeError):
    """A gallery index was built by another model or preprocessing."""


def _describe_difference(saved: Any, current: Any, prefix: str = ''
                         ) -> List[str]:
    """Paths (``a.b[2]``) at which two JSON-like values differ."""
    if isinstance(saved, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(saved) | set(current)):
            out += _describe_difference(saved.get(key), current.get(key),
                                        f'{prefix}.{key}' if prefix else key)
        return out
    if isinstance(saved, list) and isinstance(current, list) and \
            len(saved) == len(current):
        out = []
        for i, (a, b) in enumerate(zip(saved, current)):
            out += _describe_difference(a, b, f'{prefix}[{i}]')
        return out
    if saved != current:
        return [f'{prefix or "value"}: index has {saved!r}, current is '
                f'{current!r}']
    return []


class GalleryIndex:
    """L2-normalised image features of a gallery plus where they came from.

    Only features are kept (``(N, D)``), never images. The index records the
    identity of the model that encoded the images (a hash of its weights and
    of its architecture config) and the gallery preprocessing (pipeline and
    normalisation), and :meth:`check_compatible` refuses another model.

    Saved as a folder::

        <path>/features.npy   (N, D) float32 or float16
        <path>/index.json     paths, pids, model identity, preprocessing

    Args:
        features (np.ndarray | Tensor): ``(N, D)`` image features.
        paths (list[str]): Image path of every row.
        model_identity (dict): See ``sapsam.apis.model_identity``.
        preprocessing (dict): See ``sapsam.apis.gallery_preprocessing``.
        pids (list[int], optional): Person id of every row (labelled
            galleries, e.g. a test split); None for a folder of images.
        source (dict, optional): What the gallery is (folder and file
            fingerprint, or dataset and split).
    """

    def __init__(self,
                 features,
                 paths: Sequence[str],
                 model_identity: Dict[str, Any],
                 preprocessing: Dict[str, Any],
                 pids: Optional[Sequence[int]] = None,
                 source: Optional[Dict[str, Any]] = None) -> None:
        features = torch.as_tensor(np.asarray(features)).float()
        if features.dim() != 2:
            raise ValueError(f'features must be (N, D), got shape '
                             f'{tuple(features.shape)}')
        if features.shape[0] != len(paths):
            raise ValueError(f'{features.shape[0]} feature rows but '
                             f'{len(paths)} paths')
        if pids is not None and len(pids) != len(paths):
            raise ValueError(f'{len(pids)} pids but {len(paths)} paths')
        self.features = features
        self.paths = [str(p) for p in paths]
        self.pids = None if pids is None else [int(p) for p in pids]
        self.model_identity = dict(model_identity)
        self.preprocessing = dict(preprocessing)
        self.source = dict(source or {})
        #: ``(N,)`` bool; False rows are never returned (images deleted
        #: since the index was built, see :meth:`drop_missing_files`).
        self.searchable = torch.ones(len(self.paths), dtype=torch.bool)

    def __len__(self) -> int:
        return self.features.shape[0]

    @property
    def dim(self) -> int:
        """Feature size D."""
        return self.features.shape[1]

    @property
    def labelled(self) -> bool:
        """Whether every gallery image has a person id."""
        return self.pids is not None

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(images={len(self)}, dim={self.dim}, '
                f'labelled={self.labelled}, model='
                f'{self.model_identity.get("weights_hash", "?")[:12]})')

    # ----------------------------------------------------------- checking
    def check_compatible(self, model_identity: Dict[str, Any],
                         preprocessing: Dict[str, Any],
                         where: str = 'gallery index') -> None:
        """Raise :class:`IndexMismatchError` unless the index was built by
        this model (same weights and architecture) with this preprocessing.
        """
        problems = []
        for key, what in (('weights_hash', 'model weights'),
                          ('model_cfg_hash', 'model architecture config')):
            saved, current = self.model_identity.get(key), \
                model_identity.get(key)
            if saved != current:
                problems.append(f'{what} differ (index {str(saved)[:12]}, '
                                f'this model {str(current)[:12]})')
        problems += [f'preprocessing {d}' for d in _describe_difference(
            self.preprocessing, preprocessing)]
        if problems:
            built_by = self.model_identity.get('checkpoint') or \
                'an unknown checkpoint'
            raise IndexMismatchError(
                f'{where} was built by another model ({built_by}) and cannot '
                f'be searched with this one ('
                f'{model_identity.get("checkpoint") or "no checkpoint"}): ' +
                '; '.join(problems[:8]) +
                '. Encode the gallery images again with this model '
                '(tools/search.py CONFIG CKPT --gallery IMAGE_FOLDER '
                '[--rebuild], or sapsam.apis.build_gallery_index).')

    def is_fresh(self, gallery) -> bool:
        """Whether the index still describes ``gallery`` (as given to
        ``read_gallery``): for a folder, the same folder with the same image
        names, sizes and modification times; for a list of files, the same
        files; for a dataset, the same images in the same order."""
        source = self.source
        if isinstance(gallery, (str, os.PathLike)):
            folder = osp.abspath(str(gallery))
            if source.get('kind') != 'folder' or \
                    source.get('root') != folder:
                return False
            return source.get('fingerprint') == folder_fingerprint(
                folder, list_gallery_images(folder))
        if isinstance(gallery, (list, tuple)):
            return source.get('kind') == 'files' and \
                self.paths == [str(p) for p in gallery]
        if isinstance(gallery, dict):
            from sapsam.registry import DATASETS
            gallery = DATASETS.build(gallery)
        paths = [gallery.get_data_info(i)['img_path']
                 for i in range(len(gallery))]
        return source.get('kind') == 'dataset' and self.paths == paths

    def drop_missing_files(self, where: str = 'gallery index') -> List[str]:
        """Stop returning rows whose image file no longer exists.

        Returns:
            list[str]: the missing paths (a warning names them).
        """
        missing = [i for i, p in enumerate(self.paths) if not osp.isfile(p)]
        if missing:
            self.searchable[missing] = False
            names = ', '.join(self.paths[i] for i in missing[:3])
            warnings.warn(
                f'{where}: {len(missing)} of {len(self)} images were deleted '
                f'or moved since the index was built and are left out of '
                f'the results (e.g. {names}); rebuild the index to drop '
                f'them for good', stacklevel=2)
        if not self.searchable.any():
            raise FileNotFoundError(f'{where}: none of its {len(self)} images '
                                    f'exist any more; rebuild the index')
        return [self.paths[i] for i in missing]

    # ------------------------------------------------------------- search
    @torch.no_grad()
    def query(self, text_feats: torch.Tensor,
              topk: int = 10) -> Tuple[torch.Tensor, torch.Tensor]:
        """Top-k gallery rows of every query by cosine similarity.

        Args:
            text_feats (Tensor): ``(Q, D)`` L2-normalised query features.
            topk (int): Rows per query (capped at the gallery size).

        Returns:
            tuple: scores ``(Q, k)`` float32, descending, and gallery indices
            ``(Q, k)`` int64.
        """
        if text_feats.dim() != 2 or text_feats.shape[1] != self.dim:
            raise ValueError(f'query features must be (Q, {self.dim}), got '
                             f'{tuple(text_feats.shape)}')
        if topk < 1:
            raise ValueError(f'topk must be >= 1, got {topk}')
        k = min(int(topk), int(self.searchable.sum()))
        text_feats = text_feats.float().to(self.features.device)
        hidden = ~self.searchable.to(self.features.device)
        rows = max(1, _CHUNK_NUM_ELEMENTS // max(1, len(self)))
        scores, indices = [], []
        for start in range(0, text_feats.shape[0], rows):
            similarity = text_feats[start:start + rows] @ self.features.t()
            similarity[:, hidden] = -float('inf')
            top = similarity.topk(k, dim=1)
            scores.append(top.values)
            indices.append(top.indices)
        return torch.cat(scores), torch.cat(indices)

    @torch.no_grad()
    def similarity(self, text_feats: torch.Tensor) -> torch.Tensor:
        """Full ``(Q, N)`` cosine similarity (for evaluation-style use)."""
        return text_feats.float().to(self.features.device) @ \
            self.features.t()

    # ---------------------------------------------------------------- io
    @staticmethod
    def is_index(path: str) -> bool:
        """Whether ``path`` is a saved index folder."""
        return osp.isfile(osp.join(path, META_FILE)) and \
            osp.isfile(osp.join(path, FEATURES_FILE))

    def save(self, path: str, dtype: str = 'float32') -> str:
        """Write the index folder ``path`` (files replaced atomically).

        Args:
            path (str): Output folder (created).
            dtype (str): ``'float32'`` or ``'float16'`` (half the disk).

        Returns:
            str: ``path``.
        """
        if dtype not in ('float32', 'float16'):
            raise ValueError(f'dtype must be float32 or float16, got {dtype}')
        os.makedirs(path, exist_ok=True)
        meta = dict(format=INDEX_FORMAT, version=INDEX_VERSION,
                    num_images=len(self), dim=self.dim, dtype=dtype,
                    model_identity=self.model_identity,
                    preprocessing=self.preprocessing, source=self.source,
                    paths=self.paths, pids=self.pids)
        fd, tmp = tempfile.mkstemp(dir=path, prefix='.tmp_', suffix='.npy')
        os.close(fd)
        try:
            np.save(tmp, self.features.cpu().numpy().astype(dtype))
            os.replace(tmp, osp.join(path, FEATURES_FILE))
        finally:
            if osp.exists(tmp):
                os.remove(tmp)
        fd, tmp = tempfile.mkstemp(dir=path, prefix='.tmp_', suffix='.json')
        try:
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                json.dump(meta, f)
            os.replace(tmp, osp.join(path, META_FILE))
        finally:
            if osp.exists(tmp):
                os.remove(tmp)
        return path

    @classmethod
    def load(cls, path: str) -> 'GalleryIndex':
        """Read an index folder written by :meth:`save`.

        Raises:
            FileNotFoundError: ``path`` is not an index folder.
            ValueError: the files are malformed or inconsistent (names the
                file and what is wrong).
        """
        meta_file = osp.join(path, META_FILE)
        feat_file = osp.join(path, FEATURES_FILE)
        for f in (meta_file, feat_file):
            if not osp.isfile(f):
                raise FileNotFoundError(
                    f'{path} is not a gallery index: {osp.basename(f)} is '
                    f'missing (build one with tools/search.py or '
                    f'sapsam.apis.build_gallery_index)')
        try:
            with open(meta_file, encoding='utf-8') as f:
                meta = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f'{meta_file}: corrupted gallery index, not '
                             f'valid JSON ({err}); rebuild it') from err
        found = meta.get('format') if isinstance(meta, dict) else None
        if found != INDEX_FORMAT:
            raise ValueError(f'{meta_file}: not a sapsam gallery index '
                             f'(format {found!r})')
        if meta.get('version') != INDEX_VERSION:
            raise ValueError(f'{meta_file}: index version '
                             f'{meta.get("version")} is not supported '
                             f'(expected {INDEX_VERSION}); rebuild it')
        missing = [k for k in _META_KEYS if k not in meta]
        if missing:
            raise ValueError(f'{meta_file}: corrupted gallery index, missing '
                             f'{missing}; rebuild it')
        try:
            # allow_pickle=False: an index file never runs code.
            features = np.load(feat_file, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise ValueError(f'{feat_file}: corrupted gallery index features '
                             f'({err}); rebuild the index') from err
        if features.dtype not in (np.float32, np.float16):
            raise ValueError(f'{feat_file}: features are {features.dtype}, '
                             f'expected float32 or float16; rebuild it')
        if features.shape != (meta['num_images'], meta['dim']) or \
                len(meta['paths']) != meta['num_images']:
            raise ValueError(f'{feat_file}: shape {features.shape} does not '
                             f'match {meta_file} ({meta["num_images"]} images '
                             f'x {meta["dim"]}, {len(meta["paths"])} paths)')
        check_feature_rows(features, feat_file)
        return cls(features, meta['paths'], meta['model_identity'],
                   meta['preprocessing'], pids=meta.get('pids'),
                   source=meta.get('source'))


    @classmethod
    def load_compatible(cls, path: str, model_identity: Dict[str, Any],
                        preprocessing: Dict[str, Any],
                        dim: Optional[int] = None) -> 'GalleryIndex':
        """:meth:`load` an index and check that the model of
        ``model_identity`` (whose features have ``dim`` entries) built it
        with ``preprocessing``.

        Images deleted since the index was built are left out of the
        results (with a warning naming them).

        Raises:
            ValueError: a corrupted index, or features of another size than
                ``dim`` (names the file).
            IndexMismatchError: another model or preprocessing built it.
        """
        index = cls.load(path)
        if dim is not None and index.dim != dim:
            raise ValueError(f'{osp.join(path, FEATURES_FILE)}: features '
                             f'have {index.dim} dimensions, this model makes '
                             f'{dim}; the index belongs to another model, '
                             f'rebuild it')
        index.check_compatible(model_identity, preprocessing,
                               where=f'gallery index {path}')
        index.drop_missing_files(where=f'gallery index {path}')
        return index


def check_feature_rows(features: np.ndarray, where: str,
                       atol: float = 1e-2) -> None:
    """Raise ``ValueError`` (naming ``where`` and the rows) unless every row
    of ``(N, D)`` features is finite with unit L2 norm (cosine search
    ranks a NaN or a long row first)."""
    feats = features.astype(np.float32)
    bad_values = np.flatnonzero(~np.isfinite(feats).all(axis=1))
    if bad_values.size:
        raise ValueError(f'{where}: rows {bad_values[:5].tolist()} hold NaN '
                         f'or Inf ({bad_values.size} rows); rebuild the index')
    norms = np.linalg.norm(feats, axis=1)
    bad_norms = np.flatnonzero(np.abs(norms - 1) > atol)
    if bad_norms.size:
        raise ValueError(
            f'{where}: rows {bad_norms[:5].tolist()} are not L2-normalised '
            f'(norms {np.round(norms[bad_norms[:5]], 4).tolist()}; '
            f'{bad_norms.size} rows); rebuild the index')
