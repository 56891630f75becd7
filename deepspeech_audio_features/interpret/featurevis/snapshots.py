"""A visualization run's files: per-objective snapshots and the optimizer state.

Run folder (the study's layout; every file written atomically through
:class:`~deepspeech_audio_features.infra.runfolder.RunFolder`)::

    <run>/config.json                       objectives, lambda, seed, model, options
    <run>/<name>/config.json                this objective's own settings
    <run>/<name>/input_var_<step>.npy       X [T, 26] (or [n_inputs, T, 26])
    <run>/<name>/activation_loss_<step>.npy the negated mean activation (scalar or [n_inputs])
    <run>/<name>/total_var_loss_<step>.npy  TV(X) / (T * N), the total variation per element
    <run>/state.npz                         variable + Adam moments of the last snapshot (resume)

``<name>`` is the objective's name, by default its layer. A step's files describe the
input *after* that many updates, so step 0 is the initial input.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...infra.atomic import load_array
from ...infra.errors import FileFormatError
from ...infra.runfolder import RunFolder, snapshot_steps
from .objectives import Plan

#: Bumped when the meaning of a run folder changes; resuming checks it.
RUN_FORMAT = 1


def write_configs(run: RunFolder, config: dict, plan: Plan, steps: int) -> None:
    """The run's ``config.json`` and each objective's own (its settings, for readers)."""
    run.save_json("config.json", {**config, "steps": int(steps)})
    shared = {k: v for k, v in config.items() if k != "objectives"}
    for obj in plan.objectives:
        run.save_json(f"{obj.name}/config.json", {**shared, "objective": obj.to_json(), "layer": obj.layer,
                                                   "neurons": list(obj.neurons), "lam": obj.lam, "steps": int(steps)})


def write_snapshots(run: RunFolder, plan: Plan, step: int, x: np.ndarray, act: np.ndarray, tv: np.ndarray) -> None:
    """Step ``step``'s files of every objective.

    Args:
        x: MFCCs ``[B, T, 26]``; ``act``, ``tv``: ``[B]``; rows in the plan's sorted order.
    """
    inputs, losses, variation = plan.per_objective(x), plan.per_objective(-act), plan.per_objective(tv)
    for obj in plan.objectives:
        run.save_array(f"{obj.name}/input_var_{step}.npy", inputs[obj.name])
        run.save_array(f"{obj.name}/activation_loss_{step}.npy", losses[obj.name])
        run.save_array(f"{obj.name}/total_var_loss_{step}.npy", variation[obj.name])


def save_state(run: RunFolder, plan: Plan, step: int, variable: np.ndarray, m: np.ndarray, v: np.ndarray) -> None:
    """The optimizer state after ``step`` updates, rows in objective order (``state.npz``)."""
    run.save_arrays("state.npz", step=np.int64(step), variable=plan.to_object_order(variable),
                    m=plan.to_object_order(m), v=plan.to_object_order(v))


def load_state(run: RunFolder, plan: Plan) -> tuple[int, dict[str, np.ndarray]] | None:
    """``(step, {"variable", "m", "v"} rows in sorted order)`` of ``state.npz``, or None."""
    if not run.exists("state.npz"):
        return None
    state = run.load_arrays("state.npz")  # FileFormatError when truncated
    rows = len(plan.sorted_to_object)
    shapes = {k: state[k].shape for k in ("variable", "m", "v") if k in state}
    if "step" not in state or len(shapes) != 3 or len(set(shapes.values())) != 1 \
            or next(iter(shapes.values()))[:1] != (rows,) or state["step"].shape != () or int(state["step"]) < 0:
        raise FileFormatError(f"{run.file('state.npz')}: not this run's optimizer state (step and {rows} rows of "
                              "variable, m, v); delete it and the snapshots to start over, or pass overwrite=True")
    if not all(np.all(np.isfinite(state[k])) for k in ("variable", "m", "v")):
        raise FileFormatError(f"{run.file('state.npz')}: holds NaN or Inf; delete it to start over")
    return int(state["step"]), {k: state[k][plan.sorted_to_object] for k in ("variable", "m", "v")}


def load_snapshots(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read one objective's snapshots back.

    Returns:
        ``{"steps": [S], "input_var": [S, T, 26] (or [S, n, T, 26]),
        "activation": [S] (the mean activation, i.e. minus activation_loss),
        "total_var_loss": [S]}``, in step order.
    """
    folder = Path(folder)
    steps = snapshot_steps(folder, "input_var")
    if not steps:
        raise FileNotFoundError(f"{folder}: no input_var_<step>.npy snapshots")
    return {"steps": np.array(steps),
            "input_var": np.stack([load_array(folder / f"input_var_{s}.npy") for s in steps]),
            "activation": -np.stack([load_array(folder / f"activation_loss_{s}.npy") for s in steps]),
            "total_var_loss": np.stack([load_array(folder / f"total_var_loss_{s}.npy") for s in steps])}
