"""Network dissection in time: what phone each neuron of a layer responds to.

For a dataset with alignments (TextGrids, see
:func:`~deepspeech_audio_features.speech.alignments.read_alignments`), every frame ``t``
of utterance ``u`` gets a phone class ``c(u, t)`` (TIMIT's 39, the one at the frame's
centre; frames of ignored labels are left out). For neuron ``k`` of a layer with
activation ``a_k(u, t)``, over the ``N`` labelled frames:

* **mean per class** ``mu_kc = mean_{c(u,t)=c} a_k(u, t)``; the **preferred phones** are
  the classes with the highest ``mu_kc``;
* **selectivity** ``s_k = (mu_k,pref - mean_{c != pref} mu_kc) / sigma_k``, with ``sigma_k``
  the neuron's standard deviation over all labelled frames. It is the preferred class's
  mean above the average of the other classes' means (each class counting once, so
  silence, the commonest label, does not dominate), in units of the neuron's own spread:
  scale-free, so comparable across layers with clipped-ReLU (``[0, 20]``), LSTM
  (``[-1, 1]``) and logit ranges, and defined for signed activations, where Morcos et
  al.'s (2018) ratio ``(mu_max - mu_rest) / (mu_max + mu_rest)`` is not. 0: no preference;
  1: the preferred class sits a full standard deviation above the others;
* **dissection IoU** (Bau et al. 2017, adapted to time): ``A_k`` is the set of the
  ``K = ceil(quantile * N)`` frames with the highest ``a_k`` (the frames above the
  neuron's top-quantile threshold ``T_k``, its ``K``-th largest value; Bau et al. use
  the top 0.5 %), ``P_c`` the frames of class ``c``, and
  ``IoU_kc = |A_k ∩ P_c| / |A_k ∪ P_c|``. A neuron is a detector of ``argmax_c IoU_kc``
  when that IoU exceeds ``iou_threshold`` (Bau et al.: 0.04). A neuron whose threshold
  equals its minimum (constant over the top frames, e.g. a dead ReLU) detects nothing.

One streaming pass: utterances are batched by length (from the WAV headers), one forward
per batch serves all layers, and per layer only the sums per class, the sums of squares
and, per neuron, the ``K`` largest activations with their classes are kept (``K`` is known
from the index, which counts the labelled frames before any forward), so the IoU is exact.

Run folder (no pickle; atomic writes; resumed exactly or refused)::

    <out>/index.json     dataset, layers, model, options; paths, frames, batches, class counts,
                         skipped utterances (no alignment, unreadable header) with reasons
    <out>/state.npz      the accumulators and which batches they hold (saved every
                         ``checkpoint_every`` batches and at the end)
    <out>/<layer>.npz    mean [F, C], iou [F, C], selectivity [F], threshold [F], preferred [F, 3]
    <out>/summary.json   per layer: neurons, detectors at the IoU level, their classes

Frames come from the MFCC features, whose count the index takes from the header
(:func:`~deepspeech_audio_features.speech.audio.file_num_frames`).
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..infra.atomic import load_json
from ..infra.errors import AudioError, ParameterError
from ..infra.runfolder import RunFolder
from ..speech.alignments import frame_phone_labels, read_alignments
from ..speech.audio import file_num_frames
from ..speech.model import LAYERS, DeepSpeech
from ..speech.phones import PHONE_CLASSES
from .content_options import DissectionOptions

__all__ = ["DissectionAccumulator", "DissectionOptions", "DissectionResult", "LayerDissection", "dissect_dataset",
           "layer_dissection", "load_dissection"]

INDEX_FORMAT = 1
N_CLASSES = len(PHONE_CLASSES)


class DissectionAccumulator:
    """Streaming sums and top-``K`` lists for one layer of ``F`` neurons over labelled frames.

    Args:
        width: ``F``.
        k: how many top frames define a neuron's firing set (``K``).
    """

    def __init__(self, width: int, k: int):
        if k < 1:
            raise ParameterError(f"k: expected at least 1 top frame, got {k}")
        self.k = k
        self.sums = np.zeros((width, N_CLASSES), np.float64)
        self.counts = np.zeros(N_CLASSES, np.int64)
        self.total = np.zeros(width, np.float64)
        self.squares = np.zeros(width, np.float64)
        self.minimum = np.full(width, np.inf, np.float64)
        self.top_values = np.full((k, width), -np.inf, np.float32)
        self.top_labels = np.full((k, width), -1, np.int16)

    def update(self, activations: np.ndarray, labels: np.ndarray) -> None:
        """Add frames: ``activations [n, F]``, class indices ``labels [n]`` (``-1``: left out)."""
        keep = np.asarray(labels) >= 0
        a, y = np.asarray(activations, np.float32)[keep], np.asarray(labels)[keep].astype(np.int16)
        if not len(a):
            return
        onehot = np.zeros((len(y), N_CLASSES), np.float64)
        onehot[np.arange(len(y)), y] = 1.0
        self.sums += a.astype(np.float64).T @ onehot
        self.counts += onehot.sum(axis=0).astype(np.int64)
        self.total += a.sum(axis=0, dtype=np.float64)
        self.squares += np.square(a, dtype=np.float64).sum(axis=0)
        self.minimum = np.minimum(self.minimum, a.min(axis=0))
        values = np.concatenate([self.top_values, a])
        classes = np.concatenate([self.top_labels, np.broadcast_to(y[:, None], a.shape)])
        best = np.argpartition(-values, self.k - 1, axis=0)[:self.k]
        self.top_values = np.take_along_axis(values, best, axis=0)
        self.top_labels = np.take_along_axis(classes, best, axis=0)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"sums": self.sums, "counts": self.counts, "total": self.total, "squares": self.squares,
                "minimum": self.minimum, "top_values": self.top_values, "top_labels": self.top_labels}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "DissectionAccumulator":
        acc = cls(arrays["sums"].shape[0], arrays["top_values"].shape[0])
        for name, value in arrays.items():
            setattr(acc, name, np.array(value))
        return acc


@dataclasses.dataclass
class LayerDissection:
    """One layer's neurons against the phone classes (:data:`~...speech.phones.PHONE_CLASSES`).

    Arrays: ``mean [F, C]`` (NaN for a class with no frame), ``iou [F, C]``,
    ``selectivity [F]``, ``threshold [F]`` (``T_k``), ``preferred [F, 3]`` (class indices,
    best first), ``counts [C]`` frames per class; ``k`` top frames per neuron.
    """

    layer: str
    mean: np.ndarray
    iou: np.ndarray
    selectivity: np.ndarray
    threshold: np.ndarray
    preferred: np.ndarray
    counts: np.ndarray
    k: int

    @property
    def best_iou(self) -> np.ndarray:
        """``[F]`` the highest IoU of each neuron over the classes."""
        return self.iou.max(axis=1)

    @property
    def best_class(self) -> np.ndarray:
        """``[F]`` the class index of :attr:`best_iou`."""
        return self.iou.argmax(axis=1)

    def summary(self, iou_threshold: float) -> dict:
        """Neurons, detectors (best IoU above ``iou_threshold``) and how many detect each class."""
        detectors = self.best_iou > iou_threshold
        classes: dict[str, int] = {}
        for c in self.best_class[detectors]:
            classes[PHONE_CLASSES[c]] = classes.get(PHONE_CLASSES[c], 0) + 1
        return {"neurons": int(len(detectors)), "iou_threshold": iou_threshold, "detectors": int(detectors.sum()),
                "detector_classes": dict(sorted(classes.items(), key=lambda kv: -kv[1])),
                "median_best_iou": float(np.median(self.best_iou)),
                "median_selectivity": float(np.nanmedian(self.selectivity)), "top_frames_per_neuron": self.k}


def layer_dissection(layer: str, acc: DissectionAccumulator) -> LayerDissection:
    """The statistics of the module docstring from a layer's accumulator."""
    counts = acc.counts
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = acc.sums / counts[None, :]
        n = counts.sum()
        variance = np.maximum(acc.squares / n - (acc.total / n) ** 2, 0.0)
        preferred = np.argsort(-np.nan_to_num(mean, nan=-np.inf), axis=1, kind="stable")[:, :3]
        best = mean[np.arange(len(mean)), preferred[:, 0]]
        present = counts > 0
        others = (np.nansum(mean[:, present], axis=1) - best) / max(int(present.sum()) - 1, 1)
        selectivity = np.where(variance > 0, (best - others) / np.sqrt(variance), 0.0)
    onehot = np.zeros((acc.k, acc.top_labels.shape[1], N_CLASSES), np.int64)
    np.put_along_axis(onehot, acc.top_labels[:, :, None].astype(np.int64), 1, axis=2)
    inter = onehot.sum(axis=0).astype(np.float64)  # [F, C]
    iou = inter / (acc.k + counts[None, :] - inter)
    threshold = acc.top_values.min(axis=0).astype(np.float64)
    iou[threshold <= acc.minimum] = 0.0  # the top frames are not above the rest: no firing set
    return LayerDissection(layer, mean, iou, selectivity, threshold, preferred, counts, acc.k)


