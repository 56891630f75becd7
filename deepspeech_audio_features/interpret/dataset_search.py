"""Dataset examples: the utterances that most (and least) activate chosen neurons.

For every utterance of a dataset (a DeepSpeech CSV or a folder of audio files) and
every objective (a layer and a neuron set, see
:class:`~deepspeech_audio_features.visualization.Objective`), the score is the mean
activation over the utterance's real frames and the objective's neurons::

    a(u, o) = mean_{t < T_u, f in J_o} y_layer(X_u)[t, f]

Utterances are batched by length (read from the file headers, so no audio is decoded
twice) and one forward pass per batch, up to the deepest layer any objective needs,
serves all objectives. Padded frames are excluded (the network zeroes them and the
mean divides by the real length).

Run folder (no pickle; every file written atomically)::

    <out>/index.json       dataset, objectives, model, batch size, paths, frames
                           (from the headers), batches, and the files whose header
                           could not be read ([index, reason])
    <out>/batch_<b>.npz    indices [n], activations [n, n_objectives], frames [n],
                           skipped_indices [k], skipped_reasons [k] (unicode)
    <out>/report.json      totals, skipped files with reasons, throughput

Re-running with the same settings skips finished batches (resume).

Given a Dask ``distributed`` client or scheduler address, the unfinished batches are
grouped into shards of near-equal padded size and run on the cluster's workers, one
model per worker process (:mod:`~deepspeech_audio_features.cluster`); the files and
the scores are the same as in-process.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from ..infra.atomic import load_json, save_arrays, save_json
from ..infra.errors import AudioError, RunConflictError
from ..speech.audio import file_num_frames
from ..speech.datasets import read_dataset
from ..speech.mfcc import audio_file_to_mfccs
from ..speech.model import LAYERS, DeepSpeech
from .featurevis.render import Objective, layer_width

INDEX_FORMAT = 1


class Example(NamedTuple):
    """One dataset example: its audio path and its mean activation for an objective."""
    path: str
    activation: float


@dataclass
class SearchResult:
    """All scores of a search.

    ``activations [U, n_objectives]`` has NaN for utterances that were skipped;
    ``names`` are the objectives' names (columns), ``paths`` the utterances (rows).
    """
    out: str
    names: list[str]
    paths: list[str]
    activations: np.ndarray
    skipped: list[str]
    report: dict


def _objective_matrices(model: DeepSpeech, objectives: Sequence[Objective]) -> dict[str, tuple[list[int], np.ndarray]]:
    """layer -> (objective columns, ``[F, n]`` weights 1/|J| on each objective's neurons)."""
    matrices = {}
    for layer in LAYERS:
        cols = [i for i, o in enumerate(objectives) if o.layer == layer]
        if cols:
            w = np.zeros((layer_width(model, layer), len(cols)), np.float32)
            for j, i in enumerate(cols):
                neurons = sorted(set(objectives[i].neurons))
                if neurons[-1] >= w.shape[0]:
                    raise ValueError(f"objective {objectives[i].name}: neuron {neurons[-1]} out of range "
                                     f"({layer} has {w.shape[0]} outputs)")
                w[neurons, j] = 1.0 / len(neurons)
            matrices[layer] = (cols, w)
    return matrices


def batch_activations(model: DeepSpeech, x: np.ndarray, lengths: np.ndarray,
                      objectives: Sequence[Objective]) -> np.ndarray:
    """Mean activation per utterance and objective, padded frames excluded.

    Args:
        x: ``[B, T, 26]`` padded MFCCs; ``lengths``: ``[B]`` real frames.
    Returns:
        ``[B, n_objectives]`` float32.
    """
    matrices = _objective_matrices(model, objectives)
    deepest = max((o.layer for o in objectives), key=LAYERS.index)
    outputs = model.compiled_forward(deepest)(np.asarray(x, np.float32), np.asarray(lengths, np.int32))
    out = np.zeros((len(x), len(objectives)), np.float32)
    for layer, (cols, w) in matrices.items():
        summed = outputs[layer].numpy().sum(axis=1)  # padded frames are zero
        out[:, cols] = (summed @ w) / np.asarray(lengths, np.float32)[:, None]
    return out


def _index(model: DeepSpeech, dataset, objectives, out: Path, batch_size: int,
           max_utterances: int | None) -> dict:
    identity = {"format": INDEX_FORMAT, "dataset": str(dataset), "batch_size": int(batch_size),
                "max_utterances": max_utterances, "objectives": [o.to_json() for o in objectives],
                "model": {"fingerprint": model.fingerprint(), "n_hidden": model.n_hidden,
                          "name": model.metadata.get("name")}}
    path = out / "index.json"
    if path.exists():
        index = load_json(path)
        old = {k: index.get(k) for k in identity}
        if old != identity:
            differing = sorted(k for k in identity if old.get(k) != identity[k])
            raise RunConflictError(f"{out}: holds a search with other settings ({', '.join(differing)}); "
                             "use another folder or delete it")
        return index
    utterances = read_dataset(dataset)[:max_utterances]
    frames, bad = np.zeros(len(utterances), np.int64), []
    for i, utt in enumerate(utterances):
        try:
            frames[i] = file_num_frames(utt.path)
        except AudioError as err:
            bad.append([i, str(err)])
            frames[i] = -1
    good = np.flatnonzero(frames >= 0)
    order = good[np.argsort(frames[good], kind="stable")]
    batches = [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    index = {**identity, "paths": [u.path for u in utterances], "transcripts": [u.transcript for u in utterances],
             "frames": frames.tolist(), "batches": batches, "unreadable": bad}
    save_json(path, index)
    return index


def _score_batch(model: DeepSpeech, out: Path, b: int, items: Sequence[tuple[int, str]],
                 objectives: Sequence[Objective], upper: float) -> tuple[int, int]:
    """Score one length batch and write ``batch_<b>.npz`` atomically.

    ``items`` are ``(utterance index, path)``. Returns (utterances scored, real frames).
    """
    from ..speech.batching import pad_batch

    good, arrays, skipped, reasons = [], [], [], []
    for i, path in items:
        try:
            arrays.append(audio_file_to_mfccs(path, upper))
            good.append(i)
        except (AudioError, ValueError) as err:
            skipped.append(i)
            reasons.append(str(err))
    if good:
        x, lengths = pad_batch(arrays)
        acts = batch_activations(model, x, lengths, objectives)
    else:
        lengths, acts = np.zeros(0, np.int32), np.zeros((0, len(objectives)), np.float32)
    save_arrays(out / f"batch_{b}.npz", indices=np.array(good, np.int64), activations=acts,
                frames=np.asarray(lengths, np.int32), skipped_indices=np.array(skipped, np.int64),
                skipped_reasons=np.array(reasons, dtype=str))
    return len(good), int(np.sum(lengths))


def _search_shard(shard: list[tuple[int, list[tuple[int, str]]]], out: str, checkpoint: str, fingerprint: str,
                  objectives: list[dict], upper: float, threads: int | None) -> dict:
    """A Dask task: score the shard's batches that have no file yet (runs on a worker)."""
    from .distributed import worker_info, worker_model

    start = time.perf_counter()
    model = worker_model(checkpoint, fingerprint, threads)
    objectives_ = [Objective.from_json(o) for o in objectives]
    done = utterances = frames = 0
    for b, items in shard:
        if (Path(out) / f"batch_{b}.npz").exists():  # finished before a crash or by a lost worker
            continue
        n, f = _score_batch(model, Path(out), b, items, objectives_, upper)
        done, utterances, frames = done + 1, utterances + n, frames + f
    return {"batches": done, "utterances": utterances, "frames": frames,
            "seconds": time.perf_counter() - start, "worker": worker_info(checkpoint)}


def search_dataset(model: DeepSpeech, dataset: str | os.PathLike, objectives: Sequence[Objective],
                   out: str | os.PathLike, batch_size: int = 128, max_utterances: int | None = None,
                   progress: bool = True, scheduler=None, shards: int | None = None,
                   worker_threads: int | None = None) -> SearchResult:
    """Score every utterance of ``dataset`` for every objective; resumable.

    Args:
        dataset: a DeepSpeech CSV or a folder of audio files (see ``read_dataset``).
        objectives: their ``layer``, ``neurons`` and ``name`` matter here.
        out: the run folder (see the module docstring); re-running resumes.
        batch_size: utterances per forward pass (the study used 128).
        max_utterances: only the first n utterances of the dataset.
        scheduler: ``None`` runs in this process. A Dask ``distributed.Client``, a
            cluster, or a scheduler address (``"tcp://host:8786"``) runs the batches
            as shards on its workers (see :mod:`~deepspeech_audio_features.cluster`);
            ``out``, the audio and the model's checkpoint must be visible to them.
        shards: number of shards (default: 4 per worker), balanced by padded frames.
        worker_threads: TensorFlow threads per worker process (default: TF's choice).
    Returns:
        :class:`SearchResult`; bad files are skipped and listed in ``skipped`` as
        ``"path: reason"`` (also in ``report.json``). The scores do not depend on
        ``scheduler`` or ``shards``.
    """
    from tqdm.auto import tqdm

    objectives = list(objectives)
    names = [o.name for o in objectives]
    if len(set(names)) != len(names):
        raise ValueError(f"objective names must be unique: {names}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index = _index(model, dataset, objectives, out, batch_size, max_utterances)
    paths = index["paths"]
    upper = model.upper_frequency_limit
    start, evaluated, audio_frames = time.perf_counter(), 0, 0
    todo = [b for b in range(len(index["batches"])) if not (out / f"batch_{b}.npz").exists()]
    distributed: dict = {}
    if scheduler is None:
        for b in tqdm(todo, desc="dataset search", disable=not progress):
            n, f = _score_batch(model, out, b, [(i, paths[i]) for i in index["batches"][b]], objectives, upper)
            evaluated, audio_frames = evaluated + n, audio_frames + f
    elif todo:
        from .distributed import run_sharded

        frames = index.get("frames")
        # A batch costs its padded size: utterances x longest utterance.
        costs = [len(index["batches"][b]) * (max(frames[i] for i in index["batches"][b]) if frames else 1)
                 for b in todo]
        items = [(b, [(i, paths[i]) for i in index["batches"][b]]) for b in todo]
        results, distributed = run_sharded(scheduler, model, out, _search_shard, items, costs,
                                           [o.to_json() for o in objectives], upper, shards=shards,
                                           worker_threads=worker_threads, name="dataset search", progress=progress)
        evaluated = sum(r["utterances"] for r in results)
        audio_frames = sum(r["frames"] for r in results)
    seconds = time.perf_counter() - start
    result = load_search(out)
    report = {"utterances": len(paths), "scored": int(np.sum(~np.isnan(result.activations[:, 0])))
              if len(objectives) else 0,
              "skipped": result.skipped, "batches": len(index["batches"]),
              "missing_batches": [b for b in range(len(index["batches"])) if not (out / f"batch_{b}.npz").exists()],
              "this_session": {"utterances": evaluated, "batches": len(todo), "seconds": round(seconds, 3),
                               "utterances_per_second": round(evaluated / seconds, 3) if seconds > 0 else None,
                               "audio_seconds_per_second":
                                   round(audio_frames * 0.02 / seconds, 3) if seconds > 0 else None}}
    if distributed:
        report["this_session"]["distributed"] = distributed
    save_json(out / "report.json", report)
    result.report = report
    if distributed:
        from ..infra.cluster import raise_for_failed_shards

        raise_for_failed_shards(out, distributed)
    return result


def load_search(out: str | os.PathLike) -> SearchResult:
    """Read a (possibly unfinished) search back; unscored utterances are NaN."""
    out = Path(out)
    index = load_json(out / "index.json")
    paths = index["paths"]
    names = [o.get("name") or o["layer"] for o in index["objectives"]]
    acts = np.full((len(paths), len(names)), np.nan, np.float32)
    skipped = [str(reason) for _, reason in index["unreadable"]]
    for b in range(len(index["batches"])):
        path = out / f"batch_{b}.npz"
        if not path.exists():
            continue
        with np.load(path, allow_pickle=False) as data:
            acts[data["indices"]] = data["activations"]
            skipped += [str(r) for r in data["skipped_reasons"]]
    report = load_json(out / "report.json") if (out / "report.json").exists() else {}
    return SearchResult(str(out), names, paths, acts, skipped, report)


def _ranked(n: int, out, descending: bool) -> dict[str, list[Example]]:
    result = load_search(out)
    ranked = {}
    for j, name in enumerate(result.names):
        column = result.activations[:, j]
        valid = np.flatnonzero(~np.isnan(column))
        order = valid[np.argsort(-column[valid] if descending else column[valid], kind="stable")][:n]
        ranked[name] = [Example(result.paths[i], float(column[i])) for i in order]
    return ranked


def get_top_examples(n: int, out: str | os.PathLike = "runs/run_search_dataset_experiment"
                     ) -> dict[str, list[Example]]:
    """The ``n`` utterances with the highest mean activation, per objective name.

    Returns:
        ``{name: [Example(path, activation), ...]}``, highest first.
    """
    return _ranked(n, out, descending=True)


def get_bottom_examples(n: int, out: str | os.PathLike = "runs/run_search_dataset_experiment"
                        ) -> dict[str, list[Example]]:
    """The ``n`` utterances with the lowest mean activation, per objective name, lowest first."""
    return _ranked(n, out, descending=False)


