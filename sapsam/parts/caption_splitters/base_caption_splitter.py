"""Base class of the stage-3 caption splitters."""
from abc import ABCMeta, abstractmethod
from typing import List, NamedTuple, Optional, Sequence


class SplitResult(NamedTuple):
    """Outcome of splitting one caption.

    Attributes:
        phrases (list[str] | None): the phrases, ``None`` on failure.
        error (str | None): why splitting failed.
        raw (str | None): the raw model output (``None`` for rule splitters).
    """
    phrases: Optional[List[str]]
    error: Optional[str] = None
    raw: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.phrases is not None


class BaseCaptionSplitter(metaclass=ABCMeta):
    """Split person descriptions into short appearance phrases.

    ``split`` never drops a caption silently: it returns one
    :class:`SplitResult` per input, with an error message where it failed.
    """

    @abstractmethod
    def split(self, captions: Sequence[str]) -> List[SplitResult]:
        """One :class:`SplitResult` per caption, in order."""
