"""Dataset examples: the utterances that most (and least) activate chosen neurons.

For every utterance of a dataset (a DeepSpeech CSV or a folder of audio files) and
every objective (a layer and a neuron set, see
:class:`~deepspeech_audio_features.interpret.featurevis.Objective`), the score is the mean
activation over the utterance's real frames and the objective's neurons::

    a(u, o) = mean_{t < T_u, f in J_o} y_layer(X_u)[t, f]

Utterances are batched by length (read from the file headers, so no audio is decoded
twice) and one forward pass per batch, up to the deepest layer any objective needs,
serves all objectives. Padded frames are excluded (the network zeroes them and the
mean divides by the real length).

Run folder (no pickle; every file written atomically)::

    <out>/index.json       dataset (path and a hash of its rows and file sizes), objectives,
                           model, batch size, paths, frames (from the headers), batches,
                           and the files whose header could not be read ([index, reason])
    <out>/batch_<b>.npz    indices [n], activations [n, n_objectives], frames [n],
                           skipped_indices [k], skipped_reasons [k] (unicode), tag [] (the
                           hash of the search's identity and this batch's items)
    <out>/report.json      totals, skipped files with reasons, batches recomputed, throughput

Re-running with the same settings skips finished batches (resume); a folder holding a
search with other settings (or another dataset content) is refused
(:class:`~deepspeech_audio_features.infra.runfolder.RunFolder`), unless ``overwrite``. A batch
file that is unreadable, or whose tag belongs to another search or batch, is never used:
it is recomputed and named in the report.

Given a Dask ``distributed`` client or scheduler address, the unfinished batches are
grouped into shards of near-equal padded size and run on the cluster's workers, one
model per worker process (:mod:`~deepspeech_audio_features.interpret.distributed`); the files and
the scores are the same as in-process.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from ..infra.atomic import load_json, save_arrays
from ..infra.errors import AudioError, FileFormatError, ParameterError
from ..infra.runfolder import RunFolder
from ..speech.audio import file_num_frames
from ..speech.datasets import dataset_digest, read_dataset
from ..speech.mfcc import audio_file_to_mfccs
from ..speech.model import LAYERS, DeepSpeech
from .featurevis.objectives import Objective, check_objectives, layer_width
from .search_options import SearchOptions

INDEX_FORMAT = 2  # 2: the dataset's content hash in the identity, tagged batch files
#: The arrays every batch file holds.
BATCH_KEYS = ("indices", "activations", "frames", "skipped_indices", "skipped_reasons", "tag")


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
                    raise ParameterError(f"neurons: objective {objectives[i].name}: neuron {neurons[-1]} out of "
                                         f"range ({layer} has {w.shape[0]} outputs)")
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


def _open_index(model: DeepSpeech, dataset, objectives: Sequence[Objective], out, options: SearchOptions,
                overwrite: bool = False) -> tuple[RunFolder, dict]:
    """Open the run folder with the search's identity; a new one gets its index of batches."""
    utterances = read_dataset(dataset)[:options.max_utterances]
    identity = {"format": INDEX_FORMAT, "dataset": str(dataset), "dataset_digest": dataset_digest(utterances),
                "batch_size": options.batch_size,
                "max_utterances": options.max_utterances, "objectives": [o.to_json() for o in objectives],
                "model": {"fingerprint": model.fingerprint(), "n_hidden": model.n_hidden,
                          "name": model.metadata.get("name")}}
    run = RunFolder(out, identity, record="index.json", overwrite=overwrite, kind="search")
    # The index reads every file's header: only when it is written (a resumed run has it).
    run.open(lambda: _dataset_index(utterances, options))
    index = run.load_json("index.json")
    if not isinstance(index, dict) or not all(isinstance(index.get(k), list) for k in ("paths", "batches", "unreadable")):
        raise FileFormatError(f"{run.file('index.json')}: not a search index (paths, batches, unreadable)")
    return run, index


def batch_tag(index: dict, b: int) -> str:
    """The hash that ties ``batch_<b>.npz`` to this search's identity and batch ``b``'s items."""
    keys = ("format", "dataset", "dataset_digest", "batch_size", "max_utterances", "objectives", "model")
    items = [[i, index["paths"][i]] for i in index["batches"][b]]
    text = json.dumps([{k: index.get(k) for k in keys}, items], sort_keys=True)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def check_batch(run: RunFolder, index: dict, b: int) -> str | None:
    """None when ``batch_<b>.npz`` exists and belongs to this search and batch, else why not."""
    name = f"batch_{b}.npz"
    data, problem = run.load_batch(name, BATCH_KEYS)
    if problem:
        return problem
    if str(data["tag"]) != batch_tag(index, b):
        return f"{run.file(name)}: written by another search or for other utterances (tag differs)"
    n = len(data["indices"])
    if data["activations"].shape != (n, len(index["objectives"])) or data["frames"].shape != (n,) \
            or sorted([*data["indices"].tolist(), *data["skipped_indices"].tolist()]) != sorted(index["batches"][b]):
        return f"{run.file(name)}: its arrays do not match batch {b}"
    return None


