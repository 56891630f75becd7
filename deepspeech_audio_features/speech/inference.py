"""Transcription: audio or MFCCs in, text (and word timings) out."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..infra.errors import ParameterError
from ..infra.options import check_int
from .checkpoints import load_model
from .decoding import (
    DEFAULT_ALPHA,
    DEFAULT_BEAM_WIDTH,
    DEFAULT_BETA,
    Transcription,
    beam_search_decode,
    greedy_decode,
)
from .mfcc import audio_file_to_mfccs
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
                        alpha: float | None = None, beta: float | None = None) -> Transcription:
    """Transcribe an audio file or MFCCs ``[T, 26]``, with word timings in frames.

    Args:
        audio: a path (any format/rate :func:`load_audio` reads) or MFCCs ``[T, 26]``.
        model: defaults to the embedded model.
        beam_width: 1 (or 0) for greedy decoding, else pyctcdecode's beam search.
        lm: a KenLM file, ``"model"`` for the model's own LM if it has one, or None.
        alpha, beta: LM weight and word bonus; default: the values tuned for the model's
            own LM (metadata ``lm_alpha``/``lm_beta``) when it is used, else DeepSpeech
            0.9.3's.
    """
    check_int("beam_width", beam_width, 0)
    if model is not None and not isinstance(model, DeepSpeech):
        raise ParameterError(f"model: expected a DeepSpeech model (load_model(...)), got {type(model).__name__}")
    model = model or load_model()
    if isinstance(audio, (str, os.PathLike)):
        x = audio_file_to_mfccs(audio, model.upper_frequency_limit)
    elif isinstance(audio, (np.ndarray, list, tuple)):
        x = np.asarray(audio, dtype=np.float32)  # shape and NaN are checked by the model
    else:
        raise ParameterError(f"audio: expected an audio file's path or MFCCs [T, 26], got {type(audio).__name__}")
    probs = model.probabilities(x)
    if beam_width <= 1:
        return greedy_decode(probs, model.alphabet)
    if lm == MODEL_LM:
        lm = model_language_model(model)
        if lm:
            alpha = model.metadata.get("lm_alpha", DEFAULT_ALPHA) if alpha is None else alpha
            beta = model.metadata.get("lm_beta", DEFAULT_BETA) if beta is None else beta
    alpha = DEFAULT_ALPHA if alpha is None else alpha
    beta = DEFAULT_BETA if beta is None else beta
    return beam_search_decode(probs, beam_width=beam_width, lm=lm, alpha=alpha, beta=beta, alphabet=model.alphabet)


def transcribe(audio: str | os.PathLike | np.ndarray, model: DeepSpeech | None = None,
               beam_width: int = DEFAULT_BEAM_WIDTH, lm: str | None = MODEL_LM, **kwargs) -> str:
    """Transcribe an audio file or MFCCs ``[T, 26]`` to text (see :func:`transcribe_detailed`)."""
    return transcribe_detailed(audio, model, beam_width, lm, **kwargs).text


def do_single_file_inference(path: str | os.PathLike, model: DeepSpeech | None = None, **kwargs) -> str:
    """Transcribe one audio file, print the transcript and return it (as the study did)."""
    text = transcribe(path, model, **kwargs)
    print(text)
    return text
