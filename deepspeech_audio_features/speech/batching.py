"""Batches of variable-length MFCC sequences: length buckets, zero padding, and batched
class probabilities."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .model import DeepSpeech


def length_batches(lengths: list[int], batch_size: int, rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """Indices grouped into batches of similar length, in shuffled batch order.

    Sorting by length keeps padding low; shuffling within equal lengths and the batch
    order keeps epochs different.
    """
    order = np.argsort(np.asarray(lengths) + (rng.random(len(lengths)) * 0.5 if rng is not None else 0),
                       kind="stable")
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def pad_batch(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack ``[T_i, ...]`` arrays into ``[B, max T, ...]`` zeros-padded, plus lengths ``[B]``."""
    lengths = np.array([len(a) for a in arrays], dtype=np.int32)
    out = np.zeros((len(arrays), lengths.max()) + arrays[0].shape[1:], dtype=arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[i, :len(a)] = a
    return out, lengths


def batched_probabilities(model: DeepSpeech, mfccs: list[np.ndarray], batch_size: int = 64) -> list[np.ndarray]:
    """Softmax outputs ``[T_i, C]`` (C = model.n_classes) for many utterances, batched by length."""
    forward = model.compiled_forward("layer_6")
    out: list[np.ndarray | None] = [None] * len(mfccs)
    for batch in length_batches([len(m) for m in mfccs], batch_size):
        x, lengths = pad_batch([mfccs[i] for i in batch])
        probs = tf.nn.softmax(forward(x, lengths)["layer_6"], axis=-1).numpy()
        for row, i in enumerate(batch):
            out[i] = probs[row, :lengths[row]]
    return out  # type: ignore[return-value]
