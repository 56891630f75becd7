"""The render loop: learn inputs for many objectives at once by gradient ascent.

The pieces it puts together live beside it: :mod:`.objectives` (what to optimize, the
batch plan, the penalties), :mod:`.param` (how the variable becomes MFCCs),
:mod:`.transform` (random changes before the network sees the input), :mod:`.options`
(the settings) and :mod:`.snapshots` (the run folder's files).
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import tensorflow as tf

from ...infra.errors import ParameterError
from ...infra.runfolder import RunFolder
from ...speech.frames import N_INPUT
from ...speech.model import DeepSpeech
from ..optim import Adam
from . import snapshots
from .objectives import Objective, Plan, diversity_penalty, plan_objectives, staged_activations, total_variation
from .options import VisualizationOptions
from .param import DirectParam, Parameterization, ParamFactory, initial_inputs
from .stats import MfccStats
from .transform import NO_TRANSFORM, Transform


@dataclass
class VisualizationResult:
    """Final inputs and their losses, per objective name.

    ``inputs[name]``: ``[T, 26]`` (``[n_inputs, T, 26]`` when several);
    ``activation[name]``: the mean activation (not negated), scalar or ``[n_inputs]``;
    ``total_variation[name]``: TV per element; ``steps``: the number of updates done.
    """
    inputs: dict[str, np.ndarray]
    activation: dict[str, np.ndarray]
    total_variation: dict[str, np.ndarray]
    steps: int
    out: str | None = None
    config: dict = field(default_factory=dict)
    #: wall seconds of the steps after the first one of this call (tracing excluded)
    #: and how many steps that covers (snapshot writing included).
    timing: dict = field(default_factory=dict)


@dataclass
class _AdamState:
    """The parameterization, Adam's moments and the number of updates already done."""
    param: Parameterization
    m: tf.Variable
    v: tf.Variable
    step: int = 0

    @classmethod
    def start(cls, param: Parameterization) -> "_AdamState":
        return cls(param, tf.Variable(tf.zeros_like(param.variable)), tf.Variable(tf.zeros_like(param.variable)))


def maximize_activation(model: DeepSpeech, objectives: Sequence[Objective], options: VisualizationOptions | None = None,
                        *, param: ParamFactory | None = None, transform: Transform | None = None, stats: MfccStats | None = None,
                        init_mfccs: np.ndarray | None = None, out: str | os.PathLike | None = None,
                        progress: bool = True, extra_config: dict | None = None, overwrite: bool = False,
                        **overrides) -> VisualizationResult:
    """Learn inputs for many objectives at once (one forward/backward per step for all).

    Each row ``r`` of the batch (one per input of each objective) minimizes::

        -sign * mean_{t, f in J} y_layer(X_r)[t, f] + lam / (T * N) * TV(X_r)

    plus, for objectives with several inputs, ``diversity`` times their mean pairwise
    Gram similarity. Rows are independent, so batching changes no result (tested).

    Args:
        objectives: what to optimize; names must be unique.
        options: :class:`VisualizationOptions` (steps, frames, learning rate, init, seed,
            snapshots, clamp, Adam's constants); ``overrides`` replace single fields
            (``steps=300``).
        param: the parameterization factory: :class:`DirectParam` (default, X is the
            variable) or ``ScaledParam.spec(stats)``; anything with ``build(start)``.
        transform: applied before the network sees the input, e.g. ``TimeJitter(4)``
            (the network then sees T - 4 frames); None (default, as in the study): none.
        stats: real-speech MFCC statistics (needed by ``clamp`` and ``init="mean"``;
            shifts ``"noise"`` to the data mean).
        init_mfccs: starting MFCCs ``[T', 26]`` for every row (cropped or zero-padded to
            T), instead of ``options.init``.
        out: run folder for snapshots and resuming (``None``: nothing written); see
            :mod:`.snapshots`. A folder holding a run with other settings is refused.
        extra_config: more entries for the run's config.json (part of its identity).
        overwrite: clear ``out`` when it holds a run with other settings, instead of
            refusing it.
    Returns:
        :class:`VisualizationResult` with the inputs after ``options.steps`` updates.
    Raises:
        ParameterError: a bad option, objective or piece.
        RunConflictError: ``out`` holds a run with other settings.
        FileFormatError: ``out``'s ``state.npz`` is truncated or not this run's.
    """
    options = VisualizationOptions.resolve(options, _checked_overrides(overrides))
    param = param if param is not None else DirectParam
    _check_pieces(options, param, transform, stats)
    plan = plan_objectives(model, objectives)
    config = run_config(model, plan, options, param, transform, stats, init_mfccs, extra_config)
    start = initial_inputs(plan.objectives, options.frames, options.init if init_mfccs is None else init_mfccs,
                           options.init_std, options.seed, stats)
    state = _AdamState.start(param.build(start[plan.sorted_to_object]))
    run = _open_run(out, config, plan, state, overwrite) if out is not None else None
    steps = max(options.steps, state.step)  # a finished longer run is returned as it is
    if run is not None:
        snapshots.write_configs(run, config, plan, steps)
    evaluate = _evaluator(model, plan, state.param, transform, options.frames)
    update = _updater(options, state, stats)
    act, tv, timing = _optimize(evaluate, update, plan, state, transform, run, options, steps, progress)
    x = state.param().numpy()
    return VisualizationResult(plan.per_objective(x), plan.per_objective(act) if act is not None else {},
                               plan.per_objective(tv) if tv is not None else {}, steps,
                               str(run.path) if run is not None else None, config, timing)


