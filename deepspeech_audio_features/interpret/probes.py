"""Layer probes: how linearly decodable the phone (and the character) is at each layer.

As Belinkov & Glass (2017) did for DeepSpeech2, a frame-level linear classifier is trained
on each layer's activations (and on the MFCC input as a baseline) to predict the frame's
label, and scored on frames of other utterances:

* **phone**: TIMIT's 39 classes at the frame's centre
  (:func:`~deepspeech_audio_features.speech.alignments.frame_phone_labels`);
* **character**: the CTC alphabet; a TextGrid aligns words, not letters, so each word's
  letters share its interval in equal parts and frames between words are the space
  (:func:`~deepspeech_audio_features.speech.alignments.frame_char_labels`). This is an
  approximation of where each letter is said; it is the same for every layer, so the
  curve's shape, not its level, is the point.

Inputs: ``mfcc`` is the frame's 26 coefficients, ``mfcc_context`` the 19-frame window of
494 values the first layer sees; then each layer's output. The classifier is multinomial
logistic regression (softmax over an affine map of the standardized features, L2
penalty), fitted by full-batch Adam in TensorFlow; frames with no label are left out.
The probe trains on one dataset (the corpus's train split: training voices) and is
scored on others (dev/test: held-out voices *and* sentences). Chance is the accuracy of
always answering the training set's commonest class.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Sequence

import numpy as np

from ..infra.errors import DatasetError, ParameterError
from ..speech.alignments import frame_char_labels, frame_phone_labels, read_alignments
from ..speech.model import LAYERS, DeepSpeech
from ..speech.phones import PHONE_CLASSES
from .content_options import ProbeOptions

__all__ = ["ProbeOptions", "ProbeResult", "collect_frames", "fit_probe", "probe_layers"]

INPUTS = ("mfcc", "mfcc_context")


def collect_frames(model: DeepSpeech, dataset: str | os.PathLike, inputs: Sequence[str],
                   options: ProbeOptions) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[str]]:
    """Features and labels of a sample of a dataset's frames.

    Returns:
        ``(features {input: [N, D] float32}, phone labels [N], char labels [N], skipped)``;
        the frames are those with a phone label, sampled without replacement down to
        ``max_frames`` (a frame with no character label has ``-1``).
    """
    from ..infra.errors import AudioError
    from ..speech.batching import length_batches, pad_batch
    from ..speech.frames import context_windows
    from ..speech.mfcc import audio_file_to_mfccs

    aligned = read_alignments(dataset)
    items = [(p, a) for p, a in zip(aligned.paths, aligned.alignments) if a is not None][:options.max_utterances]
    skipped = list(aligned.problems)
    layers = [name for name in inputs if name in LAYERS]
    forward = model.compiled_forward(max(layers, key=LAYERS.index)) if layers else None
    mfccs, phones, chars = [], [], []
    for path, alignment in items:
        try:
            x = audio_file_to_mfccs(path, model.upper_frequency_limit)
        except (AudioError, ValueError) as err:
            skipped.append(f"{path}: {err}")
            continue
        mfccs.append(x)
        phones.append(frame_phone_labels(alignment, len(x)))
        chars.append(frame_char_labels(alignment, len(x), model.alphabet.labels))
    if not mfccs:
        raise DatasetError(f"{dataset}: no utterance with an alignment and readable audio")
    rng = np.random.default_rng(options.seed)
    keep = [np.flatnonzero(y >= 0) for y in phones]
    n_total = sum(len(k) for k in keep)
    if options.max_frames is not None and n_total > options.max_frames:
        chosen = np.sort(rng.choice(n_total, options.max_frames, replace=False))
        offsets = np.cumsum([0] + [len(k) for k in keep])
        keep = [k[chosen[(chosen >= lo) & (chosen < hi)] - lo] for k, lo, hi in zip(keep, offsets[:-1], offsets[1:])]
    features: dict[str, list[np.ndarray]] = {name: [None] * len(mfccs) for name in inputs}
    for i, x in enumerate(mfccs):
        if "mfcc" in inputs:
            features["mfcc"][i] = x[keep[i]]
        if "mfcc_context" in inputs:
            features["mfcc_context"][i] = context_windows(x)[keep[i]]
    if forward is not None:
        for batch in length_batches([len(m) for m in mfccs], options.batch_size):
            x, lengths = pad_batch([mfccs[i] for i in batch])
            outputs = forward(x, lengths)
            for layer in layers:
                acts = outputs[layer].numpy()
                for row, i in enumerate(batch):
                    features[layer][i] = acts[row, keep[i]]
    stacked = {name: np.concatenate(parts).astype(np.float32) for name, parts in features.items()}
    return (stacked, np.concatenate([y[k] for y, k in zip(phones, keep)]),
            np.concatenate([y[k] for y, k in zip(chars, keep)]), skipped)


def fit_probe(x_train: np.ndarray, y_train: np.ndarray, n_classes: int, options: ProbeOptions
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Multinomial logistic regression on standardized features.

    Args:
        x_train: ``[N, D]``; y_train: ``[N]`` class indices in ``[0, n_classes)``.
    Returns:
        ``(mean [D], scale [D], weights [D, C], bias [C])``: predict with
        ``argmax(((x - mean) / scale) @ weights + bias)``.
    """
    import tensorflow as tf

    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    scale[scale == 0] = 1.0
    x = tf.constant((x_train - mean) / scale, tf.float32)
    y = tf.constant(y_train, tf.int32)
    w = tf.Variable(tf.zeros((x.shape[1], n_classes)))
    b = tf.Variable(tf.zeros(n_classes))
    optimizer = tf.keras.optimizers.Adam(options.learning_rate)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = x @ w + b
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)) \
                + options.l2 * tf.reduce_sum(tf.square(w))
        optimizer.apply_gradients(zip(tape.gradient(loss, [w, b]), [w, b]))
        return loss

    for _ in range(options.steps):
        step()
    return mean, scale, w.numpy(), b.numpy()


