"""Feature visualization of every neuron of a layer (the atlas's learned inputs).

:func:`visualize_neurons` gives each neuron its own single-neuron objective and learns
one input per neuron, ``batch_size`` objectives per optimization (one batched
forward/backward per step, each row run only to its layer). Each batch is a unit of work
with its own file, so an interrupted run redoes only the missing batches, and the
batches can run on a Dask cluster (one model per worker process, as the dataset search).

Run folder, one per layer (a :class:`~deepspeech_audio_features.infra.runfolder.RunFolder`;
every file written atomically)::

    <out>/<layer>/config.json           identity: model fingerprint, layer, neurons, batch size, options
    <out>/<layer>/batch-<NNNN>.npz      neurons [n] int32, inputs [n, T, 26] float32 (the learned MFCCs),
                                        activation [n] float32 (the neuron's mean activation at the end),
                                        total_variation [n] float32 (TV per element)
    <out>/<layer>/report.json           batches, what this session computed, its speed

A neuron's learned input does not depend on the batch it lands in nor on where it ran:
its initial noise comes from its own random stream (its objective is named
``<layer>-<neuron>``) and rows of a batch do not interact (tested to float32 round-off).
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ...infra.atomic import save_arrays
from ...infra.errors import FileFormatError, ParameterError
from ...infra.options import check_int
from ...infra.runfolder import RunFolder
from ...speech.model import LAYERS, DeepSpeech
from .options import ATLAS_BATCH_SIZE, ATLAS_OPTIONS, VisualizationOptions  # noqa: F401 (ATLAS_*: re-exported)

#: Bumped when the meaning of a neuron run's files changes; resuming checks it.
NEURONS_FORMAT = 1
#: The arrays every batch file holds.
BATCH_KEYS = ("neurons", "inputs", "activation", "total_variation")



@dataclass
class NeuronInputs:
    """Learned inputs of a layer's neurons, read back by :func:`load_neuron_inputs`.

    Attributes:
        layer: the layer's name.
        neurons: ``[N]`` int32 neuron indices, sorted.
        inputs: ``[N, T, 26]`` float32 learned MFCCs, row i for ``neurons[i]``.
        activation: ``[N]`` float32 mean activation of each neuron on its own input
            (mean over the T frames) after the last step.
        total_variation: ``[N]`` float32 TV of each input per element (``TV / (T * 26)``).
        config: the run's ``config.json`` (model, options, batch size, neuron list).
        report: what the call that returned this computed (empty when loaded).
    """
    layer: str
    neurons: np.ndarray
    inputs: np.ndarray
    activation: np.ndarray
    config: dict
    total_variation: np.ndarray | None = None
    report: dict = field(default_factory=dict)

    def input_of(self, neuron: int) -> np.ndarray:
        """The learned MFCCs ``[T, 26]`` of ``neuron``."""
        where = np.flatnonzero(self.neurons == neuron)
        if not len(where):
            raise ParameterError(f"neuron: {neuron} is not among this run's {len(self.neurons)} neurons of {self.layer}")
        return self.inputs[where[0]]


def neuron_objective_name(layer: str, neuron: int) -> str:
    """The objective name of one neuron; it also seeds the neuron's initial noise."""
    return f"{layer}-{neuron}"


def batch_file(b: int) -> str:
    """The file name of batch ``b``."""
    return f"batch-{b:04d}.npz"


def check_neuron_request(model: DeepSpeech, layer: str, neurons: Sequence[int] | None, batch_size: int) -> list[int]:
    """The checked, sorted neuron list (all of the layer when ``neurons`` is None)."""
    from .objectives import layer_width

    if layer not in LAYERS:
        raise ParameterError(f"layer: unknown layer {layer!r}; layers are {', '.join(LAYERS)}")
    check_int("batch_size", batch_size, 1)
    width = layer_width(model, layer)
    if neurons is None:
        return list(range(width))
    given = np.atleast_1d(np.asarray(neurons))
    if given.size == 0:
        raise ParameterError(f"neurons: empty list; give neuron indices of {layer} (0..{width - 1}) or None for all")
    if given.dtype == bool or not np.issubdtype(given.dtype, np.integer) or given.ndim != 1:
        raise ParameterError(f"neurons: expected a list of integer indices, got {neurons!r}")
    bad = [int(n) for n in given if not 0 <= n < width]
    if bad:
        raise ParameterError(f"neurons: {bad[0]} out of range, {layer} has {width} outputs (0..{width - 1})")
    chosen = sorted({int(n) for n in given})
    if len(chosen) != given.size:
        raise ParameterError(f"neurons: duplicate indices in {neurons!r}")
    return chosen


