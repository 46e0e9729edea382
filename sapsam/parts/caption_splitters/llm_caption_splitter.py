"""Caption splitting with a local causal or chat language model."""
import json
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch

from sapsam.registry import TASK_UTILS
from ..formats import flatten_attributes
from .base_caption_splitter import BaseCaptionSplitter, SplitResult

DEFAULT_INSTRUCTION = (
    'Split the English description of a pedestrian into short phrases that '
    'together contain every appearance detail (clothes, shoes, hair, bags, '
    'accessories). Copy the words of the description. Answer with a JSON '
    'list of strings only.')

# Few-shot examples (docs/fidelity.md G5), each answer matching its sentence (the
# official first example did not, G5).
DEFAULT_EXAMPLES: Tuple[Tuple[str, List[str]], ...] = (
    ('the tall man is in business like attire. he is wearing a blue collared '
     'shirt with long sleeves, dark pants and dark shoes. balding in the '
     'front, he is also wearing glasses.',
     ['business like attire', 'a blue collared shirt with long sleeves',
      'dark pants', 'dark shoes', 'glasses']),
    ('this man is wearing a grey sweater, dark blue jeans, and shoes. he is '
     'also carrying a grey / black book bag on his back.',
     ['a grey sweater', 'dark blue jeans', 'shoes',
      'a grey / black book bag']),
    ('a man wearing a black jacket, black pants, red, black and white shoes '
     'and a gray shirt under his jacket.',
     ['a black jacket', 'black pants', 'red, black and white shoes',
      'a gray shirt']),
    ('The young woman, wearing a black cross-body bag, a brown down jacket, '
     'dark tights, and black leather shoes, walked by the roadside near '
     'bikes',
     ['a black cross-body bag', 'a brown down jacket', 'dark tights',
      'black leather shoes']),
)

RETRY_REMINDER = ('Answer with one JSON list of double-quoted strings, for '
                  'example ["a red coat", "black pants"], and nothing else.')

_WORD = re.compile(r"[a-z0-9]+")

GenerateFn = Callable[[List[Union[str, List[Dict[str, str]]]]], List[str]]


def parse_phrase_list(text: str,
                      caption: str,
                      min_word_overlap: float = 0.5,
                      max_phrases: int = 12,
                      max_phrase_words: int = 12) -> List[str]:
    """Strictly parse and validate a model answer.

    The answer must contain a JSON list of strings (nested lists are
    flattened). Phrases are stripped and de-duplicated; each must be at most
    ``max_phrase_words`` words long and share at least ``min_word_overlap``
    of its words with the caption (a guard against hallucinated phrases).

    Raises:
        ValueError: with the reason when the answer is not acceptable.
    """
    start = text.find('[')
    if start < 0:
        raise ValueError('no "[" in the answer')
    parsed, last_err = None, None
    for end in (m.start() for m in re.finditer(r'\]', text[start:])):
        try:
            parsed = json.loads(text[start:start + end + 1])
            break
        except json.JSONDecodeError as err:
            last_err = err
    if parsed is None:
        raise ValueError(f'no parsable JSON list ({last_err})')
    if not isinstance(parsed, list):
        raise ValueError('the answer is not a list')

    def strings_only(value) -> bool:
        return isinstance(value, str) or (isinstance(value, list) and all(
            strings_only(v) for v in value))

    if not strings_only(parsed):
        raise ValueError('the list holds non-string items')
    items = flatten_attributes(parsed)
    caption_words = set(_WORD.findall(caption.lower()))
    phrases, seen = [], set()
    for phrase in items:
        phrase = ' '.join(phrase.split())
        words = _WORD.findall(phrase.lower())
        if not words or phrase.lower() in seen:
            continue
        if len(words) > max_phrase_words:
            raise ValueError(f'phrase too long: {phrase!r}')
        overlap = sum(w in caption_words for w in words) / len(words)
        if overlap < min_word_overlap:
            raise ValueError(f'phrase not in the caption: {phrase!r}')
        seen.add(phrase.lower())
        phrases.append(phrase)
    if not phrases:
        raise ValueError('empty phrase list')
    if len(phrases) > max_phrases:
        raise ValueError(f'{len(phrases)} phrases (max {max_phrases})')
    return phrases


