"""Importance masks: a sparse binary MFCC mask that provably keeps every frame's class.

For MFCCs ``X [T, 26]`` with per-frame classes ``f(y(X)) = argmax_k logits[t, k]``, an
importance mask is a binary ``M`` shaped like ``X`` such that ``f(y(M * X)) = f(y(X))``
at every frame (or at every chosen frame), with many zeros. A masked entry is replaced
by the option ``fill`` (:mod:`.fill`): 0 as in the study (``M * X``), the MFCCs of
digital silence, or the training corpus's mean per coefficient; everything below holds
for the masked input ``M * X + (1 - M) * F`` with the chosen fill ``F``.

**What is guaranteed** (and what is not): every constrained frame keeps its class, with
a margin of at least ``tol_t = min(tol, margin_t(X) / 2)`` logits (``tol`` = 1e-3 by
default) in the search's test and by a plain final forward pass; and, when
:attr:`MaskResult.one_minimal` is True, the mask is *1-minimal*: zeroing any single
remaining one fails that test. 1-minimality is a local optimum, not the sparsest mask:
the swap moves (``swap_moves``, 175 by default) find masks with fewer ones from the first
1-minimal mask, and other masks with fewer ones may exist.

How :func:`importance_mask` finds one, one function per phase:

1. **Relaxed optimization** (:func:`_optimize`). Mask logits ``theta`` give a soft mask
   ``m = sigmoid(theta / tau)``; the loss is a per-frame hinge on the margin
   ``logit[t, c_t] - max_{k != c_t} logit[t, k]`` (keep each frame's class ``c_t`` on
   top by ``kappa``) plus ``lam * mean(m)``. ``lam`` grows and ``tau`` shrinks
   geometrically over the steps (annealed pressure towards zeros, and towards binary
   values); in the last ``straight_through`` share of the steps the loss is computed
   on the binary mask ``theta > 0`` itself (straight-through gradients). Every few steps
   the binarized masks at a few thresholds of ``theta`` are checked exactly, and the
   sparsest one that keeps every frame is remembered.
2. **Binarize and repair** (:func:`_binarize_and_repair`). Take the sparsest valid
   binarization seen, and repair the final one (``theta`` > one of a few thresholds, the
   sparsest among those with the fewest failing frames) with
   :func:`~.engine.repair` (``repair="greedy"``: the best of 32 measured single additions
   per round; ``"prefix"``, the method before, can turn on every unit up to a failing
   frame). The sparser of the two starts wins.
3. **Prune** (:func:`_prune`). Try zeroing each remaining one, cheapest first (lowest
   ``theta``), keeping each zero that preserves every frame (:func:`~.engine.prune`:
   exact sequential greedy elimination, run speculatively in batches). Passes repeat
   until one accepts nothing: that pass tested every remaining one against the final
   mask, which proves the mask **1-minimal** (no single remaining one can be zeroed).
   With ``swap_moves`` > 0 (the default; :func:`_swap`), swap moves follow: a zero
   (highest ``theta`` first) is turned on and the ones of nearby frames are pruned; the
   move is kept when it removed at least two ones or (``swap_keep_even``, the default)
   exactly one, which moves the search along a plateau of masks of equal size. The moves
   run in rounds of ``swap_round``; after each round that kept a move, pruning runs again
   until 1-minimal. ``swap_moves=0`` is plain greedy elimination.
   Candidates are scored incrementally (``incremental``, :mod:`.incremental`): from the
   first frame they change, with the same decisions as full passes.
4. **Verify** (:func:`_verify`). A final batch-1 forward pass of ``M * X`` against ``X``
   (full length) confirms every frame's class; :attr:`MaskResult.frame_agreement` is
   that check.

A candidate "keeps" frame ``t`` when its margin is at least ``tol_t = min(tol,
margin_t(X) / 2)`` (see :mod:`.problem`); 1-minimality is with respect to this test.

Variants: ``"time-frequency"`` (one unit per MFCC entry, the study's), ``"time"`` (one
unit per frame: whole frames on or off) and ``preserve_frames`` (only chosen frames
must keep their class, e.g. one word's frames from :func:`~.problem.word_frames`; units
of frames past the last chosen frame + 9 cannot reach it and are zero for free).

Snapshots: ``<run_dir>/<i>.npy`` binary masks numbered 0, 1, 2, ... (every
``snapshot_every`` optimization steps, then after repair, then after each prune pass;
the last is the final mask), ``result.json`` beside them (layout in :mod:`.store`). All
writes are atomic; re-running with the same config resumes (or returns the finished
result), from ``state.npz`` mid-optimization or mid-pass.
"""
from __future__ import annotations

