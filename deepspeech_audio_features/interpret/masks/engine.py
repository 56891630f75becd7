"""Moves on binary masks, each ending in a mask that passes the exact test: repair (turn
units back on until every frame keeps its class) and prune (sequential greedy
elimination, run speculatively in batches).

Both work on flat unit masks ``[n_units]`` of a :class:`~.problem.MaskProblem`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...infra.options import check_choice
from ...speech.frames import N_CONTEXT
from .options import REPAIRS
from .problem import MaskProblem


# ----------------------------------------------------------------------------- repair
def repair(problem: MaskProblem, units: np.ndarray, rank_hint: np.ndarray, max_rounds: int = 10_000,
           on_round: Callable[[int], None] | None = None, method: str = "greedy",
           candidates: int = 32) -> np.ndarray:
    """Turn units back on until every constrained frame keeps its class.

    Adding a unit moves margins either way: it can fix a failing frame and break a frame
    that passed. The two methods differ in how they deal with that.

    ``"greedy"`` (the default) measures instead of predicting. Each round ranks the zero
    units that can reach a failing frame (frames ``<= last failing + 9``) by the gradient
    of all violated margins (ties: ``rank_hint``, higher first), adds each of the first
    ``candidates`` alone, in one batch, and keeps the one that leaves the fewest failing
    frames, then the smallest shortfall ``sum_t max(0, tol_t - margin_t)``. When no single
    addition improves on the current mask by that order, the round is a ``"prefix"`` round
    (below), which always makes progress. Every round adds at least one unit, so the repair
    ends (the all-ones mask passes).

    ``"prefix"`` (the method before) looks at the earliest failing frame ``t_f``. Zero
    units are ranked two ways: by the gradient of all violated margins (any unit that can
    reach a failing frame), and by the gradient of frame ``t_f``'s margin alone (units of
    frames ``<= t_f + 9``, the only ones that reach it); ties go to ``rank_hint``.
    Prefixes of sizes 1, 2, 4, ... of both rankings, and all of the second, are checked
    in one batch. The round takes the smallest prefix that fixes every frame up to
    ``t_f`` (ties: the fewest failing frames left), refined by a second batch of 16
    sizes between it and the next smaller power of two. The last prefix of the second
    ranking always qualifies, since frames ``<= t_f`` then see exactly ``X``: the earliest
    failing frame moves strictly later every round. But where every smaller prefix breaks
    an earlier frame, that last prefix turns on every unit up to ``t_f + 9``: on the third
    example file (``benchmarks/masks.py``) the final binarization had 78.0 % zeros and one
    failing frame; ``"prefix"`` ended at 16.1 % zeros, ``"greedy"`` at 77.9 % in two rounds.

    Args:
        units: bool ``[n_units]`` start mask (not changed).
        rank_hint: ``[n_units]`` tie-breaker, higher = turned on first.
        on_round: ``on_round(frames_fixed)`` after every round: the frames before the
            earliest failing one (``L`` when the mask passes).
        method: ``"greedy"`` or ``"prefix"``.
        candidates: single additions scored per greedy round.
    Returns:
        bool ``[n_units]``: ``units`` with some zeros turned on, passing the exact test.
    """
    check_choice("method", method, REPAIRS)
    units = units.astype(bool).copy()
    unit_frames = problem.unit_frame(np.arange(problem.n_units))
    margins = problem.margins(units[None])[0]
    for _ in range(max_rounds):
        failing = problem.failing(margins)
        if on_round is not None:
            on_round(int(np.argmax(failing)) if failing.any() else problem.L)
        if not failing.any():
            return units
        added = None
        if method == "greedy":
            added = _greedy_addition(problem, units, margins, failing, unit_frames, rank_hint, candidates)
        if added is not None:
            units, margins = added
        else:
            orders, first_fail = _repair_orders(problem, units, failing, unit_frames, rank_hint)
            units, margins = _repair_round(problem, units, orders, first_fail)
    raise RuntimeError("repair did not converge")  # unreachable: see the docstring


def _shortfall(problem: MaskProblem, margins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``margins [B, L]`` -> (failing constrained frames ``[B]``, ``sum_t max(0, tol_t - margin_t)`` ``[B]``)."""
    short = np.where(problem.frames, np.maximum(problem.tol - margins, 0.0), 0.0)
    return (short > 0).sum(axis=-1), short.sum(axis=-1)