@TASK_UTILS.register_module()
class LLMCaptionSplitter(BaseCaptionSplitter):
    """Ask a language model to split captions into appearance phrases.

    Any local ``transformers`` causal LM works. With a tokenizer that has a
    chat template, the prompt is a conversation (instruction, one user /
    assistant turn per example, then the caption); otherwise it is plain
    text ending in ``"Phrases:"``. Decoding is greedy, so results are
    reproducible. Each answer is parsed strictly (:func:`parse_phrase_list`);
    failures are retried ``max_retries`` times with a stricter reminder and
    then reported with their reason in the :class:`SplitResult`.

    Args:
        model_path (str, optional): local model directory
            (``save_pretrained`` layout). Not needed with ``generate_fn``.
        generate_fn (callable, optional): maps a list of prompts (strings or
            chat message lists) to a list of completions; replaces the model
            (remote servers, tests).
        instruction (str): the task description.
        examples (Sequence[tuple]): ``(sentence, phrases)`` few-shot pairs.
        use_chat_template (bool | str): ``'auto'`` uses the tokenizer's chat
            template when it has one. Defaults to ``'auto'``.
        batch_size (int): prompts per ``generate`` call. Defaults to 8.
        max_new_tokens (int): Defaults to 96.
        max_retries (int): extra attempts per failed caption. Defaults to 1.
        min_word_overlap, max_phrases, max_phrase_words: validation, see
            :func:`parse_phrase_list`.
        device (str): torch device. Defaults to ``'cpu'``.
        torch_dtype (str, optional): e.g. ``'float16'``.
        trust_remote_code (bool): for models such as ChatGLM. Defaults to
            False.
    """

    def __init__(self,
                 model_path: Optional[str] = None,
                 generate_fn: Optional[GenerateFn] = None,
                 instruction: str = DEFAULT_INSTRUCTION,
                 examples: Sequence[Tuple[str, List[str]]] = DEFAULT_EXAMPLES,
                 use_chat_template: Union[bool, str] = 'auto',
                 batch_size: int = 8,
                 max_new_tokens: int = 96,
                 max_retries: int = 1,
                 min_word_overlap: float = 0.5,
                 max_phrases: int = 12,
                 max_phrase_words: int = 12,
                 device: str = 'cpu',
                 torch_dtype: Optional[str] = None,
                 trust_remote_code: bool = False) -> None:
        if (model_path is None) == (generate_fn is None):
            raise ValueError('give exactly one of model_path and generate_fn')
        for sentence, answer in examples:
            parse_phrase_list(json.dumps(answer), sentence, min_word_overlap,
                              max_phrases, max_phrase_words)
        self.instruction = instruction
        self.examples = [(s, list(a)) for s, a in examples]
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.max_retries = max_retries
        self.validation = dict(min_word_overlap=min_word_overlap,
                               max_phrases=max_phrases,
                               max_phrase_words=max_phrase_words)
        self.generate_fn = generate_fn
        self.tokenizer = self.model = None
        # A generate_fn receives chat messages only when asked explicitly.
        self.use_chat = use_chat_template is True
        if model_path is not None:
            from transformers import AutoModelForCausalLM, AutoTokenizer
            self.device = torch.device(device)
            self.tokenizer = AutoTokenizer.from_pretrained(
                model_path, trust_remote_code=trust_remote_code)
            self.tokenizer.padding_side = 'left'
            if self.tokenizer.pad_token is None:
                self.tokenizer.pad_token = self.tokenizer.eos_token
            self.model = AutoModelForCausalLM.from_pretrained(
                model_path,
                dtype=getattr(torch, torch_dtype) if torch_dtype else None,
                trust_remote_code=trust_remote_code).to(self.device).eval()
            has_template = getattr(self.tokenizer, 'chat_template', None)
            self.use_chat = bool(has_template) if use_chat_template == 'auto' \
                else bool(use_chat_template)

    def build_prompt(self, caption: str,
                     retry: bool = False) -> Union[str, List[Dict[str, str]]]:
        """The few-shot prompt for one caption (chat messages or text)."""
        query = caption if not retry else f'{caption}\n{RETRY_REMINDER}'
        if self.use_chat:
            messages = [dict(role='system', content=self.instruction)]
            for sentence, answer in self.examples:
                messages += [
                    dict(role='user', content=sentence),
                    dict(role='assistant', content=json.dumps(answer))
                ]
            return messages + [dict(role='user', content=query)]
        lines = [self.instruction, '']
        for sentence, answer in self.examples:
            lines += [f'Sentence: {sentence}',
                      f'Phrases: {json.dumps(answer)}', '']
        if retry:
            lines += [RETRY_REMINDER, '']
        return '\n'.join(lines + [f'Sentence: {caption}', 'Phrases:'])

    @torch.no_grad()
    def _model_generate(self, prompts: list) -> List[str]:
        if self.use_chat:
            prompts = [
                self.tokenizer.apply_chat_template(
                    p, tokenize=False, add_generation_prompt=True)
                for p in prompts
            ]
        inputs = self.tokenizer(prompts, return_tensors='pt', padding=True)
        inputs = {k: v.to(self.device) for k, v in inputs.items()
                  if k in ('input_ids', 'attention_mask')}
        out = self.model.generate(
            **inputs, do_sample=False, num_beams=1,
            max_new_tokens=self.max_new_tokens,
            pad_token_id=self.tokenizer.pad_token_id)
        out = out[:, inputs['input_ids'].shape[1]:]
        return self.tokenizer.batch_decode(out, skip_special_tokens=True)

    def _generate(self, prompts: list) -> List[str]:
        answers = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start:start + self.batch_size]
            out = (self.generate_fn(chunk) if self.generate_fn is not None
                   else self._model_generate(chunk))
            if len(out) != len(chunk):
                raise RuntimeError(f'generation returned {len(out)} answers '
                                   f'for {len(chunk)} prompts')
            answers.extend(out)
        return answers

    def split(self, captions: Sequence[str]) -> List[SplitResult]:
        results: List[Optional[SplitResult]] = [None] * len(captions)
        todo = list(range(len(captions)))
        for attempt in range(self.max_retries + 1):
            if not todo:
                break
            answers = self._generate(
                [self.build_prompt(captions[i], attempt > 0) for i in todo])
            failed = []
            for i, answer in zip(todo, answers):
                try:
                    phrases = parse_phrase_list(answer, captions[i],
                                                **self.validation)
                    results[i] = SplitResult(phrases, None, answer)
                except ValueError as err:
                    results[i] = SplitResult(
                        None, f'attempt {attempt + 1}: {err}', answer)
                    failed.append(i)
            todo = failed
        return results
