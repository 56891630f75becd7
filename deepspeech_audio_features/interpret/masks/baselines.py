"""Baselines for importance masks, on the same inputs and ending in the same exact check
as :func:`~.importance.importance_mask`: :func:`random_mask_baseline`,
:func:`saliency_mask` (gradient x input thresholding), :func:`greedy_occlusion_mask`
(backward selection), and :func:`deletion_curve` for any importance scores.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ...infra.errors import ParameterError
from ...infra.progress import progress_bar
from ...speech.model import DeepSpeech
from .engine import PruneState, prune, repair
from .fill import apply_mask, fill_values
from .incremental import IncrementalTest
from .problem import MaskProblem, checked_mfccs, frames_to_keep, is_one_minimal, verify_mask


@dataclass
class BaselineResult:
    """A baseline's mask after the same exact check as :func:`importance_mask`.

    Attributes:
        name: ``"random"``, ``"occlusion"`` or ``"saliency"``.
        mask: uint8 ``[T, 26]`` that keeps every constrained frame's class (masked entries
            replaced by the fill).
        zero_fraction, frame_agreement (1.0, final batch-1 forward), seconds, evaluations.
        scores: float32 ``[T, 26]`` the baseline's importance scores (for deletion curves).
        one_minimal_checked: independent single-flip check, or None when not run.
        extra: baseline-specific facts (e.g. the random masks' raw agreement).
        fill: what a masked entry became (``"zeros"``, ``"silence"``, ``"mean"`` or ``"custom"``).
    """
    name: str
    mask: np.ndarray
    zero_fraction: float
    frame_agreement: float
    seconds: float
    evaluations: int
    scores: np.ndarray
    one_minimal_checked: bool | None = None
    extra: dict = field(default_factory=dict)
    fill: str = "zeros"


def _problem(model: DeepSpeech, mfccs: np.ndarray, preserve_frames, variant: str, tol: float, batch_frames: int,
             fill) -> MaskProblem:
    mfccs = checked_mfccs(mfccs)
    return MaskProblem(model, mfccs, frames_to_keep(preserve_frames, len(mfccs)), variant, tol, batch_frames,
                       fill=fill_values(fill, model))


def _fill_name(fill) -> str:
    return fill if isinstance(fill, str) else "zeros" if fill is None else "custom"


def _finish_baseline(name: str, model: DeepSpeech, problem: MaskProblem, units: np.ndarray, scores: np.ndarray,
                     started: float, check_limit: int = 0, tol: float = 1e-3, fill="zeros", **extra) -> BaselineResult:
    mask = problem.expand(units)
    agreement = verify_mask(model, problem.x_full, mask, problem.frames_full, problem.fill).agreement
    if agreement < 1.0:  # the same fallback as importance_mask
        units = repair(problem, units, scores)
        mask = problem.expand(units)
        agreement = verify_mask(model, problem.x_full, mask, problem.frames_full, problem.fill).agreement
    checked = None
    if check_limit and int(mask.sum()) * problem.T <= check_limit:
        checked = is_one_minimal(model, problem.x_full, mask, problem.frames_full, problem.variant, tol,
                                 fill=problem.fill)
    return BaselineResult(name=name, mask=mask, zero_fraction=float(1.0 - mask.mean()), frame_agreement=agreement,
                          seconds=time.perf_counter() - started, evaluations=problem.evaluations,
                          scores=problem.expand_scores(scores), one_minimal_checked=checked, extra=extra,
                          fill=_fill_name(fill))


def _threshold_search(problem: MaskProblem, scores: np.ndarray, grid: int = 32, bar=None) -> np.ndarray:
    """Keep the top-k units by ``scores``; the smallest k found (batched grid refinement) that passes.

    ``bar``: a progress bar advanced once per refinement round (about ``log_32(n_units)`` + 1).
    """
    order = np.argsort(-scores, kind="stable")
    lo, hi = 0, problem.n_units  # k = hi passes (all ones); k = lo is not known to pass
    while hi - lo > 1:
        if bar is not None:
            bar.update(1)
        ks = np.unique(np.linspace(lo, hi, min(grid, hi - lo) + 1).round().astype(int))[:-1]
        ks = ks[ks > lo] if lo > 0 else ks
        if len(ks) == 0:
            break
        trial = np.zeros((len(ks), problem.n_units), bool)
        for row, k in enumerate(ks):
            trial[row, order[:k]] = True
        ok, _ = problem.check(trial)
        if ok.any():
            first = int(np.argmax(ok))
            new_hi = int(ks[first])
            lo = int(ks[first - 1]) if first > 0 else lo
            hi = new_hi
        else:
            lo = int(ks[-1])
    units = np.zeros(problem.n_units, bool)
    units[order[:hi]] = True
    return units


def random_mask_baseline(model: DeepSpeech, mfccs: np.ndarray, zero_fraction: float, *, seed: int = 0,
                         samples: int = 8, variant: str = "time-frequency", preserve_frames=None,
                         tol: float = 1e-3, batch_frames: int = 8192, check_limit: int = 0, fill="zeros",
                         progress: bool = False) -> BaselineResult:
    """Random masks at a given zero fraction, then the exact check.

    Reports (in ``extra``) the mean frame agreement of ``samples`` random masks with
    ``zero_fraction`` zeros and how many keep every frame; the returned mask is the
    sparsest random-order prefix that passes the exact test (threshold search).
    ``fill``: what a masked entry becomes (see :func:`~.fill.fill_values`); ``progress``:
    a bar over the threshold search's rounds.
    """
    started = time.perf_counter()
    problem = _problem(model, mfccs, preserve_frames, variant, tol, batch_frames, fill)
    rng = np.random.default_rng(seed)
    n_zero = int(round(zero_fraction * problem.n_units))
    raw = np.ones((samples, problem.n_units), bool)
    for row in range(samples):
        raw[row, rng.permutation(problem.n_units)[:n_zero]] = False
    ok, failing = problem.check(raw)
    frames = problem.frames
    raw_agreement = float(1.0 - failing[:, frames].mean())
    scores = rng.random(problem.n_units)
    with _search_bar("random: threshold search", problem, progress) as bar:
        units = _threshold_search(problem, scores, bar=bar)
    return _finish_baseline("random", model, problem, units, scores, started, check_limit, tol, fill,
                            raw_agreement=raw_agreement, raw_all_frames_kept=int(ok.sum()), raw_samples=samples,
                            raw_zero_fraction=zero_fraction)


def saliency_scores(model: DeepSpeech, mfccs: np.ndarray, preserve_frames=None,
                    variant: str = "time-frequency", fill="zeros") -> np.ndarray:
    """Gradient x input saliency ``|(x - fill) * d(sum_t margin_t) / dx|`` per unit, float32 ``[T, 26]``
    (``fill`` 0: the plain gradient x input)."""
    problem = _problem(model, mfccs, preserve_frames, variant, 1e-3, 8192, fill)
    return problem.expand_scores(_saliency(problem))


def _saliency(problem: MaskProblem) -> np.ndarray:
    # d/dm of sum relu(big - margin) at m = 1 is -((x - fill) * d margin / dx): gradient x input,
    # measured from the fill as attribution baselines are (Sturmfels et al. 2020).
    _, grad, _ = problem.hinge_grad(np.ones(problem.n_units), np.full(problem.L, 1e6, np.float32))
    return np.abs(grad)


def saliency_mask(model: DeepSpeech, mfccs: np.ndarray, *, variant: str = "time-frequency",
                  preserve_frames=None, tol: float = 1e-3, batch_frames: int = 8192,
                  check_limit: int = 0, fill="zeros", progress: bool = False) -> BaselineResult:
    """Gradient-saliency thresholding: keep the top-k units by ``|(x - fill) * grad|``, the
    smallest k (batched grid search) that passes the exact test with the same ``fill``.
    ``progress``: a bar over the threshold search's rounds."""
    started = time.perf_counter()
    problem = _problem(model, mfccs, preserve_frames, variant, tol, batch_frames, fill)
    scores = _saliency(problem)
    with _search_bar("saliency: threshold search", problem, progress) as bar:
        units = _threshold_search(problem, scores, bar=bar)
    return _finish_baseline("saliency", model, problem, units, scores, started, check_limit, tol, fill)


def _search_bar(desc: str, problem: MaskProblem, progress: bool):
    """A bar over a threshold search's rounds: at most ``ceil(log_32(n_units)) + 1``."""
    rounds = int(np.ceil(np.log(max(problem.n_units, 2)) / np.log(32))) + 1
    return progress_bar(total=rounds, desc=desc, leave=False, disable=not progress)


def greedy_occlusion_mask(model: DeepSpeech, mfccs: np.ndarray, *, variant: str = "time-frequency",
                          preserve_frames=None, tol: float = 1e-3, batch_frames: int = 8192,
                          max_seconds: float | None = None, check_limit: int = 0, incremental: bool = True,
                          progress: bool = False, fill="zeros") -> BaselineResult:
    """Greedy occlusion (backward selection): occlude each unit alone from the full input,
    order units by how little that lowers the worst frame margin, then zero them one by
    one in that order, keeping each zero that preserves every frame (one pass, exact,
    the same batched sequential engine as :func:`importance_mask`'s prune, with the same
    incremental evaluation unless ``incremental`` is False: the same mask either way).
    Occluding a unit replaces it by ``fill``. ``progress`` shows bars over the single-unit
    occlusions and the units pruned."""
    started = time.perf_counter()
    problem = _problem(model, mfccs, preserve_frames, variant, tol, batch_frames, fill)
    n = problem.n_units
    impact = np.empty(n)
    for start in progress_bar(range(0, n, problem.batch), desc="occlusion: single units", leave=False,
                              disable=not progress):
        idx = np.arange(start, min(n, start + problem.batch))
        trial = np.ones((len(idx), n), bool)
        trial[np.arange(len(idx)), idx] = False
        slack = problem.margins(trial) - problem.tol
        impact[idx] = np.where(problem.frames, slack, np.inf).min(axis=1)
    order = np.lexsort((np.arange(n), -impact))  # least harmful (largest remaining slack) first
    deadline = None if max_seconds is None else started + max_seconds
    if incremental:
        problem.incremental = IncrementalTest(problem)
    bar = progress_bar(total=n, desc="occlusion: prune", leave=False, disable=not progress)

    def advance(state: PruneState, pass_ended: bool) -> None:
        bar.update(min(state.position, n) - bar.n)

    state = prune(problem, PruneState(units=np.ones(n, bool)), order, 1, advance, deadline=deadline)
    bar.close()
    scores = -impact  # higher = more important
    return _finish_baseline("occlusion", model, problem, state.units, scores, started, check_limit, tol, fill,
                            completed=bool(state.passes >= 1))


def deletion_curve(model: DeepSpeech, mfccs: np.ndarray, scores: np.ndarray,
                   fractions: Sequence[float] | None = None, preserve_frames=None,
                   fill="zeros") -> tuple[np.ndarray, np.ndarray]:
    """Frame agreement as entries are masked (replaced by ``fill``) in score order (lowest score first).

    Args:
        scores: ``[T, 26]`` importance scores (higher = more important).
        fractions: masked fractions (default 0, 0.05, ..., 1).
        fill: ``"zeros"``, ``"silence"``, ``"mean"`` or 26 values (see :func:`~.fill.fill_values`).
    Returns:
        ``(fractions [K], agreement [K])`` agreement over the constrained frames (plain argmax).
    """
    mfccs = checked_mfccs(mfccs)
    fractions = np.linspace(0, 1, 21) if fractions is None else np.asarray(fractions, float)
    if fractions.ndim != 1 or not np.all((fractions >= 0) & (fractions <= 1)):
        raise ParameterError(f"fractions: expected shares in [0, 1], got {fractions}")
    frames = frames_to_keep(preserve_frames, len(mfccs))
    scores = np.asarray(scores, float)
    if scores.shape != mfccs.shape or not np.isfinite(scores).all():
        raise ParameterError(f"scores: expected finite numbers shaped {mfccs.shape} (the MFCCs'), got {scores.shape}")
    order = np.argsort(scores.reshape(-1), kind="stable")
    forward = model.compiled_forward("layer_6")
    length = len(mfccs)
    ref = forward(mfccs[None], np.array([length], np.int32))["layer_6"].numpy()[0].argmax(-1)
    masks = np.ones((len(fractions), mfccs.size), np.float32)
    for row, f in enumerate(fractions):
        masks[row, order[:int(round(f * mfccs.size))]] = 0.0
    x = apply_mask(mfccs, masks.reshape(-1, *mfccs.shape), fill_values(fill, model))
    agreement = []
    for start in range(0, len(x), 16):
        chunk = x[start:start + 16]
        got = forward(chunk, np.full(len(chunk), length, np.int32))["layer_6"].numpy().argmax(-1)
        agreement.extend((got == ref)[:, frames].mean(axis=1))
    return fractions, np.array(agreement)


