"""Phrases from BLIP-2 on whitened part crops (stage 1 of SAP-SAM)."""
from typing import Dict, List, Optional, Sequence

import torch

from sapsam.registry import TASK_UTILS
from sapsam.utils.atr_vocabulary import ATR_GROUP_PROMPTS
from ..regions import PartRegion
from .base_phrase_generator import BasePhraseGenerator


@TASK_UTILS.register_module()
class Blip2PhraseGenerator(BasePhraseGenerator):
    """BLIP-2 answers a per-group question about a whitened part crop.

    Loads ``transformers``' ``Blip2ForConditionalGeneration`` and
    ``Blip2Processor`` from a local directory (e.g. a copy of
    ``Salesforce/blip2-opt-2.7b``), prompts each crop with the question of
    its group (supplement Table 3) and keeps the generated continuation,
    decoded greedily. Crops are processed in batches (left padding).

    Args:
        model_path (str): local directory written by ``save_pretrained``.
        prompts (dict, optional): group key -> prompt. Defaults to Table 3.
        batch_size (int): crops per ``generate`` call. Defaults to 16.
        max_new_tokens (int): generation length. Defaults to 20.
        device (str): torch device. Defaults to ``'cpu'``.
        torch_dtype (str, optional): e.g. ``'float16'`` on GPUs (the official
            run); ``None`` keeps the checkpoint's float32 weights.
        **kwargs: :class:`BasePhraseGenerator` arguments.
    """

    def __init__(self,
                 model_path: str,
                 prompts: Optional[Dict[str, str]] = None,
                 batch_size: int = 16,
                 max_new_tokens: int = 20,
                 device: str = 'cpu',
                 torch_dtype: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        from transformers import (Blip2ForConditionalGeneration,
                                  Blip2Processor)
        self.prompts = dict(prompts or ATR_GROUP_PROMPTS)
        missing = set(self.crop_groups) - set(self.prompts)
        if missing:
            raise ValueError(f'prompts lacks the groups {sorted(missing)}')
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.device = torch.device(device)
        dtype = getattr(torch, torch_dtype) if torch_dtype else None
        self.processor = Blip2Processor.from_pretrained(model_path)
        self.processor.tokenizer.padding_side = 'left'
        self.model = Blip2ForConditionalGeneration.from_pretrained(
            model_path, dtype=dtype).to(self.device).eval()
        self.model.requires_grad_(False)

    @torch.no_grad()
    def describe(self, regions: Sequence[PartRegion]) -> List[str]:
        phrases = []
        for start in range(0, len(regions), self.batch_size):
            chunk = regions[start:start + self.batch_size]
            inputs = self.processor(
                images=[r.crop for r in chunk],
                text=[self.prompts[r.group_key] for r in chunk],
                padding=True,
                return_tensors='pt').to(self.device)
            if 'pixel_values' in inputs:
                inputs['pixel_values'] = inputs['pixel_values'].to(
                    self.model.dtype)
            out = self.model.generate(**inputs, do_sample=False, num_beams=1,
                                      max_new_tokens=self.max_new_tokens)
            prompt_ids = inputs['input_ids']
            # Recent transformers return prompt + continuation for the OPT
            # BLIP-2; older ones only the continuation. Keep the latter.
            n = prompt_ids.shape[1]
            if out.shape[1] >= n and torch.equal(out[:, :n], prompt_ids):
                out = out[:, n:]
            texts = self.processor.batch_decode(out, skip_special_tokens=True)
            phrases.extend(t.strip() for t in texts)
        return phrases
