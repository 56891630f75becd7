"""eSpeak NG's IPA (as neural voices take it) -> TIMIT's ARPAbet; phone and word spans from per-symbol durations.

Piper and Kokoro (:mod:`.neural`) speak strings of IPA symbols (one model input per code
point) that eSpeak NG's phonemizer wrote, and report how many audio samples each symbol
took. This module turns ``[(symbol, samples)]`` into labelled phone and word intervals:

* a diphthong or affricate written with two code points is one phone: ``eɪ aɪ ɔɪ oʊ aʊ``
  -> ``ey ay oy ow aw``, ``tʃ dʒ`` -> ``ch jh`` (Kokoro writes them as the single tokens
  ``A I Y O W ʧ ʤ``, which map the same);
* stress marks ``ˈ ˌ`` (they precede the stressed vowel's syllable) give their samples to the
  next phone, the length mark ``ː`` and combining diacritics to the previous one;
* a space (a word boundary) splits its samples between the phones on either side, so words
  meet in the middle of the boundary symbol; the engines' start and end symbols (and
  their pads) are pauses ``pau``;
* vowels: ``ə ɐ`` -> ``ax``, ``ɚ`` -> ``axr``, ``ɜ`` -> ``er``, ``ᵻ`` -> ``ix``, ``ʌ`` -> ``ah``,
  ``ɑ ɒ`` -> ``aa``, ``ɔ`` -> ``ao``, ``ɛ e`` -> ``eh``, ``ɪ`` -> ``ih``, ``i`` -> ``iy``,
  ``ʊ`` -> ``uh``, ``u`` -> ``uw``, ``æ a`` -> ``ae``, ``o`` -> ``ow``; ``ɾ`` -> ``dx``,
  ``ʔ`` -> ``q`` (ignored by the 39-class folding), ``x ç`` -> ``hh``, ``ɬ ɫ`` -> ``l``.

A symbol the table lacks is labelled ``spn`` and counted; it is never dropped silently.

No TensorFlow here.
"""
from __future__ import annotations

from typing import Sequence

from ..infra.errors import ParameterError
from ..speech.alignments import Interval
from .engines import word_spans

__all__ = ["IPA_TO_TIMIT", "ipa_intervals", "ipa_to_timit_labels", "is_phone_symbol"]

_PAUSE = "pau"
_UNKNOWN = "spn"
#: IPA symbol (one or two code points) -> TIMIT label.
IPA_TO_TIMIT: dict[str, str] = {
    # two code points first (matched greedily)
    "eɪ": "ey", "aɪ": "ay", "ɔɪ": "oy", "oʊ": "ow", "aʊ": "aw", "tʃ": "ch", "dʒ": "jh",
    # Kokoro's single tokens for them
    "A": "ey", "I": "ay", "Y": "oy", "O": "ow", "W": "aw", "ʧ": "ch", "ʤ": "jh",
    # consonants
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "g", "ɡ": "g", "f": "f", "v": "v", "s": "s", "z": "z",
    "h": "hh", "m": "m", "n": "n", "ŋ": "ng", "l": "l", "ɫ": "l", "ɬ": "l", "ɹ": "r", "r": "r", "w": "w", "j": "y",
    "θ": "th", "ð": "dh", "ʃ": "sh", "ʒ": "zh", "ɾ": "dx", "ʔ": "q", "x": "hh", "ç": "hh",
    # vowels
    "ə": "ax", "ɐ": "ax", "ɚ": "axr", "ɝ": "er", "ɜ": "er", "ᵻ": "ix", "ʌ": "ah", "ɑ": "aa", "ɒ": "aa", "ɔ": "ao",
    "ɛ": "eh", "e": "eh", "ɪ": "ih", "i": "iy", "ʊ": "uh", "u": "uw", "æ": "ae", "a": "ae", "o": "ow",
}
_TO_NEXT = frozenset("ˈˌ")  # stress: belongs to the syllable that follows
_TO_PREVIOUS = frozenset("ːˑ\u0303\u0329\u032a\u032f\u0327ʰʲ˞")  # length marks and diacritics
_BOUNDARY = " "
_EDGES = frozenset({"^", "$", "_", ""})  # start, end and pad symbols of the engines


def is_phone_symbol(symbol: str) -> bool:
    """Whether ``symbol`` starts or is a phone (not a mark, diacritic, word boundary or edge symbol)."""
    return symbol not in _TO_NEXT and symbol not in _TO_PREVIOUS and symbol != _BOUNDARY and symbol not in _EDGES


def ipa_to_timit_labels(symbols: Sequence[str]) -> list[str]:
    """TIMIT labels of a word's IPA symbols (stress, length and diacritics dropped; digraphs merged)."""
    labels, _ = _merge([(s, 1) for s in symbols if s not in _EDGES and s != _BOUNDARY])
    return [label for label, _, _ in labels]


