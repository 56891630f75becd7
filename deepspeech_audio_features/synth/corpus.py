"""A synthesized English speech corpus in DeepSpeech's CSV format, made with eSpeak NG.

The corpus trains (and tests) a small DeepSpeech-architecture recognizer without any
downloaded speech data. Everything comes from installed packages:

* speech: libespeak-ng and its data from the ``espeakng-loader`` wheel, driven through
  ``ctypes`` (:class:`ESpeakSynthesizer`); no system package;
* speakers: the English voices (accents) in ``espeak-ng-data/lang/gmw`` combined with
  the voice variants in ``espeak-ng-data/voices/!v`` (``"en-us+m3"``), with randomized
  rate, pitch, pitch range and word gap;
* text: the ~20k most frequent English words of ``wordfreq`` (Zipf-weighted sampling,
  flattened so rare words still occur), simple template sentences and numbers spelled
  out by ``num2words``; only the 28 alphabet symbols;
* augmentation: speed perturbation (0.9-1.1 by resampling), random level, white or pink
  noise at 10-40 dB SNR (a quarter of the utterances stay clean), silence padding.

Held-out design (see :func:`synthesize_corpus`): train, dev and test use pairwise
disjoint sets of ``!v`` voice variants and pairwise disjoint sets of transcripts; the
base accents (en-us, en-029, ...) and the vocabulary are shared by all splits.

Determinism: every utterance's text, voice and augmentation are drawn from
``numpy.random.default_rng([seed, tag, index])`` in the parent before dispatch, and every
utterance is synthesized in a freshly forked copy of an initialized worker, because
libespeak-ng keeps pitch-flutter phase, gain control and filter states in static
variables that survive re-initialization (the same text synthesized twice in one
process differs otherwise). The corpus is therefore byte-identical for a seed,
whatever the number of workers.

No TensorFlow here.
"""
from __future__ import annotations

import csv
import ctypes
import ctypes.util
import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import selectors
import shutil
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import soundfile as sf
import soxr

from ..infra.atomic import atomic_write
from ..infra.errors import ESpeakError
from ..speech.alphabet import ALPHABET, normalize_text
from ..speech.audio import write_wav
from ..speech.frames import SAMPLE_RATE

__all__ = [
    "CORPUS_VERSION",
    "CSV_HEADER",
    "ESpeakError",
    "ESpeakSynthesizer",
    "UtteranceSpec",
    "add_noise",
    "build_vocabulary",
    "list_english_voices",
    "list_voice_variants",
    "make_text",
    "pink_noise",
    "plan_corpus",
    "read_corpus_csv",
    "render_utterance",
    "split_voice_variants",
    "synthesize_corpus",
]

#: Bump when the recipe changes, so a re-run never reuses wavs made by another recipe.
CORPUS_VERSION = 1
CSV_HEADER = ("wav_filename", "wav_filesize", "transcript")
SPLITS = ("train", "dev", "test")

# ---------------------------------------------------------------------------
# eSpeak NG through ctypes (values from espeak-ng's speak_lib.h, API revision 12)
# ---------------------------------------------------------------------------
AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: like RETRIEVAL, but Synth returns when done
POS_CHARACTER = 1  # espeak_POSITION_TYPE
espeakCHARS_UTF8 = 1
EE_OK = 0
espeakRATE, espeakVOLUME, espeakPITCH, espeakRANGE, espeakWORDGAP = 1, 2, 3, 4, 7
RATE_MIN, RATE_MAX = 80, 450  # espeakRATE_MINIMUM / _MAXIMUM, words per minute

# int SynthCallback(short *wav, int numsamples, espeak_EVENT *events); 0 = continue
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)




def _default_paths() -> tuple[str, str]:
    import espeakng_loader  # imported here: only processes that synthesize need it

    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


def list_voice_variants(data_path: str | os.PathLike | None = None) -> list[str]:
    """Names of the voice variants in ``espeak-ng-data/voices/!v`` (sorted), e.g. ``["Alex", ..., "m3", ...]``.

    A variant is appended to a language voice with ``+``: ``"en-us+m3"``.
    """
    data_path = Path(data_path or _default_paths()[1])
    folder = data_path / "voices" / "!v"
    return sorted(p.name for p in folder.iterdir() if p.is_file() and "+" not in p.name)


def list_english_voices(data_path: str | os.PathLike | None = None) -> list[str]:
    """English voice (accent) names found in ``espeak-ng-data/lang/gmw``, lower-cased and sorted.

    Typically ``en`` (British), ``en-029``, ``en-gb-scotland``, ``en-gb-x-gbclan``,
    ``en-gb-x-gbcwmd``, ``en-gb-x-rp``, ``en-us``, ``en-us-nyc``. ``en-Shaw`` (Shavian
    script) is left out: it expects another writing system.
    """
    data_path = Path(data_path or _default_paths()[1])
    names = [p.name.lower() for p in (data_path / "lang" / "gmw").iterdir() if p.is_file()]
    return sorted(n for n in names if (n == "en" or n.startswith("en-")) and n != "en-shaw")