def _accuracy(probe, x: np.ndarray, y: np.ndarray) -> float:
    mean, scale, w, b = probe
    keep = y >= 0
    predicted = (((x[keep] - mean) / scale) @ w + b).argmax(axis=1)
    return float(np.mean(predicted == y[keep]))


@dataclasses.dataclass
class ProbeResult:
    """Accuracy per input (``mfcc``, ``mfcc_context``, then layers) and target (``phone``, ``char``).

    ``table[target][input] = {"train": acc, "<eval name>": acc, ...}``; ``chance[target]``
    the commonest training class's share in each evaluation set; ``frames`` per dataset.
    """

    table: dict[str, dict[str, dict[str, float]]]
    chance: dict[str, dict[str, float]]
    frames: dict[str, int]
    seconds: float
    skipped: list[str]


def probe_layers(model: DeepSpeech, train: str | os.PathLike, evaluation: dict[str, str | os.PathLike],
                 inputs: Sequence[str] = INPUTS + LAYERS[:5], options: ProbeOptions | None = None,
                 **overrides) -> ProbeResult:
    """Train a phone and a character probe per input on ``train``; score them on each ``evaluation`` dataset.

    Args:
        train: an aligned DeepSpeech CSV (e.g. the corpus's ``train.csv``).
        evaluation: name -> aligned CSV (e.g. ``{"dev": ..., "test": ...}``: held-out voices and sentences).
        inputs: among ``mfcc``, ``mfcc_context`` and :data:`~...speech.model.LAYERS`.
    Raises:
        ParameterError: a bad option or input; DatasetError: a dataset without aligned utterances.
    """
    options = ProbeOptions.resolve(options, overrides)
    inputs = list(inputs)
    if not inputs or any(name not in INPUTS + LAYERS for name in inputs):
        raise ParameterError(f"inputs: expected some of {', '.join(INPUTS + LAYERS)}; got {inputs}")
    start = time.perf_counter()
    x_train, phone_train, char_train, skipped = collect_frames(model, train, inputs, options)
    evals = {}
    for name, dataset in evaluation.items():
        x, phone, char, bad = collect_frames(model, dataset, inputs, options)
        evals[name] = (x, phone, char)
        skipped += bad
    n_chars = int(max(char_train.max(), *(e[2].max() for e in evals.values()))) + 1
    targets = {"phone": (phone_train, 1, len(PHONE_CLASSES)), "char": (char_train, 2, n_chars)}
    table: dict[str, dict[str, dict[str, float]]] = {}
    chance: dict[str, dict[str, float]] = {}
    for target, (y_train, column, n_classes) in targets.items():
        commonest = np.bincount(y_train[y_train >= 0]).argmax()
        chance[target] = {name: float(np.mean(e[column][e[column] >= 0] == commonest)) for name, e in evals.items()}
        table[target] = {}
        for name in inputs:
            keep = y_train >= 0
            probe = fit_probe(x_train[name][keep], y_train[keep], n_classes, options)
            row = {"train": _accuracy(probe, x_train[name], y_train)}
            row.update({ev: _accuracy(probe, e[0][name], e[column]) for ev, e in evals.items()})
            table[target][name] = row
    frames = {"train": len(phone_train), **{name: len(e[1]) for name, e in evals.items()}}
    return ProbeResult(table, chance, frames, time.perf_counter() - start, skipped)
