"""Data sample carried through the text-based person retrieval pipeline."""
from typing import Optional, Sequence

import torch
from mmengine.structures import BaseDataElement


class TBPRDataSample(BaseDataElement):
    """One image-caption sample, one gallery image or one query caption.

    Data fields (set by the pipeline, all optional):

    - ``pid`` (int): person identity.
    - ``image_id`` (int): index of the image within its split.
    - ``text_ids`` (LongTensor ``(L,)``): CLIP token ids of the caption.
    - ``mlm_ids``, ``mlm_labels`` (LongTensor ``(L,)``): masked-language
      input and targets (label 0 = not masked).
    - ``patch_labels`` (LongTensor ``(Hp * Wp,)``): part label per ViT patch,
      0 = background, k = the k-th phrase.
    - ``part_spans`` (LongTensor ``(P, 2)``): inclusive token span of each
      phrase in ``text_ids``, ``-1`` where the phrase was not found.
    - ``part_num`` (int): number of real phrases (<= P).
    - ``image_feat`` / ``text_feat`` (Tensor ``(C,)``): features written by
      ``predict``.

    Metainfo: ``caption`` (str), ``img_path`` (str), ``ori_shape``, ``flip``.
    """


def stack_field(samples: Sequence[BaseDataElement], name: str,
                device: Optional[torch.device] = None) -> torch.Tensor:
    """Stack the field ``name`` of every sample into one batch tensor.

    Ints become a ``(B,)`` int64 tensor; tensors of shape ``S`` become
    ``(B, *S)``.

    Raises:
        KeyError: if a sample lacks the field (names the sample index).
    """
    values = []
    for i, sample in enumerate(samples):
        if name not in sample:
            raise KeyError(f'data sample {i} has no field {name!r}; '
                           f'fields: {sorted(sample.keys())}')
        value = sample.get(name)
        values.append(value if isinstance(value, torch.Tensor)
                      else torch.as_tensor(value))
    out = torch.stack(values)
    return out.to(device) if device is not None else out