import enum
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ...infra.errors import FileFormatError
from ...speech.decoding import greedy_decode
from ...speech.frames import N_CONTEXT, N_INPUT
from ...speech.model import DeepSpeech
from ..optim import Adam
from .engine import PruneState, SwapStats, prune, repair, swap_search
from .fill import fill_values
from .incremental import IncrementalTest
from .options import MaskOptions
from .problem import MaskProblem, Verification, checked_mfccs, frames_to_keep, is_one_minimal, verify_mask
from .store import RESULT, SCORES, STATE, MaskRunFolder

#: Where :func:`run_mask_experiment` writes, one folder per audio file (the study's name).
DEFAULT_RUN_DIR = "runs/run_mask_experiment"
#: Binarization thresholds on ``theta``, checked every ``eval_every`` steps and before repair.
_THRESHOLDS = np.array([0.0, -1.0, 1.0, 2.0])
#: Seconds between saves of the prune state within a pass.
_PRUNE_SAVE_SECONDS = 10.0


# ----------------------------------------------------------------------------- results
@dataclass
class MaskResult:
    """A verified importance mask and how it was found.

    Attributes:
        mask: uint8 ``[T, 26]``, 1 = keep the MFCC entry, 0 = replace it by the fill (0 by default).
        zero_fraction: share of zeros in ``mask``.
        frame_agreement: share of the constrained frames whose class under ``mask * X``
            equals the class under ``X``, from a final batch-1 forward pass (1.0).
        text_original / text_masked: greedy transcriptions of ``X`` and ``mask * X``.
        snapshot_paths: the ``<i>.npy`` snapshots in order (the last holds ``mask``).
        one_minimal: the last prune pass accepted nothing, which proves that no single
            remaining one can be zeroed; False when the pass budget ran out first.
        one_minimal_checked: an independent single-flip check of every remaining one
            (full-length input), or None when the input was too large to check.
        variant: ``"time-frequency"`` or ``"time"``.
        frames: bool ``[T]``, the frames that had to keep their class.
        scores: float32 ``[T, 26]`` relaxed mask values in [0, 1] (higher = more important).
        agreement_all_frames: frame agreement over all ``T`` frames (differs from 1 only
            with ``preserve_frames``).
        seconds: wall time; evaluations: candidate masks run through the network.
        phases: zero fractions after optimization, repair and prune, passes, seconds per phase,
            ``swap_trace`` (``[moves tried, ones, seconds]`` after each swap round run in this
            session: what fewer moves would have given), etc.
        moves: the search moves made: prune passes, and the swap search's zeros tried, swaps
            kept (of which even: as many ones removed as added) and ones they removed, net
            (zeros when ``swap_moves`` is 0).
        fill / fill_values: what a masked entry became: ``"zeros"``, ``"silence"`` or
            ``"mean"``, and its float32 ``[26]`` values (the masked input is
            ``mask * X + (1 - mask) * fill_values``).
    """
    mask: np.ndarray
    zero_fraction: float
    frame_agreement: float
    text_original: str
    text_masked: str
    snapshot_paths: list[Path] = field(default_factory=list)
    one_minimal: bool = False
    one_minimal_checked: bool | None = None
    variant: str = "time-frequency"
    frames: np.ndarray | None = None
    scores: np.ndarray | None = None
    agreement_all_frames: float = 1.0
    seconds: float = 0.0
    evaluations: int = 0
    phases: dict = field(default_factory=dict)
    moves: dict = field(default_factory=dict)
    run_dir: Path | None = None
    fill: str = "zeros"
    fill_values: np.ndarray | None = None

    def summary(self) -> dict:
        """JSON-able facts (everything except the arrays)."""
        return {
            "zero_fraction": self.zero_fraction, "frame_agreement": self.frame_agreement,
            "agreement_all_frames": self.agreement_all_frames,
            "text_original": self.text_original, "text_masked": self.text_masked,
            "one_minimal": self.one_minimal, "one_minimal_checked": self.one_minimal_checked,
            "variant": self.variant, "frames_constrained": int(np.sum(self.frames)) if self.frames is not None else None,
            "frames": int(self.mask.shape[0]), "seconds": self.seconds, "evaluations": self.evaluations,
            "phases": self.phases, "moves": self.moves, "snapshots": len(self.snapshot_paths),
            "fill": self.fill, "fill_values": None if self.fill_values is None else [float(v) for v in self.fill_values],
        }


# ----------------------------------------------------------------------------- typed state
class Phase(str, enum.Enum):
    """The phase a snapshot comes from (also what ``callback`` receives; equal to its value)."""
    OPTIMIZE = "optimize"
    REPAIR = "repair"
    PRUNE = "prune"
    VERIFY = "verify"