def _batches(neurons: list[int], batch_size: int) -> list[list[int]]:
    return [neurons[i:i + batch_size] for i in range(0, len(neurons), batch_size)]


def run_identity(model: DeepSpeech, layer: str, neurons: list[int], batch_size: int,
                 options: VisualizationOptions) -> dict:
    """What makes two neuron runs the same run (the layer folder's ``config.json``)."""
    return {"format": NEURONS_FORMAT, "kind": "neuron visualization", "layer": layer, "neurons": neurons,
            "batch_size": batch_size, "options": options.to_dict(),
            "model": {"fingerprint": model.fingerprint(), "n_hidden": model.n_hidden,
                      "name": model.metadata.get("name")}}


def visualize_batch(model: DeepSpeech, layer: str, neurons: Sequence[int],
                    options: VisualizationOptions) -> dict[str, np.ndarray]:
    """Learn one input per neuron of ``neurons`` in one batched optimization.

    Returns:
        ``{"neurons" [n] int32, "inputs" [n, T, 26] float32, "activation" [n] float32,
        "total_variation" [n] float32}`` (what a batch file holds).
    """
    from .objectives import Objective
    from .render import maximize_activation

    objectives = [Objective(layer, (int(n),), name=neuron_objective_name(layer, int(n))) for n in neurons]
    with _no_retracing_warning():
        result = maximize_activation(model, objectives, options, progress=False)
    names = [o.name for o in objectives]
    return {"neurons": np.asarray(neurons, np.int32),
            "inputs": np.stack([result.inputs[n] for n in names]).astype(np.float32),
            "activation": np.array([result.activation[n] for n in names], np.float32),
            "total_variation": np.array([result.total_variation[n] for n in names], np.float32)}


@contextlib.contextmanager
def _no_retracing_warning():
    """Each batch compiles its own step (about a second, next to minutes of steps), which
    TensorFlow would report as "excessive retracing" from the sixth batch on."""
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def _check_batch(run: RunFolder, b: int, neurons: list[int], frames: int) -> str | None:
    """None when batch ``b``'s file exists and holds these neurons, else why not."""
    name = batch_file(b)
    data, problem = run.load_batch(name, BATCH_KEYS)
    if problem:
        return problem
    n = len(neurons)
    if data["neurons"].tolist() != neurons or data["inputs"].shape[:1] != (n,) or data["inputs"].shape[1:] != (frames, 26) \
            or data["activation"].shape != (n,) or data["total_variation"].shape != (n,):
        return f"{run.file(name)}: its arrays do not match batch {b} ({n} neurons from {neurons[0]})"
    if not np.all(np.isfinite(data["inputs"])):
        return f"{run.file(name)}: holds NaN or Inf"
    return None


def _write_batch(folder: str | os.PathLike, b: int, arrays: dict) -> None:
    save_arrays(Path(folder) / batch_file(b), **arrays)


def _neuron_shard(shard: list[tuple[int, list[int]]], out: str, checkpoint: str, fingerprint: str, layer: str,
                  options: dict, threads: int | None) -> dict:
    """A Dask task: learn the shard's batches that have no file yet (runs on a worker)."""
    from ..distributed import worker_info, worker_model

    start = time.perf_counter()
    model = worker_model(checkpoint, fingerprint, threads)
    opts = VisualizationOptions.from_dict(options)
    done = neurons = 0
    for b, batch in shard:
        if (Path(out) / batch_file(b)).exists():  # finished before a crash or by a lost worker
            continue
        _write_batch(out, b, visualize_batch(model, layer, batch, opts))
        done, neurons = done + 1, neurons + len(batch)
    return {"batches": done, "neurons": neurons, "seconds": time.perf_counter() - start,
            "worker": worker_info(checkpoint)}


