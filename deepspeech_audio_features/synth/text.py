"""Sentence text for the corpus: a vocabulary eSpeak reads as written, and transcripts
over the 28-symbol alphabet drawn from it.

Text comes from installed packages only: the ~20k most frequent English words of
``wordfreq`` (Zipf-weighted sampling, flattened so rare words still occur), simple
template sentences and numbers spelled out by ``num2words``.

No TensorFlow here.
"""
from __future__ import annotations

import functools
import math
import re
from typing import Sequence

import numpy as np

from ..speech.alphabet import normalize_text
from .espeak import ESpeakSynthesizer

__all__ = ["build_vocabulary", "make_text", "pick", "word_cdf"]

_WORD_RE = re.compile(r"^[a-z]+(?:'[a-z]+)?$")
_ROMAN_RE = re.compile(r"^[ivxlcdm]+$")
_VOWELS_RE = re.compile(r"[aeiouy]")
_PHONEME_MARKS_RE = re.compile(r"[',;_%=!#\s]")
# Abbreviations eSpeak expands to other words (checked on eSpeak 1.52: "etc" is read
# "etcetera", "eg" "for example"); most abbreviations are caught by the rules in
# build_vocabulary instead. Words that are also real words ("sat", "max") stay.
_EXPANDED_ABBREVIATIONS = frozenset(
    "eg ie etc mr mrs ms dr st jr sr ltd inc corp dept govt approx vs est misc yr yrs hrs mins "
    "secs feb jan aug sept oct nov tue tues thu thur thurs fri ave blvd rd mt ft lb lbs oz kg km "
    "cm mm pp vol nos fig figs ch".split()
)


@functools.lru_cache(maxsize=4)
def build_vocabulary(n_words: int = 20000) -> tuple[str, ...]:
    """The ``n_words`` most frequent English words of ``wordfreq`` that eSpeak reads as written.

    Kept: lower-case a-z words with at most one inner apostrophe (``don't``), with a
    vowel letter. Dropped: single letters except ``a`` and ``i``; words eSpeak spells
    letter by letter (its phonemes equal the letter names', e.g. ``fbi``, ``ok``);
    Roman numerals it reads as numbers (``xiv``); words it reads as several words
    (``linkedin``); and a short list of abbreviations it expands (``etc``).
    Ordered by frequency, most frequent first. Uses the process's eSpeak synthesizer
    (phonemes only, no audio). Takes about a second.
    """
    import wordfreq

    synth = ESpeakSynthesizer()
    strip = lambda p: _PHONEME_MARKS_RE.sub("", p)  # noqa: E731 - stress marks and pauses
    letter_phonemes = {c: strip(synth.phonemes(c)) for c in "abcdefghijklmnopqrstuvwxyz"}
    words: list[str] = []
    # 10% extra candidates: about 5% of wordfreq's top words are filtered out.
    for word in wordfreq.top_n_list("en", int(n_words * 1.1) + 100):
        if len(words) >= n_words:
            break
        if not _WORD_RE.match(word) or not _VOWELS_RE.search(word):
            continue
        if len(word) == 1 and word not in ("a", "i"):
            continue
        if word in _EXPANDED_ABBREVIATIONS:
            continue
        phon = synth.phonemes(word)
        if len(word) > 1 and strip(phon) == "".join(letter_phonemes[c] for c in word if c != "'"):
            continue  # spelled out
        if _ROMAN_RE.match(word) and "oUm@n" in phon:
            continue  # read as "roman fourteen"
        if " " in phon.strip():
            continue  # read as two words
        words.append(word)
    return tuple(words)


# Small lexicons for simple, grammatical sentences; broad vocabulary comes from wordfreq.
_SUBJECTS = ("i", "you", "we", "they", "he", "she", "my friend", "the teacher", "our neighbor", "the doctor",
             "my mother", "his brother", "the children", "the old man", "a young woman", "everyone", "nobody",
             "the driver", "her father", "the team", "the manager", "my sister", "the farmer", "the students")
_VERBS_PAST = ("found", "saw", "bought", "sold", "opened", "closed", "painted", "cleaned", "fixed", "moved",
               "carried", "dropped", "watched", "liked", "wanted", "needed", "lost", "kept", "made", "took",
               "left", "brought", "cooked", "washed", "borrowed", "ordered", "counted", "packed", "checked")
_VERBS_BASE = ("find", "see", "buy", "sell", "open", "close", "paint", "clean", "fix", "move", "carry",
               "watch", "keep", "take", "bring", "cook", "wash", "borrow", "order", "check", "visit", "call")
_ADJECTIVES = ("big", "small", "red", "green", "blue", "old", "new", "heavy", "cold", "warm", "quiet", "loud",
               "broken", "empty", "bright", "dark", "strange", "beautiful", "expensive", "cheap", "clean",
               "dirty", "wooden", "tiny", "huge", "happy", "tired", "brown", "white", "black", "yellow")
_NOUNS = ("book", "door", "window", "car", "house", "garden", "box", "letter", "table", "chair", "bottle",
          "phone", "river", "road", "bridge", "kitchen", "school", "market", "picture", "horse", "dog", "cat",
          "bag", "ticket", "coat", "key", "map", "boat", "train", "shop", "apple", "cup", "lamp", "camera",
          "computer", "village", "mountain", "island", "forest", "station", "office", "bicycle", "basket")
