"""The DeepSpeech 0.9 alphabet: space, a-z, apostrophe; the CTC blank is last (28)."""
from __future__ import annotations

import numpy as np

from ..infra.errors import ParameterError

#: Symbols in the release's ``data/alphabet.txt`` order; index 28 is the CTC blank.
ALPHABET: str = " abcdefghijklmnopqrstuvwxyz'"
BLANK_INDEX: int = len(ALPHABET)  # 28
NUM_CLASSES: int = len(ALPHABET) + 1  # 29

_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}


def normalize_text(text: str) -> str:
    """Lower-case ``text`` and keep only alphabet symbols, collapsing runs of spaces."""
    text = text.lower().replace("\u2019", "'")
    kept = "".join(ch if ch in _INDEX else " " for ch in text)
    return " ".join(kept.split())


def text_to_labels(text: str) -> np.ndarray:
    """Map a transcript to label indices ``[L]`` (int32). Raises ``ValueError`` on other symbols."""
    try:
        return np.array([_INDEX[ch] for ch in text], dtype=np.int32)
    except KeyError as err:
        raise ParameterError(f"transcript {text!r} has a symbol outside the alphabet: {err.args[0]!r}") from None


def labels_to_text(labels) -> str:
    """Map label indices ``[L]`` back to a string (blanks are dropped)."""
    return "".join(ALPHABET[i] for i in labels if 0 <= i < len(ALPHABET))
