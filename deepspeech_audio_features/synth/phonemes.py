"""eSpeak NG's English phoneme mnemonics -> TIMIT's ARPAbet labels; word and phone intervals from eSpeak's events.

The table covers every mnemonic the English voices (``en``, ``en-us``, ``en-us-nyc``,
``en-029``, ``en-gb-*``) produced on the corpus's text; stress marks (``'`` and ``,``)
are dropped first. Labels are TIMIT's 61-phone set (before folding), so the folding to
39 classes is :mod:`~deepspeech_audio_features.speech.phones`'s. Choices worth stating:

* British/Scottish vowels without a TIMIT phone take the nearest American one: ``0``
  (lot) -> ``aa``; centring diphthongs ``i@ I@ IR`` -> ``ih``, ``e@`` -> ``eh``,
  ``U@`` -> ``uh``, ``aI@``/``aU@`` -> ``ay``/``aw``; ``A@``/``O@``/``o@`` (start, north,
  force; the ``r`` is its own mnemonic where pronounced) -> ``aa``/``ao``/``ao``;
* reduced vowels ``@ @2 @5 @- a2`` -> ``ax``, ``I2 I#`` -> ``ix``, ``3`` (ɚ) -> ``axr``,
  ``@L`` (syllabic l) -> ``el``, ``n- m-`` -> ``en em``, flaps ``t# d# *`` -> ``dx``;
* ``;`` is eSpeak's linking glide after a word-final ``i`` before a vowel -> ``y``;
  ``?`` (glottal stop) -> ``q`` (ignored by the 39-class folding); ``x`` -> ``hh``;
* nasal vowels of French words ``A~ O~`` -> ``aa ao``;
* pauses ``_ _: _! _^_ ||`` -> ``pau``.

A mnemonic not in the table is reported (:func:`events_to_intervals` counts it) and
labelled ``spn`` ("spoken noise", as the Montreal Forced Aligner labels what it cannot
name), which the folding ignores; it is never dropped silently.

No TensorFlow here.
"""
from __future__ import annotations

from typing import Sequence

from ..infra.errors import ESpeakError
from ..speech.alignments import Interval
from .espeak import SpeechEvent

__all__ = ["ESPEAK_TO_TIMIT", "UNKNOWN_LABEL", "Interval", "espeak_to_timit", "events_to_intervals"]

UNKNOWN_LABEL = "spn"
_PAUSE = "pau"
ESPEAK_TO_TIMIT: dict[str, str] = {
    # consonants
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "g", "f": "f", "v": "v", "s": "s", "z": "z",
    "h": "hh", "m": "m", "n": "n", "N": "ng", "l": "l", "r": "r", "w": "w", "j": "y", "T": "th", "D": "dh",
    "S": "sh", "Z": "zh", "tS": "ch", "dZ": "jh", "t#": "dx", "d#": "dx", "*": "dx", "t[": "t", "t2": "t",
    "d2": "d", "r-": "r", "w#": "w", "x": "hh", "?": "q", "n-": "en", "m-": "em", "l/": "l", "l#": "l",
    "@L": "el", "z/": "z", "s2": "s", ";": "y", "C": "hh", "j2": "y",
    # vowels
    "a": "ae", "a#": "ae", "aa": "aa", "A:": "aa", "A@": "aa", "A": "aa", "0": "aa", "0#": "aa", "O:": "ao",
    "O@": "ao", "o@": "ao", "O2": "ao", "O": "ao", "OI": "oy", "oU": "ow", "o:": "ow", "o": "ow", "@": "ax",
    "@2": "ax", "@5": "ax", "@-": "ax", "a2": "ax", "3": "axr", "3:": "er", "VR": "er", "V": "ah", "E": "eh",
    "e@": "eh", "e": "eh", "eI": "ey", "I": "ih", "I2": "ix", "I#": "ix", "IR": "ih", "i": "iy", "i:": "iy",
    "i@": "ih", "i@3": "ih", "I@": "ih", "U": "uh", "U@": "uh", "u:": "uw", "u": "uw", "aI": "ay", "aI@": "ay",
    "aI2": "ay", "aI3": "ay", "aU": "aw", "aU@": "aw", "A~": "aa", "O~": "ao", "eI@": "ey", "OI@": "oy", "oU#": "ow",
    # pauses
    "_": _PAUSE, "_:": _PAUSE, "_!": _PAUSE, "_^_": _PAUSE, "||": _PAUSE,
}


