"""Batch jobs on a Dask cluster: shards balanced by audio length, one model per worker.

The dataset search and the batch mask experiment split their work into *shards*
(groups of utterances or length batches of near-equal total cost) and, given a Dask
``distributed`` client or a scheduler address, run one task per shard:

- a task gets plain data (paths, options, the checkpoint path and the model's
  fingerprint), never the model itself; :func:`worker_model` loads the checkpoint once
  per worker process and reuses it for every later task there;
- a task writes each result file atomically into the run folder, which the workers
  and the client must all see (a shared file system, like the audio and the
  checkpoint), and skips results that already exist; so a re-run, or the scheduler's
  retry of a task whose worker died, redoes only what is missing;
- bad audio is recorded by the task and merged into the run's report, as in-process.

Without a client nothing here is used and Dask is never imported. On one machine,
``LocalCluster(n_workers=N, threads_per_worker=1)`` runs N worker processes.
"""
from __future__ import annotations

import contextlib
import heapq
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

# Per-process model cache of the worker: {resolved checkpoint: (model, fingerprint)}.
_MODELS: dict[str, Any] = {}
_MODEL_LOADS: dict[str, int] = {}
_LOCK = threading.Lock()


def balanced_shards(costs: Sequence[float], n_shards: int) -> list[list[int]]:
    """Split items into ``n_shards`` groups of near-equal total cost.

    Longest-processing-time-first: items in decreasing cost, each to the currently
    cheapest shard; the heaviest shard exceeds the mean by at most one item's cost.
    Deterministic (ties broken by index); empty shards are dropped.

    Args:
        costs: ``[N]`` cost of each item (e.g. seconds of audio, or padded frames).
        n_shards: the number of shards wanted (at least 1).
    Returns:
        lists of item indices, each sorted, ordered by their first index.
    """
    if n_shards < 1:
        raise ValueError(f"n_shards must be at least 1, got {n_shards}")
    heap = [(0.0, s) for s in range(min(n_shards, len(costs)))]
    shards: list[list[int]] = [[] for _ in heap]
    for i in sorted(range(len(costs)), key=lambda i: (-float(costs[i]), i)):
        total, s = heapq.heappop(heap)
        shards[s].append(i)
        heapq.heappush(heap, (total + float(costs[i]), s))
    return sorted((sorted(s) for s in shards if s), key=lambda s: s[0])


@contextlib.contextmanager
def connect(scheduler) -> Iterator[Any]:
    """A ``distributed.Client`` for ``scheduler``: a Client (used as is), a
    ``LocalCluster``/cluster object, or an address such as ``"tcp://10.0.0.5:8786"``.
    A client opened here is closed on exit."""
    from distributed import Client

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if isinstance(scheduler, (str, os.PathLike)):
        target = str(scheduler)
    elif hasattr(scheduler, "scheduler_address"):
        target = scheduler
    else:
        raise TypeError(f"scheduler must be a distributed.Client, a cluster or an address, "
                        f"not {type(scheduler).__name__}")
    try:
        client = Client(target, timeout="30s")
    except OSError as err:
        raise ConnectionError(f"cannot reach the Dask scheduler at {target}: {err}") from None
    with client:
        yield client


def model_source(model, out: str | os.PathLike) -> tuple[str, str]:
    """Where workers load ``model`` from, and its weight fingerprint.

    The model's own checkpoint (``metadata["checkpoint"]``, set by ``load_model``) when
    it still holds these weights; otherwise a copy saved under ``<out>/model``.
    Returns ``(absolute checkpoint path, fingerprint)``.
    """
    from .checkpoints import load_model, save_checkpoint
    from .visualization import model_fingerprint

    fingerprint = model_fingerprint(model)
    own = model.metadata.get("checkpoint")
    if own and _fingerprint_of(str(Path(own).resolve())) == fingerprint:
        return str(Path(own).resolve()), fingerprint
    folder = Path(out) / "model"
    if folder.exists() and _fingerprint_of(str(folder.resolve())) == fingerprint:
        return str(folder.resolve()), fingerprint
    prefix = save_checkpoint(model, folder, prefix_name="model")
    if model_fingerprint(load_model(prefix)) != fingerprint:
        raise ValueError(f"{prefix}: the saved copy of the model does not reload to the same weights")
    return str(folder.resolve()), fingerprint


def _fingerprint_of(checkpoint: str) -> str | None:
    from .checkpoints import load_model
    from .visualization import model_fingerprint

    try:
        return model_fingerprint(load_model(checkpoint))
    except (ValueError, OSError):
        return None


