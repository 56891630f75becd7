"""What a masked MFCC entry becomes: the mask's *fill*.

A binary mask ``M [T, 26]`` applied to MFCCs ``X [T, 26]`` with the per-coefficient fill
``F [26]`` gives ``M * X + (1 - M) * F``: kept entries are exactly ``X``, masked ones
exactly ``F``. Three fills:

- ``"zeros"``: ``F = 0``, the study's. An MFCC of 0 is not an absence: coefficient 0 is
  the log energy (about -247 in digital silence, near 0 in loud speech), so zeroing it
  makes a frame loud.
- ``"silence"``: the MFCCs of digital silence, computed by DeepSpeech's own MFCC op from a
  zero waveform (c0 = 40 * sqrt(2/40) * log(1e-12) = -247.1 at an 8 kHz filterbank top,
  the other coefficients 0).
- ``"mean"``: the training corpus's mean per coefficient, read from a JSON file
  (:func:`save_corpus_mean` writes one; the embedded model ships ``mfcc_mean.json``
  beside its checkpoint, made with ``tools/corpus_mfcc_mean.py``) or a ``.npy`` of 26
  values. Nothing is downloaded.

The module itself is NumPy only; the silence fill and the corpus mean start TensorFlow
(the MFCC op) when they are computed.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ...infra.atomic import save_json
from ...infra.errors import FileFormatError, ParameterError
from ...speech.frames import N_INPUT, UPPER_FREQUENCY_LIMIT, WINDOW_SAMPLES
from .options import FILLS

__all__ = ["FILLS", "MEAN_FILE", "apply_mask", "corpus_mean", "fill_values", "load_fill_file", "model_mean_file",
           "save_corpus_mean", "silence_mfccs"]

#: The corpus-mean file a model's checkpoint folder may hold.
MEAN_FILE = "mfcc_mean.json"


def apply_mask(x: np.ndarray, mask: np.ndarray, fill: np.ndarray | None = None) -> np.ndarray:
    """``x * mask + fill * (1 - mask)`` in float32: kept entries are exactly ``x``, masked ones exactly ``fill``.

    Args:
        x: ``[..., T, 26]`` MFCCs.
        mask: broadcastable to ``x`` (``[..., T, 26]`` or ``[..., T, 1]``; leading axes may
            be added, e.g. ``[B, T, 26]`` masks of one ``[T, 26]`` input), 0/1 or soft values.
        fill: ``[26]`` per-coefficient values; None or all zeros: ``x * mask`` (the study's).
    Raises:
        ParameterError: not numbers, a mask that does not broadcast to ``x`` or changes
            its last two axes, or a fill that is not 26 values.
    """
    try:
        x = np.asarray(x, np.float32)
        mask = np.asarray(mask, np.float32)
    except (TypeError, ValueError) as error:
        raise ParameterError(f"apply_mask: x and mask must be numbers ({error})") from None
    try:  # masks may add leading axes (a batch of masks of one input), not change [T, 26]
        shape = np.broadcast_shapes(x.shape, mask.shape)
    except ValueError:
        shape = None
    if shape is None or shape[-2:] != x.shape[-2:]:
        raise ParameterError(f"apply_mask: a mask shaped {mask.shape} does not fit MFCCs shaped {x.shape}")
    if fill is not None:
        try:
            fill = np.asarray(fill, np.float32)
        except (TypeError, ValueError):
            fill = np.zeros(0)
        if fill.shape != (N_INPUT,):
            raise ParameterError(f"apply_mask: fill must be {N_INPUT} numbers, got shape {fill.shape}")
    if fill is None or not np.any(fill):
        return x * mask
    return x * mask + fill * (np.float32(1.0) - mask)


def silence_mfccs(upper_frequency_limit: float = UPPER_FREQUENCY_LIMIT) -> np.ndarray:
    """float32 ``[26]``: DeepSpeech's MFCCs of one window of digital silence (a zero waveform)."""
    from ...speech.mfcc import mfccs

    return mfccs(np.zeros(WINDOW_SAMPLES, np.float32), upper_frequency_limit=upper_frequency_limit)[0]


def load_fill_file(path: str | os.PathLike) -> np.ndarray:
    """float32 ``[26]`` from a ``.npy`` of 26 values or a JSON file with ``"mean": [26 values]``.

    Raises:
        FileFormatError: missing, unreadable, or not 26 finite numbers (naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: no such fill file (a .npy of {N_INPUT} values or a JSON with \"mean\")")
    try:
        if path.suffix == ".npy":
            values = np.load(path, allow_pickle=False)
        else:
            data = json.loads(path.read_text())
            values = data["mean"] if isinstance(data, dict) else data
        values = np.asarray(values, np.float64)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise FileFormatError(f"{path}: not a fill file ({type(err).__name__}: {err})") from None
    if values.shape != (N_INPUT,) or not np.all(np.isfinite(values)):
        raise FileFormatError(f"{path}: a fill needs {N_INPUT} finite numbers, got shape {values.shape}")
    return values.astype(np.float32)


def model_mean_file(model) -> Path | None:
    """The ``mfcc_mean.json`` beside ``model``'s checkpoint, or None when it has none."""
    checkpoint = model.metadata.get("checkpoint") if model is not None else None
    if not checkpoint:
        return None
    path = Path(checkpoint).parent / MEAN_FILE
    return path if path.is_file() else None


def fill_values(fill: str | np.ndarray | None, model=None, fill_file: str | os.PathLike | None = None) -> np.ndarray:
    """The fill as float32 ``[26]``.

    Args:
        fill: ``"zeros"``, ``"silence"``, ``"mean"``, or 26 values; None: zeros.
        model: gives the silence's filterbank top and the default corpus-mean file.
        fill_file: for ``"mean"``: the file to read (default: the model's ``mfcc_mean.json``).
    Raises:
        ParameterError: an unknown fill, or ``"mean"`` with no file given or beside the model.
    """
    if fill is None or (isinstance(fill, str) and fill == "zeros"):
        return np.zeros(N_INPUT, np.float32)
    if isinstance(fill, str):
        if fill == "silence":
            limit = model.upper_frequency_limit if model is not None else UPPER_FREQUENCY_LIMIT
            return silence_mfccs(limit)
        if fill == "mean":
            path = fill_file if fill_file is not None else model_mean_file(model)
            if path is None:
                raise ParameterError("fill_file: fill 'mean' needs the corpus mean (a JSON with \"mean\" or a .npy "
                                     f"of {N_INPUT} values; make one with tools/corpus_mfcc_mean.py); this model has "
                                     f"no {MEAN_FILE} beside its checkpoint")
            return load_fill_file(path)
        raise ParameterError(f"fill: must be one of {', '.join(FILLS)} or {N_INPUT} values; got {fill!r}")
    values = np.asarray(fill, np.float64)
    if values.shape != (N_INPUT,) or not np.all(np.isfinite(values)):
        raise ParameterError(f"fill: expected {N_INPUT} finite values, got shape {values.shape}")
    return values.astype(np.float32)


def corpus_mean(dataset: str | os.PathLike, upper_frequency_limit: float = UPPER_FREQUENCY_LIMIT,
                max_utterances: int | None = None, progress: bool = False) -> dict:
    """Mean MFCCs per coefficient over every frame of a dataset's utterances.

    Args:
        dataset: a DeepSpeech CSV or an audio folder (see ``read_dataset``).
        max_utterances: only the first n (None: all).
    Returns:
        ``{"mean": [26], "std": [26], "frames": n, "utterances": n, "skipped": n,
        "dataset": str, "upper_frequency_limit": Hz}`` (float64 sums over frames).
    """
    from ...infra.errors import AudioError
    from ...infra.progress import progress_bar
    from ...speech.datasets import read_dataset
    from ...speech.mfcc import audio_file_to_mfccs

    rows = read_dataset(dataset)[:max_utterances]
    total, squares, frames, skipped = np.zeros(N_INPUT), np.zeros(N_INPUT), 0, 0
    for row in progress_bar(rows, desc="corpus MFCC mean", disable=not progress):
        try:
            x = audio_file_to_mfccs(row.path, upper_frequency_limit).astype(np.float64)
        except AudioError:
            skipped += 1
            continue
        total += x.sum(axis=0)
        squares += (x ** 2).sum(axis=0)
        frames += len(x)
    if frames == 0:
        raise ParameterError(f"dataset: {dataset} has no readable utterance")
    mean = total / frames
    return {"mean": mean.tolist(), "std": np.sqrt(np.maximum(squares / frames - mean ** 2, 0)).tolist(),
            "frames": frames, "utterances": len(rows) - skipped, "skipped": skipped, "dataset": str(dataset),
            "upper_frequency_limit": float(upper_frequency_limit)}


def save_corpus_mean(path: str | os.PathLike, info: dict) -> Path:
    """Write :func:`corpus_mean`'s dict as JSON (atomic); :func:`load_fill_file` reads it back."""
    save_json(path, info)
    return Path(path)