def visualize_neurons(model: DeepSpeech, layer: str, out: str | os.PathLike, neurons: Sequence[int] | None = None,
                      options: VisualizationOptions | None = None, *, batch_size: int = ATLAS_BATCH_SIZE, scheduler=None,
                      shards: int | None = None, worker_threads: int | None = None, overwrite: bool = False,
                      progress: bool = True) -> NeuronInputs:
    """Learn an input that maximizes each neuron of ``layer``, one objective per neuron.

    Each neuron's objective is its mean activation over the T frames (no total-variation
    penalty, no transform, as :class:`~.objectives.Objective` with one neuron and the
    defaults), run only up to ``layer``. Neurons go ``batch_size`` at a time into one
    batched optimization (:func:`~.render.maximize_activation`); each batch is written to
    ``<out>/<layer>/batch-<NNNN>.npz`` (see the module docstring) and skipped when
    re-run, so an interrupted run continues with the next missing batch.

    Args:
        layer: one of :data:`~deepspeech_audio_features.speech.model.LAYERS`.
        out: the atlas folder; this layer's run is ``<out>/<layer>``.
        neurons: neuron indices (default None: every neuron of the layer).
        options: :class:`VisualizationOptions` (steps, frames T, learning rate, init,
            seed...; snapshots are not written); default the defaults.
        batch_size: objectives per optimization (rows of the batch). Larger batches use
            the machine better (``benchmarks/atlas.py``); results do not depend on it
            beyond float32 round-off, but it is part of the run's identity.
        scheduler: ``None`` runs in this process. A Dask ``distributed.Client``, a
            cluster or a scheduler address runs the batches as shards on its workers
            (one model per worker process); ``out`` and the model's checkpoint must be
            visible to them. A model without a checkpoint is saved to ``<out>/<layer>/model``.
        shards: shards for Dask (default 4 per worker); worker_threads: TensorFlow
            threads per worker process (default TensorFlow's choice).
        overwrite: clear ``<out>/<layer>`` when it holds a run of another model, neuron
            list, batch size or options, instead of refusing it.
        progress: show a progress bar (neurons done).
    Returns:
        :class:`NeuronInputs` of the whole run; ``report`` says what this call computed.
    Raises:
        ParameterError: unknown layer, a neuron out of range, ``batch_size`` < 1, bad options.
        RunConflictError: ``<out>/<layer>`` holds another run (and not ``overwrite``).
        RuntimeError: some Dask shards failed for good (the rest is saved; re-run).
    """
    options = VisualizationOptions.resolve(options, {})
    if options.clamp or options.init == "mean":
        raise ParameterError("options: clamp and init='mean' need MFCC statistics, which visualize_neurons does not take")
    chosen = check_neuron_request(model, layer, neurons, batch_size)
    if shards is not None:
        check_int("shards", shards, 1)
    if worker_threads is not None:
        check_int("worker_threads", worker_threads, 1)
    run = RunFolder(Path(out) / layer, run_identity(model, layer, chosen, batch_size, options),
                    overwrite=overwrite, kind="neuron visualization").open()
    batches = _batches(chosen, batch_size)
    todo, recomputed = [], []
    for b, batch in enumerate(batches):
        problem = _check_batch(run, b, batch, options.frames)
        if problem is not None:
            todo.append(b)
            if problem != "missing":  # never reused: learned again
                recomputed.append(problem)
                run.file(batch_file(b)).unlink()
    start = time.perf_counter()
    distributed: dict = {}
    if scheduler is None:
        _run_here(model, run, layer, batches, todo, options, progress)
    elif todo:
        distributed = _run_on_cluster(model, run, layer, batches, todo, options, scheduler, shards, worker_threads,
                                      progress)
    seconds = time.perf_counter() - start
    report = _report(run, batches, todo, recomputed, seconds, options, distributed)
    if distributed:
        from ...infra.cluster import raise_for_failed_shards

        raise_for_failed_shards(run.path, distributed)
    result = load_neuron_inputs(out, layer)
    result.report = report
    return result


def _run_here(model, run: RunFolder, layer: str, batches: list[list[int]], todo: list[int],
              options: VisualizationOptions, progress: bool) -> None:
    from ...infra.progress import progress_bar

    total = sum(len(b) for b in batches)
    done = total - sum(len(batches[b]) for b in todo)
    with progress_bar(total=total, initial=done, desc=f"{layer} neurons", disable=not progress) as bar:
        for b in todo:
            _write_batch(run.path, b, visualize_batch(model, layer, batches[b], options))
            bar.update(len(batches[b]))


