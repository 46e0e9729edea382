"""The official whole-model fp16 (IRRA's ``convert_weights``).

The official retriever casts Linear/Conv weights and biases, the attention
projections and CLIP's ``proj``/``text_projection`` to float16, keeps
embeddings, learnable tokens and LayerNorm parameters in float32 and
computes LayerNorm in float32; Adam (eps 1e-3) then updates the fp16
weights directly (docs/fidelity.md P5). The default is AMP instead.
"""
import torch
import torch.nn as nn
from open_clip.transformer import LayerNormFp32

from sapsam.registry import MODELS
from .retrievers import SAPSAM, CLIPRetriever

_ATTENTION_TENSORS = ('in_proj_weight', 'q_proj_weight', 'k_proj_weight',
                      'v_proj_weight', 'in_proj_bias', 'bias_k', 'bias_v')
_PROJECTIONS = ('text_projection', 'proj')


def _half(tensor) -> None:
    if isinstance(tensor, torch.Tensor):
        tensor.data = tensor.data.half()


def convert_to_official_fp16(model: nn.Module) -> nn.Module:
    """Cast ``model`` in place the way IRRA's ``convert_weights`` does.

    Parameters keep their identity (an optimizer built afterwards, or
    before, sees the fp16 tensors); LayerNorms become ``LayerNormFp32``
    (same parameters, computed in float32, output in the input's dtype).

    Returns:
        nn.Module: ``model``.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            _half(module.weight)
            _half(module.bias)
        if isinstance(module, nn.MultiheadAttention):
            for name in _ATTENTION_TENSORS:
                _half(getattr(module, name, None))
        for name in _PROJECTIONS:
            _half(getattr(module, name, None))
        if type(module) is not LayerNormFp32 and \
                isinstance(module, nn.LayerNorm):
            module.__class__ = LayerNormFp32
    return model


class OfficialFP16Mixin:
    """Build the model, then convert it with
    :func:`convert_to_official_fp16`. Checkpoint keys are unchanged."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        convert_to_official_fp16(self)


@MODELS.register_module()
class SAPSAMFP16(OfficialFP16Mixin, SAPSAM):
    """:class:`SAPSAM` in the official whole-model fp16 (GPU recipe)."""


@MODELS.register_module()
class CLIPRetrieverFP16(OfficialFP16Mixin, CLIPRetriever):
    """:class:`CLIPRetriever` in the official whole-model fp16."""
