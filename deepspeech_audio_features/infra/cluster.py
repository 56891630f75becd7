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
import time
from typing import Any, Callable, Iterator, Sequence

from .errors import ParameterError


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
        raise ParameterError(f"n_shards must be at least 1, got {n_shards}")
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
        raise ParameterError(f"scheduler must be a distributed.Client, a cluster or an address, "
                        f"not {type(scheduler).__name__}")
    try:
        client = Client(target, timeout="30s")
    except OSError as err:
        raise ConnectionError(f"cannot reach the Dask scheduler at {target}: {err}") from None
    with client:
        yield client


def run_shards(client, task: Callable, shards: Sequence[Any], *args, name: str, progress: bool = True,
               retries: int = 2) -> tuple[list[dict], list[str]]:
    """Run ``task(shard, *args)`` for every shard on ``client``'s cluster.

    A task whose worker dies is rescheduled by Dask; an exception is retried
    ``retries`` times. Returns ``(the tasks' returned dicts, errors)`` where each error
    names the shard that failed for good; the other shards' results are kept on disk.
    """
    from distributed import as_completed

    from .progress import progress_bar

    token = f"{name}-{time.time_ns():x}"
    futures = {client.submit(task, shard, *args, key=f"{token}-{i}", pure=False, retries=retries): i
               for i, shard in enumerate(shards)}
    results, errors = [], []
    with progress_bar(total=len(futures), desc=f"{name} ({len(futures)} shards)", disable=not progress) as bar:
        for future in as_completed(futures):
            try:
                results.append(future.result())
            except Exception as err:  # a shard that failed for good: report it, keep the rest
                errors.append(f"shard {futures[future]}: {type(err).__name__}: {err}")
            bar.update(1)
    return results, errors


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