@dataclass
class OptimizeState:
    """The relaxed optimization: mask logits ``theta`` and Adam moments, float64 ``[n_units]``.

    ``best`` is the sparsest binarization (bool ``[n_units]``) seen to keep every frame;
    ``step`` the steps done; ``trace`` rows ``[step, zeros of theta > 0, its failing
    frames, best feasible zeros]`` of this session's exact checks.
    """
    theta: np.ndarray
    adam_m: np.ndarray
    adam_v: np.ndarray
    best: np.ndarray
    step: int = 0
    trace: list[list] = field(default_factory=list)

    @classmethod
    def start(cls, n_units: int, init_logit: float) -> "OptimizeState":
        return cls(np.full(n_units, init_logit, np.float64), np.zeros(n_units), np.zeros(n_units),
                   np.ones(n_units, bool))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"step": self.step, "theta": self.theta, "adam_m": self.adam_m, "adam_v": self.adam_v,
                "best": self.best}


@dataclass
class PruneStage:
    """After repair: the prune state, the zero fractions the earlier phases reached and,
    once the swap search started, its counts so far, the zeros it tried (bool
    ``[n_units]``) and whether it ended (between its rounds, pruning resumes from the
    swapped mask)."""
    prune: PruneState
    zeros_optimize: float
    zeros_repair: float
    swap: SwapStats | None = None
    swap_tried: np.ndarray | None = None
    swap_done: bool = False
    #: The arrays :meth:`arrays` writes.
    KEYS = ("units", "passes", "position", "accepted", "zeros_opt", "zeros_repair")

    def arrays(self) -> dict[str, np.ndarray]:
        p = self.prune
        swap = self.swap.to_dict() if self.swap is not None else {}
        tried = self.swap_tried if self.swap_tried is not None else np.zeros(0, bool)
        return {"units": p.units, "passes": p.passes, "position": p.position, "accepted": p.accepted,
                "one_minimal": p.one_minimal, "done": p.done,
                "zeros_opt": self.zeros_optimize, "zeros_repair": self.zeros_repair,
                "swapped": self.swap is not None, "swap_done": self.swap_done, "swap_tried_units": tried,
                **{f"swap_{key}": value for key, value in swap.items()}}


def _hinge_targets(options: MaskOptions, problem: MaskProblem) -> np.ndarray:
    """Per-frame hinge targets ``[L]``: ``kappa``, capped by each constrained frame's original margin; 0 elsewhere."""
    return np.where(problem.frames, np.minimum(options.kappa, np.maximum(problem.orig_margins, 0.0)), 0.0)


@dataclass
class _Schedule:
    """Per-step temperature and sparsity weight, per-frame hinge targets, straight-through start."""
    taus: np.ndarray
    lams: np.ndarray
    kappa: np.ndarray
    straight_through_start: int

    @classmethod
    def make(cls, options: MaskOptions, problem: MaskProblem) -> "_Schedule":
        steps = options.steps
        exponents = np.arange(max(steps, 1)) / max(steps - 1, 1)  # geometric annealing from start to end
        tau, lam = options.tau, options.lam
        return cls(taus=tau[0] * (tau[1] / tau[0]) ** exponents, lams=lam[0] * (lam[1] / lam[0]) ** exponents,
                   kappa=_hinge_targets(options, problem),
                   straight_through_start=int(round(steps * (1.0 - options.straight_through))))


@dataclass
class _Session:
    """What the phases share: the problem, its options, the run folder, the clock and the callback."""
    problem: MaskProblem
    options: MaskOptions
    folder: MaskRunFolder | None
    callback: Callable[[str, int, np.ndarray], None] | None
    progress: bool
    started: float
    prior_seconds: float = 0.0
    prior_evaluations: int = 0
    snapshots: list[Path] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)
    #: ``[moves tried, ones, seconds]`` after each swap round of this session (pruned when it kept a move)
    swap_trace: list[list] = field(default_factory=list)

    @property
    def optimize_snapshots(self) -> int:
        """How many snapshots the optimization writes (the repair's index)."""
        steps, every = self.options.steps, self.options.snapshot_every
        return (steps + every - 1) // every if steps > 0 else 0

    def snapshot(self, phase: Phase, index: int, units: np.ndarray) -> None:
        full = self.problem.expand(units)
        if self.folder is not None:
            path = self.folder.save_snapshot(index, full)
            if path not in self.snapshots:
                self.snapshots.append(path)
        if self.callback is not None:
            self.callback(phase, index, full)

    def elapsed(self) -> float:
        return self.prior_seconds + time.perf_counter() - self.started

    def evaluations(self) -> int:
        return self.prior_evaluations + self.problem.evaluations

    def save_state(self, phase: Phase, optimization: OptimizeState, stage: PruneStage | None = None) -> None:
        if self.folder is not None:
            self.folder.save_arrays(STATE, seconds=self.elapsed(), evaluations=self.evaluations(), phase=phase.value,
                                    **optimization.arrays(), **(stage.arrays() if stage is not None else {}))

    def bar(self, desc: str, **kwargs):
        if not self.progress:
            return None
        from ...infra.progress import progress_bar
        return progress_bar(desc=desc, leave=False, **kwargs)


