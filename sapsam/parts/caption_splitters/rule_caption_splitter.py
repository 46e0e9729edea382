"""A deterministic caption splitter that needs no model."""
import re
from typing import Iterable, List, Optional, Sequence, Tuple

from sapsam.registry import TASK_UTILS
from .base_caption_splitter import BaseCaptionSplitter, SplitResult

# Words that name something visible on a person.
APPEARANCE_NOUNS = frozenset('''
shirt shirts t-shirt tshirt tee top tops blouse sweater sweatshirt jumper
jacket jackets coat overcoat raincoat parka hoodie vest cardigan blazer suit
tuxedo uniform jersey dress gown skirt miniskirt pants trousers jeans shorts
leggings tights slacks capris khakis sweatpants bottoms outfit clothes
clothing attire shoe shoes sneakers trainers boots sandals heels flats
slippers loafers footwear socks stockings hat cap beanie helmet hair ponytail
bun braid braids bangs beard mustache glasses sunglasses spectacles goggles
bag backpack handbag purse satchel tote briefcase suitcase luggage umbrella
scarf belt gloves mask watch headband headphones apron overalls jumpsuit
rucksack knapsack eyeglasses pullover clutch cardigan windbreaker polo
hijab turban
'''.split())

# Words at which a phrase ends and the next one may start (dropped).
BREAK_WORDS = frozenset('''
and with wearing wears wore dressed in carrying carries carried holding holds
held has have had having is are was were be being who that which while also
she he they it him them person man woman lady girl boy guy gentleman
pedestrian someone people appears seems looks walking standing walks stands
along on over under behind near at to as by from into around across but or
'''.split())

# Leading words dropped from a phrase (articles "a"/"an" are kept).
LEADING_STRIP = frozenset(
    'the her his their its this these those some'.split())

# Chunks made only of these words are joined to the next chunk
# ("red, black and white shoes", "black and grey jacket").
COLOUR_WORDS = frozenset('''
black white gray grey red green blue yellow orange pink purple brown navy
beige tan khaki dark light bright pale maroon violet cyan teal gold golden
silver olive cream colored coloured multicolored striped plaid checkered
'''.split())

_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-'][A-Za-z0-9]+)*|[^\sA-Za-z0-9]")
_SENTENCE_END = frozenset('.;:!?')
_MODIFIER_PREFIX = frozenset(('a', 'an', ',', '/', '&')) | LEADING_STRIP
_JOINERS = frozenset('/&')


@TASK_UTILS.register_module()
class RuleCaptionSplitter(BaseCaptionSplitter):
    """Split a caption at clauses, commas, ``and``, ``with``, ``wearing`` and
    carrying verbs, and keep the chunks that name something visible.

    Every phrase is an exact substring of the caption (original case) that
    ends with an appearance noun, so its tokens can be found in the
    tokenised caption. Chunks made only of colour words ("red," in "red,
    black and white shoes") are joined to the next chunk of the same
    sentence. Leading possessives and "the" are dropped; articles are kept
    ("a grey sweater").

    Args:
        extra_nouns (Iterable[str]): appearance nouns added to the built-in
            list.
        max_phrase_words (int): a longer phrase keeps only its last
            ``max_phrase_words`` words. Defaults to 8.

    Examples:
        >>> RuleCaptionSplitter().split_one(
        ...     'A woman wearing a red coat, black pants and white shoes.')
        ['a red coat', 'black pants', 'white shoes']
    """

    def __init__(self, extra_nouns: Iterable[str] = (),
                 max_phrase_words: int = 8) -> None:
        if max_phrase_words < 1:
            raise ValueError('max_phrase_words must be >= 1')
        self.nouns = APPEARANCE_NOUNS | {w.lower() for w in extra_nouns}
        self.max_phrase_words = max_phrase_words

    @staticmethod
    def _chunks(tokens: List[Tuple[str, int, int]]) -> List[Tuple[list, bool]]:
        """Runs of word tokens between break points, each with a flag telling
        whether a sentence ended right before it."""
        chunks, current, sentence_start = [], [], True
        for i, (word, _, _) in enumerate(tokens):
            low = word.lower()
            is_word = low[0].isalnum()
            if is_word and low not in BREAK_WORDS or low in _JOINERS:
                current.append(i)
                continue
            if current:
                chunks.append((current, sentence_start))
                sentence_start = False
            current = []
            if low in _SENTENCE_END:
                sentence_start = True
        if current:
            chunks.append((current, sentence_start))
        return chunks

    def _trim(self, words: List[str]) -> Optional[Tuple[int, int]]:
        """``(start, end)`` of the phrase inside a chunk, or ``None``."""
        nouns = [k for k, w in enumerate(words) if w in self.nouns]
        if not nouns:
            return None
        end = nouns[-1] + 1
        start = 0
        while start < end and (words[start] in LEADING_STRIP
                               or words[start] in _JOINERS):
            start += 1
        start = max(start, end - self.max_phrase_words)
        return start, end

    def split_one(self, caption: str) -> List[str]:
        """Phrases of one caption (substrings, in caption order, unique)."""
        tokens = [(m.group(0), m.start(), m.end())
                  for m in _TOKEN.finditer(caption)]
        phrases, seen, pending = [], [], None
        for chunk, sentence_start in self._chunks(tokens):
            if sentence_start:
                pending = None
            words = [tokens[i][0].lower() for i in chunk]
            if any(w in COLOUR_WORDS for w in words) and all(
                    w in COLOUR_WORDS or w in _MODIFIER_PREFIX
                    for w in words):
                pending = chunk[0] if pending is None else pending
                continue
            span = self._trim(words)
            if span is None:
                pending = None
                continue
            first = chunk[span[0]] if pending is None else pending
            last = chunk[span[1] - 1]
            pending = None
            text = caption[tokens[first][1]:tokens[last][2]]
            bag = frozenset(tokens[i][0].lower()
                            for i in range(first, last + 1))
            # A later bare mention of a garment already described ("a gray
            # shirt under his jacket" after "a black jacket") is dropped.
            if not any(bag <= earlier for earlier in seen):
                seen.append(bag)
                phrases.append(text)
        return phrases

    def split(self, captions: Sequence[str]) -> List[SplitResult]:
        results = []
        for caption in captions:
            phrases = self.split_one(caption)
            results.append(
                SplitResult(phrases) if phrases else SplitResult(
                    None, 'no appearance phrase found'))
        return results
