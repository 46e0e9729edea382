"""The one digest of model weights: identities of retrieval features
(gallery indexes) and the namespace of the image-embedding cache."""
import hashlib
from typing import Mapping

import torch


def state_dict_digest(state_dict: Mapping[str, torch.Tensor],
                      extra: str = '',
                      digest_size: int = 32) -> str:
    """BLAKE2b hex digest of ``extra`` and of every tensor of ``state_dict``
    (sorted by name: name, dtype, shape and exact bytes, bfloat16 included).
    Equal digests mean the same weights."""
    digest = hashlib.blake2b(digest_size=digest_size)
    digest.update(extra.encode())
    for name, tensor in sorted(state_dict.items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f'{name}|{tensor.dtype}|{tuple(tensor.shape)}'.encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