@dataclasses.dataclass
class DissectionResult:
    """:func:`dissect_dataset`'s result: one :class:`LayerDissection` per layer, the summary and report."""

    out: str
    layers: dict[str, LayerDissection]
    summary: dict
    report: dict


def _dataset_index(dataset, options: DissectionOptions) -> dict:
    """Paths, frames, batches, per-class frame counts and skipped utterances, before any forward."""
    aligned = read_alignments(dataset)
    limit = options.max_utterances or len(aligned.paths)
    paths, transcripts = aligned.paths[:limit], aligned.transcripts[:limit]
    frames = np.full(len(paths), -1, np.int64)
    skipped, counts = [], np.zeros(N_CLASSES, np.int64)
    for i, (path, alignment) in enumerate(zip(paths, aligned.alignments[:limit])):
        if alignment is None:
            skipped.append([i, "no readable TextGrid (see alignment_problems)"])
            continue
        try:
            frames[i] = file_num_frames(path)
        except AudioError as err:
            skipped.append([i, str(err)])
            continue
        labels = frame_phone_labels(alignment, int(frames[i]))
        counts += np.bincount(labels[labels >= 0], minlength=N_CLASSES)
    good = np.flatnonzero(frames >= 0)
    order = good[np.argsort(frames[good], kind="stable")]
    batches = [order[i:i + options.batch_size].tolist() for i in range(0, len(order), options.batch_size)]
    return {"paths": paths, "transcripts": transcripts, "frames": frames.tolist(), "batches": batches,
            "class_counts": counts.tolist(), "labelled_frames": int(counts.sum()), "skipped": skipped,
            "alignment_problems": aligned.problems, "unknown_phone_labels": aligned.unknown}