# ----------------------------------------------------------------------------- the method
def importance_mask(model: DeepSpeech, mfccs: np.ndarray, options: MaskOptions | None = None, *,
                    preserve_frames=None, run_dir: str | os.PathLike | None = None, overwrite: bool = False,
                    progress: bool = False, callback: Callable[[str, int, np.ndarray], None] | None = None,
                    **overrides) -> MaskResult:
    """A sparse binary mask that keeps every (chosen) frame's class, 1-minimal when the pass budget allows.

    Every constrained frame's class is kept with a margin of at least ``min(tol,
    margin_t(X) / 2)`` logits (checked again by a plain forward pass); no single remaining
    one can be zeroed when ``result.one_minimal`` (a local optimum, not the sparsest mask).

    Args:
        model: the network.
        mfccs: ``[T, 26]`` MFCCs (one utterance, 20 ms frames).
        options: the method's settings (default: :class:`MaskOptions` defaults).
        preserve_frames: frames that must keep their class: None (all), a slice, a
            ``(start, end)`` pair, a bool ``[T]`` or frame indices (see :func:`word_frames`).
        run_dir: folder for snapshots and ``result.json``; None keeps nothing on disk.
        overwrite: discard a run folder written with another config instead of failing.
        progress: show tqdm progress bars.
        callback: ``callback(phase, snapshot_index, mask [T, 26])`` after each snapshot.
        overrides: :class:`MaskOptions` fields replacing those of ``options``
            (``importance_mask(model, x, steps=20)``).

    Returns:
        A :class:`MaskResult` whose mask passed the final forward-pass check.

    Raises:
        ParameterError: a bad option or input shape.
        RunConflictError: ``run_dir`` holds a run with another config (and not ``overwrite``).
    """
    started = time.perf_counter()
    options = MaskOptions.resolve(options, overrides)
    mfccs = checked_mfccs(mfccs)
    frames = frames_to_keep(preserve_frames, mfccs.shape[0])
    problem = MaskProblem(model, mfccs, frames, options.variant, options.tol, options.batch_frames,
                          fill=fill_values(options.fill, model, options.fill_file))
    if options.incremental:
        problem.incremental = IncrementalTest(problem)
    folder = None
    if run_dir is not None:
        folder = MaskRunFolder(run_dir, _run_identity(model, problem, options), overwrite=overwrite).open()
        if folder.finished:
            return _result_from_disk(folder, frames)
    session = _Session(problem, options, folder, callback, progress, started,
                       snapshots=folder.snapshots() if folder is not None else [])
    optimization, stage = _resume(session)
    if stage is None:
        optimization = _optimize(session, optimization)
    scores = _save_scores(session, optimization)
    session.marks["optimize"] = time.perf_counter()
    if stage is None:
        stage = _binarize_and_repair(session, optimization)
    session.marks["repair"] = time.perf_counter()
    stage = _prune(session, optimization, stage)
    if session.options.swap_moves > 0 and not stage.swap_done:
        stage = _swap(session, optimization, stage)
    session.marks["prune"] = time.perf_counter()
    mask, verification, fallbacks = _verify(session, stage)
    return _finish(session, optimization, stage, scores, mask, verification, fallbacks)