class ESpeakSynthesizer:
    """libespeak-ng driven through ``ctypes``; one instance per process.

    The library keeps global state, so constructing this class again in the same
    process returns the same object (a forked child gets its own copy of the state).
    Calls are serialized with a lock.

    Attributes:
        native_rate: the rate eSpeak synthesizes at, in Hz (22050 for these voices).
        version: the libespeak-ng version string, e.g. ``"1.52.0"``.
        data_path: the ``espeak-ng-data`` folder in use.
    """

    _instance: "ESpeakSynthesizer | None" = None
    _instance_pid: int | None = None
    _instance_lock = threading.Lock()

    def __new__(cls, library_path: str | None = None, data_path: str | None = None):
        with cls._instance_lock:
            if cls._instance is None or cls._instance_pid != os.getpid():
                obj = super().__new__(cls)
                obj._initialize(library_path, data_path)
                cls._instance, cls._instance_pid = obj, os.getpid()
            elif data_path is not None and os.path.abspath(data_path) != cls._instance.data_path:
                raise ESpeakError(
                    f"libespeak-ng is already initialized with {cls._instance.data_path} in this process"
                )
            return cls._instance

    def _initialize(self, library_path: str | None, data_path: str | None) -> None:
        if library_path is None or data_path is None:
            default_lib, default_data = _default_paths()
            library_path, data_path = library_path or default_lib, data_path or default_data
        self.data_path = os.path.abspath(data_path)
        try:
            lib = ctypes.CDLL(library_path)
        except OSError as err:
            raise ESpeakError(f"cannot load libespeak-ng from {library_path}: {err}") from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.espeak_Info.restype = ctypes.c_char_p
        # Breath and consonant noise use eSpeak's own generator and libc rand(): both are
        # seeded before every utterance so a seed fixes the audio.
        self._set_rand_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._set_rand_seed is not None:
            self._set_rand_seed.argtypes = [ctypes.c_long]
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        self._srand = libc.srand
        self._srand.argtypes = [ctypes.c_uint]
        self._srand.restype = None

        rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), 0)
        if rate <= 0:
            raise ESpeakError(f"espeak_Initialize failed with data at {self.data_path}")
        self.native_rate: int = rate
        self.version: str = lib.espeak_Info(None).decode()
        self._lib = lib
        self._chunks: list[bytes] = []
        self._callback = _SYNTH_CALLBACK(self._on_audio)  # kept alive: the library holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()
        self._voice: str | None = None

    def _on_audio(self, wav, numsamples, events) -> int:
        if wav and numsamples > 0:
            self._chunks.append(ctypes.string_at(wav, numsamples * 2))
        return 0

    def _set_voice(self, voice: str) -> None:
        if voice != self._voice:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
                raise ESpeakError(f"eSpeak has no voice {voice!r}")
            self._voice = voice

    def phonemes(self, text: str, voice: str = "en-us") -> str:
        """eSpeak's phoneme mnemonics for ``text`` (clauses joined by spaces), without speaking it."""
        with self._lock:
            self._set_voice(voice)
            ptr = ctypes.c_char_p(text.encode())
            out = []
            while ptr.value:  # the library advances ptr clause by clause, NULL at the end
                out.append(self._lib.espeak_TextToPhonemes(ctypes.byref(ptr), espeakCHARS_UTF8, 0).decode())
            return " ".join(out)

    def _speak(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int,
               word_gap: int, volume: int, seed: int) -> bytes:
        lib = self._lib
        self._voice = None  # a voice change resets parameters: always select it again
        self._set_voice(voice)
        for param, value in ((espeakRATE, rate), (espeakVOLUME, volume), (espeakPITCH, pitch),
                             (espeakRANGE, pitch_range), (espeakWORDGAP, word_gap)):
            if lib.espeak_SetParameter(param, int(value), 0) != EE_OK:
                raise ESpeakError(f"espeak_SetParameter({param}, {value}) failed")
        if self._set_rand_seed is not None:
            self._set_rand_seed(int(seed))
        self._srand(int(seed) & 0xFFFFFFFF)
        data = text.encode("utf-8") + b"\0"
        self._chunks = []
        err = lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, espeakCHARS_UTF8, None, None)
        if err != EE_OK:
            raise ESpeakError(f"espeak_Synth failed with code {err} for {text!r}")
        lib.espeak_Synchronize()
        audio, self._chunks = b"".join(self._chunks), []
        return audio

    def _speak_isolated(self, *args) -> bytes:
        # A forked child starts from this process's state, so its output does not depend
        # on what was synthesized before (eSpeak's static pitch-flutter phase, AGC, ...).
        # Reply on the pipe: b"A" + int16 samples, or b"E" + an error message.
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: speak, reply, leave without running Python cleanup
            try:
                os.close(read_fd)
                try:
                    reply = b"A" + self._speak(*args)
                except BaseException as err:  # noqa: BLE001 - any failure goes back to the parent
                    reply = b"E" + f"{type(err).__name__}: {err}".encode("utf-8", "replace")
                with os.fdopen(write_fd, "wb") as pipe:
                    pipe.write(reply)
            finally:
                os._exit(0)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            reply = pipe.read()
        _, status = os.waitpid(pid, 0)
        if reply[:1] == b"E":
            raise ESpeakError(reply[1:].decode("utf-8", "replace"))
        if status != 0 or reply[:1] != b"A":
            raise ESpeakError(f"eSpeak child process failed (wait status {status}) for {args[0]!r}")
        return reply[1:]

    def synthesize_native(self, text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
                          pitch_range: int = 50, word_gap: int = 0, volume: int = 100, seed: int = 0,
                          isolated: bool = True) -> np.ndarray:
        """Speak ``text``; returns int16 samples ``[N]`` at :attr:`native_rate`.

        Args:
            text: UTF-8 text (plain, no SSML).
            voice: an eSpeak voice name, optionally with a variant: ``"en-us+m3"``.
            rate: words per minute, 80-450 (175 normal).
            pitch: base pitch 0-100 (50 normal).
            pitch_range: pitch range 0-100 (0 monotone, 50 normal).
            word_gap: extra pause between words in units of 10 ms.
            volume: 0-200 (100 normal; eSpeak's own gain control avoids overflow).
            seed: seeds eSpeak's noise generators for this utterance.
            isolated: synthesize in a forked child (POSIX), so the result depends only on
                the arguments and not on earlier calls in this process. Without fork
                support it falls back to in-process synthesis.
        """
        args = (text, voice, int(np.clip(rate, RATE_MIN, RATE_MAX)), int(pitch), int(pitch_range),
                int(word_gap), int(volume), int(seed))
        with self._lock:
            raw = self._speak_isolated(*args) if isolated and hasattr(os, "fork") else self._speak(*args)
        return np.frombuffer(raw, dtype=np.int16).copy()

    def synthesize(self, text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
                   pitch_range: int = 50, word_gap: int = 0, volume: int = 100, seed: int = 0,
                   speed: float = 1.0, isolated: bool = True) -> np.ndarray:
        """Speak ``text``; returns float32 samples ``[N]`` in [-1, 1) at 16 kHz.

        ``speed`` > 1 makes the speech faster and higher (resampling, like Kaldi's speed
        perturbation): the native audio is treated as if recorded at ``native_rate * speed``.
        The other arguments are those of :meth:`synthesize_native`.
        """
        pcm = self.synthesize_native(text, voice, rate, pitch, pitch_range, word_gap, volume, seed, isolated)
        audio = pcm.astype(np.float32) / 32768.0
        if audio.size == 0:
            return audio
        return soxr.resample(audio, self.native_rate * float(speed), SAMPLE_RATE, quality="HQ").astype(np.float32)