def _greedy_addition(problem: MaskProblem, units: np.ndarray, margins: np.ndarray, failing: np.ndarray,
                     unit_frames: np.ndarray, rank_hint: np.ndarray, candidates: int):
    """The best single addition of one greedy repair round, ``(units [n_units], margins [L])``,
    or None when none leaves fewer failing frames, or as many with a smaller shortfall."""
    _, grad, _ = problem.hinge_grad(units, problem.tol, weights=failing.astype(np.float32))
    reach = int(np.nonzero(failing)[0][-1]) + N_CONTEXT
    zeros = np.nonzero(~units & (unit_frames <= reach))[0]
    chosen = zeros[np.lexsort((-rank_hint[zeros], grad[zeros]))][:candidates]  # most negative gradient first
    trials = np.repeat(units[None], len(chosen), axis=0)
    trials[np.arange(len(chosen)), chosen] = True
    trial_margins = problem.margins(trials)
    n_failing, shortfall = _shortfall(problem, trial_margins)
    best = int(np.lexsort((shortfall, n_failing))[0])
    now_failing, now_shortfall = _shortfall(problem, margins[None])
    if (n_failing[best], shortfall[best]) < (now_failing[0], now_shortfall[0]):
        return trials[best], trial_margins[best]
    return None


def _repair_orders(problem: MaskProblem, units: np.ndarray, failing: np.ndarray, unit_frames: np.ndarray,
                   rank_hint: np.ndarray) -> tuple[list[np.ndarray], int]:
    """The zero units that can reach (all failing frames | the earliest), most important first."""
    fail_frames = np.nonzero(failing)[0]
    first_fail, last_fail = int(fail_frames[0]), int(fail_frames[-1])
    orders = []
    for weights, reach in ((failing, last_fail), (np.arange(problem.L) == first_fail, first_fail)):
        _, grad, _ = problem.hinge_grad(units, problem.tol, weights=weights.astype(np.float32))
        candidates = np.nonzero(~units & (unit_frames <= reach + N_CONTEXT))[0]
        orders.append(candidates[np.lexsort((-rank_hint[candidates], grad[candidates]))])  # most negative first
    return orders, first_fail


def _repair_round(problem: MaskProblem, units: np.ndarray, orders: list[np.ndarray], first_fail: int):
    """One round: the smallest prefix (powers of two, then refined) that fixes frames ``<= first_fail``.

    Returns ``(units [n_units], margins [L])`` of the chosen candidate.
    """
    prefixes = [(o, size) for o in orders
                for size in sorted({min(len(o), 2 ** i) for i in range(int(math.log2(max(len(o), 1))) + 2)})]
    for refine in (False, True):
        trials = np.repeat(units[None], len(prefixes), axis=0)
        for row, (o, size) in enumerate(prefixes):
            trials[row, o[:size]] = True
        margins = problem.margins(trials)
        fails_all = problem.failing(margins)
        earliest = np.array([np.nonzero(f)[0][0] if f.any() else problem.L for f in fails_all])
        progress = np.nonzero(earliest > first_fail)[0]
        pick = min(progress, key=lambda i: (prefixes[i][1], int(fails_all[i].sum())))
        chosen = (trials[pick], margins[pick])
        o, size = prefixes[pick]
        if refine or size <= 2:
            break
        # refine between the previous (failing) power of two and the chosen size, in one more batch
        low = size // 2 if size & (size - 1) == 0 else 2 ** int(math.log2(size))
        sizes = np.unique(np.linspace(low, size, 17).round().astype(int))
        prefixes = [(o, int(k)) for k in sizes]
    return chosen


# ----------------------------------------------------------------------------- prune
@dataclass
class PruneState:
    """Where pruning stands (saved in ``state.npz`` so a run resumes mid-pass).

    Attributes:
        units: bool ``[n_units]``, the current mask (changed in place).
        passes: finished passes.
        position: index into the pass's order of the next unit to try.
        accepted: zeros accepted in the current pass.
        one_minimal: a pass accepted nothing.
        done: no more passes (1-minimal, pass budget or deadline).
    """
    units: np.ndarray
    passes: int = 0
    position: int = 0
    accepted: int = 0
    one_minimal: bool = False
    done: bool = False