def _checked_overrides(overrides: dict) -> dict:
    """Point the old string/int forms of the pieces to the objects that replace them."""
    if "jitter" in overrides:
        raise ParameterError("jitter: pass transform=TimeJitter(n) instead")
    if "init" in overrides and not isinstance(overrides["init"], (str, os.PathLike)):
        raise ParameterError("init: pass starting MFCCs as init_mfccs=...")
    if isinstance(overrides.get("init"), os.PathLike):
        overrides = {**overrides, "init": os.fspath(overrides["init"])}
    return overrides


def _check_pieces(options: VisualizationOptions, param: ParamFactory, transform: Transform | None,
                  stats: MfccStats | None) -> None:
    if not callable(getattr(param, "build", None)):
        raise ParameterError(f"param: expected a parameterization factory (DirectParam, ScaledParam.spec(stats)), "
                             f"got {param!r}")
    if transform is not None:
        if not isinstance(transform, Transform):
            raise ParameterError(f"transform: expected a Transform such as TimeJitter(n), got {transform!r}")
        transform.check(options.frames)
    if options.clamp and stats is None:
        raise ParameterError("clamp: needs MFCC statistics (stats=mfcc_stats(...))")


def run_config(model: DeepSpeech, plan: Plan, options: VisualizationOptions, param: ParamFactory, transform: Transform | None,
               stats: MfccStats | None, init_mfccs: np.ndarray | None, extra_config: dict | None) -> dict:
    """The run's settings as recorded in config.json; all but ``steps`` are its identity."""
    config = {
        "format": snapshots.RUN_FORMAT,
        "objectives": [o.to_json() for o in plan.objectives],
        "frames": options.frames, "learning_rate": options.learning_rate,
        "init": options.init if init_mfccs is None else "array", "init_std": options.init_std, "seed": options.seed,
        "snapshot_every": options.snapshot_every, "clamp": options.clamp, "param": getattr(param, "kind", "custom"),
        **(transform.identity() if transform is not None else NO_TRANSFORM),
        "adam": {"beta1": options.beta1, "beta2": options.beta2, "epsilon": options.epsilon},
        "stats": stats.to_json() if stats is not None else None,
        "model": {"fingerprint": model.fingerprint(), "n_hidden": model.n_hidden,
                  "name": model.metadata.get("name"), "checkpoint": model.metadata.get("checkpoint")},
    }
    if init_mfccs is not None:
        config["init_fingerprint"] = hashlib.sha1(np.ascontiguousarray(init_mfccs, np.float32).tobytes()).hexdigest()[:16]
    config.update(extra_config or {})
    return config


def _open_run(out: str | os.PathLike, config: dict, plan: Plan, state: _AdamState, overwrite: bool = False) -> RunFolder:
    """Open (or resume) the run folder; a resumed run's variable and moments are restored."""
    run = RunFolder(out, {k: v for k, v in config.items() if k != "steps"}, overwrite=overwrite).open()
    saved = snapshots.load_state(run, plan) if run.resumed else None
    if saved is not None:
        state.step, arrays = saved
        state.param.variable.assign(arrays["variable"])
        state.m.assign(arrays["m"])
        state.v.assign(arrays["v"])
    return run