def worker_model(checkpoint: str, fingerprint: str | None = None, threads: int | None = None):
    """The model at ``checkpoint``, loaded once per process and reused by later tasks.

    Args:
        fingerprint: when given, the loaded weights must have it (the client's model),
            else ``ValueError``; catches a checkpoint changed on disk mid-job.
        threads: TensorFlow intra-op threads for this process, set before the first
            load (e.g. cores per worker when several workers share a machine).
    """
    from .checkpoints import load_model
    from .visualization import model_fingerprint

    with _LOCK:
        if checkpoint not in _MODELS:
            if threads and not _MODELS:
                import tensorflow as tf
                try:
                    tf.config.threading.set_intra_op_parallelism_threads(int(threads))
                    tf.config.threading.set_inter_op_parallelism_threads(int(threads))
                except RuntimeError:  # TensorFlow already started in this process
                    pass
            model = load_model(checkpoint)
            _MODELS[checkpoint] = (model, model_fingerprint(model))
            _MODEL_LOADS[checkpoint] = _MODEL_LOADS.get(checkpoint, 0) + 1
        model, found = _MODELS[checkpoint]
    if fingerprint is not None and found != fingerprint:
        raise ValueError(f"{checkpoint}: weights differ from the client's model (fingerprint {found} != {fingerprint})")
    return model


def worker_info(checkpoint: str) -> dict:
    """This process's id and how often it has loaded ``checkpoint`` (for reports and tests)."""
    return {"pid": os.getpid(), "model_loads": _MODEL_LOADS.get(checkpoint, 0)}


def run_shards(client, task: Callable, shards: Sequence[Any], *args, name: str, progress: bool = True,
               retries: int = 2) -> tuple[list[dict], list[str]]:
    """Run ``task(shard, *args)`` for every shard on ``client``'s cluster.

    A task whose worker dies is rescheduled by Dask; an exception is retried
    ``retries`` times. Returns ``(the tasks' returned dicts, errors)`` where each error
    names the shard that failed for good; the other shards' results are kept on disk.
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    token = f"{name}-{time.time_ns():x}"
    futures = {client.submit(task, shard, *args, key=f"{token}-{i}", pure=False, retries=retries): i
               for i, shard in enumerate(shards)}
    results, errors = [], []
    with tqdm(total=len(futures), desc=f"{name} ({len(futures)} shards)", disable=not progress) as bar:
        for future in as_completed(futures):
            try:
                results.append(future.result())
            except Exception as err:  # a shard that failed for good: report it, keep the rest
                errors.append(f"shard {futures[future]}: {type(err).__name__}: {err}")
            bar.update(1)
    return results, errors


def run_sharded(scheduler, model, out: str | os.PathLike, task: Callable, items: Sequence[Any],
                costs: Sequence[float], *task_args, shards: int | None = None, worker_threads: int | None = None,
                name: str, progress: bool = True) -> tuple[list[dict], dict]:
    """Group ``items`` into shards balanced by ``costs`` and run them on ``scheduler``'s cluster.

    Each task is called as ``task(shard, out, checkpoint, fingerprint, *task_args,
    worker_threads)`` and returns a dict with ``seconds`` and ``worker``
    (:func:`worker_info`). ``shards`` defaults to 4 per worker, so a slow shard at the end
    leaves little idle time. Returns ``(the tasks' dicts, figures for the report)``.
    """
    checkpoint, fingerprint = model_source(model, out)
    with connect(scheduler) as client:
        n_shards = shards or 4 * max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
        groups = [[items[k] for k in group] for group in balanced_shards(costs, n_shards)]
        results, errors = run_shards(client, task, groups, str(Path(out).resolve()), checkpoint, fingerprint,
                                     *task_args, worker_threads, name=name, progress=progress)
        info = {"scheduler": client.scheduler.address, "shards": len(groups), "failed_shards": errors,
                "workers": summarize_workers(results),
                "task_seconds": round(sum(r["seconds"] for r in results), 3)}
    return results, info


def raise_for_failed_shards(out, info: dict) -> None:
    """RuntimeError naming the first failed shard, if any (call after saving the report)."""
    failed = info.get("failed_shards")
    if failed:
        raise RuntimeError(f"{out}: {len(failed)} shard(s) failed ({failed[0]}); the rest is saved, re-run to complete")


def summarize_workers(results: Sequence[dict]) -> dict:
    """Merge the tasks' ``worker`` entries: tasks, seconds and model loads per process."""
    workers: dict[str, dict] = {}
    for r in results:
        w = r["worker"]
        entry = workers.setdefault(str(w["pid"]), {"tasks": 0, "seconds": 0.0, "model_loads": 0})
        entry["tasks"] += 1
        entry["seconds"] = round(entry["seconds"] + r.get("seconds", 0.0), 3)
        entry["model_loads"] = max(entry["model_loads"], w["model_loads"])
    return workers
