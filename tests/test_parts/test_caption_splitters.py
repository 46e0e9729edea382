"""Stage 3: rule and LLM caption splitters."""
import json

import pytest

from sapsam.parts.caption_splitters import (LLMCaptionSplitter,
                                            RuleCaptionSplitter,
                                            parse_phrase_list)
from sapsam.registry import TASK_UTILS


@pytest.mark.parametrize('caption, expected', [
    ('A woman wearing a red coat, black pants and white shoes. She carries '
     'a blue backpack and has long brown hair.',
     ['a red coat', 'black pants', 'white shoes', 'a blue backpack',
      'long brown hair']),
    # The official few-shot examples (docs/fidelity.md G5).
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
    ('A man with short black hair is wearing a black and grey jacket. His '
     'shoes are white.',
     ['short black hair', 'a black and grey jacket', 'shoes']),
    # A colour at the end of a sentence does not leak into the next one.
    ('Her shoes are white. A bag.', ['shoes', 'A bag']),
])
def test_rule_splitter_cases(caption, expected):
    phrases = RuleCaptionSplitter().split_one(caption)
    assert phrases == expected
    for phrase in phrases:            # exact substrings, for span finding
        assert phrase in caption


def test_rule_splitter_reports_captions_without_phrases():
    splitter = TASK_UTILS.build(dict(type='RuleCaptionSplitter'))
    results = splitter.split(['Walking down the street quickly.',
                              'a man in a black shirt'])
    assert not results[0].ok and 'no appearance phrase' in results[0].error
    assert results[1].phrases == ['a black shirt']
    extra = RuleCaptionSplitter(extra_nouns=['kimono'])
    assert extra.split_one('a lady in a pink kimono') == ['a pink kimono']


def test_parse_phrase_list_accepts_and_rejects():
    caption = 'a man in a red coat and blue jeans'
    assert parse_phrase_list('Sure! ["a red coat", "blue jeans"] done',
                             caption) == ['a red coat', 'blue jeans']
    # Nested lists are flattened, duplicates and blanks dropped.
    assert parse_phrase_list('[["a red coat"], "a red coat", " "]',
                             caption) == ['a red coat']
    for answer, reason in [
            ('a red coat, blue jeans', 'no "\\["'),
            ('["a red coat", ', 'no parsable JSON list'),
            ('[1, 2]', 'non-string'),
            ('[]', 'empty phrase list'),
            ('["a yellow umbrella hat"]', 'not in the caption'),
    ]:
        with pytest.raises(ValueError, match=reason):
            parse_phrase_list(answer, caption)


def test_llm_splitter_happy_path_and_retry_with_injected_generator():
    captions = ['a man in a red coat and blue jeans',
                'a woman with a green bag', 'nothing useful here']
    calls = []

    def generate(prompts):
        calls.append(prompts)
        answers = []
        for prompt in prompts:
            query = prompt.rsplit('Sentence:', 1)[1]
            retry = 'Answer with one JSON list' in prompt
            if 'red coat' in query:
                answers.append('["a red coat", "blue jeans"]')
            elif 'green bag' in query:
                # Garbage first, a valid list on the stricter retry.
                answers.append('["a green bag"]' if retry else 'A bag.')
            else:
                answers.append('I do not know')
        return answers

    splitter = LLMCaptionSplitter(generate_fn=generate, max_retries=1)
    results = splitter.split(captions)
    assert results[0].phrases == ['a red coat', 'blue jeans']
    assert results[1].phrases == ['a green bag']
    assert not results[2].ok
    assert results[2].error.startswith('attempt 2: no "["')
    assert results[2].raw == 'I do not know'
    # First pass: all three; the retry only the two failures.
    assert [len(c) for c in calls] == [3, 2]
    # The few-shot prompt holds every example with its own answer.
    prompt = calls[0][0]
    assert prompt.count('Sentence:') == 5 and prompt.endswith('Phrases:')
    assert '["a grey sweater", "dark blue jeans", "shoes", ' \
        '"a grey / black book bag"]' in prompt


def test_llm_splitter_chat_messages_for_injected_generator():
    seen = []

    def generate(prompts):
        seen.extend(prompts)
        return ['["a red coat"]'] * len(prompts)

    splitter = LLMCaptionSplitter(generate_fn=generate, use_chat_template=True)
    assert splitter.split(['a red coat'])[0].phrases == ['a red coat']
    messages = seen[0]
    assert messages[0]['role'] == 'system'
    assert [m['role'] for m in messages[1:]] == ['user', 'assistant'] * 4 + [
        'user']
    assert json.loads(messages[2]['content'])[0] == 'business like attire'
    assert messages[-1]['content'] == 'a red coat'


def test_llm_splitter_rejects_inconsistent_examples():
    with pytest.raises(ValueError, match='not in the caption'):
        LLMCaptionSplitter(generate_fn=lambda p: p,
                           examples=[('a man in a red coat', ['blue jeans'])])
    with pytest.raises(ValueError, match='exactly one of'):
        LLMCaptionSplitter()


@pytest.fixture(scope='module')
def tiny_lm(tmp_path_factory):
    """A random GPT-2 with a word-level tokenizer (with a chat template)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, \
        PreTrainedTokenizerFast
    words = ('a an the man woman red blue black coat jeans bag shoes in and '
             'with [ ] " , . : sentence phrases split answer').split()
    vocab = {'<pad>': 0, '<eos>': 1, '<unk>': 2}
    for w in words:
        vocab.setdefault(w, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token='<unk>'))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece(prefix='##')
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token='<eos>', pad_token='<pad>',
        unk_token='<unk>')
    path = str(tmp_path_factory.mktemp('lm'))
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_positions=1024,
                               n_embd=16, n_layer=1, n_head=2)
                    ).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_llm_splitter_with_random_model_reports_every_failure(tiny_lm):
    splitter = TASK_UTILS.build(dict(
        type='LLMCaptionSplitter', model_path=tiny_lm, max_new_tokens=6,
        max_retries=1, batch_size=2))
    assert not splitter.use_chat          # this tokenizer has no template
    captions = ['a man in a red coat', 'a woman with a blue bag',
                'black shoes']
    results = splitter.split(captions)
    # Random weights cannot produce a valid list: every caption is reported
    # with the reason of its last attempt and the raw output, none is lost.
    assert len(results) == 3
    for result in results:
        assert not result.ok
        assert result.error.startswith('attempt 2: ')
        assert isinstance(result.raw, str)


def test_llm_splitter_uses_the_chat_template_when_present(tiny_lm):
    splitter = LLMCaptionSplitter(model_path=tiny_lm, max_new_tokens=3,
                                  max_retries=0)
    splitter.tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} ."
        "{% endfor %}{% if add_generation_prompt %}answer :{% endif %}")
    prompts = []
    original = splitter.tokenizer.apply_chat_template

    def spy(messages, **kwargs):
        prompts.append(original(messages, **kwargs))
        return prompts[-1]

    splitter.tokenizer.apply_chat_template = spy
    splitter.use_chat = True
    result = splitter.split(['a man in a red coat'])[0]
    assert not result.ok and result.error.startswith('attempt 1: ')
    assert prompts[0].startswith('system : Split the English description')
    assert prompts[0].endswith('user : a man in a red coat .answer :')
