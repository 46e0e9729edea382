"""Cache of frozen image-encoder outputs and the encoder wrapper using it."""
import hashlib
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional

import torch

from sapsam.registry import TASK_UTILS
from sapsam.utils.hashing import state_dict_digest


@TASK_UTILS.register_module()
class ImageEmbeddingCache:
    """Memory (LRU) and/or disk store of image embeddings.

    A frozen encoder maps the same input to the same embedding, so after the
    first epoch every image can skip the encoder. Keys are computed by the
    caller from the **preprocessed pixels** (a hash of the exact input
    tensor, so any change of resizing, normalisation, padding or
    augmentation gives a new key) and a fingerprint of the encoder weights
    (see :meth:`make_key`).

    Sizes: a SAM-B/L/H embedding is ``256 x 64 x 64`` float32 = 4 MiB per
    image (2 MiB with ``store_dtype='float16'``), so the 17,706 ATR images
    take ~70 GiB; bound the memory part with ``max_items`` or use
    ``cache_dir``.

    Args:
        max_items (int, optional): Memory entries kept (least recently used
            evicted first). ``None``: unbounded; 0: no memory part.
        cache_dir (str, optional): Directory of the disk part; files are
            ``<dir>/<key[:2]>/<key>.pt``, written atomically, so several
            processes may share it. Defaults to None (no disk part).
        store_dtype (str): ``'float32'`` (exact) or ``'float16'`` (half the
            size; embeddings are rounded). Defaults to ``'float32'``.

    Attributes:
        hits (int): Lookups answered from the cache.
        misses (int): Lookups that found nothing.
    """

    def __init__(self, max_items: Optional[int] = None,
                 cache_dir: Optional[str] = None,
                 store_dtype: str = 'float32') -> None:
        if store_dtype not in ('float32', 'float16'):
            raise ValueError(f'store_dtype must be float32 or float16, got '
                             f'{store_dtype!r}')
        if max_items is not None and max_items < 0:
            raise ValueError(f'max_items must be >= 0, got {max_items}')
        self.max_items = max_items
        self.cache_dir = cache_dir
        self.store_dtype = getattr(torch, store_dtype)
        self._memory: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def make_key(pixels: torch.Tensor, namespace: str) -> str:
        """Key of one preprocessed input.

        Args:
            pixels (Tensor): ``(3, S, S)`` encoder input, exactly as fed.
            namespace (str): Encoder fingerprint (weights and architecture).

        Returns:
            str: hex digest.
        """
        digest = hashlib.blake2b(digest_size=20)
        digest.update(namespace.encode())
        digest.update(f'{tuple(pixels.shape)}{pixels.dtype}'.encode())
        digest.update(pixels.detach().contiguous().cpu().numpy().tobytes())
        return digest.hexdigest()

    def _path(self, key: str) -> str:
        return osp.join(self.cache_dir, key[:2], f'{key}.pt')

    def get(self, key: str) -> Optional[torch.Tensor]:
        """The stored embedding (CPU, float32) or None; counts hit/miss."""
        value = self._memory.get(key)
        if value is not None:
            self._memory.move_to_end(key)
        elif self.cache_dir is not None and osp.isfile(self._path(key)):
            value = torch.load(self._path(key), map_location='cpu',
                               weights_only=True)
            self._remember(key, value)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        return value.float()

    def put(self, key: str, embedding: torch.Tensor) -> None:
        """Store ``embedding`` (any device) under ``key``."""
        value = embedding.detach().to('cpu', self.store_dtype).clone()
        self._remember(key, value)
        if self.cache_dir is not None:
            path = self._path(key)
            os.makedirs(osp.dirname(path), exist_ok=True)
            tmp = f'{path}.{os.getpid()}.tmp'
            torch.save(value, tmp)
            os.replace(tmp, path)

    def _remember(self, key: str, value: torch.Tensor) -> None:
        if self.max_items == 0:
            return
        self._memory[key] = value
        self._memory.move_to_end(key)
        if self.max_items is not None:
            while len(self._memory) > self.max_items:
                self._memory.popitem(last=False)

    def clear(self) -> None:
        """Drop the memory part and reset the counters (disk files stay)."""
        self._memory.clear()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._memory)


def module_fingerprint(module: torch.nn.Module, extra: str = '') -> str:
    """Hex digest of a module's state dict (:func:`state_dict_digest`) and of
    ``extra`` (e.g. its sizes): equal digests mean the same function."""
    return state_dict_digest(module.state_dict(), extra, digest_size=20)


class CachedImageEncoder:
    """A frozen image encoder behind an :class:`ImageEmbeddingCache`.

    Calling it returns the same ``(B, C, h, w)`` embeddings as
    ``encoder(pixels)`` (run without gradients), computing only the inputs
    the cache misses; a repeated input in one batch is computed once. Keys
    are :meth:`ImageEmbeddingCache.make_key` of each input row under the
    encoder's :func:`module_fingerprint`, which is recomputed after the
    encoder loads a state dict.

    It is a plain object, not a submodule: the encoder stays where its
    owner registered it (state-dict keys unchanged) and is only referenced.

    Args:
        encoder (nn.Module): The frozen encoder.
        cache (ImageEmbeddingCache): The store.
        extra (str): Also hashed into the fingerprint (e.g. the encoder's
            sizes). Defaults to ''.
    """

    def __init__(self, encoder: torch.nn.Module, cache: ImageEmbeddingCache,
                 extra: str = '') -> None:
        self.encoder = encoder
        self.cache = cache
        self.extra = extra
        self._fingerprint: Optional[str] = None
        encoder.register_load_state_dict_pre_hook(self._forget_fingerprint)

    def _forget_fingerprint(self, *args, **kwargs) -> None:
        self._fingerprint = None

    def fingerprint(self) -> str:
        """:func:`module_fingerprint` of the encoder (memoised)."""
        if self._fingerprint is None:
            self._fingerprint = module_fingerprint(self.encoder, self.extra)
        return self._fingerprint

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        cache = self.cache
        namespace = self.fingerprint()
        keys = [cache.make_key(row, namespace) for row in pixels]
        embeddings: List[Optional[torch.Tensor]] = [None] * len(keys)
        missing: Dict[str, List[int]] = {}
        for i, key in enumerate(keys):
            if key in missing:  # same input twice in the batch
                missing[key].append(i)
                continue
            cached = cache.get(key)
            if cached is None:
                missing[key] = [i]
            else:
                embeddings[i] = cached.to(pixels.device)
        if missing:
            rows = [idx[0] for idx in missing.values()]
            with torch.no_grad():
                computed = self.encoder(pixels[rows])
            for (key, idx), embedding in zip(missing.items(), computed):
                cache.put(key, embedding)
                for i in idx:  # float32 like the cached ones (autocast)
                    embeddings[i] = embedding.float()
        return torch.stack(embeddings)