def dissect_dataset(model: DeepSpeech, dataset: str | os.PathLike, out: str | os.PathLike,
                    layers: Sequence[str] = LAYERS[:5], options: DissectionOptions | None = None, *,
                    progress: bool = True, **overrides) -> DissectionResult:
    """Dissect ``layers`` of ``model`` over an aligned dataset; resumable (see the module docstring).

    Args:
        dataset: a DeepSpeech CSV (or audio folder) whose utterances have TextGrids.
        out: the run folder; re-running with the same settings resumes.
        layers: among :data:`~...speech.model.LAYERS`.
        options: :class:`DissectionOptions`; ``overrides`` replace single fields.
    Returns:
        :class:`DissectionResult`; utterances without an alignment or with an unreadable
        file are skipped and listed in ``report["skipped"]``.
    Raises:
        ParameterError: a bad option or layer; DatasetError: no usable utterance.
        RunConflictError: ``out`` holds another run.
    """
    from ..infra.progress import progress_bar

    options = DissectionOptions.resolve(options, overrides)
    layers = list(layers)
    if not layers or any(layer not in LAYERS for layer in layers):
        raise ParameterError(f"layers: expected some of {', '.join(LAYERS)}; got {layers}")
    run, index = _open_run(model, dataset, out, layers, options)
    k = max(1, math.ceil(options.quantile * index["labelled_frames"]))
    forward = model.compiled_forward(max(layers, key=LAYERS.index))
    alignments = read_alignments(dataset).alignments
    done, accs = _load_state(run, layers, len(index["batches"]))

    def save_state() -> None:
        run.save_arrays("state.npz", done=done, **{f"{layer}/{name}": v for layer, acc in accs.items()
                                                     for name, v in acc.arrays().items()})

    start, skipped, frames_done = time.perf_counter(), list(index["skipped"]), 0
    todo = [b for b in range(len(index["batches"])) if not done[b]]
    for n, b in enumerate(progress_bar(todo, desc="dissection", disable=not progress), 1):
        frames_done += _accumulate_batch(model, forward, index, alignments, b, layers, accs, k, skipped)
        done[b] = True
        if n % options.checkpoint_every == 0:
            save_state()
    save_state()
    return _finish(run, index, layers, accs, options, skipped, len(todo), frames_done, time.perf_counter() - start)