# ---------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------
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


def _pick(rng: np.random.Generator, items: Sequence[str]) -> str:
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
        return f"{_pick(rng, _SUBJECTS)} {_pick(rng, _VERBS_PAST)} the {_pick(rng, _ADJECTIVES)} {_pick(rng, _NOUNS)}"
    if k == 1:
        return f"the {_pick(rng, _NOUNS)} is {_pick(rng, _PLACES)}"
    if k == 2:
        return f"{_pick(rng, _SUBJECTS)} {_pick(rng, _VERBS_PAST)} {_a(_pick(rng, _NOUNS))} {_pick(rng, _TIMES)}"
    if k == 3:
        return f"please {_pick(rng, _VERBS_BASE)} the {_pick(rng, _NOUNS)} {_pick(rng, _PLACES)}"
    if k == 4:
        return f"can you {_pick(rng, _VERBS_BASE)} my {_pick(rng, _ADJECTIVES)} {_pick(rng, _NOUNS)} {_pick(rng, _TIMES)}"
    if k == 5:
        return f"the {_pick(rng, _ADJECTIVES)} {_pick(rng, _NOUNS)} was {_pick(rng, _ADJECTIVES)}"
    if k == 6:
        return f"{_pick(rng, _SUBJECTS)} did not {_pick(rng, _VERBS_BASE)} the {_pick(rng, _NOUNS)}"
    return f"where is the {_pick(rng, _ADJECTIVES)} {_pick(rng, _NOUNS)}"


def _number_sentence(rng: np.random.Generator) -> str:
    k = int(rng.integers(6))
    if k == 0:
        return f"{_number_words(_random_count(rng))} {_pick(rng, _UNITS)}"
    if k == 1:
        return f"{_pick(rng, _SUBJECTS)} {_pick(rng, _VERBS_PAST)} {_number_words(_random_count(rng))} {_pick(rng, _UNITS)}"
    if k == 2:
        day = int(rng.integers(1, 32))
        return f"on the {_number_words(day, 'ordinal')} of {_pick(rng, _MONTHS)}"
    if k == 3:
        return f"in {_number_words(int(rng.integers(1900, 2031)), 'year')}"
    if k == 4:  # digit strings, as in phone numbers
        return " ".join(_number_words(int(d)) for d in rng.integers(0, 10, size=int(rng.integers(3, 8))))
    return f"{_number_words(int(rng.integers(1, 100)))} dollars and {_number_words(int(rng.integers(1, 100)))} cents"


def _word_sequence(rng: np.random.Generator, vocab: Sequence[str], cdf: np.ndarray) -> str:
    n = int(np.clip(round(rng.normal(5.5, 2.2)), 2, 10))
    idx = np.searchsorted(cdf, rng.random(n), side="right")
    return " ".join(vocab[min(int(i), len(vocab) - 1)] for i in idx)


def _word_cdf(n: int) -> np.ndarray:
    # Zipf-like weights flattened (exponent 0.75, rank offset 20): frequent words are
    # favoured but a 15k-utterance corpus still meets most of the 20k words.
    w = (np.arange(n, dtype=np.float64) + 20.0) ** -0.75
    cdf = np.cumsum(w)
    return cdf / cdf[-1]


def make_text(rng: np.random.Generator, vocab: Sequence[str], cdf: np.ndarray | None = None) -> str:
    """One transcript of 2-10 words over the alphabet: 60% word sequences, 25% template
    sentences, 15% phrases with spelled-out numbers."""
    cdf = _word_cdf(len(vocab)) if cdf is None else cdf
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


