"""The mask experiment over many utterances: in-process, or sharded on a Dask cluster.

:func:`mask_dataset` runs :func:`~deepspeech_audio_features.masks.importance_mask` for
every utterance of a dataset (a DeepSpeech CSV or a folder of audio files). Run folder::

    <out>/index.json           dataset (path and a hash of its rows and file sizes), options,
                               model fingerprint, utterances
                               (path, run name, seconds of audio)
    <out>/<run name>/          one mask run per utterance (snapshots ``<i>.npy``,
                               ``result.json``; see ``importance_mask``)
    <out>/report.json          per-utterance summaries, skipped files with reasons,
                               totals, throughput, and the cluster's figures

An utterance is finished when its ``result.json`` exists; re-running (after a crash,
or the scheduler's retry after a worker died) skips finished utterances and resumes
unfinished ones from their last snapshot. With a Dask scheduler the utterances are
split into shards of near-equal total audio length, one task each, and each worker
process loads the model once (see :mod:`~deepspeech_audio_features.cluster`).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...infra.atomic import load_json, save_json
from ...infra.errors import AudioError, FileFormatError
from ...infra.options import check_int
from ...infra.runfolder import RunFolder
from ...speech.datasets import dataset_digest, read_dataset
from .options import MaskOptions
from .store import RESULT, is_finished

INDEX_FORMAT = 3  # 2: "options" holds every MaskOptions field; 3: the dataset's content hash


@dataclass
class MaskDatasetResult:
    """Summaries of a dataset's masks.

    ``results`` maps run names to :meth:`MaskResult.summary` dicts (plus ``path`` and
    ``audio_seconds``); ``skipped`` lists ``"path: reason"`` for bad files.
    """
    out: str
    results: dict[str, dict]
    skipped: list[str]
    report: dict

    def mask(self, name: str) -> np.ndarray:
        """The final uint8 ``[T, 26]`` mask of one utterance."""
        from .store import load_mask

        return load_mask(Path(self.out) / name)


def _unique_names(paths: list[str]) -> list[str]:
    from ...infra.runfolder import run_name

    names, seen = [], {}
    for i, path in enumerate(paths):
        name = run_name(path)
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}-{i}")
    return names


def _duration(path: str) -> float:
    """Seconds of audio from the header, the shard cost; a bad file costs nothing (rejected at once)."""
    from ...speech.audio import file_num_frames

    try:
        return file_num_frames(path) * 0.02
    except AudioError:
        return 0.0


def _mask_one(model, path: str, run_dir: Path, options: MaskOptions) -> dict:
    """Mask one utterance (or read its finished result); raises AudioError for bad audio."""
    from ...speech.mfcc import audio_file_to_mfccs
    from .importance import importance_mask

    x = audio_file_to_mfccs(path, model.upper_frequency_limit)
    result = importance_mask(model, x, options, run_dir=run_dir)
    return {"path": path, "audio_seconds": round(len(x) * 0.02, 3), **result.summary()}


def _mask_shard(shard: list[tuple[str, str]], out: str, checkpoint: str, fingerprint: str, options: dict,
                threads: int | None) -> dict:
    """A Dask task: mask the shard's ``(path, run name)`` utterances not finished yet.

    ``options`` is :meth:`MaskOptions.to_dict` (plain JSON values travel to the workers).
    """
    from ..distributed import worker_info, worker_model

    start = time.perf_counter()
    model = worker_model(checkpoint, fingerprint, threads)
    options = MaskOptions.from_dict(options, source="mask_dataset options")
    done, skipped, failed, audio = 0, [], [], 0.0
    for path, name in shard:
        if is_finished(Path(out) / name):
            continue
        try:
            audio += _mask_one(model, path, Path(out) / name, options)["audio_seconds"]
            done += 1
        except AudioError as err:  # bad audio only: a real failure must not pass as a skip
            skipped.append(str(err))
        except FileFormatError as err:  # a damaged run folder: named, the others go on
            failed.append(str(err))
    return {"utterances": done, "audio_seconds": audio, "skipped": skipped, "failed": failed,
            "seconds": time.perf_counter() - start, "worker": worker_info(checkpoint)}


def mask_dataset(dataset: str | os.PathLike, model=None, out: str | os.PathLike = "runs/mask_dataset",
                 options: MaskOptions | None = None, *, max_utterances: int | None = None, scheduler=None,
                 shards: int | None = None, worker_threads: int | None = None, progress: bool = True,
                 overwrite: bool = False, **overrides) -> MaskDatasetResult:
    """An importance mask for every utterance of ``dataset``; resumable, optionally on Dask.

    Args:
        dataset: a DeepSpeech CSV or a folder of audio files.
        model: the network (default: the embedded model).
        out: the run folder (see the module docstring).
        options: :func:`importance_mask` settings for every utterance (default: the defaults).
        max_utterances: only the first n utterances.
        scheduler: ``None`` (in this process), a Dask ``distributed.Client``, a cluster
            or a scheduler address ``"tcp://host:8786"``; ``out``, the audio and the
            model's checkpoint must be visible to the workers.
        shards: number of shards (default: 4 per worker), balanced by seconds of audio.
        worker_threads: TensorFlow threads per worker process.
        overwrite: clear ``out`` when it holds masks made with other settings (or of
            another dataset content), instead of refusing it.
        overrides: :class:`MaskOptions` fields replacing those of ``options``.
    Returns:
        :class:`MaskDatasetResult`; every mask in it passed the exact final check.
    Raises:
        ParameterError: an unknown or bad option.
        RunConflictError: ``out`` holds masks made with other settings.
    """
    from ...speech.checkpoints import load_model

    options = MaskOptions.resolve(options, overrides)
    if max_utterances is not None:
        check_int("max_utterances", max_utterances, 1)
    model = model if model is not None else load_model()
    out = Path(out)
    index = _open_index(out, dataset, max_utterances, options, model.fingerprint(), overwrite)
    paths, names = index["paths"], index["names"]
    todo = [i for i, name in enumerate(names) if not is_finished(out / name)]
    start = time.perf_counter()
    if scheduler is None:
        session, distributed = _mask_in_process(model, out, [(paths[i], names[i]) for i in todo], options,
                                                progress), {}
    elif todo:
        session, distributed = _mask_on_cluster(scheduler, model, out, index, todo, options, shards,
                                                worker_threads, progress)
    else:
        session, distributed = {"utterances": 0, "audio_seconds": 0.0, "skipped": [], "failed": []}, {}
    report = _report(out, paths, names, session, time.perf_counter() - start, distributed)
    save_json(out / "report.json", report)
    if distributed:
        from ...infra.cluster import raise_for_failed_shards

        raise_for_failed_shards(out, distributed)
    return MaskDatasetResult(str(out), report["results"], report["skipped"], report)


def _open_index(out: Path, dataset, max_utterances: int | None, options: MaskOptions, fingerprint: str,
                overwrite: bool = False) -> dict:
    """``<out>/index.json``: the run's identity and, written once, its utterances."""
    rows = read_dataset(dataset)[:max_utterances]
    identity = {"format": INDEX_FORMAT, "dataset": str(dataset), "dataset_digest": dataset_digest(rows),
                "max_utterances": max_utterances, "options": options.to_dict(), "model": fingerprint}

    def utterances() -> dict:
        paths = [u.path for u in rows]
        return {"paths": paths, "names": _unique_names(paths), "audio_seconds": [round(_duration(p), 3) for p in paths]}

    run = RunFolder(out, identity, record="index.json", overwrite=overwrite, kind="mask dataset run").open(utterances)
    index = run.load_json("index.json")
    if not isinstance(index, dict) or not all(isinstance(index.get(k), list) for k in ("paths", "names", "audio_seconds")) \
            or not len(index["paths"]) == len(index["names"]) == len(index["audio_seconds"]):
        raise FileFormatError(f"{run.file('index.json')}: not a mask dataset index (paths, names, audio_seconds)")
    for name in index["names"]:
        run.file(name)  # a name must stay inside the folder
    return index


