"""Masked-language prediction head."""
from collections import OrderedDict
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from open_clip.transformer import LayerNorm, QuickGELU

from sapsam.registry import MODELS
from sapsam.utils.typing_utils import OptConfigType


@MODELS.register_module()
class MaskedLanguageHead(BaseModule):
    """Predict the original ids of masked caption tokens (IRRA ``mlm_head``).

    ``Linear(D, D) -> QuickGELU -> LayerNorm -> Linear(D, vocab)``. The
    vocabulary projection runs only on the masked positions (label !=
    ``ignore_index``), not on all ``B x L`` tokens.

    Args:
        embed_dim (int): Width D. Defaults to 512.
        vocab_size (int): Vocabulary. Defaults to 49408 (CLIP).
        ignore_index (int): Label of unmasked positions. Defaults to 0.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self, embed_dim: int = 512, vocab_size: int = 49408,
                 ignore_index: int = 0,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.vocab_size = vocab_size
        self.ignore_index = ignore_index
        self.mlp = nn.Sequential(OrderedDict([
            ('dense', nn.Linear(embed_dim, embed_dim)),
            ('gelu', QuickGELU()),
            ('ln', LayerNorm(embed_dim)),
            ('fc', nn.Linear(embed_dim, vocab_size)),
        ]))
        nn.init.normal_(self.mlp.dense.weight, std=(2 * embed_dim) ** -0.5)
        nn.init.normal_(self.mlp.fc.weight,
                        std=embed_dim ** -0.5 * (2 * 4) ** -0.5)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(..., D)`` decoded tokens -> ``(..., vocab_size)`` logits."""
        return self.mlp(features)

    def loss(self, features: torch.Tensor,
             labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            features (Tensor): ``(B, L, D)`` decoded caption tokens.
            labels (Tensor): ``(B, L)`` original ids, ``ignore_index`` where
                the token was not masked.

        Returns:
            dict: ``loss_mlm`` (cross-entropy over masked tokens) and
            ``mlm_acc`` (top-1 accuracy, logged only). Zero, still attached
            to the graph, when nothing is masked.
        """
        if labels.shape != features.shape[:-1]:
            raise ValueError(f'mlm labels {tuple(labels.shape)} do not match '
                             f'features {tuple(features.shape)}')
        selected = labels != self.ignore_index
        if not bool(selected.any()):
            zero = self(features[:, :1]).float().sum() * 0.
            return dict(loss_mlm=zero, mlm_acc=zero.detach())
        logits = self(features[selected]).float()
        targets = labels[selected]
        if int(targets.max()) >= self.vocab_size or int(targets.min()) < 0:
            raise ValueError(f'mlm labels must lie in [0, {self.vocab_size}), '
                             f'got [{int(targets.min())}, '
                             f'{int(targets.max())}]')
        acc = (logits.argmax(-1) == targets).float().mean().detach()
        return dict(loss_mlm=F.cross_entropy(logits, targets), mlm_acc=acc)