# ---------------------------------------------------------------------------
# Augmentation
# ---------------------------------------------------------------------------
def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f power) noise ``[n]`` float32 with unit RMS, shaped from white noise in the FFT domain."""
    if n <= 0:
        return np.zeros(0, np.float32)
    n_fft = 1 << max(0, (n - 1).bit_length())  # a power of two: fast whatever n is
    spectrum = np.fft.rfft(rng.standard_normal(n_fft))
    freqs = np.arange(spectrum.shape[0], dtype=np.float64)
    freqs[0] = 1.0  # keep DC finite
    noise = np.fft.irfft(spectrum / np.sqrt(freqs), n_fft)[:n]
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, color: str, rng: np.random.Generator,
              reference: np.ndarray | None = None) -> np.ndarray:
    """Add white or pink noise at ``snr_db`` dB below the power of ``reference`` (default: ``samples``).

    Args:
        samples: float32 ``[N]``.
        snr_db: signal-to-noise ratio in dB.
        color: ``"white"`` or ``"pink"``.
        rng: the noise source.
        reference: the speech whose power sets the noise level (e.g. without padding).
    Returns:
        float32 ``[N]``.
    """
    ref = samples if reference is None else reference
    power = float(np.mean(np.square(ref, dtype=np.float64))) if ref.size else 0.0
    if power <= 0.0:
        return samples.astype(np.float32)
    if color == "white":
        noise = rng.standard_normal(samples.shape[0]).astype(np.float32)
    elif color == "pink":
        noise = pink_noise(samples.shape[0], rng)
    else:
        raise ValueError(f"unknown noise color {color!r}")
    scale = math.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (samples + scale * noise).astype(np.float32)


# ---------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class UtteranceSpec:
    """Everything needed to render one utterance; drawn from ``(seed, index)`` before dispatch.

    Units: ``rate`` words/min; ``pitch``, ``pitch_range`` eSpeak 0-100; ``word_gap`` 10 ms;
    ``speed`` factor (>1 faster); ``peak_db`` dBFS of the speech peak; ``snr_db`` dB
    (``noise`` is ``"none"``, ``"white"`` or ``"pink"``); ``pad_start``/``pad_end`` seconds.
    """

    index: int
    split: str
    wav: str  # relative to the corpus folder
    transcript: str
    voice: str
    rate: int
    pitch: int
    pitch_range: int
    word_gap: int
    speed: float
    peak_db: float
    noise: str
    snr_db: float | None
    pad_start: float
    pad_end: float
    seed: int


# Tags separate the random streams of (seed, index) used for different purposes.
_TAG_SPLIT_VOICES, _TAG_UTTERANCE, _TAG_MIXED_VOICE = 7001, 7002, 7003
#: Share of the voice variants held out for test and for dev (each at least one).
TEST_VARIANT_FRACTION, DEV_VARIANT_FRACTION = 0.12, 0.08


def split_voice_variants(variants: Sequence[str], seed: int) -> dict[str, list[str]]:
    """Partition the ``!v`` variants into disjoint train/dev/test sets (seeded shuffle)."""
    variants = sorted(variants)
    if len(variants) < 3:
        raise ValueError(f"need at least 3 voice variants to hold some out, found {len(variants)}")
    order = np.random.default_rng([seed, _TAG_SPLIT_VOICES]).permutation(len(variants))
    shuffled = [variants[i] for i in order]
    n_test = max(1, round(TEST_VARIANT_FRACTION * len(variants)))
    n_dev = max(1, round(DEV_VARIANT_FRACTION * len(variants)))
    return {
        "test": sorted(shuffled[:n_test]),
        "dev": sorted(shuffled[n_test:n_test + n_dev]),
        "train": sorted(shuffled[n_test + n_dev:]),
    }


# Groups of lines of a voice variant file that a mixed voice takes from one donor each. Pitch
# and gender travel with the formants, so a voice keeps a plausible pitch for its vocal tract.
_VARIANT_GROUPS = {
    "formants": ("formant", "pitch", "gender"),
    "tone": ("tone",),
    "echo": ("echo",),
    "source": ("voicing", "consonants", "klatt"),
    "noise": ("flutter", "roughness", "breath", "breathw"),
}


def _variant_lines(data_path: Path, variant: str) -> dict[str, list[str]]:
    """The lines of ``voices/!v/<variant>`` per group of :data:`_VARIANT_GROUPS` (comments dropped)."""
    groups: dict[str, list[str]] = {g: [] for g in _VARIANT_GROUPS}
    for line in (data_path / "voices" / "!v" / variant).read_text(encoding="utf-8", errors="replace").splitlines():
        words = line.split("//")[0].split()
        for group, keys in _VARIANT_GROUPS.items():
            if words and words[0] in keys:
                groups[group].append(" ".join(words))
    return groups


def mix_voice_variants(donors: Sequence[str], n: int, seed: int,
                       data_path: str | os.PathLike | None = None) -> dict[str, str]:
    """New eSpeak voice variants recombined from ``donors`` (more speakers for training).

    Each mixed voice takes its formants (with pitch and gender), equalizer (``tone``),
    ``echo``, voice source (voicing, consonants, Klatt) and source noise (flutter,
    roughness, breath) from independently drawn donors, then scales every formant
    frequency by one factor in 0.92-1.08 (vocal tract length) times its own in 0.96-1.04.
    Only ``donors`` are read, so held-out variants stay unheard.

    Args:
        donors: variant names in ``voices/!v`` (e.g. the train split's).
        n: voices to make, named ``mix0000``, ``mix0001``, ...
        seed: with the donors, fixes every voice.
    Returns:
        ``{name: variant file text}``; see :func:`espeak_data_with_variants`.
    """
    data_path = Path(data_path or _default_paths()[1])
    donors = sorted(donors)
    if not donors:
        raise ValueError("mixing voices needs at least one donor variant")
    if n <= 0:
        return {}
    lines = {d: _variant_lines(data_path, d) for d in donors}
    voices = {}
    for i in range(n):
        rng = np.random.default_rng([seed, _TAG_MIXED_VOICE, i])
        name = f"mix{i:04d}"
        out = ["language variant", f"name {name}"]
        tract = rng.uniform(0.92, 1.08)
        for group in _VARIANT_GROUPS:
            donor = donors[int(rng.integers(len(donors)))]
            for line in lines[donor][group]:
                words = line.split()
                if words[0] == "formant" and len(words) >= 3:
                    words[2] = str(max(1, round(float(words[2]) * tract * rng.uniform(0.96, 1.04))))
                out.append(" ".join(words))
        voices[name] = "\n".join(out) + "\n"
    return voices


_ESPEAK_MAX_VOICES = 349  # N_VOICES_LIST - 1 in libespeak-ng 1.52: voices beyond it are dropped silently


def espeak_data_with_variants(target: str | os.PathLike, variants: dict[str, str],
                              data_path: str | os.PathLike | None = None) -> Path:
    """An ``espeak-ng-data`` folder at ``target`` that also holds ``variants`` in ``voices/!v``.

    Everything else links to the installed data (a few kB on disk), except that ``lang``
    keeps only ``gmw`` (West Germanic, which holds the English voices): eSpeak lists at
    most 349 voices and silently drops the rest, and the other languages' 128 files would
    leave room for only about 100 mixed voices. Rebuilt when its variants differ from
    ``variants``; returns the folder, for :class:`ESpeakSynthesizer`.

    Raises:
        ValueError: more voices than eSpeak can list, or a name of an installed variant.
    """
    source, target = Path(data_path or _default_paths()[1]).resolve(), Path(target)
    manifest = json.dumps({"source": str(source), "variants": variants}, sort_keys=True)
    if (target / "mixed_voices.json").exists() and (target / "mixed_voices.json").read_text() == manifest:
        return target
    staging = target.with_name(target.name + f".tmp{os.getpid()}")
    if staging.exists():
        shutil.rmtree(staging)
    listed = sum(1 for _ in (source / "lang" / "gmw").rglob("*") if _.is_file())
    listed += sum(1 for _ in (source / "voices").rglob("*") if _.is_file()) + len(variants)
    if listed > _ESPEAK_MAX_VOICES:
        raise ValueError(f"{len(variants)} mixed voices make {listed} eSpeak voices; it lists at most "
                         f"{_ESPEAK_MAX_VOICES} (use at most {len(variants) - listed + _ESPEAK_MAX_VOICES})")
    clash = sorted(set(variants) & {p.name for p in (source / "voices" / "!v").iterdir()})
    if clash:
        raise ValueError(f"mixed voice {clash[0]!r} would replace an installed variant")
    (staging / "voices" / "!v").mkdir(parents=True)
    (staging / "lang").mkdir()
    (staging / "lang" / "gmw").symlink_to(source / "lang" / "gmw")
    for entry in source.iterdir():
        if entry.name not in ("voices", "lang"):
            (staging / entry.name).symlink_to(entry)
    for entry in (source / "voices").iterdir():
        if entry.name != "!v":
            (staging / "voices" / entry.name).symlink_to(entry)
    for entry in (source / "voices" / "!v").iterdir():
        (staging / "voices" / "!v" / entry.name).symlink_to(entry)
    for name, text in variants.items():
        (staging / "voices" / "!v" / name).write_text(text, encoding="utf-8")
    (staging / "mixed_voices.json").write_text(manifest)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return target


def _split_sizes(n: int, dev_fraction: float, test_fraction: float) -> dict[str, int]:
    if not (0 <= dev_fraction < 1 and 0 <= test_fraction < 1):
        raise ValueError("dev_fraction and test_fraction must be in [0, 1)")
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    n_dev = max(1, round(n * dev_fraction)) if dev_fraction > 0 else 0
    n_train = n - n_test - n_dev
    if n_train < 1:
        raise ValueError(f"{n} utterances leave none for train with dev={n_dev}, test={n_test}")
    return {"train": n_train, "dev": n_dev, "test": n_test}


def plan_corpus(n_utterances: int, seed: int = 0, dev_fraction: float = 0.05, test_fraction: float = 0.05,
                vocab: Sequence[str] | None = None, base_voices: Sequence[str] | None = None,
                variants: Sequence[str] | None = None, mixed_variants: Sequence[str] = (),
                extra_train: int = 0) -> list[UtteranceSpec]:
    """Draw every utterance's text, voice and augmentation; no audio is made.

    Indices ``[0, n_train)`` are train, then dev, then test. Test transcripts are drawn
    first, then dev transcripts (redrawn while equal to a test one), then train
    transcripts (redrawn while equal to a dev or test one), so the three splits share
    no sentence. Each split draws its voice variant from its own disjoint set
    (:func:`split_voice_variants`); the base English voices are shared. ``mixed_variants``
    (from :func:`mix_voice_variants`) join the train set only; dev and test, every
    transcript and every other draw stay exactly as without them. ``extra_train`` more
    train utterances follow at indices ``n_utterances, ...``, each with a sentence that
    occurs nowhere else; the first ``n_utterances`` are exactly those of a plan without them.
    """
    if n_utterances < 1:
        raise ValueError("n_utterances must be >= 1")
    vocab = build_vocabulary() if vocab is None else vocab
    cdf = _word_cdf(len(vocab))
    base_voices = list(base_voices or list_english_voices())
    split_variants = split_voice_variants(variants or list_voice_variants(), seed)
    split_variants["train"] = split_variants["train"] + list(mixed_variants)
    sizes = _split_sizes(n_utterances, dev_fraction, test_fraction)
    starts = {"train": 0, "dev": sizes["train"], "test": sizes["train"] + sizes["dev"]}
    width = max(6, len(str(n_utterances + extra_train - 1)))
    held_out: set[str] = set()
    specs: dict[int, UtteranceSpec] = {}
    def draw(index: int, split: str) -> UtteranceSpec:
        rng = np.random.default_rng([seed, _TAG_UTTERANCE, index])
        text = make_text(rng, vocab, cdf)
        while text in held_out:
            text = make_text(rng, vocab, cdf)
        noisy = rng.random() >= 0.25
        return UtteranceSpec(
            index=index,
            split=split,
            wav=f"wav/{index:0{width}d}.wav",
            transcript=text,
            voice=f"{_pick(rng, base_voices)}+{_pick(rng, split_variants[split])}",
            rate=int(rng.integers(135, 226)),
            pitch=int(rng.integers(20, 81)),
            pitch_range=int(rng.integers(20, 91)),
            word_gap=int(rng.integers(1, 6)) if rng.random() < 0.3 else 0,
            speed=round(float(rng.uniform(0.9, 1.1)), 4),
            peak_db=round(float(rng.uniform(-18.0, -1.0)), 2),
            noise=str(rng.choice(["white", "pink"])) if noisy else "none",
            snr_db=round(float(rng.uniform(10.0, 40.0)), 2) if noisy else None,
            pad_start=round(float(rng.uniform(0.05, 0.35)), 3),
            pad_end=round(float(rng.uniform(0.05, 0.35)), 3),
            seed=int(rng.integers(1, 2**31 - 1)),
        )

    for split in ("test", "dev", "train"):  # held-out texts first, so train can avoid them
        split_texts: set[str] = set()
        for index in range(starts[split], starts[split] + sizes[split]):
            specs[index] = draw(index, split)
            split_texts.add(specs[index].transcript)
        held_out |= split_texts
    for index in range(n_utterances, n_utterances + extra_train):  # new sentences only
        specs[index] = draw(index, "train")
        held_out.add(specs[index].transcript)
    return [specs[i] for i in range(n_utterances + extra_train)]


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------
def render_utterance(spec: UtteranceSpec, synth: ESpeakSynthesizer | None = None) -> np.ndarray:
    """Synthesize and augment one utterance; returns float32 ``[N]`` at 16 kHz in [-1, 1).

    Order: eSpeak (isolated, seeded) -> speed change and resampling to 16 kHz ->
    level so the speech peak is ``peak_db`` dBFS -> silence padding -> noise at
    ``snr_db`` relative to the speech (padding excluded) -> scaled down if it would clip.
    """
    synth = synth or ESpeakSynthesizer()
    speech = synth.synthesize(spec.transcript, spec.voice, spec.rate, spec.pitch, spec.pitch_range,
                              spec.word_gap, seed=spec.seed, speed=spec.speed, isolated=True)
    peak = float(np.max(np.abs(speech))) if speech.size else 0.0
    if peak <= 0.0:
        raise ESpeakError(f"eSpeak produced silence for {spec.transcript!r} with voice {spec.voice!r}")
    speech = speech * np.float32(10.0 ** (spec.peak_db / 20.0) / peak)
    pad0, pad1 = int(round(spec.pad_start * SAMPLE_RATE)), int(round(spec.pad_end * SAMPLE_RATE))
    audio = np.concatenate([np.zeros(pad0, np.float32), speech, np.zeros(pad1, np.float32)])
    if spec.noise != "none" and spec.snr_db is not None:
        audio = add_noise(audio, spec.snr_db, spec.noise, np.random.default_rng(spec.seed), reference=speech)
    top = float(np.max(np.abs(audio)))
    if top > 0.99:
        audio *= np.float32(0.99 / top)
    return audio.astype(np.float32)


def _render_job(spec: UtteranceSpec, out_dir: str | os.PathLike) -> tuple[int, int, int]:
    """Render ``spec`` into ``out_dir``; returns ``(index, file bytes, frames)``."""
    audio = render_utterance(spec)
    path = Path(out_dir) / spec.wav
    write_wav(path, audio, SAMPLE_RATE)
    return spec.index, path.stat().st_size, int(audio.shape[0])


# Worker processes are plain interpreters started with subprocess, not multiprocessing:
# multiprocessing's spawn re-imports the caller's __main__ and this package's
# __init__, which imports TensorFlow (about 4 s and 600 MB per worker, and a fork of
# such a process costs 11 ms instead of 0.5 ms, once per utterance). The bootstrap
# registers the top package without running its __init__ and imports only this module
# (and the TensorFlow-free modules it needs).
_WORKER_BOOTSTRAP = """
import sys, types, importlib
name, folder, data_path = sys.argv[1], sys.argv[2], sys.argv[3] or None
if name not in sys.modules:
    package = types.ModuleType(name)
    package.__path__ = [folder]
    package.__package__ = name
    sys.modules[name] = package
importlib.import_module(name + ".synth.corpus")._worker_main(data_path)
"""
#: Jobs queued per worker, so a worker never waits for the parent.
_WORKER_QUEUE_DEPTH = 4


def _worker_main(data_path: str | None = None) -> None:
    """Worker loop: one JSON job per stdin line, one JSON reply per line on the original stdout."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # stray prints (Python or C) go to stderr instead of corrupting replies
    sys.stdout = sys.stderr
    synth = ESpeakSynthesizer(data_path=data_path)  # initialized once, never speaks itself: forked children do
    protocol.write(json.dumps({"ready": synth.version}) + "\n")
    for line in sys.stdin:
        job = json.loads(line)
        spec = UtteranceSpec(**job["spec"])
        try:
            index, size, frames = _render_job(spec, job["out_dir"])
            reply = {"index": index, "size": size, "frames": frames}
        except Exception:  # reported to the parent, which skips and lists the utterance
            reply = {"index": spec.index, "error": traceback.format_exc()}
        protocol.write(json.dumps(reply) + "\n")


def _run_workers(specs: Sequence[UtteranceSpec], out_dir: Path, n_workers: int,
                 on_done: Callable[[int, int, int], None],
                 on_failed: Callable[[int, str], None], data_path: str | os.PathLike | None = None) -> None:
    """Render ``specs`` in ``n_workers`` worker processes.

    Calls ``on_done(index, size, frames)`` per written utterance, and
    ``on_failed(index, error)`` for one eSpeak could not render (the run goes on).
    """
    package = (__package__ or __name__.rpartition(".")[0]).rpartition(".")[0]  # the top package
    folder = str(Path(__file__).resolve().parent.parent)
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER_BOOTSTRAP, package, folder, str(data_path or "")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        for _ in range(n_workers)
    ]
    jobs = iter(specs)
    in_flight = {proc.pid: 0 for proc in procs}
    buffers = {proc.pid: b"" for proc in procs}
    selector = selectors.DefaultSelector()

    def feed(proc: subprocess.Popen) -> None:
        spec = next(jobs, None)
        if spec is not None:
            proc.stdin.write((json.dumps({"spec": dataclasses.asdict(spec), "out_dir": str(out_dir)}) + "\n").encode())
            proc.stdin.flush()
            in_flight[proc.pid] += 1

    try:
        for proc in procs:
            selector.register(proc.stdout, selectors.EVENT_READ, proc)
            for _ in range(_WORKER_QUEUE_DEPTH):
                feed(proc)
        while any(in_flight.values()):
            for key, _ in selector.select():
                proc = key.data
                # raw reads and our own line split: a buffered readline could hide a second
                # reply from select() and stall the loop
                data = os.read(proc.stdout.fileno(), 65536)
                if not data:
                    try:
                        code = proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        code = None
                    raise ESpeakError(f"corpus worker {proc.pid} closed its output (exit code {code}); "
                                      "see its messages above on stderr")
                buffers[proc.pid] += data
                *lines, buffers[proc.pid] = buffers[proc.pid].split(b"\n")
                for line in lines:
                    reply = json.loads(line)
                    if "ready" in reply:
                        continue
                    in_flight[proc.pid] -= 1
                    if "error" in reply:  # e.g. eSpeak crashed on this text: skip and report it
                        on_failed(reply["index"], reply["error"].strip().splitlines()[-1])
                    else:
                        on_done(reply["index"], reply["size"], reply["frames"])
                    feed(proc)
    finally:
        selector.close()
        for proc in procs:
            try:
                proc.stdin.close()  # end of input: the worker loop ends
            except OSError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()