def _mask_in_process(model, out: Path, items: list[tuple[str, str]], options: MaskOptions, progress: bool) -> dict:
    """Mask ``(path, run name)`` items here; returns this session's counts and skipped files."""
    from ...infra.progress import progress_bar

    done, skipped, failed, audio = 0, [], [], 0.0
    for path, name in progress_bar(items, desc="masks", disable=not progress):
        try:
            audio += _mask_one(model, path, out / name, options)["audio_seconds"]
            done += 1
        except AudioError as err:  # bad audio only: a real failure must not pass as a skip
            skipped.append(str(err))
        except FileFormatError as err:  # a damaged run folder: named, the others go on
            failed.append(str(err))
    return {"utterances": done, "audio_seconds": audio, "skipped": skipped, "failed": failed}


def _mask_on_cluster(scheduler, model, out: Path, index: dict, todo: list[int], options: MaskOptions,
                     shards: int | None, worker_threads: int | None, progress: bool) -> tuple[dict, dict]:
    """Mask the ``todo`` utterances on a Dask cluster; returns (this session's counts, cluster figures)."""
    from ..distributed import run_sharded

    items = [(index["paths"][i], index["names"][i]) for i in todo]
    results, distributed = run_sharded(scheduler, model, out, _mask_shard, items,
                                       [index["audio_seconds"][i] for i in todo], options.to_dict(), shards=shards,
                                       worker_threads=worker_threads, name="masks", progress=progress)
    return {"utterances": sum(r["utterances"] for r in results),
            "audio_seconds": sum(r["audio_seconds"] for r in results),
            "skipped": [s for r in results for s in r["skipped"]],
            "failed": [s for r in results for s in r.get("failed", [])]}, distributed


def _report(out: Path, paths: list[str], names: list[str], session: dict, seconds: float, distributed: dict) -> dict:
    """``report.json``: every finished utterance's summary, totals and this session's figures."""
    summaries = {}
    for path, name in zip(paths, names):
        if is_finished(out / name):
            try:
                info = load_json(out / name / RESULT)
            except FileFormatError as err:  # a damaged finished run: named, never counted
                session["failed"].append(str(err))
                continue
            summaries[name] = {"path": path, **{k: info.get(k) for k in
                                                ("zero_fraction", "frame_agreement", "one_minimal",
                                                 "one_minimal_checked", "text_original", "text_masked",
                                                 "frames", "seconds", "evaluations")}}
    zero = [s["zero_fraction"] for s in summaries.values()]
    audio = session["audio_seconds"]
    report = {"utterances": len(paths), "masked": len(summaries), "skipped": sorted(set(session["skipped"])),
              "failed": sorted(set(session.get("failed", []))),
              "mean_zero_fraction": float(np.mean(zero)) if zero else None,
              "all_frames_agree": all(s["frame_agreement"] == 1.0 for s in summaries.values()),
              "one_minimal": sum(bool(s["one_minimal"]) for s in summaries.values()),
              "results": summaries,
              "this_session": {"utterances": session["utterances"], "audio_seconds": round(audio, 3),
                               "seconds": round(seconds, 3),
                               "seconds_per_audio_second": round(seconds / audio, 3) if audio else None}}
    if distributed:
        report["this_session"]["distributed"] = distributed
    return report