def _run_identity(model: DeepSpeech, problem: MaskProblem, options: MaskOptions) -> dict:
    """What a mask run is: its options, constrained frames, forward batch, model and input."""
    o = options
    fingerprint = f"{model.fingerprint()}-{hashlib.sha1(problem.x_full.tobytes()).hexdigest()[:16]}"
    return {"variant": o.variant, "frames": np.nonzero(problem.frames_full)[0].tolist(), "steps": o.steps,
            "learning_rate": o.learning_rate, "init_logit": o.init_logit, "kappa": o.kappa, "lam": list(o.lam),
            "tau": list(o.tau), "straight_through": o.straight_through, "eval_every": o.eval_every, "tol": o.tol,
            "max_prune_passes": o.max_prune_passes, "snapshot_every": o.snapshot_every, "batch": problem.batch,
            "fingerprint": fingerprint, "shape": list(problem.x_full.shape),
            # None for no swap moves and the study's zero fill: folders written before these options
            # existed lack the keys (read as None), so they still resume, and only they
            "swap_moves": o.swap_moves or None, "swap_window": o.swap_window if o.swap_moves else None,
            # the swap rule: folders of the earlier search (net gains only, no key) do not resume into this one
            "swap_rule": ("keep-even" if o.swap_keep_even else "net-gain") if o.swap_moves else None,
            # rounds with pruning between them: folders of the one-round search (no key) do not resume into this one
            "swap_round": o.swap_round if o.swap_moves else None,
            "swap_order": o.swap_order if o.swap_moves else None,
            "fill": None if o.fill == "zeros" else o.fill,
            # None for the repair before the option existed: only those folders resume without the key
            "repair": None if o.repair == "prefix" else o.repair,
            "fill_values": None if o.fill == "zeros" else problem.fill.tolist()}


def _resume(session: _Session) -> tuple[OptimizeState, PruneStage | None]:
    """The saved state of an unfinished run (``state.npz``), else a fresh start."""
    data = session.folder.load_state() if session.folder is not None else None
    if data is None:
        return OptimizeState.start(session.problem.n_units, session.options.init_logit), None
    _check_state(session.folder, data, session.problem.n_units)
    session.prior_seconds, session.prior_evaluations = float(data["seconds"]), int(data["evaluations"])
    optimization = OptimizeState(data["theta"], data["adam_m"], data["adam_v"], data["best"].astype(bool),
                                 int(data["step"]))
    if Phase(str(data["phase"])) is Phase.OPTIMIZE:
        return optimization, None
    # folders written before the flags were saved lack them: one more pass then proves 1-minimality again
    state = PruneState(units=data["units"].astype(bool), passes=int(data["passes"]), position=int(data["position"]),
                       accepted=int(data["accepted"]), one_minimal=bool(data.get("one_minimal", False)),
                       done=bool(data.get("done", False)))
    stage = PruneStage(state, float(data["zeros_opt"]), float(data["zeros_repair"]))
    if "swapped" in data and bool(data["swapped"]):
        stage.swap = SwapStats(**{key: int(data[f"swap_{key}"]) for key in SwapStats().to_dict()})
        stage.swap_tried, stage.swap_done = data["swap_tried_units"].astype(bool), bool(data["swap_done"])
    return optimization, stage


def _check_state(folder: MaskRunFolder, data: dict[str, np.ndarray], n_units: int) -> None:
    """FileFormatError naming ``state.npz`` when its arrays cannot be this run's."""
    phases = [p.value for p in Phase]
    problem = None
    if str(data["phase"]) not in phases:
        problem = f"phase {str(data['phase'])!r} is not one of {', '.join(phases)}"
    elif any(data[k].shape != (n_units,) for k in ("theta", "adam_m", "adam_v", "best")):
        problem = f"theta, adam_m, adam_v and best must hold {n_units} units"
    elif not all(np.all(np.isfinite(data[k])) for k in ("theta", "adam_m", "adam_v", "seconds")):
        problem = "it holds NaN or Inf"
    elif Phase(str(data["phase"])) is not Phase.OPTIMIZE and (
            set(PruneStage.KEYS) - set(data) or data["units"].shape != (n_units,)):
        problem = f"a state after repair needs {', '.join(PruneStage.KEYS)} ({n_units} units)"
    elif "swapped" in data and bool(data["swapped"]) and (
            "swap_tried_units" not in data or data["swap_tried_units"].shape != (n_units,)):
        problem = f"a state of the swap search needs swap_tried_units ({n_units} units)"
    if problem is not None:
        raise FileFormatError(f"{folder.file(STATE)}: not this run's state ({problem}); "
                              "delete the folder to start over, or pass overwrite=True")


def _optimize(session: _Session, state: OptimizeState) -> OptimizeState:
    """Phase 1: Adam on the mask logits from ``state.step`` to ``steps``, snapshotting as it goes."""
    problem, options = session.problem, session.options
    schedule = _Schedule.make(options, problem)
    adam = Adam(options.learning_rate, epsilon=1e-8)
    steps, every = options.steps, options.snapshot_every
    bar = session.bar("mask: optimize", total=steps, initial=state.step)
    for step in range(state.step, steps):
        _descend(problem, state, schedule, adam, step)
        state.step = step + 1
        if (step + 1) % options.eval_every == 0 or step == steps - 1:
            _remember_best_binarization(problem, state)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(zeros=f"{1 - state.best.mean():.3f}")
        if (step + 1) % every == 0 or step == steps - 1:
            index = step // every if (step + 1) % every == 0 else (steps - 1) // every
            session.snapshot(Phase.OPTIMIZE, index, state.theta > 0)
            session.save_state(Phase.OPTIMIZE, state)
    if bar is not None:
        bar.close()
    return state