def _evaluator(model: DeepSpeech, plan: Plan, param: Parameterization, transform: Transform | None, frames: int):
    """The compiled loss: ``draws [B]`` -> (activations [B], TV per element [B], gradient)."""
    weights = {k: tf.constant(w) for k, w in plan.weights.items()}
    signs, lams = tf.constant(plan.signs), tf.constant(plan.lams)
    keep = sorted({d for d, *_ in plan.diverse})
    scale = 1.0 / (frames * N_INPUT)

    @tf.function(autograph=False)  # plain Python control flow only; traced once per call
    def evaluate(draws):
        with tf.GradientTape() as tape:
            x = param()
            seen = transform.apply(x, draws) if transform is not None else x
            act, kept = staged_activations(model, seen, plan.counts, weights, keep)
            tv = total_variation(x)
            loss = tf.reduce_sum(-signs * act + lams * scale * tv)
            if plan.diverse:
                loss += diversity_penalty(kept, plan.diverse)
        return act, tv * scale, tape.gradient(loss, param.variable)

    return evaluate


def _updater(options: VisualizationOptions, state: _AdamState, stats: MfccStats | None):
    """The compiled Adam update (then the clamp, if asked): ``(gradient, step)`` -> None."""
    adam = Adam(options.learning_rate, options.beta1, options.beta2, options.epsilon)
    variable, m, v = state.param.variable, state.m, state.v
    lower = upper = None
    if options.clamp:
        lo, hi = state.param.bounds(stats.low, stats.high)
        lower, upper = tf.constant(lo, tf.float32), tf.constant(hi, tf.float32)

    @tf.function(autograph=False)
    def update(grad, step):
        new, m_new, v_new = adam.step(variable, grad, m, v, tf.cast(step + 1, tf.float32), ops=tf)
        m.assign(m_new)
        v.assign(v_new)
        if lower is not None:
            new = tf.clip_by_value(new, lower, upper)
        variable.assign(new)

    return update


def transform_draws(plan: Plan, transform: Transform | None, seed: int, step: int) -> np.ndarray:
    """``[B]`` per-row draws of ``transform`` at ``step``, each from its row's own stream."""
    draws = np.zeros(len(plan.order), np.int32)
    if transform is not None:
        for r, (i, c) in enumerate(plan.order):
            draws[r] = transform.draw(np.random.default_rng([seed, plan.objectives[i].stream(c), step]))
    return draws


def _optimize(evaluate, update, plan: Plan, state: _AdamState, transform: Transform | None, run: RunFolder | None,
              options: VisualizationOptions, steps: int, progress: bool):
    """Steps ``state.step .. steps`` (snapshots and state at every k-th); returns the last
    ``(activations [B], TV [B])`` (None if no step ran) and the timing."""
    from ...infra.progress import progress_bar

    act = tv = clock = end = None
    timed = 0
    bar = progress_bar(total=steps, initial=min(state.step, steps), desc="feature visualization", disable=not progress)
    for step in range(state.step, steps + 1):
        act, tv, grad = evaluate(tf.constant(transform_draws(plan, transform, options.seed, step)))
        if run is not None and (step % options.snapshot_every == 0 or step == steps):
            snapshots.write_snapshots(run, plan, step, state.param().numpy(), act.numpy(), tv.numpy())
            snapshots.save_state(run, plan, step, state.param.variable.numpy(), state.m.numpy(), state.v.numpy())
        if step < steps:
            update(grad, tf.constant(step, tf.int64))
            if clock is None:  # the first step traces; time the others
                clock = end = time.perf_counter()
            else:
                timed, end = timed + 1, time.perf_counter()
            bar.update(1)
            if progress and step % 10 == 0:
                bar.set_postfix(activation=f"{float(np.mean(act.numpy() * plan.signs)):.3f}")
    bar.close()
    timing = {"steps": timed, "seconds": end - clock if clock is not None else 0.0}
    return (act.numpy(), tv.numpy(), timing) if act is not None else (None, None, timing)
