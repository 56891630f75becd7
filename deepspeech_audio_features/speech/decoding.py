"""CTC decoding: greedy and beam search (pyctcdecode, optional KenLM), with word timings.

Frames are DeepSpeech's: frame ``t`` covers samples ``[320 t, 320 t + 512)`` at 16 kHz,
so it starts at ``0.02 t`` seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..infra.errors import ParameterError
from ..infra.quiet import silenced_stderr
from .alphabet import ENGLISH, Alphabet

#: DeepSpeech 0.9.3's language-model weight and word insertion bonus.
DEFAULT_ALPHA = 0.931289039105002
DEFAULT_BETA = 1.1834137581510284
#: The release's Python path used 1024; pyctcdecode in pure Python is slower, so 100.
DEFAULT_BEAM_WIDTH = 100
FRAME_SECONDS = 0.02


@dataclass(frozen=True)
class WordTiming:
    """A decoded word and the frames ``[start_frame, end_frame)`` its symbols occupy."""
    word: str
    start_frame: int
    end_frame: int

    @property
    def start_time(self) -> float:
        """Seconds from the start of the audio."""
        return self.start_frame * FRAME_SECONDS

    @property
    def end_time(self) -> float:
        return self.end_frame * FRAME_SECONDS


@dataclass(frozen=True)
class Transcription:
    """A decoded utterance: text and word timings."""
    text: str
    words: list[WordTiming] = field(default_factory=list)

    def __str__(self) -> str:
        return self.text


def _check(probs: np.ndarray, alphabet: Alphabet) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != alphabet.num_classes:
        raise ParameterError(f"expected per-frame probabilities [T, {alphabet.num_classes}] "
                             f"({len(alphabet)} labels + blank), got {probs.shape}")
    if not np.all(np.isfinite(probs)):
        raise ParameterError("probs: NaN or Inf values")
    return probs


def greedy_decode(probs: np.ndarray, alphabet: Alphabet | None = None) -> Transcription:
    """Best path decoding: per-frame argmax, merge repeats, drop blanks.

    Args:
        probs: ``[T, C]`` probabilities (or logits: only the argmax matters); C = len(alphabet) + 1.
        alphabet: the model's (``model.alphabet``); default: DeepSpeech's English one (C = 29).
    """
    alphabet = alphabet or ENGLISH
    blank, labels = alphabet.blank_index, alphabet.labels
    best = _check(probs, alphabet).argmax(axis=1)
    words: list[WordTiming] = []
    chars: list[str] = []
    start = last_symbol_end = None
    previous = blank
    for t, symbol in enumerate(best):
        if symbol != previous and symbol != blank:
            ch = labels[symbol]
            if ch == " ":
                if chars:
                    words.append(WordTiming("".join(chars), start, last_symbol_end))
                chars, start = [], None
            else:
                if start is None:
                    start = t
                chars.append(ch)
        if symbol != blank and labels[symbol] != " ":
            last_symbol_end = t + 1
        previous = symbol
    if chars:
        words.append(WordTiming("".join(chars), start, last_symbol_end))
    return Transcription(" ".join(w.word for w in words), words)


@lru_cache(maxsize=8)
def _decoder(labels: tuple[str, ...], lm_path: str | None, alpha: float, beta: float):
    from pyctcdecode import (
        build_ctcdecoder,  # imported lazily: it loads KenLM when present
    )

    with silenced_stderr():  # KenLM prints a line of stars while it reads an ARPA file
        return build_ctcdecoder(list(labels) + [""], kenlm_model_path=lm_path, alpha=alpha, beta=beta)  # "" = blank


def beam_search_decode(probs: np.ndarray, beam_width: int = DEFAULT_BEAM_WIDTH, lm: str | None = None,
                       alpha: float = DEFAULT_ALPHA, beta: float = DEFAULT_BETA,
                       alphabet: Alphabet | None = None) -> Transcription:
    """CTC beam search through pyctcdecode, optionally with a KenLM language model.

    Args:
        probs: ``[T, C]`` per-frame probabilities (softmax outputs); C = len(alphabet) + 1.
        lm: path of a KenLM model (ARPA or binary), or None for no language model.
        alpha, beta: language-model weight and word insertion bonus (0.9.3's defaults).
        alphabet: the model's (``model.alphabet``); default: DeepSpeech's English one.
    """
    alphabet = alphabet or ENGLISH
    if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
        raise ParameterError(f"beam_width: must be an integer >= 1, got {beam_width!r}")
    if lm and not Path(lm).is_file():
        raise ParameterError(f"{lm}: no such language model file")
    probs = _check(probs, alphabet)
    if np.any(probs < 0):
        raise ParameterError("probs: negative values (beam search needs softmax outputs, not logits)")
    log_probs = np.log(np.clip(probs, 1e-30, None))
    beams = _decoder(alphabet.labels, str(lm) if lm else None, float(alpha), float(beta)).decode_beams(
        log_probs, beam_width=beam_width)
    text, _, frames, *_ = beams[0]
    words = [WordTiming(word, int(start), int(end)) for word, (start, end) in frames if word]
    return Transcription(" ".join(text.split()), words)
