"""BERT phrase encoder loaded from a local ``save_pretrained`` directory."""
import os.path as osp
from collections import OrderedDict
from typing import Sequence, Tuple

import torch
from mmengine.model import BaseModule

from sapsam.registry import MODELS
from sapsam.utils.typing_utils import OptMultiConfig


def check_phrases(phrases: Sequence[str], owner: str) -> None:
    """Raise unless ``phrases`` is a list of non-empty strings; errors
    name ``owner`` and the bad phrase's index."""
    if isinstance(phrases, str):
        raise TypeError(f'{owner}: phrases must be a list of str, not one '
                        f'str')
    for i, phrase in enumerate(phrases):
        if not isinstance(phrase, str) or not phrase.strip():
            raise ValueError(f'{owner}: phrase {i} is empty or not a '
                             f'string: {phrase!r}')


@MODELS.register_module()
class BertTextEncoder(BaseModule):
    """Tokenise phrases and encode them with ``transformers.BertModel``.

    Phrases are padded/truncated to ``max_length`` tokens
    (``[CLS] ... [SEP] [PAD]...``), as in the official Person-SAM. The pooler
    is not built: its output is never used (docs/fidelity.md P9).

    Args:
        pretrained (str): Local directory written by ``save_pretrained``
            holding the model (``config.json`` + weights) and the tokenizer
            (``vocab.txt``), e.g. a copy of ``bert-base-uncased``. Nothing is
            downloaded.
        max_length (int): Tokens per phrase. Defaults to 16.
        frozen (bool): Freeze all weights and keep the model in eval mode
            (no dropout) so features are deterministic. Defaults to True.
        cache_size (int): A frozen encoder keeps the features of up to this
            many distinct phrases (least recently used dropped) and encodes
            only phrases it has not seen; phrases repeat across images and
            epochs. 0 (default) disables it; it needs ``frozen=True``.
        init_cfg (dict | list, optional): MMEngine init config.

    Examples:
        >>> encoder = BertTextEncoder('checkpoints/bert-base-uncased')
        >>> feats, mask = encoder(['long hair', 'a black bag'])
        >>> feats.shape, mask.shape   # (2, 16, 768), (2, 16)
    """

    def __init__(self,
                 pretrained: str,
                 max_length: int = 16,
                 frozen: bool = True,
                 cache_size: int = 0,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if cache_size < 0 or (cache_size and not frozen):
            raise ValueError(f'BertTextEncoder: cache_size must be >= 0 and '
                             f'needs frozen=True, got cache_size='
                             f'{cache_size}, frozen={frozen}')
        self.cache_size = cache_size
        self._cache: 'OrderedDict[str, Tuple[torch.Tensor, torch.Tensor]]' \
            = OrderedDict()
        from transformers import BertModel, BertTokenizer
        if not osp.isdir(pretrained):
            raise FileNotFoundError(
                f'BertTextEncoder: {pretrained!r} is not a directory; give '
                f'a local folder written by save_pretrained (config.json, '
                f'model weights, vocab.txt)')
        if not osp.isfile(osp.join(pretrained, 'vocab.txt')):
            raise FileNotFoundError(
                f'BertTextEncoder: no tokenizer vocab.txt in {pretrained!r}')
        if max_length < 3:
            raise ValueError(f'max_length must be >= 3, got {max_length}')
        self.pretrained = pretrained
        self.max_length = max_length
        self.frozen = frozen
        self.tokenizer = BertTokenizer.from_pretrained(
            pretrained, local_files_only=True)
        self.bert = self._load_bert(BertModel, pretrained)
        if frozen:
            self.bert.requires_grad_(False)
            self.bert.eval()

    @staticmethod
    def _load_bert(model_cls, pretrained: str):
        """``from_pretrained`` without its report on the unused pooler;
        any missing or mis-shaped weight is an error instead."""
        from transformers.utils import logging as hf_logging
        verbosity = hf_logging.get_verbosity()
        progress = hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            model, info = model_cls.from_pretrained(
                pretrained, local_files_only=True, add_pooling_layer=False,
                output_loading_info=True)
        finally:
            hf_logging.set_verbosity(verbosity)
            if progress:
                hf_logging.enable_progress_bar()
        problems = {key: sorted(info.get(key) or [])
                    for key in ('missing_keys', 'mismatched_keys')}
        if any(problems.values()):
            raise RuntimeError(f'BertTextEncoder: {pretrained!r} does not '
                               f'hold a complete BERT: {problems}')
        return model

    @property
    def hidden_size(self) -> int:
        """Channels of the token features."""
        return self.bert.config.hidden_size

    def init_weights(self) -> None:
        """Keep the pretrained weights (BERT's own init would reset them)."""

    def train(self, mode: bool = True) -> 'BertTextEncoder':
        """Switch mode; a frozen encoder stays in eval mode."""
        super().train(mode)
        if self.frozen:
            self.bert.eval()
        return self

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._cache.clear()  # the cached features belong to other weights
        super()._load_from_state_dict(*args, **kwargs)

    def tokenize(self, texts: Sequence[str]) -> dict:
        """Token ids, token type ids and attention mask, each ``(B, L)``."""
        check_phrases(texts, 'BertTextEncoder')
        return self.tokenizer(
            list(texts), padding='max_length', truncation=True,
            max_length=self.max_length, return_tensors='pt')

    def forward(self,
                texts: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encode phrases.

        Args:
            texts (list[str]): ``B`` non-empty phrases.

        Returns:
            tuple[Tensor, Tensor]: token features ``(B, L, hidden_size)``
            ([CLS] first) and the attention mask ``(B, L)`` (bool, True for
            real tokens), with ``L = max_length``.
        """
        if self.cache_size:
            return self._cached_forward(texts)
        return self._encode(texts)

    def _encode(self, texts: Sequence[str]
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        device = next(self.bert.parameters()).device
        tokens = {k: v.to(device) for k, v in self.tokenize(texts).items()}
        with torch.set_grad_enabled(torch.is_grad_enabled()
                                    and not self.frozen):
            feats = self.bert(**tokens).last_hidden_state
        return feats, tokens['attention_mask'].bool()

    def _cached_forward(self, texts: Sequence[str]
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` through the phrase cache (frozen encoder)."""
        check_phrases(texts, 'BertTextEncoder')
        device = next(self.bert.parameters()).device
        new = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if new:
            feats, mask = self._encode(new)
            for text, f, m in zip(new, feats, mask):
                self._cache[text] = (f, m)
        for text in texts:
            self._cache.move_to_end(text)
        entries = [self._cache[t] for t in texts]
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return (torch.stack([f for f, _ in entries]).to(device),
                torch.stack([m for _, m in entries]).to(device))