def _dataset_index(utterances, options: SearchOptions) -> dict:
    """Paths, transcripts, frames (from the headers), length-sorted batches, unreadable files."""
    frames, bad = np.zeros(len(utterances), np.int64), []
    for i, utt in enumerate(utterances):
        try:
            frames[i] = file_num_frames(utt.path)
        except AudioError as err:
            bad.append([i, str(err)])
            frames[i] = -1
    good = np.flatnonzero(frames >= 0)
    order = good[np.argsort(frames[good], kind="stable")]
    batches = [order[i:i + options.batch_size].tolist() for i in range(0, len(order), options.batch_size)]
    return {"paths": [u.path for u in utterances], "transcripts": [u.transcript for u in utterances],
            "frames": frames.tolist(), "batches": batches, "unreadable": bad}


def score_batch(model: DeepSpeech, out: str | os.PathLike, b: int, items: Sequence[tuple[int, str]],
                objectives: Sequence[Objective], upper: float, tag: str = "") -> tuple[int, int]:
    """Score one length batch and write ``<out>/batch_<b>.npz`` atomically.

    ``items`` are ``(utterance index, path)``; ``tag`` is :func:`batch_tag`. Returns
    (utterances scored, real frames).
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
    save_arrays(Path(out) / f"batch_{b}.npz", indices=np.array(good, np.int64), activations=acts,
                frames=np.asarray(lengths, np.int32), skipped_indices=np.array(skipped, np.int64),
                skipped_reasons=np.array(reasons, dtype=str), tag=np.array(tag))
    return len(good), int(np.sum(lengths))


def _search_shard(shard: list[tuple[int, str, list[tuple[int, str]]]], out: str, checkpoint: str, fingerprint: str,
                  objectives: list[dict], upper: float, threads: int | None) -> dict:
    """A Dask task: score the shard's batches that have no file yet (runs on a worker)."""
    from .distributed import worker_info, worker_model

    start = time.perf_counter()
    model = worker_model(checkpoint, fingerprint, threads)
    objectives_ = [Objective.from_json(o) for o in objectives]
    done = utterances = frames = 0
    for b, tag, items in shard:
        if (Path(out) / f"batch_{b}.npz").exists():  # finished before a crash or by a lost worker
            continue
        n, f = score_batch(model, out, b, items, objectives_, upper, tag)
        done, utterances, frames = done + 1, utterances + n, frames + f
    return {"batches": done, "utterances": utterances, "frames": frames,
            "seconds": time.perf_counter() - start, "worker": worker_info(checkpoint)}


def search_dataset(model: DeepSpeech, dataset: str | os.PathLike, objectives: Sequence[Objective],
                   out: str | os.PathLike, options: SearchOptions | None = None, *, progress: bool = True,
                   scheduler=None, overwrite: bool = False, **overrides) -> SearchResult:
    """Score every utterance of ``dataset`` for every objective; resumable.

    Args:
        dataset: a DeepSpeech CSV or a folder of audio files (see ``read_dataset``).
        objectives: their ``layer``, ``neurons`` and ``name`` matter here.
        out: the run folder (see the module docstring); re-running resumes.
        options: :class:`SearchOptions` (batch size, utterance limit, shards, worker
            threads); ``overrides`` replace single fields (``batch_size=32``).
        scheduler: ``None`` runs in this process. A Dask ``distributed.Client``, a
            cluster, or a scheduler address (``"tcp://host:8786"``) runs the batches
            as shards on its workers (see :mod:`~deepspeech_audio_features.interpret.distributed`);
            ``out``, the audio and the model's checkpoint must be visible to them.
        overwrite: clear ``out`` when it holds a search with other settings, instead of
            refusing it.
    Returns:
        :class:`SearchResult`; bad files are skipped and listed in ``skipped`` as
        ``"path: reason"`` (also in ``report.json``). The scores do not depend on
        ``scheduler`` or ``shards``.
    Raises:
        ParameterError: a bad option or objective. RunConflictError: ``out`` holds
            another search. DatasetError: the dataset cannot be listed.
    """
    options = SearchOptions.resolve(options, overrides)
    objectives = list(objectives)
    check_objectives(model, objectives)
    run, index = _open_index(model, dataset, objectives, out, options, overwrite)
    start = time.perf_counter()
    todo, recomputed = [], []
    for b in range(len(index["batches"])):
        problem = check_batch(run, index, b)
        if problem is not None:
            todo.append(b)
            if problem != "missing":  # never reused: scored again
                recomputed.append(problem)
                run.file(f"batch_{b}.npz").unlink()
    if scheduler is None:
        evaluated, audio_frames, distributed = _score_here(model, run, index, todo, objectives, progress)
    elif todo:
        evaluated, audio_frames, distributed = _score_on_cluster(model, run, index, todo, objectives, options,
                                                                 scheduler, progress)
    else:
        evaluated, audio_frames, distributed = 0, 0, {}
    result = load_search(run.path)
    result.report = _report(run, index, result, todo, evaluated, audio_frames, time.perf_counter() - start,
                            distributed, recomputed)
    if distributed:
        from ..infra.cluster import raise_for_failed_shards

        raise_for_failed_shards(run.path, distributed)
    return result