def _run_on_cluster(model, run: RunFolder, layer: str, batches: list[list[int]], todo: list[int],
                    options: VisualizationOptions, scheduler, shards: int | None, worker_threads: int | None,
                    progress: bool) -> dict:
    from ..distributed import run_sharded

    items = [(b, batches[b]) for b in todo]
    _, distributed = run_sharded(scheduler, model, run.path, _neuron_shard, items, [len(batches[b]) for b in todo],
                                 layer, options.to_dict(), shards=shards, worker_threads=worker_threads,
                                 name=f"{layer} neurons", progress=progress)
    return distributed


def _report(run: RunFolder, batches, todo, recomputed, seconds: float, options: VisualizationOptions,
            distributed: dict) -> dict:
    neurons = sum(len(batches[b]) for b in todo)
    session = {"batches": len(todo), "neurons": neurons, "seconds": round(seconds, 3),
               "objective_steps_per_second": round(neurons * options.steps / seconds, 3) if seconds > 0 and neurons else None}
    if distributed:
        session["distributed"] = distributed
    report = {"layer": run.identity["layer"], "neurons": sum(len(b) for b in batches), "batches": len(batches),
              "missing_batches": [b for b in range(len(batches)) if not run.exists(batch_file(b))],
              "recomputed_batches": list(recomputed), "this_session": session}
    run.save_json("report.json", report)
    return report


def load_neuron_inputs(out: str | os.PathLike, layer: str) -> NeuronInputs:
    """Read a finished :func:`visualize_neurons` run of ``layer`` from the atlas folder ``out``.

    Returns:
        :class:`NeuronInputs`, neurons sorted.
    Raises:
        ParameterError: unknown layer.
        FileFormatError: ``<out>/<layer>`` holds no neuron run, a damaged batch file, or
            an incomplete run (the message names the folder and the missing batches).
    """
    if layer not in LAYERS:
        raise ParameterError(f"layer: unknown layer {layer!r}; layers are {', '.join(LAYERS)}")
    folder = Path(out) / layer
    record = folder / "config.json"
    if not record.is_file():
        raise FileFormatError(f"{folder}: no neuron visualization here (no config.json); run visualize_neurons first")
    config = RunFolder(folder, {}).load_json("config.json")
    if not isinstance(config, dict) or config.get("kind") != "neuron visualization" \
            or not isinstance(config.get("neurons"), list) or not isinstance(config.get("batch_size"), int):
        raise FileFormatError(f"{record}: not a neuron visualization run (kind, neurons, batch_size)")
    if config.get("format") != NEURONS_FORMAT:
        raise FileFormatError(f"{record}: format {config.get('format')!r}, this version reads {NEURONS_FORMAT}")
    run = RunFolder(folder, {})
    frames = int(config["options"]["frames"])
    batches = _batches([int(n) for n in config["neurons"]], config["batch_size"])
    problems = [(b, _check_batch(run, b, batch, frames)) for b, batch in enumerate(batches)]
    missing = [b for b, p in problems if p == "missing"]
    damaged = [p for _, p in problems if p not in (None, "missing")]
    if damaged:
        raise FileFormatError(f"{damaged[0]}; re-run visualize_neurons to recompute it")
    if missing:
        raise FileFormatError(f"{folder}: incomplete neuron visualization, {len(missing)} of {len(batches)} batches "
                              f"missing ({', '.join(batch_file(b) for b in missing[:3])}{', ...' if len(missing) > 3 else ''}); "
                              "re-run visualize_neurons with the same settings to finish it")
    parts = [run.load_arrays(batch_file(b)) for b in range(len(batches))]
    return NeuronInputs(layer, np.concatenate([p["neurons"] for p in parts]).astype(np.int32),
                        np.concatenate([p["inputs"] for p in parts]).astype(np.float32),
                        np.concatenate([p["activation"] for p in parts]).astype(np.float32), config,
                        np.concatenate([p["total_variation"] for p in parts]).astype(np.float32))
