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
The same forward also feeds, for every neuron, its time-localized top and bottom frames
and its activation histogram (:mod:`.frame_examples`); those use every utterance with
readable audio, the phone statistics only the frames of aligned utterances. A dataset
without any alignment thus gives examples and histograms, and empty phone statistics
(said in ``summary.json``).

Run folder (no pickle; atomic writes; resumed exactly or refused)::

    <out>/index.json     dataset, layers, model, options; paths (absolute), transcripts,
                         textgrids (path or null), frames, batches, class counts, unaligned
                         utterances, skipped utterances (unreadable header) with reasons
    <out>/state.npz      the accumulators and which batches they hold (saved every
                         ``checkpoint_every`` batches and at the end)
    <out>/histogram_edges.npz  per layer, the histogram edges (fixed before the first batch)
    <out>/shard_*.npz    on Dask: one shard's accumulators, merged into state.npz and deleted
    <out>/<layer>.npz    mean [F, C], iou [F, C], selectivity [F], threshold [F], preferred [F, 3]
    <out>/<layer>_examples.npz  top/bottom frames, traces and histograms (see :mod:`.frame_examples`)
    <out>/summary.json   per layer: neurons, detectors at the IoU level, their classes
    <out>/report.json    utterances, unaligned and skipped ones, this session's throughput

On a Dask cluster the unfinished batches run as shards, each worker loading the model
once (:mod:`.distributed`); a shard's accumulators are written to its own file and merged
by the client (sums add, top/bottom lists merge exactly, histograms add), so an
interrupted pass resumes from the shards that finished.