_PLACES = ("in the kitchen", "at the station", "near the river", "on the table", "under the bridge",
           "in the garden", "at school", "behind the house", "in the city", "by the window", "at the market",
           "on the road", "in the office", "across the street", "on the island", "in the forest")
_TIMES = ("yesterday", "today", "last night", "this morning", "every day", "on monday", "on friday",
          "next week", "last year", "in the evening", "after lunch", "before dinner", "on sunday")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december")
_UNITS = ("dollars", "people", "miles", "days", "years", "minutes", "books", "cars", "houses", "apples",
          "pounds", "students", "meters", "hours", "boxes", "tickets", "points", "weeks")


def pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    """One of ``items``, drawn uniformly with one ``rng.integers`` call (the draw the plan also uses)."""
    return items[int(rng.integers(len(items)))]


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _number_words(n: int, to: str = "cardinal") -> str:
    from num2words import num2words

    return normalize_text(num2words(n, to=to))  # "twenty-one" -> "twenty one", commas dropped


def _random_count(rng: np.random.Generator) -> int:
    # log-uniform over 2..100000, so small numbers dominate as in real text
    return int(round(math.exp(rng.uniform(math.log(2), math.log(100000)))))


def _template_sentence(rng: np.random.Generator) -> str:
    k = int(rng.integers(8))
    if k == 0:
        return f"{pick(rng, _SUBJECTS)} {pick(rng, _VERBS_PAST)} the {pick(rng, _ADJECTIVES)} {pick(rng, _NOUNS)}"
    if k == 1:
        return f"the {pick(rng, _NOUNS)} is {pick(rng, _PLACES)}"
    if k == 2:
        return f"{pick(rng, _SUBJECTS)} {pick(rng, _VERBS_PAST)} {_a(pick(rng, _NOUNS))} {pick(rng, _TIMES)}"
    if k == 3:
        return f"please {pick(rng, _VERBS_BASE)} the {pick(rng, _NOUNS)} {pick(rng, _PLACES)}"
    if k == 4:
        return f"can you {pick(rng, _VERBS_BASE)} my {pick(rng, _ADJECTIVES)} {pick(rng, _NOUNS)} {pick(rng, _TIMES)}"
    if k == 5:
        return f"the {pick(rng, _ADJECTIVES)} {pick(rng, _NOUNS)} was {pick(rng, _ADJECTIVES)}"
    if k == 6:
        return f"{pick(rng, _SUBJECTS)} did not {pick(rng, _VERBS_BASE)} the {pick(rng, _NOUNS)}"
    return f"where is the {pick(rng, _ADJECTIVES)} {pick(rng, _NOUNS)}"


def _number_sentence(rng: np.random.Generator) -> str:
    k = int(rng.integers(6))
    if k == 0:
        return f"{_number_words(_random_count(rng))} {pick(rng, _UNITS)}"
    if k == 1:
        return f"{pick(rng, _SUBJECTS)} {pick(rng, _VERBS_PAST)} {_number_words(_random_count(rng))} {pick(rng, _UNITS)}"
    if k == 2:
        day = int(rng.integers(1, 32))
        return f"on the {_number_words(day, 'ordinal')} of {pick(rng, _MONTHS)}"
    if k == 3:
        return f"in {_number_words(int(rng.integers(1900, 2031)), 'year')}"
    if k == 4:  # digit strings, as in phone numbers
        return " ".join(_number_words(int(d)) for d in rng.integers(0, 10, size=int(rng.integers(3, 8))))
    return f"{_number_words(int(rng.integers(1, 100)))} dollars and {_number_words(int(rng.integers(1, 100)))} cents"


def _word_sequence(rng: np.random.Generator, vocab: Sequence[str], cdf: np.ndarray) -> str:
    n = int(np.clip(round(rng.normal(5.5, 2.2)), 2, 10))
    idx = np.searchsorted(cdf, rng.random(n), side="right")
    return " ".join(vocab[min(int(i), len(vocab) - 1)] for i in idx)


def word_cdf(n: int) -> np.ndarray:
    """Cumulative sampling weights ``[n]`` of a vocabulary ordered by frequency (ends at 1)."""
    # Zipf-like weights flattened (exponent 0.75, rank offset 20): frequent words are
    # favoured but a 15k-utterance corpus still meets most of the 20k words.
    w = (np.arange(n, dtype=np.float64) + 20.0) ** -0.75
    cdf = np.cumsum(w)
    return cdf / cdf[-1]


def make_text(rng: np.random.Generator, vocab: Sequence[str], cdf: np.ndarray | None = None) -> str:
    """One transcript of 2-10 words over the alphabet: 60% word sequences, 25% template
    sentences, 15% phrases with spelled-out numbers."""
    cdf = word_cdf(len(vocab)) if cdf is None else cdf
    while True:
        u = rng.random()
        if u < 0.60:
            text = _word_sequence(rng, vocab, cdf)
        elif u < 0.85:
            text = _template_sentence(rng)
        else:
            text = _number_sentence(rng)
        text = normalize_text(text)
        if 2 <= len(text.split()) <= 10:
            return text