def prune(problem: MaskProblem, state: PruneState, order: np.ndarray, max_passes: int | None,
          on_progress: Callable[[PruneState, bool], None] | None = None,
          deadline: float | None = None, speculation: "Speculation | None" = None) -> PruneState:
    """Sequential greedy elimination over ``order`` (cheapest first), run speculatively in batches.

    Each batch holds ``B`` candidates built along the predicted outcomes of the earlier
    ones (the last outcome seen for that unit, else the recent acceptance rate:
    :class:`_RecentRate`);
    all outcomes up to the first mispredicted one are exact decisions of the sequential
    algorithm, so the result does not depend on the predictions, only the speed does.
    Passes repeat until one accepts nothing (then ``one_minimal``: that pass tested every
    remaining one against the final mask) or ``max_passes`` ran, or ``deadline``
    (``time.perf_counter()``) passed. ``on_progress(state, pass_ended)`` is called after
    every batch. ``speculation`` carries the predictions over from an earlier call (the swap
    search's local prunes share one); None starts afresh.
    """
    spec = speculation if speculation is not None else Speculation()
    while not state.done:
        if max_passes is not None and state.passes >= max_passes:
            state.done = True
            break
        while state.position < len(order):  # position indexes ``order``; units already zero are skipped
            if deadline is not None and time.perf_counter() > deadline:
                state.done = True
                return state
            advanced, correct = _speculative_batch(problem, state, order, spec.seen, spec.recent,
                                                   chain_length(spec.accuracy, problem.batch))
            if advanced == 0:
                state.position = len(order)
                break
            spec.accuracy = 0.8 * spec.accuracy + 0.2 * correct / advanced
            if on_progress is not None:
                on_progress(state, False)
        state.passes += 1
        if state.accepted == 0:
            state.one_minimal = True
            state.done = True
        state.position, state.accepted = 0, 0
        if on_progress is not None:
            on_progress(state, True)
    return state


@dataclass
class _RecentRate:
    """Acceptance rate of the recent decisions (exponential average, weight ``weight`` per decision).

    Acceptances cluster along the prune order (cheap units first), so the recent rate predicts
    an unseen unit's outcome better than the pass's overall rate: on the three example files it
    cut the speculative batches from 524 / 776 / 776 to 507 / 670 / 696 (same masks).
    """
    value: float = 0.5
    weight: float = 0.2

    def update(self, accepted: bool) -> None:
        self.value += self.weight * (float(accepted) - self.value)


@dataclass
class Speculation:
    """What steers speculative batches (never their decisions): the last outcome seen per unit,
    the recent acceptance rate, and the running share of correct predictions (sets the chain length)."""
    seen: dict[int, bool] = field(default_factory=dict)
    recent: _RecentRate = field(default_factory=lambda: _RecentRate())  # looked up when made (tests replace it)
    accuracy: float = 0.8


def _speculative_batch(problem: MaskProblem, state: PruneState, order: np.ndarray, seen: dict[int, bool],
                       recent: _RecentRate, length: int) -> tuple[int, int]:
    """Decide the next up to ``length`` remaining units of ``order`` in one batch.

    Updates ``state`` (units, accepted, position), ``seen`` and ``recent``; returns ``(decided,
    correctly predicted)``, ``(0, 0)`` when no unit is left in this pass.
    """
    flat = state.units
    positions = state.position + np.nonzero(flat[order[state.position:]])[0][:length]
    if len(positions) == 0:
        return 0, 0
    chunk = order[positions]
    predicted = [seen.get(int(e), recent.value >= 0.5) for e in chunk]
    trial = np.repeat(flat[None], len(chunk), axis=0)
    for row, unit in enumerate(chunk):
        trial[row, unit] = False  # candidate ``row`` tests ``unit`` ...
        if predicted[row]:
            trial[row + 1:, unit] = False  # ... and later ones assume its predicted outcome
    ok = problem.check_moves(flat, trial, np.array(predicted))
    advanced = len(chunk)
    for row, unit in enumerate(chunk):
        seen[int(unit)] = bool(ok[row])
        recent.update(bool(ok[row]))
        if ok[row]:
            flat[unit] = False
            state.accepted += 1
        if bool(ok[row]) != predicted[row]:
            advanced = row + 1  # later candidates were built on a wrong prediction
            break
    correct = advanced - (0 if advanced == len(chunk) and bool(ok[-1]) == predicted[-1] else 1)
    state.position = int(positions[advanced - 1]) + 1
    return advanced, correct


