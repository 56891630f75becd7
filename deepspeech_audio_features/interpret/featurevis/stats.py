"""Statistics of real speech MFCCs: where to start, how to scale and where to clamp."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from ...infra.errors import AudioError, DatasetError


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
    """Statistics of a list of ``[T_i, 26]`` MFCC arrays (all frames pooled)."""
    frames = np.concatenate([np.asarray(m, np.float32) for m in mfccs])
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