def _descend(problem: MaskProblem, state: OptimizeState, schedule: _Schedule, adam: Adam, step: int) -> None:
    """One Adam step on ``theta``: hinge on the margins plus the annealed sparsity weight."""
    tau, n_units = schedule.taus[step], problem.n_units
    m = 1.0 / (1.0 + np.exp(-state.theta / tau))
    if step >= schedule.straight_through_start:  # straight-through: the loss sees the binary mask itself
        _, grad_m, _ = problem.hinge_grad((state.theta > 0).astype(np.float64), schedule.kappa)
        grad = grad_m + schedule.lams[step] / n_units
    else:
        _, grad_m, _ = problem.hinge_grad(m, schedule.kappa)
        grad = (grad_m + schedule.lams[step] / n_units) * m * (1.0 - m) / tau
    theta, state.adam_m, state.adam_v = adam.step(state.theta, grad, state.adam_m, state.adam_v, step + 1)
    state.theta = np.clip(theta, -8.0, 8.0)


def _remember_best_binarization(problem: MaskProblem, state: OptimizeState) -> None:
    """Check ``theta`` > each threshold exactly; keep the sparsest that keeps every frame."""
    trial = state.theta[None] > _THRESHOLDS[:, None]
    ok, failing = problem.check(trial)
    state.trace.append([state.step, round(1.0 - float(trial[0].mean()), 4), int(failing[0].sum()),
                        round(1.0 - float(state.best.mean()), 4)])
    for row in np.nonzero(ok)[0]:
        if trial[row].sum() < state.best.sum():
            state.best = trial[row].copy()


def _save_scores(session: _Session, state: OptimizeState) -> np.ndarray:
    """The relaxed mask at the final temperature, float32 ``[T, 26]`` (saved as ``scores.npy``)."""
    schedule = _Schedule.make(session.options, session.problem)
    scores = session.problem.expand_scores(1.0 / (1.0 + np.exp(-state.theta / schedule.taus[-1])))
    if session.folder is not None:
        session.folder.save_array(SCORES, scores)
    return scores


def _binarize_and_repair(session: _Session, optimization: OptimizeState) -> PruneStage:
    """Phase 2: repair one final binarization, the sparsest among those with the fewest
    failing frames (give or take 2); keep it if it ends sparser than the best valid mask seen."""
    problem, theta, best = session.problem, optimization.theta, optimization.best
    trial = theta[None] > _THRESHOLDS[:, None]
    _, failing = problem.check(trial)
    n_failing = failing.sum(axis=1)
    eligible = np.nonzero(n_failing <= n_failing.min() + 2)[0]
    pick = eligible[np.argmin(trial[eligible].sum(axis=1))]
    bar = session.bar("mask: repair (frames fixed)", total=problem.L)
    repaired = repair(problem, trial[pick], theta, on_round=None if bar is None else lambda fixed: _advance(bar, fixed),
                      method=session.options.repair)
    if bar is not None:
        bar.close()
    units = repaired if repaired.sum() < best.sum() else best
    stage = PruneStage(PruneState(units=units), 1.0 - float(best.mean()), 1.0 - float(units.mean()))
    session.snapshot(Phase.REPAIR, session.optimize_snapshots, units)
    session.save_state(Phase.PRUNE, optimization, stage)
    return stage


@dataclass
class _PruneProgress:
    """Called after every prune batch: progress bar, a snapshot per pass, state saved every pass
    and at least every :data:`_PRUNE_SAVE_SECONDS`."""
    session: _Session
    optimization: OptimizeState
    stage: PruneStage
    bar: object
    last_save: float

    def __call__(self, state: PruneState, pass_ended: bool) -> None:
        if self.bar is not None:  # one pass over the prune order at a time; a new pass starts from 0
            self.bar.set_description(f"mask: prune pass {state.passes + 1}")
            self.bar.set_postfix(ones=int(state.units.sum()), zeros=f"{1 - state.units.mean():.3f}")
            _advance(self.bar, state.position)
        if pass_ended:
            self.session.snapshot(Phase.PRUNE, self.session.optimize_snapshots + state.passes, state.units)
        if pass_ended or time.perf_counter() - self.last_save > _PRUNE_SAVE_SECONDS:
            self.session.save_state(Phase.PRUNE, self.optimization, self.stage)
            self.last_save = time.perf_counter()