_CHAIN_LENGTHS = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


def chain_length(accuracy: float, largest: int, overhead: float = 3.0) -> int:
    """Candidates per speculative batch minimizing forward cost per decided unit.

    A batch of ``B`` costs about ``overhead + B`` candidate-forwards (the per-call cost
    of the time loop is worth ~3 candidates on CPU) and decides
    ``(1 - p^B) / (1 - p)`` units on average when each prediction is right with
    probability ``p``.
    """
    p = min(max(accuracy, 0.05), 0.995)
    lengths = [b for b in _CHAIN_LENGTHS if b <= largest] or [largest]
    return min(lengths, key=lambda b: (overhead + b) * (1 - p) / (1 - p ** b))


# ----------------------------------------------------------------------------- swap moves
@dataclass
class SwapStats:
    """What the swap search did: zeros tried; moves kept, of which ``even`` removed exactly one
    one (as many as they added); ones removed in all, net of the zeros turned on; rounds
    (``importance_mask`` runs the search in rounds, pruning in between)."""
    tried: int = 0
    kept: int = 0
    even: int = 0
    ones_removed: int = 0
    rounds: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def swap_search(problem: MaskProblem, units: np.ndarray, zeros_order: np.ndarray, ones_rank: np.ndarray,
                moves: int, window: int = 6, deadline: float | None = None,
                on_move: Callable[[np.ndarray, SwapStats], None] | None = None,
                keep_even: bool = True) -> tuple[np.ndarray, SwapStats]:
    """Swap moves on a valid mask: turn one zero on, then remove as many ones as the exact test allows.

    For each of the first ``moves`` zeros of ``zeros_order`` (still zero): that unit is
    turned on (the mask may then fail the test: adding an entry moves margins either way)
    and one greedy elimination pass over the ones of frames within ``window`` of its frame
    (lowest ``ones_rank`` first, the unit itself excluded) is run. The move is kept when it
    removed two or more ones (a net gain) or, with ``keep_even``, exactly one: an *even*
    move, as many ones as before but another mask, which lets the search cross plateaus
    of equal size (``benchmarks/masks.py --methods ours,ours-swap-net`` compares the two
    rules). Each zero of ``zeros_order`` is tried at most once, so the search ends. Every
    kept mask passed the exact test; the search does not make the mask 1-minimal (prune
    again afterwards).

    The local prunes share one :class:`Speculation` (most of their candidates are
    rejected, and the last outcome of a unit predicts its next one), which sets only the speed.

    Args:
        units: bool ``[n_units]``, a mask that passes the test (not changed).
        zeros_order: unit indices, the order in which zeros are tried.
        ones_rank: ``[n_units]``, the prune order's key (lowest tried first).
        moves: zeros to try.
        window: frames either side of the unit whose ones are tried (6 removed more ones
            per second than 3, 9 or 18 on the first example file).
        deadline: ``time.perf_counter()`` after which no new move starts.
        on_move: ``on_move(units, stats)`` after every move.
        keep_even: also keep moves that removed exactly one one.
    Returns:
        ``(units, stats)``.
    """
    units = units.astype(bool).copy()
    unit_frames = problem.unit_frame(np.arange(problem.n_units))
    stats = SwapStats()
    speculation = Speculation()
    for unit in zeros_order:
        if stats.tried >= moves or (deadline is not None and time.perf_counter() > deadline):
            break
        if units[unit]:
            continue
        stats.tried += 1
        trial = units.copy()
        trial[unit] = True
        near = trial & (np.abs(unit_frames - unit_frames[unit]) <= window)
        near[unit] = False
        candidates = np.nonzero(near)[0]
        order = candidates[np.lexsort((candidates, ones_rank[candidates]))]
        state = prune(problem, PruneState(units=trial.copy()), order, max_passes=1, speculation=speculation)
        removed = int(trial.sum() - state.units.sum())
        if removed >= (1 if keep_even else 2):  # the mask after an accepted removal passed the exact test
            units = state.units
            stats.kept += 1
            stats.even += removed == 1
            stats.ones_removed += removed - 1
        if on_move is not None:
            on_move(units, stats)
    return units, stats