def _open_run(model: DeepSpeech, dataset, out, layers: list[str], options: DissectionOptions) -> tuple[RunFolder, dict]:
    """The run folder (identity: dataset, layers, settings, model) and its index of the dataset."""
    from ..infra.errors import DatasetError

    identity = {"format": INDEX_FORMAT, "dataset": str(dataset), "layers": layers, "batch_size": options.batch_size,
                "max_utterances": options.max_utterances, "quantile": options.quantile,
                "model": {"fingerprint": model.fingerprint(), "n_hidden": model.n_hidden,
                          "name": model.metadata.get("name")}}
    run = RunFolder(out, identity, record="index.json", kind="dissection")
    run.open(None if run.exists("index.json") else lambda: _dataset_index(dataset, options))
    index = run.load_json("index.json")
    if index["labelled_frames"] == 0:
        raise DatasetError(f"{dataset}: no utterance with an alignment and readable audio "
                           f"({len(index['skipped'])} skipped)")
    return run, index


def _load_state(run: RunFolder, layers: list[str], n_batches: int) -> tuple[np.ndarray, dict]:
    """``(done [n_batches] bool, {layer: accumulator})`` of an interrupted run, else empty ones."""
    if not run.exists("state.npz"):
        return np.zeros(n_batches, bool), {}
    state = run.load_arrays("state.npz")
    accs = {layer: DissectionAccumulator.from_arrays({name.split("/", 1)[1]: v for name, v in state.items()
                                                      if name.startswith(layer + "/")}) for layer in layers}
    return state["done"].astype(bool), accs


def _accumulate_batch(model: DeepSpeech, forward, index: dict, alignments, b: int, layers: list[str],
                      accs: dict, k: int, skipped: list) -> int:
    """One forward of batch ``b``, added to every layer's accumulator; returns its frames.
    Unreadable audio is appended to ``skipped``."""
    from ..speech.batching import pad_batch
    from ..speech.mfcc import audio_file_to_mfccs

    arrays, labels = [], []
    for i in index["batches"][b]:
        try:
            x = audio_file_to_mfccs(index["paths"][i], model.upper_frequency_limit)
        except (AudioError, ValueError) as err:
            skipped.append([i, str(err)])
            continue
        arrays.append(x)
        labels.append(frame_phone_labels(alignments[i], len(x)))
    if not arrays:
        return 0
    x, lengths = pad_batch(arrays)
    outputs = forward(x, lengths)
    for layer in layers:
        acts = outputs[layer].numpy()
        if layer not in accs:
            accs[layer] = DissectionAccumulator(acts.shape[-1], k)
        accs[layer].update(np.concatenate([acts[row, :n] for row, n in enumerate(lengths)]), np.concatenate(labels))
    return int(lengths.sum())


def _finish(run: RunFolder, index: dict, layers: list[str], accs: dict, options: DissectionOptions, skipped: list,
            batches: int, frames_done: int, seconds: float) -> DissectionResult:
    """Per-layer statistics, summary and report, written to the run folder."""
    result_layers = {layer: layer_dissection(layer, accs[layer]) for layer in layers}
    for layer, d in result_layers.items():
        run.save_arrays(f"{layer}.npz", mean=d.mean, iou=d.iou, selectivity=d.selectivity, threshold=d.threshold,
                        preferred=d.preferred, counts=d.counts, k=np.array(d.k))
    summary = {layer: d.summary(options.iou_threshold) for layer, d in result_layers.items()}
    run.save_json("summary.json", summary)
    report = {"utterances": len(index["paths"]), "labelled_frames": index["labelled_frames"],
              "skipped": [f"{index['paths'][i]}: {reason}" for i, reason in skipped],
              "this_session": {"batches": batches, "frames": frames_done, "seconds": round(seconds, 3),
                               "audio_seconds_per_second": round(frames_done * 0.02 / seconds, 3) if seconds else None}}
    run.save_json("report.json", report)
    return DissectionResult(str(run.path), result_layers, summary, report)


def load_dissection(out: str | os.PathLike) -> dict[str, LayerDissection]:
    """The per-layer results of a finished :func:`dissect_dataset` run."""
    out = Path(out)
    index = load_json(out / "index.json")
    result = {}
    for layer in index["layers"]:
        with np.load(out / f"{layer}.npz", allow_pickle=False) as data:
            result[layer] = LayerDissection(layer, data["mean"], data["iou"], data["selectivity"], data["threshold"],
                                            data["preferred"], data["counts"], int(data["k"]))
    return result