def _prune(session: _Session, optimization: OptimizeState, stage: PruneStage) -> PruneStage:
    """Phase 3: prune, cheapest first (lowest ``theta``), until a pass accepts nothing."""
    options = session.options
    order = np.lexsort((np.arange(session.problem.n_units), optimization.theta))
    bar = session.bar(f"mask: prune pass {stage.prune.passes + 1}", total=len(order), initial=stage.prune.position)
    progress = _PruneProgress(session, optimization, stage, bar, time.perf_counter())
    deadline = None if options.max_seconds is None else time.perf_counter() + options.max_seconds
    stage.prune = prune(session.problem, stage.prune, order, options.max_prune_passes, progress, deadline)
    if progress.bar is not None:
        progress.bar.close()
    return stage


def _advance(bar, value: int) -> None:
    """Move ``bar`` to ``value`` (back to the start when a new prune pass begins)."""
    if value < bar.n:
        bar.reset(total=bar.total)
    bar.update(value - bar.n)


def _swap(session: _Session, optimization: OptimizeState, stage: PruneStage) -> PruneStage:
    """Phase 3b (``swap_moves`` > 0): swap moves on the 1-minimal mask in rounds of
    ``swap_round`` moves (:func:`~.engine.swap_search`), each round's zeros in the order of
    :func:`_swap_key` (each zero tried once in all), each round that kept a move followed by
    pruning until 1-minimal again.

    A kept move changes the mask near its zero only, but the ones it leaves can become
    removable anywhere later in the input; pruning between rounds finds them before the
    next round's moves are tried. Deterministic (counts of moves, not a time budget), so a
    run resumed mid-round repeats that round and reaches the same mask; the counts, the
    zeros tried and the prune state are saved after every round.
    """
    problem, options, theta = session.problem, session.options, optimization.theta
    if not stage.prune.one_minimal:  # pass or time budget ran out: no search
        return stage
    stats = stage.swap if stage.swap is not None else SwapStats()
    tried = stage.swap_tried if stage.swap_tried is not None else np.zeros(problem.n_units, bool)
    bar = session.bar("mask: swap moves", total=options.swap_moves, initial=stats.tried)
    while stats.tried < options.swap_moves and stage.prune.one_minimal:
        units = stage.prune.units
        zeros = np.nonzero(~units & ~tried)[0]
        if len(zeros) == 0:
            break
        zeros_order = zeros[np.lexsort((zeros, -theta[zeros], _swap_key(problem, options, units, theta)[zeros]))]
        moves = min(options.swap_round, options.swap_moves - stats.tried)
        before = SwapStats(**stats.to_dict())

        def on_move(current: np.ndarray, round_stats: SwapStats) -> None:
            if bar is not None:
                bar.update(1)
                bar.set_postfix(kept=before.kept + round_stats.kept, ones=int(current.sum()))

        swapped, round_stats = swap_search(problem, units, zeros_order, theta, moves, options.swap_window,
                                           on_move=on_move, keep_even=options.swap_keep_even)
        tried[zeros_order[:round_stats.tried]] = True  # within a round only its own zeros turn on: none skipped
        stats = SwapStats(**{key: value + getattr(round_stats, key) for key, value in before.to_dict().items()})
        stats.rounds = before.rounds + 1
        stage.swap, stage.swap_tried = stats, tried
        if round_stats.kept:
            stage.prune = PruneState(units=swapped, passes=stage.prune.passes)
        session.save_state(Phase.PRUNE, optimization, stage)
        if round_stats.kept:
            stage = _prune(session, optimization, stage)
        session.swap_trace.append([stats.tried, int(stage.prune.units.sum()), round(session.elapsed(), 3)])
        if round_stats.tried < moves:  # no zero left
            break
    if bar is not None:
        bar.close()
    stage.swap = stats
    stage.swap_tried, stage.swap_done = tried, True
    session.save_state(Phase.PRUNE, optimization, stage)
    return stage


