"""The model side of batch jobs on Dask: where workers load the model from, one model per
worker process (checked against the client's weight fingerprint), and sharded runs.

The generic parts (shards balanced by cost, connecting, running tasks) are in
:mod:`deepspeech_audio_features.infra.cluster`; see there for how jobs behave.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from ..infra.cluster import balanced_shards, connect, run_shards, summarize_workers

# Per-process model cache of the worker: {resolved checkpoint: (model, fingerprint)}.
_MODELS: dict[str, Any] = {}


_MODEL_LOADS: dict[str, int] = {}


_LOCK = threading.Lock()


def model_source(model, out: str | os.PathLike) -> tuple[str, str]:
    """Where workers load ``model`` from, and its weight fingerprint.

    The model's own checkpoint (``metadata["checkpoint"]``, set by ``load_model``) when
    it still holds these weights; otherwise a copy saved under ``<out>/model``.
    Returns ``(absolute checkpoint path, fingerprint)``.
    """
    from ..speech.checkpoints import load_model, save_checkpoint

    fingerprint = model.fingerprint()
    own = model.metadata.get("checkpoint")
    if own and _fingerprint_of(str(Path(own).resolve())) == fingerprint:
        return str(Path(own).resolve()), fingerprint
    folder = Path(out) / "model"
    if folder.exists() and _fingerprint_of(str(folder.resolve())) == fingerprint:
        return str(folder.resolve()), fingerprint
    prefix = save_checkpoint(model, folder, prefix_name="model")
    if load_model(prefix).fingerprint() != fingerprint:
        raise ValueError(f"{prefix}: the saved copy of the model does not reload to the same weights")
    return str(folder.resolve()), fingerprint


def _fingerprint_of(checkpoint: str) -> str | None:
    from ..speech.checkpoints import load_model

    try:
        return load_model(checkpoint).fingerprint()
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
    from ..infra.threads import set_tensorflow_threads
    from ..speech.checkpoints import load_model

    with _LOCK:
        if checkpoint not in _MODELS:
            if threads and not _MODELS:
                set_tensorflow_threads(int(threads))  # False when TensorFlow already started here
            model = load_model(checkpoint)
            _MODELS[checkpoint] = (model, model.fingerprint())
            _MODEL_LOADS[checkpoint] = _MODEL_LOADS.get(checkpoint, 0) + 1
        model, found = _MODELS[checkpoint]
    if fingerprint is not None and found != fingerprint:
        raise ValueError(f"{checkpoint}: weights differ from the client's model (fingerprint {found} != {fingerprint})")
    return model


def worker_info(checkpoint: str) -> dict:
    """This process's id and how often it has loaded ``checkpoint`` (for reports and tests)."""
    return {"pid": os.getpid(), "model_loads": _MODEL_LOADS.get(checkpoint, 0)}


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