def _merge(units: Sequence[tuple[str, int]]) -> tuple[list[tuple[str, int, str]], dict[str, int]]:
    """``[(label, samples, symbols)]``: digraphs merged, marks attached, no boundaries or edges expected."""
    phones: list[list] = []
    unknown: dict[str, int] = {}
    carry = 0  # samples of stress marks waiting for the next phone
    k = 0
    while k < len(units):
        symbol, samples = units[k]
        pair = symbol + units[k + 1][0] if k + 1 < len(units) else ""
        if pair in IPA_TO_TIMIT:
            phones.append([IPA_TO_TIMIT[pair], samples + units[k + 1][1] + carry, pair])
            carry, k = 0, k + 2
            continue
        if symbol in _TO_NEXT:
            carry += samples
        elif symbol in _TO_PREVIOUS and phones:
            phones[-1][1] += samples
            phones[-1][2] += symbol
        elif symbol in IPA_TO_TIMIT:
            phones.append([IPA_TO_TIMIT[symbol], samples + carry, symbol])
            carry = 0
        else:
            unknown[symbol] = unknown.get(symbol, 0) + 1
            phones.append([_UNKNOWN, samples + carry, symbol])
            carry = 0
        k += 1
    if carry and phones:  # a stress mark with nothing after it
        phones[-1][1] += carry
    return [tuple(p) for p in phones], unknown


def ipa_intervals(units: Sequence[tuple[str, int]], words: Sequence[str], sample_rate: float,
                  pronunciations: Sequence[Sequence[str]] | None = None, scale: float = 1.0, offset: float = 0.0
                  ) -> tuple[list[Interval], list[Interval], dict[str, int]]:
    """Word and phone intervals (seconds of the rendered audio) from ``[(IPA symbol, samples)]``.

    Args:
        units: every input symbol of the engine with the samples it took, in order, edges
            (``^ $ _`` and Kokoro's pad, given as ``""``) and word boundaries (``" "``) included;
            their samples add up to the engine's audio.
        words: the transcript's words.
        sample_rate: the engine's rate (Hz).
        pronunciations: each word's TIMIT labels; needed only when the spoken word groups
            (symbols between boundaries) are not one per word (then words are found by
            aligning phones, :func:`~.engines.word_spans`).
        scale, offset: a sample at ``t`` s of the engine's audio is at ``offset + t * scale``
            s of the rendered audio.
    Returns:
        ``(words, phones, unknown symbols with counts)``; phones are contiguous from ``offset``.
    """
    # split into leading edge, word groups, trailing edge; boundaries share their samples
    groups: list[list[tuple[str, int]]] = [[]]
    lead = tail = 0
    body = list(units)
    while body and body[0][0] in _EDGES:
        lead += body.pop(0)[1]
    while body and body[-1][0] in _EDGES:
        tail += body.pop()[1]
    pending = 0  # second half of a boundary's samples, for the next group's first phone
    for symbol, samples in body:
        if symbol == _BOUNDARY:
            if groups[-1]:
                half = samples // 2
                last = groups[-1][-1]
                groups[-1][-1] = (last[0], last[1] + half)
                groups.append([])
                pending += samples - half
            else:
                pending += samples
        elif symbol in _EDGES:  # a pad inside the body: its time goes with the symbol before it
            if groups[-1]:
                last = groups[-1][-1]
                groups[-1][-1] = (last[0], last[1] + samples)
            else:
                pending += samples
        else:
            groups[-1].append((symbol, samples + pending))
            pending = 0
    tail += pending
    groups = [g for g in groups if g]
    merged, unknown = [], {}
    for group in groups:
        phones, missing = _merge(group)
        merged.append(phones)
        for key, count in missing.items():
            unknown[key] = unknown.get(key, 0) + count
    seconds = scale / float(sample_rate)
    phone_intervals: list[Interval] = []
    labels: list[str] = []
    position = 0
    if lead:
        phone_intervals.append(Interval(offset, offset + lead * seconds, _PAUSE))
        labels.append(_PAUSE)
        position = lead
    group_of_phone: list[int] = []
    for g, phones in enumerate(merged):
        for label, samples, _ in phones:
            if samples <= 0:
                continue
            phone_intervals.append(Interval(offset + position * seconds, offset + (position + samples) * seconds, label))
            labels.append(label)
            group_of_phone.append(g)
            position += samples
    if tail:
        phone_intervals.append(Interval(offset + position * seconds, offset + (position + tail) * seconds, _PAUSE))
        labels.append(_PAUSE)
    if len(merged) == len(words):
        owners = [None] * (1 if lead else 0) + group_of_phone + [None] * (1 if tail else 0)
    else:
        if pronunciations is None:
            raise ParameterError(f"pronunciations: {len(merged)} spoken word groups for {len(words)} words; "
                                 "give each word's phones to align them")
        owners = word_spans(labels, pronunciations)
    starts: dict[int, float] = {}
    ends: dict[int, float] = {}
    for interval, word in zip(phone_intervals, owners):
        if word is not None:
            starts.setdefault(word, interval.start)
            ends[word] = interval.end
    word_intervals = [Interval(starts[w], ends[w], words[w]) for w in sorted(starts)]
    return word_intervals, phone_intervals, unknown
