"""Statistics of real speech MFCCs: where to start, how to scale and where to clamp."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from ...infra.errors import AudioError, DatasetError, ParameterError
from ...speech.frames import N_INPUT


@dataclass(frozen=True)
class MfccStats:
    """Per-coefficient statistics ``[26]`` of real MFCCs: mean, std and a range
    (the ``percentile`` and ``100 - percentile`` percentiles) used for clamping."""
    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def to_json(self) -> dict:
        return {k: np.asarray(v).round(6).tolist() for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> "MfccStats":
        return cls(**{k: np.asarray(data[k], np.float32) for k in ("mean", "std", "low", "high")})


def mfcc_stats(mfccs: Sequence[np.ndarray], percentile: float = 0.5) -> MfccStats:
    """Statistics of a list of ``[T_i, 26]`` MFCC arrays (all frames pooled).

    Raises:
        ParameterError: no array, an array that is not numbers shaped ``[T_i, 26]``, no
            frame in all, or NaN / Inf (the array named by its position).
    """
    arrays = []
    for i, m in enumerate(mfccs):
        try:
            a = np.asarray(m, np.float32)
        except (TypeError, ValueError):
            raise ParameterError(f"mfccs[{i}]: expected numbers shaped [T, {N_INPUT}], got {type(m).__name__}") from None
        if a.ndim != 2 or a.shape[1] != N_INPUT:
            raise ParameterError(f"mfccs[{i}]: expected an array shaped [T, {N_INPUT}], got {a.shape}")
        if not np.isfinite(a).all():
            raise ParameterError(f"mfccs[{i}]: NaN or Inf")
        arrays.append(a)
    if not arrays or not sum(len(a) for a in arrays):
        raise ParameterError("mfccs: no frames to take statistics of")
    frames = np.concatenate(arrays)
    return MfccStats(frames.mean(0), frames.std(0), np.percentile(frames, percentile, 0).astype(np.float32),
                     np.percentile(frames, 100 - percentile, 0).astype(np.float32))


def load_dataset_mfccs(dataset: str | os.PathLike, max_utterances: int | None = 256, seed: int = 0,
                       upper_frequency_limit: float = 8000.0) -> tuple[list[np.ndarray], list[str]]:
    """MFCCs of up to ``max_utterances`` utterances drawn at random (``seed``) from a
    dataset; unusable files are skipped. Returns ``(mfccs [T_i, 26] list, paths)``.

    Raises:
        DatasetError: no utterance of the dataset could be read.
    """
    from ...speech.datasets import read_dataset
    from ...speech.mfcc import audio_file_to_mfccs

    utterances = read_dataset(dataset)
    order = np.random.default_rng(seed).permutation(len(utterances))
    if max_utterances is not None:
        order = np.sort(order[:max_utterances])
    out, paths = [], []
    for i in order:
        try:
            out.append(audio_file_to_mfccs(utterances[i].path, upper_frequency_limit))
            paths.append(utterances[i].path)
        except AudioError:
            continue
    if not out:
        raise DatasetError(f"{dataset}: no usable utterances")
    return out, paths