Frames come from the MFCC features, whose count the index takes from the header
(:func:`~deepspeech_audio_features.speech.audio.file_num_frames`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ..infra.atomic import load_json
from ..infra.errors import AudioError, DatasetError, FileFormatError, ParameterError
from ..infra.runfolder import RunFolder
from ..speech.alignments import frame_phone_labels, read_alignments, read_textgrid
from ..speech.audio import file_num_frames
from ..speech.model import LAYERS, DeepSpeech
from ..speech.phones import PHONE_CLASSES
from .content_options import DissectionOptions
from .frame_examples import LAYER_RANGES, FrameExampleAccumulator, FrameExamples, histogram_edges, load_frame_examples

__all__ = ["DissectionAccumulator", "DissectionOptions", "DissectionResult", "FrameExamples", "LayerDissection",
           "dissect_dataset", "layer_dissection", "load_dissection", "load_frame_examples"]

INDEX_FORMAT = 3  # 2: unaligned utterances batched too (examples, histograms), textgrids in the index; 3: hashed tie order
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

    def merge(self, other: "DissectionAccumulator") -> None:
        """Add another accumulator of the same layer (another shard of the dataset)."""
        if other.k != self.k or other.sums.shape != self.sums.shape:
            raise ParameterError("merge: accumulators of different layers or settings")
        for name in ("sums", "counts", "total", "squares"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.minimum = np.minimum(self.minimum, other.minimum)
        values = np.concatenate([self.top_values, other.top_values])
        labels = np.concatenate([self.top_labels, other.top_labels])
        best = np.argpartition(-values, self.k - 1, axis=0)[:self.k]
        self.top_values = np.take_along_axis(values, best, axis=0)
        self.top_labels = np.take_along_axis(labels, best, axis=0)

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
    onehot = np.zeros((acc.k, acc.top_labels.shape[1], N_CLASSES + 1), np.int64)  # last column: empty slots (-1)
    np.put_along_axis(onehot, acc.top_labels[:, :, None].astype(np.int64) % (N_CLASSES + 1), 1, axis=2)
    inter = onehot[:, :, :N_CLASSES].sum(axis=0).astype(np.float64)  # [F, C]
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
    """Paths, TextGrids, frames, batches, per-class frame counts and skipped utterances, before any forward.

    Every utterance with readable audio is batched (its frames feed the examples and
    histograms); only those with an alignment add labelled frames (``unaligned`` lists the others).
    """
    aligned = read_alignments(dataset)
    limit = options.max_utterances or len(aligned.paths)
    paths, transcripts = aligned.paths[:limit], aligned.transcripts[:limit]
    frames = np.full(len(paths), -1, np.int64)
    skipped, unaligned, textgrids, counts = [], [], [], np.zeros(N_CLASSES, np.int64)
    for i, (path, alignment) in enumerate(zip(paths, aligned.alignments[:limit])):
        textgrids.append(str(Path(alignment.path).resolve()) if alignment is not None else None)
        try:
            frames[i] = file_num_frames(path)
        except AudioError as err:
            skipped.append([i, str(err)])
            continue
        if alignment is None:
            unaligned.append(i)
            continue
        labels = frame_phone_labels(alignment, int(frames[i]))
        counts += np.bincount(labels[labels >= 0], minlength=N_CLASSES)
    good = np.flatnonzero(frames >= 0)
    order = good[np.argsort(frames[good], kind="stable")]
    batches = [order[i:i + options.batch_size].tolist() for i in range(0, len(order), options.batch_size)]
    # positions utterance * stride + frame order the examples' ties; a little slack over the
    # header's count in case the decoded audio has a frame more
    stride = int(frames.max()) + 8 if len(good) else 1
    return {"paths": [str(Path(p).resolve()) for p in paths], "transcripts": transcripts, "textgrids": textgrids,
            "frames": frames.tolist(), "batches": batches, "class_counts": counts.tolist(),
            "labelled_frames": int(counts.sum()), "skipped": skipped, "unaligned": unaligned,
            "position_stride": stride, "alignment_problems": aligned.problems,
            "unknown_phone_labels": aligned.unknown}


@dataclasses.dataclass
class _PassState:
    """What the pass has accumulated: which batches, per layer the phone statistics and the
    frame examples, and the utterances skipped on the way ([index, reason])."""

    done: np.ndarray
    accs: dict[str, DissectionAccumulator]
    examples: dict[str, FrameExampleAccumulator]
    skipped: list

    @classmethod
    def empty(cls, n_batches: int) -> "_PassState":
        return cls(np.zeros(n_batches, bool), {}, {}, [])

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {"done": self.done, "skipped_indices": np.array([i for i, _ in self.skipped], np.int64),
                  "skipped_reasons": np.array([r for _, r in self.skipped], dtype=str)}
        for layer, acc in self.accs.items():
            arrays |= {f"{layer}/{name}": v for name, v in acc.arrays().items()}
        for layer, acc in self.examples.items():
            arrays |= {f"examples/{layer}/{name}": v for name, v in acc.arrays().items()}
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "_PassState":
        def group(prefix: str) -> dict[str, dict[str, np.ndarray]]:
            found: dict[str, dict[str, np.ndarray]] = {}
            for key, value in arrays.items():
                if key.startswith(prefix) and key.count("/") == prefix.count("/") + 1:
                    layer, name = key[len(prefix):].split("/")
                    found.setdefault(layer, {})[name] = value
            return found

        return cls(arrays["done"].astype(bool),
                   {layer: DissectionAccumulator.from_arrays(a) for layer, a in group("").items()},
                   {layer: FrameExampleAccumulator.from_arrays(a) for layer, a in group("examples/").items()},
                   [[int(i), str(r)] for i, r in zip(arrays["skipped_indices"], arrays["skipped_reasons"])])

    def merge(self, other: "_PassState") -> None:
        """Add another part of the pass (a shard): disjoint batches."""
        self.done |= other.done
        for mine, theirs in ((self.accs, other.accs), (self.examples, other.examples)):
            for layer, acc in theirs.items():
                if layer in mine:
                    mine[layer].merge(acc)
                else:
                    mine[layer] = acc
        self.skipped += other.skipped


def dissect_dataset(model: DeepSpeech, dataset: str | os.PathLike, out: str | os.PathLike,
                    layers: Sequence[str] = LAYERS[:5], options: DissectionOptions | None = None, *,
                    progress: bool = True, scheduler=None, overwrite: bool = False, **overrides) -> DissectionResult:
    """Dissect ``layers`` of ``model`` over a dataset; resumable (see the module docstring).

    Args:
        dataset: a DeepSpeech CSV (or audio folder); utterances with TextGrids give the
            phone statistics, all of them the frame examples and histograms.
        out: the run folder; re-running with the same settings resumes.
        layers: among :data:`~...speech.model.LAYERS`.
        options: :class:`DissectionOptions`; ``overrides`` replace single fields.
        scheduler: ``None`` runs in this process; a Dask ``distributed.Client``, cluster or
            scheduler address runs the batches as shards on its workers (one model per
            worker; ``out``, the audio and the checkpoint must be visible to them), as
            :func:`~.dataset_search.search_dataset` does. The results equal the in-process
            ones (the sums up to float rounding).
        overwrite: clear ``out`` when it holds a dissection with other settings.
    Returns:
        :class:`DissectionResult`; utterances with an unreadable file are skipped and listed
        in ``report["skipped"]``; those without an alignment are counted in
        ``report["unaligned"]`` (they add to the examples and histograms only).
    Raises:
        ParameterError: a bad option or layer; DatasetError: no utterance with readable audio.
        RunConflictError: ``out`` holds another run.
    """
    options = DissectionOptions.resolve(options, overrides)
    layers = list(layers)
    if not layers or any(layer not in LAYERS for layer in layers):
        raise ParameterError(f"layers: expected some of {', '.join(LAYERS)}; got {layers}")
    run, index = _open_run(model, dataset, out, layers, options, overwrite)
    k = max(1, math.ceil(options.quantile * index["labelled_frames"]))
    state = _load_state(run, len(index["batches"]))
    _absorb_shards(run, state)
    edges = _histogram_edges(model, run, index, layers, options) if options.frame_examples else {}
    todo = [b for b in range(len(index["batches"])) if not state.done[b]]
    start, distributed = time.perf_counter(), {}
    if scheduler is None or not todo:
        frames_done = _dissect_here(model, run, index, todo, layers, state, k, edges, options, progress)
    else:
        frames_done, distributed = _dissect_on_cluster(model, run, index, todo, layers, state, k, edges, options,
                                                       scheduler, progress)
    run.save_arrays("state.npz", **state.arrays())
    result = _finish(run, index, layers, state, options, len(todo), frames_done, time.perf_counter() - start,
                     distributed)
    if distributed:
        from ..infra.cluster import raise_for_failed_shards

        raise_for_failed_shards(run.path, distributed)
    return result


def _open_run(model: DeepSpeech, dataset, out, layers: list[str], options: DissectionOptions,
              overwrite: bool = False) -> tuple[RunFolder, dict]:
    """The run folder (identity: dataset, layers, settings, model) and its index of the dataset."""
    from ..infra.errors import DatasetError

    identity = {"format": INDEX_FORMAT, "dataset": str(dataset), "layers": layers, "batch_size": options.batch_size,
                "max_utterances": options.max_utterances, "quantile": options.quantile,
                "frame_examples": options.frame_examples, "top_k": options.top_k, "window": options.window,
                "histogram_bins": options.histogram_bins,
                "model": {"fingerprint": model.fingerprint(), "n_hidden": model.n_hidden,
                          "name": model.metadata.get("name")}}
    run = RunFolder(out, identity, record="index.json", overwrite=overwrite, kind="dissection")
    run.open(lambda: _dataset_index(dataset, options))  # listed only when the record is (re)written
    index = run.load_json("index.json")
    if not index["batches"]:
        raise DatasetError(f"{dataset}: no utterance with readable audio ({len(index['skipped'])} skipped)")
    if len(index["paths"]) * index["position_stride"] >= 2 ** 32:
        raise DatasetError(f"{dataset}: {len(index['paths'])} utterances of up to {index['position_stride']} frames "
                           "are too many positions for one run; split the dataset (or set max_utterances)")
    return run, index


def _load_state(run: RunFolder, n_batches: int) -> _PassState:
    """The accumulators of an interrupted run, else empty ones."""
    if not run.exists("state.npz"):
        return _PassState.empty(n_batches)
    return _PassState.from_arrays(run.load_arrays("state.npz"))


def _shard_tag(run: RunFolder, batches: Sequence[int]) -> str:
    """Ties a shard file to this run's identity and its batches."""
    text = json.dumps([run.identity, sorted(int(b) for b in batches)], sort_keys=True)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _absorb_shards(run: RunFolder, state: _PassState) -> list[str]:
    """Merge the shard files of a Dask pass into ``state`` (saved), then delete them.

    A shard file of another run, or holding batches already merged, is deleted unused
    (its batches are then computed again). Returns the names merged.
    """
    merged = []
    for path in sorted(run.path.glob("shard_*.npz")):
        try:
            arrays = run.load_arrays(path.name)
            part = _PassState.from_arrays(arrays)
            usable = str(arrays["tag"]) == _shard_tag(run, np.flatnonzero(part.done)) \
                and len(part.done) == len(state.done) and not (part.done & state.done).any()
        except (FileFormatError, KeyError, ValueError):
            usable = False
        if usable:
            state.merge(part)
            run.save_arrays("state.npz", **state.arrays())
            merged.append(path.name)
        path.unlink()
    return merged


def _histogram_edges(model: DeepSpeech, run: RunFolder, index: dict, layers: list[str],
                     options: DissectionOptions) -> dict[str, np.ndarray]:
    """Each layer's histogram edges (:func:`~.frame_examples.histogram_edges`); an unbounded
    layer's come from one forward of the first batch, saved in ``histogram_edges.npz`` so a
    resumed or sharded pass uses the same."""
    if run.exists("histogram_edges.npz"):
        return run.load_arrays("histogram_edges.npz")
    edges = {layer: histogram_edges(layer, options.histogram_bins) for layer in layers if layer in LAYER_RANGES}
    free = [layer for layer in layers if layer not in LAYER_RANGES]
    if free:
        from ..speech.batching import pad_batch
        from ..speech.mfcc import audio_file_to_mfccs

        forward = model.compiled_forward(max(free, key=LAYERS.index))
        for batch in index["batches"]:
            arrays = []
            for i in batch:
                try:
                    arrays.append(audio_file_to_mfccs(index["paths"][i], model.upper_frequency_limit))
                except (AudioError, ValueError):
                    continue
            if arrays:
                x, lengths = pad_batch(arrays)
                outputs = forward(x, lengths)
                for layer in free:
                    acts = outputs[layer].numpy()
                    edges[layer] = histogram_edges(layer, options.histogram_bins,
                                                   np.concatenate([acts[r, :n] for r, n in enumerate(lengths)]))
                break
        else:
            raise DatasetError(f"{run.path}: no readable audio in any batch for the histogram edges")
    run.save_arrays("histogram_edges.npz", **edges)
    return edges


def _accumulate_batch(model: DeepSpeech, forward, index: dict, b: int, layers: list[str], state: _PassState, k: int,
                      edges: dict, options: DissectionOptions) -> int:
    """One forward of batch ``b``, added to every layer's accumulators; returns its frames.
    Unreadable audio or TextGrids are appended to ``state.skipped``."""
    from ..speech.batching import pad_batch
    from ..speech.mfcc import audio_file_to_mfccs

    arrays, labels, ids = [], [], []
    for i in index["batches"][b]:
        try:
            x = audio_file_to_mfccs(index["paths"][i], model.upper_frequency_limit)
            grid = index["textgrids"][i]
            y = frame_phone_labels(read_textgrid(grid), len(x)) if grid else np.full(len(x), -1, np.int64)
        except (AudioError, FileFormatError, ValueError) as err:
            state.skipped.append([i, str(err)])
            continue
        arrays.append(x)
        labels.append(y)
        ids.append(i)
    if not arrays:
        return 0
    x, lengths = pad_batch(arrays)
    outputs = forward(x, lengths)
    for layer in layers:
        acts = outputs[layer].numpy()
        if layer not in state.accs:
            state.accs[layer] = DissectionAccumulator(acts.shape[-1], k)
        state.accs[layer].update(np.concatenate([acts[row, :n] for row, n in enumerate(lengths)]),
                                 np.concatenate(labels))
        if options.frame_examples:
            if layer not in state.examples:
                state.examples[layer] = FrameExampleAccumulator(acts.shape[-1], options.top_k, options.window,
                                                                edges[layer], index["position_stride"])
            state.examples[layer].update(acts, lengths, np.array(ids))
    return int(lengths.sum())


def _dissect_here(model: DeepSpeech, run: RunFolder, index: dict, todo: list[int], layers: list[str],
                  state: _PassState, k: int, edges: dict, options: DissectionOptions, progress: bool) -> int:
    """The unfinished batches in this process, checkpointed every ``checkpoint_every``; returns frames."""
    from ..infra.progress import progress_bar

    forward = model.compiled_forward(max(layers, key=LAYERS.index))
    frames = 0
    for n, b in enumerate(progress_bar(todo, desc="dissection", disable=not progress), 1):
        frames += _accumulate_batch(model, forward, index, b, layers, state, k, edges, options)
        state.done[b] = True
        if n % options.checkpoint_every == 0:
            run.save_arrays("state.npz", **state.arrays())
    return frames


def _dissect_shard(group: list[dict], out: str, checkpoint: str, fingerprint: str, layers: list[str], k: int,
                   edges: dict, options: dict, threads: int | None) -> dict:
    """A Dask task: accumulate each shard's batches into ``<out>/<shard name>`` (runs on a worker).

    ``group`` holds shards ``{"batches", "tag", "name"}``; a shard whose file exists was
    finished before a crash, or by a lost worker, and is not redone."""
    from ..infra.atomic import save_arrays
    from .distributed import worker_info, worker_model

    start = time.perf_counter()
    frames = 0
    for shard in group:
        target = Path(out) / shard["name"]
        if target.exists():
            continue
        model = worker_model(checkpoint, fingerprint, threads)
        index = load_json(Path(out) / "index.json")
        options_ = DissectionOptions.from_dict(options)
        edges_ = {layer: np.asarray(e, np.float32) for layer, e in edges.items()}
        state = _PassState.empty(len(index["batches"]))
        forward = model.compiled_forward(max(layers, key=LAYERS.index))
        for b in shard["batches"]:
            frames += _accumulate_batch(model, forward, index, b, layers, state, k, edges_, options_)
            state.done[b] = True
        save_arrays(target, tag=np.array(shard["tag"]), **state.arrays())
    return {"frames": frames, "seconds": time.perf_counter() - start, "worker": worker_info(checkpoint)}


def _dissect_on_cluster(model: DeepSpeech, run: RunFolder, index: dict, todo: list[int], layers: list[str],
                        state: _PassState, k: int, edges: dict, options: DissectionOptions, scheduler,
                        progress: bool) -> tuple[int, dict]:
    """The unfinished batches as shards on a Dask cluster, each written to a shard file, then
    merged into ``state``: (frames, cluster figures)."""
    from ..infra.cluster import balanced_shards
    from .distributed import run_sharded

    batches, frames = index["batches"], index["frames"]
    costs = [len(batches[b]) * max(frames[i] for i in batches[b]) for b in todo]
    # the shards are fixed here (not by run_sharded) so that each has a file name and tag
    n_shards = options.shards or 4 * _n_workers(scheduler)
    shards = []
    for group in balanced_shards(costs, n_shards):
        members = sorted(todo[g] for g in group)
        shards.append({"batches": members, "tag": _shard_tag(run, members),
                       "name": f"shard_{members[0]}_{_shard_tag(run, members)}.npz"})
    results, distributed = run_sharded(scheduler, model, run.path, _dissect_shard, shards, [1.0] * len(shards),
                                       layers, k, {layer: e.tolist() for layer, e in edges.items()},
                                       options.to_dict(), shards=len(shards), worker_threads=options.worker_threads,
                                       name="dissection", progress=progress)
    _absorb_shards(run, state)
    return sum(r["frames"] for r in results), distributed


def _n_workers(scheduler) -> int:
    from ..infra.cluster import connect

    with connect(scheduler) as client:
        return max(1, len(client.scheduler_info(n_workers=-1)["workers"]))


def _finish(run: RunFolder, index: dict, layers: list[str], state: _PassState, options: DissectionOptions,
            batches: int, frames_done: int, seconds: float, distributed: dict) -> DissectionResult:
    """Per-layer statistics, examples, summary and report, written to the run folder."""
    if any(layer not in state.accs for layer in layers):
        raise DatasetError(f"{run.path}: no utterance could be read ({len(state.skipped)} skipped); see report.json")
    result_layers = {layer: layer_dissection(layer, state.accs[layer]) for layer in layers}
    for layer, d in result_layers.items():
        run.save_arrays(f"{layer}.npz", mean=d.mean, iou=d.iou, selectivity=d.selectivity, threshold=d.threshold,
                        preferred=d.preferred, counts=d.counts, k=np.array(d.k))
        if options.frame_examples:
            run.save_arrays(f"{layer}_examples.npz", **state.examples[layer].result())
    labelled, unaligned = index["labelled_frames"], len(index["unaligned"])
    summary = {}
    for layer, d in result_layers.items():
        summary[layer] = d.summary(options.iou_threshold) | {"labelled_frames": labelled,
                                                             "unaligned_utterances": unaligned}
        if not labelled:
            summary[layer]["note"] = "no utterance has an alignment: the phone statistics are empty"
    run.save_json("summary.json", summary)
    skipped = sorted({(int(i), str(r)) for i, r in [*index["skipped"], *state.skipped]})
    session = {"batches": batches, "frames": frames_done, "seconds": round(seconds, 3),
               "audio_seconds_per_second": round(frames_done * 0.02 / seconds, 3) if seconds else None}
    if distributed:
        session["distributed"] = distributed
    report = {"utterances": len(index["paths"]), "labelled_frames": labelled, "unaligned": unaligned,
              "frame_examples": options.frame_examples,
              "skipped": [f"{index['paths'][i]}: {reason}" for i, reason in skipped],
              "missing_batches": np.flatnonzero(~state.done).tolist(), "this_session": session}
    run.save_json("report.json", report)
    return DissectionResult(str(run.path), result_layers, summary, report)


def load_dissection(out: str | os.PathLike) -> dict[str, LayerDissection]:
    """The per-layer results of a finished :func:`dissect_dataset` run.

    Raises:
        ParameterError: ``out`` holds no dissection (no ``index.json``).
        FileFormatError: ``index.json`` or a layer's file is unreadable.
    """
    out = Path(out)
    if not (out / "index.json").is_file():
        raise ParameterError(f"out: {out} holds no dissection (no index.json)")
    index = load_json(out / "index.json")
    if not isinstance(index, dict) or not isinstance(index.get("layers"), list):
        raise FileFormatError(f"{out / 'index.json'}: not a dissection's index (no list of layers)")
    result = {}
    for layer in index["layers"]:
        try:
            with np.load(out / f"{layer}.npz", allow_pickle=False) as data:
                result[layer] = LayerDissection(layer, data["mean"], data["iou"], data["selectivity"], data["threshold"],
                                                data["preferred"], data["counts"], int(data["k"]))
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise FileFormatError(f"{out / (layer + '.npz')}: unreadable or incomplete ({err}); run it again") from None
    return result
