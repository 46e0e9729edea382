"""CLIP byte-pair tokenizer with IRRA's mask token, offline."""
from typing import List, Sequence, Union

import torch
from open_clip.tokenizer import SimpleTokenizer

from sapsam.registry import TASK_UTILS


@TASK_UTILS.register_module()
class CLIPTokenizer:
    """OpenAI CLIP BPE tokenizer on the vocabulary shipped in open_clip.

    Ids follow OpenAI CLIP (vocabulary 49,408): ``sot_id`` 49406,
    ``eot_id`` 49407, padding 0. As in IRRA, id 49405 (the last, rarest BPE
    merge) is reused as ``<|mask|>`` so the embedding table keeps its size and
    OpenAI checkpoints load unchanged.

    Args:
        context_length (int): Length of the id sequences. Defaults to 77.

    Examples:
        >>> tok = CLIPTokenizer()
        >>> ids = tok(['a man in a red coat'])  # (1, 77) LongTensor
        >>> ids[0, 0].item() == tok.sot_id
        True
    """

    #: ``<|mask|>``, defined here only: the masking transforms read it.
    mask_id = 49405
    vocab_size = 49408

    def __init__(self, context_length: int = 77) -> None:
        if context_length < 2:
            raise ValueError(f'context_length must be >= 2, got {context_length}')
        self.context_length = context_length
        self._bpe = SimpleTokenizer(context_length=context_length)
        self.sot_id = self._bpe.sot_token_id
        self.eot_id = self._bpe.eot_token_id
        assert self.eot_id == self.vocab_size - 1, 'unexpected CLIP vocabulary'

    def encode(self, text: str) -> List[int]:
        """BPE ids of ``text`` without start/end tokens."""
        return self._bpe.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``; padding, start/end and mask tokens are dropped."""
        keep = [int(i) for i in ids
                if 0 < int(i) < self.mask_id]
        return self._bpe.decode(keep).strip()

    def tokenize(self, text: str) -> torch.Tensor:
        """``[SOT] + bpe + [EOT]`` zero-padded to ``context_length``.

        Longer texts are truncated and their last token is forced to EOT
        (IRRA's rule), so the EOT position always holds the sentence feature.

        Returns:
            torch.Tensor: ``(context_length,)`` int64 ids.
        """
        ids = [self.sot_id] + self.encode(text) + [self.eot_id]
        if len(ids) > self.context_length:
            ids = ids[:self.context_length]
            ids[-1] = self.eot_id
        out = torch.zeros(self.context_length, dtype=torch.long)
        out[:len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def __call__(self, texts: Union[str, Sequence[str]]) -> torch.Tensor:
        """Tokenize one text ``(L,)`` or a list of texts ``(N, L)``."""
        if isinstance(texts, str):
            return self.tokenize(texts)
        return torch.stack([self.tokenize(t) for t in texts])
