"""Cache of frozen image-encoder outputs."""
import hashlib
import os
import os.path as osp
from collections import OrderedDict
from typing import Optional

import torch

from sapsam.registry import TASK_UTILS


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
