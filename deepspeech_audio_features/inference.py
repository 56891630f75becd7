"""Transcription: audio or MFCCs in, text (and word timings) out."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .checkpoints import load_model
from .decoding import (DEFAULT_ALPHA, DEFAULT_BEAM_WIDTH, DEFAULT_BETA, Transcription,
                       beam_search_decode, greedy_decode)
from .features import audio_file_to_mfccs
from .model import DeepSpeech

#: ``lm="model"`` uses the language model that ships beside the model's checkpoint, if any.
MODEL_LM = "model"


def model_language_model(model: DeepSpeech) -> str | None:
    """Path of the KenLM file named in the model's metadata (``lm``), if it exists."""
    lm, checkpoint = model.metadata.get("lm"), model.metadata.get("checkpoint")
    if not lm or not checkpoint:
        return None
    path = Path(checkpoint).parent / lm
    return str(path) if path.exists() else None


def transcribe_detailed(audio: str | os.PathLike | np.ndarray, model: DeepSpeech | None = None,
                        beam_width: int = DEFAULT_BEAM_WIDTH, lm: str | None = MODEL_LM,
                        alpha: float = DEFAULT_ALPHA, beta: float = DEFAULT_BETA) -> Transcription:
    """Transcribe an audio file or MFCCs ``[T, 26]``, with word timings in frames.

    Args:
        audio: a path (any format/rate :func:`load_audio` reads) or MFCCs ``[T, 26]``.
        model: defaults to the embedded model.
        beam_width: 1 (or 0) for greedy decoding, else pyctcdecode's beam search.
        lm: a KenLM file, ``"model"`` for the model's own LM if it has one, or None.
    """
    model = model or load_model()
    if isinstance(audio, (str, os.PathLike)):
        x = audio_file_to_mfccs(audio, model.metadata.get("upper_frequency_limit", 8000.0))
    else:
        x = np.asarray(audio, dtype=np.float32)
    probs = model.probabilities(x)
    if beam_width <= 1:
        return greedy_decode(probs)
    if lm == MODEL_LM:
        lm = model_language_model(model)
    return beam_search_decode(probs, beam_width=beam_width, lm=lm, alpha=alpha, beta=beta)


def transcribe(audio: str | os.PathLike | np.ndarray, model: DeepSpeech | None = None,
               beam_width: int = DEFAULT_BEAM_WIDTH, lm: str | None = MODEL_LM, **kwargs) -> str:
    """Transcribe an audio file or MFCCs ``[T, 26]`` to text (see :func:`transcribe_detailed`)."""
    return transcribe_detailed(audio, model, beam_width, lm, **kwargs).text


def do_single_file_inference(path: str | os.PathLike, model: DeepSpeech | None = None, **kwargs) -> str:
    """Transcribe one audio file, print the transcript and return it (as the study did)."""
    text = transcribe(path, model, **kwargs)
    print(text)
    return text