def _valid_wav(path: Path) -> int | None:
    """Frame count of a usable 16 kHz mono PCM_16 wav, else None."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError):
        return None
    if info.samplerate != SAMPLE_RATE or info.channels != 1 or info.subtype != "PCM_16" or info.frames <= 0:
        return None
    return int(info.frames)


def _plan_digest(specs: Iterable[UtteranceSpec], espeak_version: str) -> str:
    h = hashlib.sha256(f"{CORPUS_VERSION}|{espeak_version}|".encode())
    for spec in specs:
        h.update(json.dumps(dataclasses.asdict(spec), sort_keys=True).encode())
    return h.hexdigest()


def _write_json(path: Path, obj: dict) -> None:
    text = json.dumps(obj, indent=2, sort_keys=False) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _write_csv(path: Path, rows: list[tuple[str, int, str]]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(CSV_HEADER)
            writer.writerows(rows)

    atomic_write(path, write)


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def synthesize_corpus(out_dir: str | os.PathLike, n_utterances: int, seed: int = 0,
                      dev_fraction: float = 0.05, test_fraction: float = 0.05,
                      workers: int | None = None, progress: bool = True, mixed_voices: int = 0,
                      extra_train: int = 0) -> dict:
    """Write a DeepSpeech-format corpus of ``n_utterances`` synthesized utterances to ``out_dir``.

    Layout: ``out_dir/wav/000000.wav`` ... (16 kHz, 16-bit PCM, mono), ``train.csv``,
    ``dev.csv``, ``test.csv`` with header ``wav_filename,wav_filesize,transcript``
    (``wav_filename`` relative to ``out_dir``; ``wav_filesize`` in bytes) and
    ``corpus.json`` (the recipe: seed, counts, voices and hours per split, eSpeak
    version, augmentation ranges).

    Held out: train, dev and test each use their own voice variants (disjoint sets,
    about 80/8/12% of ``voices/!v``) and their own sentences (no transcript occurs in
    two splits). Accents and vocabulary are shared.

    Deterministic for ``(n_utterances, seed, dev_fraction, test_fraction)`` and the
    eSpeak version, whatever ``workers`` is. Resumable: when ``corpus.json`` records
    the same plan, wavs already written (and readable) are kept; any other plan
    re-synthesizes every file. Files are written atomically.

    Args:
        out_dir: the corpus folder (created).
        n_utterances: total utterances over all splits.
        seed: the random seed.
        dev_fraction, test_fraction: shares of ``n_utterances`` (each >= 1 utterance if > 0).
        workers: synthesis processes (default: the CPUs available). Synthesis always runs
            in worker processes (plain interpreters started with ``subprocess``, which
            import this module only), one eSpeak instance each.
        progress: show a tqdm progress bar.
        mixed_voices: this many more train voices, recombined from the train variants
            (:func:`mix_voice_variants`), written to ``out_dir/espeak-ng-data``. Dev, test
            and every transcript stay as without them.
        extra_train: this many more train utterances with new sentences (see
            :func:`plan_corpus`); dev and test stay as without them.

    Returns:
        ``{"out_dir", "utterances": {split: count}, "hours": {split: hours},
        "synthesized": n, "reused": n, "seconds": wall time}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    synth = ESpeakSynthesizer()  # phonemes for the vocabulary only; the workers speak
    vocab = build_vocabulary()
    base_voices = list_english_voices(synth.data_path)
    variants = list_voice_variants(synth.data_path)
    split_variants = split_voice_variants(variants, seed)
    mixed = mix_voice_variants(split_variants["train"], mixed_voices, seed, synth.data_path)
    data_path = espeak_data_with_variants(out / "espeak-ng-data", mixed, synth.data_path) if mixed else None
    specs = plan_corpus(n_utterances, seed, dev_fraction, test_fraction, vocab, base_voices, variants, list(mixed),
                        extra_train)
    digest = _plan_digest(specs, synth.version)

    recipe_path = out / "corpus.json"
    reuse = False
    if recipe_path.exists():
        try:
            reuse = json.loads(recipe_path.read_text(encoding="utf-8")).get("plan_sha256") == digest
        except (OSError, ValueError):
            reuse = False
    recipe = {
        "format": "DeepSpeech CSV (wav_filename,wav_filesize,transcript), 16 kHz 16-bit mono WAV",
        "corpus_version": CORPUS_VERSION,
        "status": "incomplete",
        "seed": seed,
        "n_utterances": n_utterances,
        "extra_train": extra_train,
        "dev_fraction": dev_fraction,
        "test_fraction": test_fraction,
        "espeak_ng_version": synth.version,
        "vocabulary_size": len(vocab),
        "plan_sha256": digest,
    }
    _write_json(recipe_path, recipe)  # marks the plan before any wav, so a resume can trust the wavs

    frames: dict[int, int] = {}
    sizes: dict[int, int] = {}
    failures: dict[int, str] = {}
    if reuse:
        for spec in specs:
            n = _valid_wav(out / spec.wav)
            if n is not None:
                frames[spec.index], sizes[spec.index] = n, (out / spec.wav).stat().st_size
    todo = [spec for spec in specs if spec.index not in frames]
    n_reused = len(specs) - len(todo)

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(specs), initial=n_reused, unit="utt", desc="synthesizing", dynamic_ncols=True)
    if todo:
        def done(index: int, size: int, n: int) -> None:
            frames[index], sizes[index] = n, size
            if bar is not None:
                bar.update(1)

        def failed(index: int, error: str) -> None:
            failures[index] = error
            if bar is not None:
                bar.update(1)
                bar.write(f"skipped utterance {index}: {error}", file=sys.stderr)

        _run_workers(todo, out, max(1, min(workers or _default_workers(), len(todo))), done, failed, data_path)
    if bar is not None:
        bar.close()

    counts: dict[str, int] = {}
    hours: dict[str, float] = {}
    for split in SPLITS:
        rows = [(s.wav, sizes[s.index], s.transcript) for s in specs if s.split == split and s.index in sizes]
        _write_csv(out / f"{split}.csv", rows)
        counts[split] = len(rows)
        hours[split] = sum(frames[s.index] for s in specs if s.split == split and s.index in frames) / SAMPLE_RATE / 3600.0
    seconds = time.perf_counter() - t0

    recipe.update({
        "status": "complete",
        "sample_rate": SAMPLE_RATE,
        "alphabet": ALPHABET,
        "held_out": "train, dev and test use pairwise disjoint voice variants and pairwise disjoint "
                    "transcripts; base English voices and the vocabulary are shared",
        "splits": {
            split: {
                "csv": f"{split}.csv",
                "utterances": counts[split],
                "hours": round(hours[split], 4),
                "voice_variants": split_variants[split] + (list(mixed) if split == "train" else []),
                "base_voices": base_voices,
            }
            for split in SPLITS
        },
        "text": {"source": "wordfreq top words (en), templates, num2words numbers",
                 "mix": {"word_sequence": 0.60, "template": 0.25, "numbers": 0.15}, "words": [2, 10]},
        "augmentation": {"speed": [0.9, 1.1], "peak_dbfs": [-18.0, -1.0], "clean_fraction": 0.25,
                         "noise": ["white", "pink"], "snr_db": [10.0, 40.0], "pad_seconds": [0.05, 0.35],
                         "rate_wpm": [135, 225], "pitch": [20, 80], "pitch_range": [20, 90],
                         "word_gap_10ms": {"probability": 0.3, "range": [1, 5]}},
        "mixed_voices": {"count": len(mixed), "donors": "the train split's voice variants",
                         "formant_scale": [0.92, 1.08], "per_formant_scale": [0.96, 1.04],
                         "groups": {g: list(k) for g, k in _VARIANT_GROUPS.items()}},
        "synthesized": len(todo) - len(failures),
        "reused": n_reused,
        "failed": {str(i): failures[i] for i in sorted(failures)},
        "seconds": round(seconds, 2),
    })
    _write_json(recipe_path, recipe)
    return {"out_dir": str(out), "utterances": counts, "hours": hours, "synthesized": len(todo) - len(failures),
            "reused": n_reused, "failed": len(failures), "seconds": seconds}


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------
def read_corpus_csv(path: str | os.PathLike) -> tuple[list[tuple[str, str]], list[str]]:
    """Read a DeepSpeech CSV; returns ``(rows, problems)``.

    ``rows`` are ``(absolute_wav_path, transcript)`` in file order, with relative
    ``wav_filename`` values resolved against the CSV's folder. Rows whose file is
    missing, or whose transcript holds a symbol outside the alphabet, are skipped and
    described in ``problems`` (``"train.csv line 7: missing file /.../x.wav"``); a
    ``wav_filesize`` that differs from the file's size is reported but the row is kept.

    Raises:
        ValueError: the header lacks ``wav_filename`` or ``transcript``.
    """
    path = Path(path)
    base = path.resolve().parent
    allowed = set(ALPHABET)
    rows: list[tuple[str, str]] = []
    problems: list[str] = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        if "wav_filename" not in fields or "transcript" not in fields:
            raise ValueError(f"{path}: header {fields} lacks wav_filename/transcript")
        for row in reader:
            where = f"{path.name} line {reader.line_num}"
            wav = (base / row["wav_filename"]).resolve()
            transcript = row["transcript"] or ""
            if not wav.is_file():
                problems.append(f"{where}: missing file {wav}")
                continue
            if not set(transcript) <= allowed:
                problems.append(f"{where}: transcript {transcript!r} has symbols outside the alphabet")
                continue
            size = row.get("wav_filesize")
            if size not in (None, "") and str(size).isdigit() and int(size) != wav.stat().st_size:
                problems.append(f"{where}: wav_filesize {size} but {wav} has {wav.stat().st_size} bytes")
            rows.append((str(wav), transcript))
    return rows, problems


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Synthesize an eSpeak NG speech corpus (DeepSpeech CSV).")
    parser.add_argument("out_dir")
    parser.add_argument("-n", "--utterances", type=int, default=15000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dev-fraction", type=float, default=0.05)
    parser.add_argument("--test-fraction", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--mixed-voices", type=int, default=0)
    parser.add_argument("--extra-train", type=int, default=0)
    args = parser.parse_args(argv)
    summary = synthesize_corpus(args.out_dir, args.utterances, args.seed, args.dev_fraction,
                                args.test_fraction, args.workers, mixed_voices=args.mixed_voices,
                                extra_train=args.extra_train)
    json.dump(summary, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())


# ---------------------------------------------------------------------------
# The example utterances in audio/
# ---------------------------------------------------------------------------

#: The study's three LibriSpeech clips said these; our examples say the same words.
EXAMPLE_TEXTS = (
    ("example-1", "experience proves this", "en-us"),
    ("example-2", "your power is sufficient i said", "en-gb-x-rp"),
    ("example-3", "why should one halt on the way", "en-029"),
)


def synthesize_examples(out_dir: str | os.PathLike = "audio", seed: int = 0) -> list[tuple[str, str]]:
    """Write the three example utterances and ``transcripts.csv`` (DeepSpeech CSV) into ``out_dir``.

    Each uses a different English voice with a voice variant held out of the training
    split of the corpus made with the same ``seed``, clean (no noise), so the examples
    are speakers the embedded model never heard. Deterministic.

    Returns:
        ``[(wav_path, transcript)]``.
    """
    out = Path(out_dir)
    test_variants = split_voice_variants(list_voice_variants(), seed)["test"]
    rows, written = [], []
    for i, (name, text, base) in enumerate(EXAMPLE_TEXTS):
        spec = UtteranceSpec(index=i, split="test", wav=f"{name}.wav", transcript=text,
                             voice=f"{base}+{test_variants[i % len(test_variants)]}", rate=160, pitch=50,
                             pitch_range=50, word_gap=0, speed=1.0, peak_db=-3.0, noise="none", snr_db=None,
                             pad_start=0.3, pad_end=0.3, seed=seed * 1000 + i)
        path = write_wav(out / spec.wav, render_utterance(spec))
        rows.append((spec.wav, path.stat().st_size, text))
        written.append((str(path), text))
    _write_csv(out / "transcripts.csv", rows)
    return written