def _score_here(model, run: RunFolder, index: dict, todo: list[int], objectives, progress: bool):
    """Score the unfinished batches in this process: (utterances, frames, {})."""
    from ..infra.progress import progress_bar

    evaluated = audio_frames = 0
    for b in progress_bar(todo, desc="dataset search", disable=not progress):
        items = [(i, index["paths"][i]) for i in index["batches"][b]]
        n, f = score_batch(model, run.path, b, items, objectives, model.upper_frequency_limit, batch_tag(index, b))
        evaluated, audio_frames = evaluated + n, audio_frames + f
    return evaluated, audio_frames, {}


def _score_on_cluster(model, run: RunFolder, index: dict, todo: list[int], objectives, options: SearchOptions,
                      scheduler, progress: bool):
    """Score the unfinished batches as shards on a Dask cluster: (utterances, frames, cluster figures)."""
    from .distributed import run_sharded

    batches, paths, frames = index["batches"], index["paths"], index.get("frames")
    # A batch costs its padded size: utterances x longest utterance.
    costs = [len(batches[b]) * (max(frames[i] for i in batches[b]) if frames else 1) for b in todo]
    items = [(b, batch_tag(index, b), [(i, paths[i]) for i in batches[b]]) for b in todo]
    results, distributed = run_sharded(scheduler, model, run.path, _search_shard, items, costs,
                                       [o.to_json() for o in objectives], model.upper_frequency_limit,
                                       shards=options.shards, worker_threads=options.worker_threads,
                                       name="dataset search", progress=progress)
    return sum(r["utterances"] for r in results), sum(r["frames"] for r in results), distributed


def _report(run: RunFolder, index: dict, result: "SearchResult", todo: list[int], evaluated: int,
            audio_frames: int, seconds: float, distributed: dict, recomputed: list[str] = ()) -> dict:
    """Totals, skipped files and this session's throughput; written to ``report.json``."""
    n_batches = len(index["batches"])
    session = {"utterances": evaluated, "batches": len(todo), "seconds": round(seconds, 3),
               "utterances_per_second": round(evaluated / seconds, 3) if seconds > 0 else None,
               "audio_seconds_per_second": round(audio_frames * 0.02 / seconds, 3) if seconds > 0 else None}
    if distributed:
        session["distributed"] = distributed
    report = {"utterances": len(index["paths"]),
              "scored": int(np.sum(~np.isnan(result.activations[:, 0]))) if len(result.names) else 0,
              "skipped": result.skipped, "batches": n_batches,
              "missing_batches": [b for b in range(n_batches) if not run.exists(f"batch_{b}.npz")],
              "recomputed_batches": list(recomputed),
              "this_session": session}
    run.save_json("report.json", report)
    return report


def load_search(out: str | os.PathLike) -> SearchResult:
    """Read a (possibly unfinished) search back; unscored utterances are NaN.

    Raises:
        FileFormatError: ``index.json`` or a batch file is unreadable or belongs to
            another search (re-running :func:`search_dataset` recomputes such a batch).
    """
    out = Path(out)
    run = RunFolder(out, {}, record="index.json", kind="search")
    if not (out / "index.json").is_file():
        raise ParameterError(f"out: {out} holds no search (no index.json)")
    index = load_json(out / "index.json")
    if not isinstance(index, dict) or not all(isinstance(index.get(k), list) for k in ("paths", "batches", "unreadable")):
        raise FileFormatError(f"{out / 'index.json'}: not a search index (paths, batches, unreadable)")
    paths = index["paths"]
    names = [o.get("name") or o["layer"] for o in index["objectives"]]
    acts = np.full((len(paths), len(names)), np.nan, np.float32)
    skipped = [str(reason) for _, reason in index["unreadable"]]
    for b in range(len(index["batches"])):
        problem = check_batch(run, index, b)
        if problem == "missing":
            continue
        if problem is not None:
            raise FileFormatError(f"{problem}; re-run the search to recompute it")
        data = run.load_arrays(f"batch_{b}.npz")
        acts[data["indices"]] = data["activations"]
        skipped += [str(r) for r in data["skipped_reasons"]]
    try:
        report = load_json(out / "report.json") if (out / "report.json").exists() else {}
    except FileFormatError:  # derived data: the next search_dataset call rewrites it
        report = {}
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