def espeak_to_timit(mnemonic: str) -> str | None:
    """TIMIT label of an eSpeak mnemonic (stress marks dropped); ``None`` if the table lacks it."""
    return ESPEAK_TO_TIMIT.get(mnemonic.lstrip("',"))


def events_to_intervals(events: Sequence[SpeechEvent], text: str, n_native: int, native_rate: float,
                        speed: float = 1.0, offset: float = 0.0
                        ) -> tuple[list[Interval], list[Interval], list[Interval], dict[str, int]]:
    """Word and phone intervals, in seconds of the rendered audio, from eSpeak's events.

    A native sample ``n`` lands at ``offset + n / (native_rate * speed)`` seconds: the
    render resamples the native audio as if it had been recorded at ``native_rate * speed``
    (:meth:`~.espeak.ESpeakSynthesizer.resample`; soxr compensates its filter delay) and
    pads ``offset`` seconds of silence before it.

    Phones are contiguous: each lasts until the next phoneme starts (the last one until
    sample ``n_native``). eSpeak sometimes starts a word a little before its first
    phoneme (a stop's closure after a pause); that stretch is given to the first phone
    (the pause before it ends at the word's start). A word lasts from its event to the
    start of the first pause phone after it, or the next word, or the end.

    Args:
        events: as :meth:`~.espeak.ESpeakSynthesizer.synthesize_native_aligned` returns them.
        text: the text spoken (words are its ``[text_start, text_start + text_length)`` slices).
        n_native: samples of the native audio.
    Returns:
        ``(words, phones, espeak, unknown)``: word intervals labelled with the text's word,
        phone intervals with TIMIT labels (``pau`` for pauses, ``spn`` for an unknown
        mnemonic), the same intervals with eSpeak's mnemonics, and ``{mnemonic: count}``
        of the unknown ones.
    Raises:
        ESpeakError: events out of order or beyond the audio.
    """
    scale = 1.0 / (native_rate * speed)
    phones = [e for e in events if e.kind == "phoneme"]
    words = [e for e in events if e.kind == "word"]
    samples = [e.sample for e in events]
    if any(b < a for a, b in zip(samples, samples[1:])) or (samples and (samples[0] < 0 or samples[-1] > n_native)):
        raise ESpeakError(f"eSpeak's events are out of order or beyond the audio ({n_native} samples) for {text!r}")
    starts = [p.sample for p in phones]
    # a word that starts before its first phoneme moves that phoneme's start back
    for w in words:
        following = [i for i, p in enumerate(phones) if p.sample >= w.sample]
        if not following or phones[following[0]].name.startswith("_"):
            continue
        i = following[0]
        if i == 0 or (starts[i - 1] < w.sample and phones[i - 1].name.startswith("_")):
            starts[i] = w.sample
    ends = starts[1:] + [n_native]
    timit, espeak, unknown = [], [], {}
    for p, s, e in zip(phones, starts, ends):
        if e <= s:
            continue  # a zero-length phoneme (eSpeak emits some at the end of a clause)
        label = espeak_to_timit(p.name)
        if label is None:
            unknown[p.name] = unknown.get(p.name, 0) + 1
            label = UNKNOWN_LABEL
        timit.append(Interval(offset + s * scale, offset + e * scale, label))
        espeak.append(Interval(offset + s * scale, offset + e * scale, p.name))
    word_intervals = []
    for k, w in enumerate(words):
        end = words[k + 1].sample if k + 1 < len(words) else n_native
        pauses = [s for p, s in zip(phones, starts) if w.sample < s < end and p.name.startswith("_")]
        end = min(pauses, default=end)
        label = text[w.text_start:w.text_start + w.text_length]
        if end > w.sample and label.strip():
            word_intervals.append(Interval(offset + w.sample * scale, offset + end * scale, label))
    return word_intervals, timit, espeak, unknown