def _swap_key(problem: MaskProblem, options: MaskOptions, units: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """The order of a round's zeros, lowest first ``[n_units]``: the gradient of the margin hinge at
    the current binary mask (``swap_order="gradient"``; turning on the most negative raises the
    margins below ``kappa`` the most, leaving room to remove ones nearby), or ``-theta``."""
    if options.swap_order == "theta":
        return -theta
    return problem.hinge_grad(units.astype(np.float64), _hinge_targets(options, problem))[1]


def _verify(session: _Session, stage: PruneStage) -> tuple[np.ndarray, Verification, int]:
    """Phase 4: a plain batch-1 forward pass on the full input; returns (mask, its check, fallbacks).

    Should float32 round-off across batch shapes ever flip a frame (never seen), every
    unit up to that frame + 9 is turned back on until the check passes.
    """
    problem = session.problem
    mask = problem.expand(stage.prune.units)
    verification = verify_mask(problem.model, problem.x_full, mask, problem.frames_full, problem.fill)
    fallbacks = 0
    while verification.agreement < 1.0:
        fallbacks += 1
        wrong = verification.wrong_frames(problem.frames_full)
        mask[:min(problem.T, int(wrong[-1]) + 1 + N_CONTEXT)] = 1
        stage.prune.one_minimal = False
        verification = verify_mask(problem.model, problem.x_full, mask, problem.frames_full, problem.fill)
    if fallbacks:
        session.snapshot(Phase.VERIFY, session.optimize_snapshots + stage.prune.passes + 1,
                         mask[:problem.L, :problem.U].reshape(-1))
    return mask, verification, fallbacks


def _finish(session: _Session, optimization: OptimizeState, stage: PruneStage, scores: np.ndarray,
            mask: np.ndarray, verification: Verification, fallbacks: int) -> MaskResult:
    """The independent 1-minimality check (when small enough), the result and ``result.json``."""
    problem, options, marks = session.problem, session.options, session.marks
    checked = None
    if int(mask[:, :problem.U].sum()) * problem.T <= options.check_limit:  # single-flip forwards x frames
        checked = is_one_minimal(problem.model, problem.x_full, mask, problem.frames_full, options.variant,
                                 options.tol, options.batch_frames, fill=problem.fill)
    result = MaskResult(
        mask=mask, zero_fraction=float(1.0 - mask.mean()), frame_agreement=verification.agreement,
        text_original=greedy_decode(verification.ref_logits, problem.model.alphabet).text,
        text_masked=greedy_decode(verification.got_logits, problem.model.alphabet).text,
        snapshot_paths=list(session.snapshots), one_minimal=bool(stage.prune.one_minimal), one_minimal_checked=checked,
        variant=options.variant, frames=problem.frames_full, scores=scores,
        agreement_all_frames=verification.agreement_all, seconds=session.elapsed(), evaluations=session.evaluations(),
        phases={"zeros_after_optimize": stage.zeros_optimize, "zeros_after_repair": stage.zeros_repair,
                "zeros_after_prune": float(1.0 - mask.mean()), "prune_passes": stage.prune.passes,
                "frames_reachable": problem.L, "verify_fallbacks": fallbacks, "batch": problem.batch,
                "seconds_optimize": marks["optimize"] - session.started,
                "seconds_repair": marks["repair"] - marks["optimize"],
                "seconds_prune": marks["prune"] - marks["repair"], "optimize_trace": optimization.trace,
                "seconds_check": time.perf_counter() - marks["prune"], "swap_trace": session.swap_trace,
                **({"incremental": problem.incremental.stats.to_dict()} if problem.incremental is not None else {})},
        fill=options.fill, fill_values=problem.fill.copy(),
        moves={"prune_passes": stage.prune.passes, **{f"swap_{key}": value for key, value in
                                                        (stage.swap or SwapStats()).to_dict().items()}},
        run_dir=session.folder.path if session.folder is not None else None)
    if session.folder is not None:
        final = session.snapshots[-1] if session.snapshots else None
        session.folder.save_json(RESULT, {**result.summary(), "final_snapshot": final.name if final else None})
    return result


def _result_from_disk(folder: MaskRunFolder, frames: np.ndarray) -> MaskResult:
    """A finished run's :class:`MaskResult`, read back from its folder."""
    info = folder.load_result()
    return MaskResult(
        mask=folder.load_array(info["final_snapshot"]), zero_fraction=info["zero_fraction"],
        frame_agreement=info["frame_agreement"], text_original=info["text_original"],
        text_masked=info["text_masked"], snapshot_paths=folder.snapshots(), one_minimal=info["one_minimal"],
        one_minimal_checked=info["one_minimal_checked"], variant=info["variant"], frames=frames,
        scores=folder.load_array(SCORES) if folder.exists(SCORES) else None,
        agreement_all_frames=info["agreement_all_frames"], seconds=info["seconds"],
        evaluations=info["evaluations"], phases=info["phases"], moves=info.get("moves", {}), run_dir=folder.path,
        fill=info.get("fill", "zeros"),
        fill_values=np.asarray(info.get("fill_values", np.zeros(N_INPUT)), np.float32))
