"""Importance masks: the sparsest binary MFCC mask that provably keeps every frame's class.

For MFCCs ``X [T, 26]`` with per-frame classes ``f(y(X)) = argmax_k logits[t, k]``, an
importance mask is a binary ``M`` shaped like ``X`` with as many zeros as possible such
that ``f(y(M * X)) = f(y(X))`` at every frame (or at every chosen frame).

How :func:`importance_mask` finds one:

1. **Relaxed optimization.** Mask logits ``theta`` give a soft mask
   ``m = sigmoid(theta / tau)``; the loss is a per-frame hinge on the margin
   ``logit[t, c_t] - max_{k != c_t} logit[t, k]`` (keep each frame's class ``c_t`` on
   top by ``kappa``) plus ``lam * mean(m)``. ``lam`` grows and ``tau`` shrinks
   geometrically over the steps (annealed pressure towards zeros, and towards binary
   values); in the last ``straight_through`` share of the steps the loss is computed
   on the binary mask ``theta > 0`` itself (straight-through gradients). Every few steps
   the binarized masks at a few thresholds of ``theta`` are
   checked exactly, and the sparsest one that keeps every frame is remembered.
2. **Binarize and repair.** Take the sparsest valid binarization seen, and repair the
   final one (``theta`` > one of a few thresholds, the sparsest among those with the
   fewest failing frames): while some frame disagrees, turn zeros back on, most
   important first (ranked by the gradient of the violated margins, then ``theta``),
   choosing the smallest of several prefix sizes evaluated in one batch that fixes
   every frame up to the earliest failing one. Only units that can reach a failing
   frame are candidates: a frame's logits depend on the inputs of frames ``<= t + 9``
   (context windows of 9 frames, a unidirectional LSTM). Turning on every unit up to
   ``t_f + 9`` always fixes frames ``<= t_f``, so the earliest failing frame moves
   strictly later each round and the repair ends. The sparser of the two starts wins.
3. **Prune.** Try zeroing each remaining one, cheapest first (lowest ``theta``),
   keeping each zero that preserves every frame. This is exactly sequential greedy
   elimination, run *speculatively* in batches: each batch holds ``B`` candidates built
   along the predicted outcomes of the earlier ones (the last outcome seen for that
   unit, else the pass's running acceptance rate); all outcomes up to the first
   mispredicted one are exact decisions of the sequential algorithm, so the result does
   not depend on the predictions, only the speed does (``B`` follows the running
   prediction accuracy, see :func:`_chain_length`). Passes repeat until one accepts
   nothing: that pass tested every remaining one against the final mask, which proves
   the mask **1-minimal** (no single remaining one can be zeroed).
4. **Verify.** A final batch-1 forward pass of ``M * X`` against ``X`` (full length)
   confirms every frame's class; :attr:`MaskResult.frame_agreement` is that check.

A candidate "keeps" frame ``t`` when its margin is at least ``tol_t = min(tol,
margin_t(X) / 2)`` (``tol`` = 1e-3 logits by default), so float32 round-off between
batch sizes (or a float64 re-computation) cannot flip a kept frame. 1-minimality is
with respect to this acceptance test.

Variants: ``"time-frequency"`` (one unit per MFCC entry, the study's), ``"time"`` (one
unit per frame: whole frames on or off) and ``preserve_frames`` (only chosen frames
must keep their class, e.g. one word's frames from :func:`word_frames`; units of frames
past the last chosen frame + 9 cannot reach it and are zero for free).

Snapshots (the study's layout): ``<run_dir>/<i>.npy`` binary masks ``[T, 26]`` (uint8)
numbered 0, 1, 2, ... (every ``snapshot_every`` optimization steps, then after repair,
then after each prune pass; the last is the final mask), ``result.json`` beside them,
plus ``config.json``, ``state.npz`` (for resuming) and ``scores.npy``. All writes are
atomic; re-running with the same config resumes (or returns the finished result).

Baselines on the same inputs, each ending in the same exact check:
:func:`random_mask_baseline`, :func:`greedy_occlusion_mask` (backward selection) and
:func:`saliency_mask` (gradient x input thresholding), and :func:`deletion_curve`.

:func:`mute_unimportant_audio` mutes audio where the mask's per-frame mean is low and
transcribes the result again.
"""
from __future__ import annotations

import hashlib
import math
import os
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from ...infra.atomic import load_array, load_json, save_array, save_arrays, save_json
from ...infra.errors import RunConflictError
from ...infra.runfolder import run_name, snapshot_path, snapshot_steps
from ...speech.audio import load_audio, write_wav
from ...speech.decoding import Transcription, greedy_decode
from ...speech.frames import (
    N_CONTEXT,
    N_INPUT,
    SAMPLE_RATE,
    STEP_SAMPLES,
    WINDOW_SAMPLES,
    num_frames,
)
from ...speech.model import DeepSpeech
from ..optim import Adam

VARIANTS: tuple[str, ...] = ("time-frequency", "time")
#: Where :func:`run_mask_experiment` writes, one folder per audio file (the study's name).
DEFAULT_RUN_DIR = "runs/run_mask_experiment"
#: Per-frame mask-mean thresholds of the study's masked-audio section.
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.1, 0.2, 0.3)
_RESULT = "result.json"
_CONFIG = "config.json"
_STATE = "state.npz"
_SCORES = "scores.npy"


# ----------------------------------------------------------------------------- results
@dataclass
class MaskResult:
    """A verified importance mask and how it was found.

    Attributes:
        mask: uint8 ``[T, 26]``, 1 = keep the MFCC entry, 0 = set it to zero.
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
        phases: zero fractions after optimization, repair and prune, passes, etc.
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
    run_dir: Path | None = None

    def summary(self) -> dict:
        """JSON-able facts (everything except the arrays)."""
        return {
            "zero_fraction": self.zero_fraction, "frame_agreement": self.frame_agreement,
            "agreement_all_frames": self.agreement_all_frames,
            "text_original": self.text_original, "text_masked": self.text_masked,
            "one_minimal": self.one_minimal, "one_minimal_checked": self.one_minimal_checked,
            "variant": self.variant, "frames_constrained": int(np.sum(self.frames)) if self.frames is not None else None,
            "frames": int(self.mask.shape[0]), "seconds": self.seconds, "evaluations": self.evaluations,
            "phases": self.phases, "snapshots": len(self.snapshot_paths),
        }


@dataclass
class BaselineResult:
    """A baseline's mask after the same exact check as :func:`importance_mask`.

    Attributes:
        name: ``"random"``, ``"occlusion"`` or ``"saliency"``.
        mask: uint8 ``[T, 26]`` that keeps every constrained frame's class.
        zero_fraction, frame_agreement (1.0, final batch-1 forward), seconds, evaluations.
        scores: float32 ``[T, 26]`` the baseline's importance scores (for deletion curves).
        one_minimal_checked: independent single-flip check, or None when not run.
        extra: baseline-specific facts (e.g. the random masks' raw agreement).
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


# ----------------------------------------------------------------------------- the exact test
def _margins(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``logits [..., T, 29]``, ``labels [T]`` -> ``[..., T]`` logit of the label minus the best other."""
    logits = np.asarray(logits, dtype=np.float64)
    onehot = np.eye(logits.shape[-1], dtype=bool)[labels]
    own = np.where(onehot, logits, -np.inf).max(axis=-1)
    other = np.where(onehot, -np.inf, logits).max(axis=-1)
    return own - other


def _parse_frames(preserve_frames, num_frames_: int) -> np.ndarray:
    """None (all) | slice | (start, end) | bool [T] | frame indices -> bool ``[T]``."""
    if preserve_frames is None:
        return np.ones(num_frames_, dtype=bool)
    if isinstance(preserve_frames, slice):
        out = np.zeros(num_frames_, dtype=bool)
        out[preserve_frames] = True
        return out
    arr = np.asarray(preserve_frames)
    if arr.dtype == bool:
        if arr.shape != (num_frames_,):
            raise ValueError(f"preserve_frames: boolean mask shaped {arr.shape}, expected ({num_frames_},)")
        return arr.copy()
    if isinstance(preserve_frames, tuple) and len(preserve_frames) == 2:
        return _parse_frames(slice(int(preserve_frames[0]), int(preserve_frames[1])), num_frames_)
    out = np.zeros(num_frames_, dtype=bool)
    out[arr.astype(int)] = True
    return out


_GRAD_FNS: "weakref.WeakKeyDictionary[DeepSpeech, Callable]" = weakref.WeakKeyDictionary()


def _hinge_grad_fn(model: DeepSpeech) -> Callable:
    """tf.function ``(m [L, U], x [L, 26], labels [L], weights [L], kappa [L])`` ->
    ``(data_loss, d data_loss / d m [L, U], margins [L])`` with
    ``data_loss = sum_t weights_t * relu(kappa_t - margin_t) / sum_t weights_t``."""
    if model not in _GRAD_FNS:
        spec = [tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None, N_INPUT], tf.float32),
                tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.float32),
                tf.TensorSpec([None], tf.float32)]

        @tf.function(input_signature=spec)
        def fn(m, x, labels, weights, kappa):
            with tf.GradientTape() as tape:
                tape.watch(m)
                logits = model.forward((x * m)[None], up_to="layer_6")["layer_6"][0]
                onehot = tf.one_hot(labels, tf.shape(logits)[-1]) > 0.5
                own = tf.reduce_max(tf.where(onehot, logits, -1e30), axis=-1)
                other = tf.reduce_max(tf.where(onehot, -1e30, logits), axis=-1)
                margin = own - other
                data = tf.reduce_sum(weights * tf.nn.relu(kappa - margin)) / tf.maximum(tf.reduce_sum(weights), 1.0)
            return data, tape.gradient(data, m), margin

        _GRAD_FNS[model] = fn
    return _GRAD_FNS[model]


class _Problem:
    """One masking problem: the input, the classes to keep and the batched exact test.

    Units are the mask's free entries: ``[L, 26]`` for time-frequency masks, ``[L, 1]``
    for time-only masks, where ``L <= T`` is the number of frames that can reach a
    constrained frame (the last constrained frame + 9 context frames).
    """

    def __init__(self, model: DeepSpeech, mfccs: np.ndarray, frames: np.ndarray, variant: str,
                 tol: float, batch_frames: int, truncate: bool = True):
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; variants are {', '.join(VARIANTS)}")
        self.model = model
        self.x_full = np.ascontiguousarray(mfccs, dtype=np.float32)
        self.T = self.x_full.shape[0]
        if not frames.any():
            raise ValueError("no frame to preserve")
        self.frames_full = frames
        last = int(np.nonzero(frames)[0][-1])
        self.L = min(self.T, last + 1 + N_CONTEXT) if truncate else self.T
        self.x = self.x_full[:self.L]
        self.frames = frames[:self.L]
        self.U = N_INPUT if variant == "time-frequency" else 1
        self.variant = variant
        self.n_units = self.L * self.U
        self.forward = model.compiled_forward("layer_6")
        self.batch = int(max(4, min(64, batch_frames // max(self.L, 1))))
        logits = self._logits(self.x[None])[0]
        self.labels = logits.argmax(axis=-1).astype(np.int32)
        self.orig_margins = _margins(logits, self.labels)
        self.tol = np.where(self.frames, np.minimum(tol, 0.5 * np.maximum(self.orig_margins, 0.0)), -np.inf)
        self.evaluations = 0

    # units <-> masks
    def unit_frame(self, flat_index: np.ndarray) -> np.ndarray:
        return np.asarray(flat_index) // self.U

    def expand(self, units: np.ndarray) -> np.ndarray:
        """Flat units ``[n_units]`` -> uint8 full mask ``[T, 26]`` (zeros past ``L``)."""
        out = np.zeros((self.T, N_INPUT), dtype=np.uint8)
        out[:self.L] = np.broadcast_to(np.asarray(units, dtype=np.uint8).reshape(self.L, self.U), (self.L, N_INPUT))
        return out

    def _logits(self, x: np.ndarray) -> np.ndarray:
        """``x [B, L, 26]`` -> logits ``[B, L, 29]``, in chunks of ``self.batch``."""
        out = []
        for start in range(0, x.shape[0], self.batch):
            chunk = np.ascontiguousarray(x[start:start + self.batch], dtype=np.float32)
            lengths = np.full(chunk.shape[0], chunk.shape[1], np.int32)
            out.append(self.forward(chunk, lengths)["layer_6"].numpy())
        return np.concatenate(out, axis=0)

    def margins(self, units: np.ndarray) -> np.ndarray:
        """Flat unit masks ``[B, n_units]`` -> margins ``[B, L]`` (logits of ``units * X``)."""
        units = np.asarray(units, dtype=np.float32).reshape(-1, self.L, self.U)
        self.evaluations += units.shape[0]
        return _margins(self._logits(self.x[None] * units), self.labels)

    def check(self, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact test of flat unit masks ``[B, n_units]`` -> (keeps every frame [B], failing frames [B, L])."""
        failing = (self.margins(units) < self.tol) & self.frames
        return ~failing.any(axis=1), failing

    def hinge_grad(self, m: np.ndarray, kappa: np.ndarray, weights: np.ndarray | None = None):
        """(loss, gradient ``[n_units]``, margins ``[L]``) of the margin hinge at soft mask ``m``."""
        weights = self.frames.astype(np.float32) if weights is None else weights
        data, grad, margin = _hinge_grad_fn(self.model)(
            tf.constant(np.asarray(m, np.float32).reshape(self.L, self.U)), tf.constant(self.x),
            tf.constant(self.labels), tf.constant(weights.astype(np.float32)),
            tf.constant(np.asarray(kappa, np.float32)))
        return float(data), grad.numpy().reshape(-1).astype(np.float64), margin.numpy()


def _verify(model: DeepSpeech, mfccs: np.ndarray, mask: np.ndarray, frames: np.ndarray):
    """Final check, batch 1, full length: (agreement on ``frames``, on all frames, logits of X, of M*X)."""
    forward = model.compiled_forward("layer_6")
    x = np.asarray(mfccs, np.float32)
    length = np.array([x.shape[0]], np.int32)
    ref = forward(x[None], length)["layer_6"].numpy()[0]
    got = forward((x * mask)[None].astype(np.float32), length)["layer_6"].numpy()[0]
    same = ref.argmax(-1) == got.argmax(-1)
    return float(same[frames].mean()), float(same.mean()), ref, got


# ----------------------------------------------------------------------------- repair and prune
def _repair(problem: _Problem, units: np.ndarray, rank_hint: np.ndarray, max_rounds: int = 10_000) -> np.ndarray:
    """Turn units back on, most important first, until every constrained frame keeps its class.

    Each round looks at the failing frames and the earliest of them, ``t_f``. Zero units
    are ranked two ways: by the gradient of all violated margins (any unit that can reach
    a failing frame), and by the gradient of frame ``t_f``'s margin alone (units of frames
    ``<= t_f + 9``, the only ones that reach it); ties go to ``rank_hint`` (higher first).
    Prefixes of sizes 1, 2, 4, ... of both rankings, and all of the second, are checked
    in one batch. The round takes the smallest prefix that fixes every frame up to
    ``t_f`` (ties: the fewest failing frames left), refined by a second batch of 16
    sizes between it and the next smaller power of two; the repair ends when every frame
    passes.
    The last prefix of the second ranking
    always qualifies, since frames ``<= t_f`` then see exactly ``X``: the earliest failing
    frame moves strictly later every round, so the repair ends.
    """
    units = units.astype(bool).copy()
    unit_frames = problem.unit_frame(np.arange(problem.n_units))
    ok, failing = problem.check(units[None])
    for _ in range(max_rounds):
        if ok[0]:
            return units
        failing_now = failing[0]
        fail_frames = np.nonzero(failing_now)[0]
        first_fail, last_fail = int(fail_frames[0]), int(fail_frames[-1])
        orders = []
        for weights, reach in ((failing_now, last_fail), (np.arange(problem.L) == first_fail, first_fail)):
            _, grad, _ = problem.hinge_grad(units, problem.tol, weights=weights.astype(np.float32))
            candidates = np.nonzero(~units & (unit_frames <= reach + N_CONTEXT))[0]
            orders.append(candidates[np.lexsort((-rank_hint[candidates], grad[candidates]))])  # most negative first
        prefixes = [(o, size) for o in orders
                    for size in sorted({min(len(o), 2 ** i) for i in range(int(math.log2(max(len(o), 1))) + 2)})]
        for refine in (False, True):
            trials = np.repeat(units[None], len(prefixes), axis=0)
            for row, (o, size) in enumerate(prefixes):
                trials[row, o[:size]] = True
            ok_all, fails_all = problem.check(trials)
            earliest = np.array([np.nonzero(f)[0][0] if f.any() else problem.L for f in fails_all])
            progress = np.nonzero(earliest > first_fail)[0]
            pick = min(progress, key=lambda i: (prefixes[i][1], int(fails_all[i].sum())))
            chosen = (trials[pick], ok_all[pick:pick + 1], fails_all[pick:pick + 1])
            o, size = prefixes[pick]
            if refine or size <= 2:
                break
            # refine between the previous (failing) power of two and the chosen size, in one more batch
            low = size // 2 if size & (size - 1) == 0 else 2 ** int(math.log2(size))
            steps_ = np.unique(np.linspace(low, size, 17).round().astype(int))
            prefixes = [(o, int(k)) for k in steps_]
        units, ok, failing = chosen
    raise RuntimeError("repair did not converge")  # unreachable: see the docstring


@dataclass
class _PruneState:
    units: np.ndarray
    passes: int = 0
    position: int = 0
    accepted: int = 0
    one_minimal: bool = False
    done: bool = False


def _prune(problem: _Problem, state: _PruneState, order: np.ndarray, max_passes: int | None,
           on_progress: Callable[[_PruneState, bool], None] | None = None,
           deadline: float | None = None) -> _PruneState:
    """Sequential greedy elimination over ``order`` (cheapest first), run speculatively in batches.

    Passes repeat until one accepts nothing (then ``one_minimal``) or ``max_passes`` ran.
    ``on_progress(state, pass_ended)`` is called after every batch. The result equals the
    plain sequential algorithm's whatever the predictions are (see the module docstring).
    """
    flat = state.units
    n = len(order)
    seen: dict[int, bool] = {}
    decided = 0
    accuracy = 0.8  # running share of correct predictions: sets the chain length
    while not state.done:
        if max_passes is not None and state.passes >= max_passes:
            state.done = True
            break
        while state.position < n:  # position indexes ``order``; units already zero are skipped
            if deadline is not None and time.perf_counter() > deadline:
                state.done = True
                return state
            positions = state.position + np.nonzero(flat[order[state.position:]])[0][:_chain_length(accuracy, problem.batch)]
            if len(positions) == 0:
                state.position = n
                break
            chunk = order[positions]
            rate = (state.accepted + 1) / (decided + 2)
            predicted = [seen.get(int(e), rate >= 0.5) for e in chunk]
            trial = np.repeat(flat[None], len(chunk), axis=0)
            for row, unit in enumerate(chunk):
                trial[row, unit] = False  # candidate ``row`` tests ``unit`` ...
                if predicted[row]:
                    trial[row + 1:, unit] = False  # ... and later ones assume its predicted outcome
            ok, _ = problem.check(trial)
            advanced = len(chunk)
            for row, unit in enumerate(chunk):
                seen[int(unit)] = bool(ok[row])
                if ok[row]:
                    flat[unit] = False
                    state.accepted += 1
                if bool(ok[row]) != predicted[row]:
                    advanced = row + 1  # later candidates were built on a wrong prediction
                    break
            decided += advanced
            correct = advanced - (0 if advanced == len(chunk) and bool(ok[-1]) == predicted[-1] else 1)
            accuracy = 0.8 * accuracy + 0.2 * correct / advanced
            state.position = int(positions[advanced - 1]) + 1
            if on_progress is not None:
                on_progress(state, False)
        state.passes += 1
        if state.accepted == 0:
            state.one_minimal = True
            state.done = True
        state.position, state.accepted, decided = 0, 0, 0
        if on_progress is not None:
            on_progress(state, True)
    return state


_CHAIN_LENGTHS = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


def _chain_length(accuracy: float, largest: int, overhead: float = 3.0) -> int:
    """Candidates per speculative batch minimizing forward cost per decided unit.

    A batch of ``B`` costs about ``overhead + B`` candidate-forwards (the per-call cost
    of the time loop is worth ~3 candidates on CPU) and decides
    ``(1 - p^B) / (1 - p)`` units on average when each prediction is right with
    probability ``p``.
    """
    p = min(max(accuracy, 0.05), 0.995)
    lengths = [b for b in _CHAIN_LENGTHS if b <= largest] or [largest]
    return min(lengths, key=lambda b: (overhead + b) * (1 - p) / (1 - p ** b))


def _one_minimal_check(model: DeepSpeech, mfccs: np.ndarray, mask: np.ndarray, frames: np.ndarray,
                       variant: str, tol: float, batch_frames: int = 8192) -> bool:
    """Independent check on the full-length input: zeroing any single remaining unit fails the test."""
    problem = _Problem(model, mfccs, frames, variant, tol, batch_frames, truncate=False)
    units = np.asarray(mask)[:, :problem.U].reshape(-1).astype(bool)
    if problem.U == 1 and not np.all(mask == mask[:, :1]):
        raise ValueError("a time-only check needs a mask constant over coefficients")
    ones = np.nonzero(units)[0]
    for start in range(0, len(ones), 256):
        chunk = ones[start:start + 256]
        trial = np.repeat(units[None], len(chunk), axis=0)
        trial[np.arange(len(chunk)), chunk] = False
        ok, _ = problem.check(trial)
        if ok.any():
            return False
    return True


def check_one_minimal(model: DeepSpeech, mfccs: np.ndarray, mask: np.ndarray, preserve_frames=None,
                      variant: str = "time-frequency", tol: float = 1e-3) -> bool:
    """True when no single one of ``mask [T, 26]`` can be zeroed keeping every constrained frame.

    Runs ``ones`` forward passes of the full input (batched): for small inputs.
    """
    mfccs = np.asarray(mfccs, np.float32)
    return _one_minimal_check(model, mfccs, np.asarray(mask), _parse_frames(preserve_frames, len(mfccs)),
                              variant, tol)


# ----------------------------------------------------------------------------- run folders
def _fingerprint(model: DeepSpeech, mfccs: np.ndarray) -> str:
    """The model's weight fingerprint and a hash of the input: what a mask run is about."""
    return f"{model.fingerprint()}-{hashlib.sha1(np.ascontiguousarray(mfccs, np.float32).tobytes()).hexdigest()[:16]}"


def _run_paths(run_dir: Path) -> list[Path]:
    return [snapshot_path(run_dir, "", i) for i in snapshot_steps(run_dir, "")]


def _clear_run(run_dir: Path) -> None:
    for path in _run_paths(run_dir):
        path.unlink()
    for name in (_RESULT, _STATE, _SCORES, _CONFIG):
        if (run_dir / name).exists():
            (run_dir / name).unlink()


def load_mask_snapshots(run_dir: str | os.PathLike) -> np.ndarray:
    """All snapshots ``<run_dir>/<i>.npy`` in order, uint8 ``[N, T, 26]`` (the last is the final mask)."""
    paths = _run_paths(Path(run_dir))
    if not paths:
        raise FileNotFoundError(f"{run_dir}: no mask snapshots (<i>.npy)")
    return np.stack([load_array(p) for p in paths])


def load_mask(path: str | os.PathLike) -> np.ndarray:
    """A mask from a ``.npy`` file, or a run folder's final mask (from ``result.json``, else its last snapshot)."""
    path = Path(path)
    if path.is_dir():
        if (path / _RESULT).exists():
            return load_array(path / load_json(path / _RESULT)["final_snapshot"])
        paths = _run_paths(path)
        if not paths:
            raise FileNotFoundError(f"{path}: no mask snapshots (<i>.npy)")
        return load_array(paths[-1])
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such mask file")
    return load_array(path)


def _result_from_disk(run_dir: Path, frames: np.ndarray) -> MaskResult:
    info = load_json(run_dir / _RESULT)
    mask = load_array(run_dir / info["final_snapshot"])
    return MaskResult(
        mask=mask, zero_fraction=info["zero_fraction"], frame_agreement=info["frame_agreement"],
        text_original=info["text_original"], text_masked=info["text_masked"],
        snapshot_paths=_run_paths(run_dir), one_minimal=info["one_minimal"],
        one_minimal_checked=info["one_minimal_checked"], variant=info["variant"], frames=frames,
        scores=load_array(run_dir / _SCORES) if (run_dir / _SCORES).exists() else None,
        agreement_all_frames=info["agreement_all_frames"], seconds=info["seconds"],
        evaluations=info["evaluations"], phases=info["phases"], run_dir=run_dir)


# ----------------------------------------------------------------------------- the method
def importance_mask(model: DeepSpeech, mfccs: np.ndarray, *, variant: str = "time-frequency",
                    preserve_frames=None, steps: int = 300, learning_rate: float = 0.1,
                    init_logit: float = 3.0, kappa: float = 1.0, lam: tuple[float, float] = (0.3, 3.0),
                    tau: tuple[float, float] = (1.0, 0.3), straight_through: float = 0.5,
                    eval_every: int = 5, tol: float = 1e-3,
                    max_prune_passes: int | None = None, max_seconds: float | None = None,
                    check_limit: int = 400_000, batch_frames: int = 8192,
                    run_dir: str | os.PathLike | None = None, snapshot_every: int = 10,
                    overwrite: bool = False, progress: bool = False,
                    callback: Callable[[str, int, np.ndarray], None] | None = None) -> MaskResult:
    """The sparsest binary mask this method finds that keeps every (chosen) frame's class.

    Args:
        model: the network.
        mfccs: ``[T, 26]`` MFCCs (one utterance, 20 ms frames).
        variant: ``"time-frequency"`` (a unit per MFCC entry) or ``"time"`` (whole frames).
        preserve_frames: frames that must keep their class: None (all), a slice, a
            ``(start, end)`` pair, a bool ``[T]`` or frame indices (see :func:`word_frames`).
        steps: relaxed-optimization steps (Adam, ``learning_rate`` on the mask logits,
            which start at ``init_logit`` and are clipped to +-8).
        kappa: hinge target margin in logits (capped by each frame's original margin).
        lam: (start, end) of the sparsity weight, annealed geometrically.
        tau: (start, end) of the sigmoid temperature, annealed geometrically.
        straight_through: share of the steps (the last ones) in which the loss is computed
            on the binarized mask ``theta > 0`` with straight-through gradients.
        eval_every: steps between exact checks of binarized masks during optimization.
        tol: acceptance margin in logits (see the module docstring).
        max_prune_passes: cap on prune passes (None: until 1-minimal).
        max_seconds: time budget for pruning (the mask stays valid, maybe not 1-minimal).
        check_limit: run the independent 1-minimality check when ``ones * T`` is at most this.
        batch_frames: candidates per forward pass = ``batch_frames // T`` (4 to 64).
        run_dir: folder for snapshots and ``result.json``; None keeps nothing on disk.
        snapshot_every: optimization steps between snapshots.
        overwrite: discard a run folder written with another config instead of failing.
        progress: show tqdm progress bars.
        callback: ``callback(phase, snapshot_index, mask [T, 26])`` after each snapshot.

    Returns:
        A :class:`MaskResult` whose mask passed the final forward-pass check.
    """
    start_time = time.perf_counter()
    mfccs = np.ascontiguousarray(mfccs, dtype=np.float32)
    if mfccs.ndim != 2 or mfccs.shape[1] != N_INPUT or mfccs.shape[0] == 0:
        raise ValueError(f"expected MFCCs shaped [T, {N_INPUT}], got {mfccs.shape}")
    frames = _parse_frames(preserve_frames, mfccs.shape[0])
    problem = _Problem(model, mfccs, frames, variant, tol, batch_frames)

    config = {"variant": variant, "frames": np.nonzero(frames)[0].tolist(), "steps": steps,
              "learning_rate": learning_rate, "init_logit": init_logit, "kappa": kappa, "lam": list(lam),
              "tau": list(tau), "straight_through": straight_through, "eval_every": eval_every, "tol": tol,
              "max_prune_passes": max_prune_passes,
              "snapshot_every": snapshot_every, "batch": problem.batch,
              "fingerprint": _fingerprint(model, mfccs), "shape": list(mfccs.shape)}
    run = Path(run_dir) if run_dir is not None else None
    prior_seconds, prior_evaluations = 0.0, 0
    state_data: dict | None = None
    if run is not None:
        if (run / _CONFIG).exists() and load_json(run / _CONFIG) != config:
            if not overwrite:
                raise RunConflictError(f"{run}: holds a mask run with another config or input; "
                                 "pass overwrite=True (--overwrite) or choose another folder")
            _clear_run(run)
        elif not (run / _CONFIG).exists() and (_run_paths(run) or (run / _RESULT).exists()):
            _clear_run(run)
        if (run / _RESULT).exists():
            return _result_from_disk(run, frames)
        save_json(run / _CONFIG, config)
        if (run / _STATE).exists():
            with np.load(run / _STATE, allow_pickle=False) as data:
                state_data = {k: data[k] for k in data.files}
            prior_seconds = float(state_data["seconds"])
            prior_evaluations = int(state_data["evaluations"])

    snapshots: list[Path] = _run_paths(run) if run is not None else []
    n_units = problem.n_units

    def snapshot(phase: str, index: int, units: np.ndarray) -> None:
        full = problem.expand(units)
        if run is not None:
            path = save_array(snapshot_path(run, "", index), full)
            if path not in snapshots:
                snapshots.append(path)
        if callback is not None:
            callback(phase, index, full)

    def elapsed() -> float:
        return prior_seconds + time.perf_counter() - start_time

    def save_state(**arrays) -> None:
        if run is not None:
            save_arrays(run / _STATE, seconds=elapsed(), evaluations=prior_evaluations + problem.evaluations,
                        **arrays)

    # ---- phase 1: relaxed optimization (resumable from state.npz)
    theta = np.full(n_units, init_logit, np.float64)
    adam_m, adam_v = np.zeros(n_units), np.zeros(n_units)
    best = np.ones(n_units, bool)
    step0 = 0
    phase = "optimize"
    if state_data is not None:
        phase = str(state_data["phase"])
        theta, adam_m, adam_v = state_data["theta"], state_data["adam_m"], state_data["adam_v"]
        best, step0 = state_data["best"].astype(bool), int(state_data["step"])
    kappa_t = np.where(problem.frames, np.minimum(kappa, np.maximum(problem.orig_margins, 0.0)), 0.0)
    taus = tau[0] * (tau[1] / tau[0]) ** (np.arange(max(steps, 1)) / max(steps - 1, 1))
    lams = lam[0] * (lam[1] / lam[0]) ** (np.arange(max(steps, 1)) / max(steps - 1, 1))
    offsets = np.array([0.0, -1.0, 1.0, 2.0])  # binarization thresholds on theta
    trace: list[list] = []  # [step, zeros of theta > 0, its failing frames, best feasible zeros]
    adam = Adam(learning_rate, epsilon=1e-8)
    ste_start = int(round(steps * (1.0 - straight_through)))
    bar = None
    if progress and phase == "optimize":
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, initial=step0, desc="mask: optimize", leave=False)
    if phase == "optimize":
        for step in range(step0, steps):
            t_now = taus[step]
            m = 1.0 / (1.0 + np.exp(-theta / t_now))
            if step >= ste_start:  # straight-through: the loss sees the binary mask itself
                _, grad_m, _ = problem.hinge_grad((theta > 0).astype(np.float64), kappa_t)
                grad = grad_m + lams[step] / n_units
            else:
                _, grad_m, _ = problem.hinge_grad(m, kappa_t)
                grad = (grad_m + lams[step] / n_units) * m * (1.0 - m) / t_now
            theta, adam_m, adam_v = adam.step(theta, grad, adam_m, adam_v, step + 1)
            theta = np.clip(theta, -8.0, 8.0)
            if (step + 1) % eval_every == 0 or step == steps - 1:
                trial = theta[None] > offsets[:, None]
                ok, failing = problem.check(trial)
                trace.append([step + 1, round(1.0 - float(trial[0].mean()), 4), int(failing[0].sum()),
                              round(1.0 - float(best.mean()), 4)])
                for row in np.nonzero(ok)[0]:
                    if trial[row].sum() < best.sum():
                        best = trial[row].copy()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(zeros=f"{1 - best.mean():.3f}")
            if (step + 1) % snapshot_every == 0 or step == steps - 1:
                index = step // snapshot_every if (step + 1) % snapshot_every == 0 else (steps - 1) // snapshot_every
                snapshot("optimize", index, theta > 0)
                save_state(phase="optimize", step=step + 1, theta=theta, adam_m=adam_m, adam_v=adam_v, best=best)
        if bar is not None:
            bar.close()
    n_opt = (steps + snapshot_every - 1) // snapshot_every if steps > 0 else 0
    scores_units = 1.0 / (1.0 + np.exp(-theta / taus[-1]))
    if run is not None:
        save_array(run / _SCORES, _expand_float(problem, scores_units))
    zeros_opt = 1.0 - float(best.mean())

    t_opt = time.perf_counter()
    # ---- phase 2: binarize and repair
    if phase == "optimize":
        # Repair one final binarization: the sparsest among those with the fewest failing
        # frames (give or take 2); keep it if it ends sparser than the best valid mask seen.
        trial = theta[None] > offsets[:, None]
        _, failing = problem.check(trial)
        n_failing = failing.sum(axis=1)
        eligible = np.nonzero(n_failing <= n_failing.min() + 2)[0]
        pick = eligible[np.argmin(trial[eligible].sum(axis=1))]
        repaired = _repair(problem, trial[pick], theta)
        units = repaired if repaired.sum() < best.sum() else best
        prune = _PruneState(units=units)
        zeros_repair = 1.0 - float(units.mean())
        snapshot("repair", n_opt, units)
        save_state(phase="prune", step=steps, theta=theta, adam_m=adam_m, adam_v=adam_v, best=best,
                   units=units, passes=0, position=0, accepted=0, zeros_opt=zeros_opt, zeros_repair=zeros_repair)
    else:
        prune = _PruneState(units=state_data["units"].astype(bool), passes=int(state_data["passes"]),
                            position=int(state_data["position"]), accepted=int(state_data["accepted"]))
        zeros_opt, zeros_repair = float(state_data["zeros_opt"]), float(state_data["zeros_repair"])

    t_repair = time.perf_counter()
    # ---- phase 3: prune, cheapest first (lowest theta), until a pass accepts nothing
    order = np.lexsort((np.arange(n_units), theta))
    last_save = [time.perf_counter()]
    pbar = None
    if progress:
        from tqdm.auto import tqdm
        pbar = tqdm(desc="mask: prune", leave=False)

    def on_progress(state: _PruneState, pass_ended: bool) -> None:
        if pbar is not None:
            pbar.set_postfix(passes=state.passes, zeros=f"{1 - state.units.mean():.3f}")
            pbar.update(1)
        if pass_ended:
            snapshot("prune", n_opt + state.passes, state.units)
        if pass_ended or time.perf_counter() - last_save[0] > 10.0:
            save_state(phase="prune", step=steps, theta=theta, adam_m=adam_m, adam_v=adam_v, best=best,
                       units=state.units, passes=state.passes, position=state.position, accepted=state.accepted,
                       zeros_opt=zeros_opt, zeros_repair=zeros_repair)
            last_save[0] = time.perf_counter()

    deadline = None if max_seconds is None else time.perf_counter() + max_seconds
    prune = _prune(problem, prune, order, max_prune_passes, on_progress, deadline)
    if pbar is not None:
        pbar.close()

    t_prune = time.perf_counter()
    # ---- phase 4: verify with a plain batch-1 forward pass on the full input
    mask = problem.expand(prune.units)
    agreement, agreement_all, ref_logits, got_logits = _verify(model, mfccs, mask, frames)
    fallback = 0
    while agreement < 1.0:  # float32 round-off across batch shapes; never seen in practice
        fallback += 1
        wrong = np.nonzero((ref_logits.argmax(-1) != got_logits.argmax(-1)) & frames)[0]
        mask[:min(problem.T, int(wrong[-1]) + 1 + N_CONTEXT)] = 1
        prune.one_minimal = False
        agreement, agreement_all, ref_logits, got_logits = _verify(model, mfccs, mask, frames)
    if fallback:
        snapshot("verify", n_opt + prune.passes + 1, mask[:problem.L, :problem.U].reshape(-1))
    checked = None
    if int(mask[:, :problem.U].sum()) * problem.T <= check_limit:  # single-flip forwards x frames
        checked = _one_minimal_check(model, mfccs, mask, frames, variant, tol, batch_frames)
    result = MaskResult(
        mask=mask, zero_fraction=float(1.0 - mask.mean()), frame_agreement=agreement,
        text_original=greedy_decode(ref_logits).text, text_masked=greedy_decode(got_logits).text,
        snapshot_paths=list(snapshots), one_minimal=bool(prune.one_minimal), one_minimal_checked=checked,
        variant=variant, frames=frames, scores=_expand_float(problem, scores_units),
        agreement_all_frames=agreement_all, seconds=elapsed(),
        evaluations=prior_evaluations + problem.evaluations,
        phases={"zeros_after_optimize": zeros_opt, "zeros_after_repair": zeros_repair,
                "zeros_after_prune": float(1.0 - mask.mean()), "prune_passes": prune.passes,
                "frames_reachable": problem.L, "verify_fallbacks": fallback, "batch": problem.batch,
                "seconds_optimize": t_opt - start_time, "seconds_repair": t_repair - t_opt,
                "seconds_prune": t_prune - t_repair, "optimize_trace": trace, "seconds_check": time.perf_counter() - t_prune},
        run_dir=run)
    if run is not None:
        final = snapshots[-1] if snapshots else None
        save_json(run / _RESULT, {**result.summary(), "final_snapshot": final.name if final else None})
    return result


def _expand_float(problem: _Problem, values: np.ndarray) -> np.ndarray:
    out = np.zeros((problem.T, N_INPUT), np.float32)
    out[:problem.L] = np.broadcast_to(np.asarray(values, np.float32).reshape(problem.L, problem.U),
                                      (problem.L, N_INPUT))
    return out


def word_frames(transcription: Transcription, first: int, last: int | None = None,
                num_frames_: int | None = None) -> np.ndarray:
    """Frames of words ``first..last`` (inclusive) of a transcription, as bool ``[T]``.

    Uses the word timings (frames ``[start_frame, end_frame)`` of each word's symbols).
    ``num_frames_`` defaults to the last word's end frame.
    """
    words = transcription.words
    last = first if last is None else last
    if not words or not (0 <= first <= last < len(words)):
        raise IndexError(f"words {first}..{last} out of range: the transcription has {len(words)} word(s)")
    end = words[last].end_frame
    out = np.zeros(num_frames_ if num_frames_ is not None else end, dtype=bool)
    out[words[first].start_frame:end] = True
    return out


# ----------------------------------------------------------------------------- baselines
def _finish_baseline(name: str, model: DeepSpeech, problem: _Problem, units: np.ndarray, scores: np.ndarray,
                     started: float, check_limit: int = 0, tol: float = 1e-3, **extra) -> BaselineResult:
    mask = problem.expand(units)
    agreement, _, _, _ = _verify(model, problem.x_full, mask, problem.frames_full)
    if agreement < 1.0:  # the same fallback as importance_mask
        units = _repair(problem, units, scores)
        mask = problem.expand(units)
        agreement, _, _, _ = _verify(model, problem.x_full, mask, problem.frames_full)
    checked = None
    if check_limit and int(mask.sum()) * problem.T <= check_limit:
        checked = _one_minimal_check(model, problem.x_full, mask, problem.frames_full, problem.variant, tol)
    return BaselineResult(name=name, mask=mask, zero_fraction=float(1.0 - mask.mean()), frame_agreement=agreement,
                          seconds=time.perf_counter() - started, evaluations=problem.evaluations,
                          scores=_expand_float(problem, scores), one_minimal_checked=checked, extra=extra)


def _threshold_search(problem: _Problem, scores: np.ndarray, grid: int = 32) -> np.ndarray:
    """Keep the top-k units by ``scores``; the smallest k found (batched grid refinement) that passes."""
    order = np.argsort(-scores, kind="stable")
    lo, hi = 0, problem.n_units  # k = hi passes (all ones); k = lo is not known to pass
    while hi - lo > 1:
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
                         tol: float = 1e-3, batch_frames: int = 8192, check_limit: int = 0) -> BaselineResult:
    """Random masks at a given zero fraction, then the exact check.

    Reports (in ``extra``) the mean frame agreement of ``samples`` random masks with
    ``zero_fraction`` zeros and how many keep every frame; the returned mask is the
    sparsest random-order prefix that passes the exact test (threshold search).
    """
    started = time.perf_counter()
    mfccs = np.asarray(mfccs, np.float32)
    problem = _Problem(model, mfccs, _parse_frames(preserve_frames, len(mfccs)), variant, tol, batch_frames)
    rng = np.random.default_rng(seed)
    n_zero = int(round(zero_fraction * problem.n_units))
    raw = np.ones((samples, problem.n_units), bool)
    for row in range(samples):
        raw[row, rng.permutation(problem.n_units)[:n_zero]] = False
    ok, failing = problem.check(raw)
    frames = problem.frames
    raw_agreement = float(1.0 - failing[:, frames].mean())
    scores = rng.random(problem.n_units)
    units = _threshold_search(problem, scores)
    return _finish_baseline("random", model, problem, units, scores, started, check_limit, tol,
                            raw_agreement=raw_agreement, raw_all_frames_kept=int(ok.sum()), raw_samples=samples,
                            raw_zero_fraction=zero_fraction)


def saliency_scores(model: DeepSpeech, mfccs: np.ndarray, preserve_frames=None,
                    variant: str = "time-frequency") -> np.ndarray:
    """Gradient x input saliency ``|x * d(sum_t margin_t) / dx|`` per unit, float32 ``[T, 26]``."""
    mfccs = np.asarray(mfccs, np.float32)
    problem = _Problem(model, mfccs, _parse_frames(preserve_frames, len(mfccs)), variant, 1e-3, 8192)
    return _expand_float(problem, _saliency(problem))


def _saliency(problem: _Problem) -> np.ndarray:
    # d/dm of sum relu(big - margin) at m = 1 is -(x * d margin / dx): gradient x input.
    _, grad, _ = problem.hinge_grad(np.ones(problem.n_units), np.full(problem.L, 1e6, np.float32))
    return np.abs(grad)


def saliency_mask(model: DeepSpeech, mfccs: np.ndarray, *, variant: str = "time-frequency",
                  preserve_frames=None, tol: float = 1e-3, batch_frames: int = 8192,
                  check_limit: int = 0) -> BaselineResult:
    """Gradient-saliency thresholding: keep the top-k units by ``|x * grad|``, the smallest k
    (batched grid search) that passes the exact test."""
    started = time.perf_counter()
    mfccs = np.asarray(mfccs, np.float32)
    problem = _Problem(model, mfccs, _parse_frames(preserve_frames, len(mfccs)), variant, tol, batch_frames)
    scores = _saliency(problem)
    units = _threshold_search(problem, scores)
    return _finish_baseline("saliency", model, problem, units, scores, started, check_limit, tol)


def greedy_occlusion_mask(model: DeepSpeech, mfccs: np.ndarray, *, variant: str = "time-frequency",
                          preserve_frames=None, tol: float = 1e-3, batch_frames: int = 8192,
                          max_seconds: float | None = None, check_limit: int = 0) -> BaselineResult:
    """Greedy occlusion (backward selection): occlude each unit alone from the full input,
    order units by how little that lowers the worst frame margin, then zero them one by
    one in that order, keeping each zero that preserves every frame (one pass, exact,
    the same batched sequential engine as :func:`importance_mask`'s prune)."""
    started = time.perf_counter()
    mfccs = np.asarray(mfccs, np.float32)
    problem = _Problem(model, mfccs, _parse_frames(preserve_frames, len(mfccs)), variant, tol, batch_frames)
    n = problem.n_units
    impact = np.empty(n)
    for start in range(0, n, problem.batch):
        idx = np.arange(start, min(n, start + problem.batch))
        trial = np.ones((len(idx), n), bool)
        trial[np.arange(len(idx)), idx] = False
        slack = problem.margins(trial) - problem.tol
        impact[idx] = np.where(problem.frames, slack, np.inf).min(axis=1)
    order = np.lexsort((np.arange(n), -impact))  # least harmful (largest remaining slack) first
    deadline = None if max_seconds is None else started + max_seconds
    state = _prune(problem, _PruneState(units=np.ones(n, bool)), order, 1, deadline=deadline)
    scores = -impact  # higher = more important
    return _finish_baseline("occlusion", model, problem, state.units, scores, started, check_limit, tol,
                            completed=bool(state.passes >= 1))


def deletion_curve(model: DeepSpeech, mfccs: np.ndarray, scores: np.ndarray,
                   fractions: Sequence[float] | None = None, preserve_frames=None) -> tuple[np.ndarray, np.ndarray]:
    """Frame agreement as entries are zeroed in score order (lowest score first).

    Args:
        scores: ``[T, 26]`` importance scores (higher = more important).
        fractions: zeroed fractions (default 0, 0.05, ..., 1).
    Returns:
        ``(fractions [K], agreement [K])`` agreement over the constrained frames (plain argmax).
    """
    mfccs = np.asarray(mfccs, np.float32)
    fractions = np.linspace(0, 1, 21) if fractions is None else np.asarray(fractions, float)
    frames = _parse_frames(preserve_frames, len(mfccs))
    order = np.argsort(np.asarray(scores, float).reshape(-1), kind="stable")
    forward = model.compiled_forward("layer_6")
    length = len(mfccs)
    ref = forward(mfccs[None], np.array([length], np.int32))["layer_6"].numpy()[0].argmax(-1)
    masks = np.ones((len(fractions), mfccs.size), np.float32)
    for row, f in enumerate(fractions):
        masks[row, order[:int(round(f * mfccs.size))]] = 0.0
    x = mfccs[None] * masks.reshape(-1, *mfccs.shape)
    agreement = []
    for start in range(0, len(x), 16):
        chunk = x[start:start + 16]
        got = forward(chunk, np.full(len(chunk), length, np.int32))["layer_6"].numpy().argmax(-1)
        agreement.extend((got == ref)[:, frames].mean(axis=1))
    return fractions, np.array(agreement)


# ----------------------------------------------------------------------------- masked audio
@dataclass
class MutedAudio:
    """Audio with unimportant time windows muted, and what the model hears in it.

    Attributes:
        thresholds: the per-frame mask-mean thresholds.
        paths: written WAVs, one per threshold.
        muted_fractions: share of the samples set to zero, per threshold.
        transcriptions: transcription of each written WAV (read back from disk).
        original_transcription: transcription of the unmuted file.
        figure: matplotlib ``Figure`` of the waveforms (original first).
        figure_path: where the figure was saved (PNG).
    """
    thresholds: tuple[float, ...]
    paths: list[Path]
    muted_fractions: list[float]
    transcriptions: list[str]
    original_transcription: str
    figure: object
    figure_path: Path | None = None


def muted_samples(mask: np.ndarray, num_samples: int, threshold: float) -> np.ndarray:
    """Which samples to mute: bool ``[num_samples]``.

    Frame ``t`` is *under threshold* when the mean of ``mask[t]`` over its 26
    coefficients is ``< threshold``. Frame ``t`` analyses samples ``[320 t, 320 t + 512)``
    (20 ms step, 32 ms window at 16 kHz), so most samples lie in two frames. A sample is
    muted when every frame whose window holds it is under threshold (muting it cannot
    touch the input of a frame above threshold); samples after the last whole window
    (which no frame sees) follow the last frame.

    Args:
        mask: ``[T, 26]`` (or per-frame values ``[T]``), with ``T = num_frames(num_samples)``.
    """
    mask = np.asarray(mask, dtype=np.float64)
    means = mask.mean(axis=1) if mask.ndim == 2 else mask
    T = num_frames(num_samples)
    if means.shape[0] != T:
        raise ValueError(f"mask has {means.shape[0]} frames, but {num_samples} samples make {T} frames")
    if T == 0:
        return np.zeros(num_samples, bool)
    above = np.concatenate([[0], np.cumsum(~(means < threshold))])  # frames not under threshold, prefix sums
    i = np.arange(num_samples)
    t_hi = np.minimum(i // STEP_SAMPLES, T - 1)
    t_lo = np.minimum(np.maximum(-((WINDOW_SAMPLES - 1 - i) // STEP_SAMPLES), 0), T - 1)  # ceil((i - 511) / 320)
    return (above[t_hi + 1] - above[t_lo]) == 0


def _waveform_figure(title: str, clips: list[np.ndarray], labels: list[str], line_width: float = 0.5):
    from matplotlib.figure import Figure  # no pyplot: no global state, works headless

    fig = Figure(figsize=(10, 1.8 * len(clips)), dpi=100)
    axes = fig.subplots(len(clips), 1, sharex=True, squeeze=False)[:, 0]
    fig.suptitle(title)
    for ax, clip, label in zip(axes, clips, labels):
        ax.plot(np.arange(len(clip)) / SAMPLE_RATE, clip, lw=line_width)
        ax.set_title(label, fontsize=9)
        ax.set_ylim(-1, 1)
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    return fig


def mute_unimportant_audio(path: str | os.PathLike, mask, thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                           out_dir: str | os.PathLike | None = None, model: DeepSpeech | None = None,
                           beam_width: int = 1, lm: str | None = None) -> MutedAudio:
    """Mute the time windows whose mask mean is under each threshold, write and re-transcribe them.

    Frames map to samples with DeepSpeech's 20 ms step (320 samples) and 32 ms window
    (512 samples): see :func:`muted_samples`. Writes ``<out_dir>/muted_<threshold>.wav``
    (16 kHz, 16-bit) and ``<out_dir>/waveforms.png``.

    Args:
        path: the audio file the mask was computed for.
        mask: ``[T, 26]`` array, a ``.npy`` file or a mask run folder (its final mask).
        out_dir: default: ``<run folder>/muted`` for a run folder, else
            ``run_mute_experiment/<run_name(path)>``.
        model: for transcription (default: the embedded model).
        beam_width: 1 = greedy (the decoding the mask guarantees), else beam search.
    Returns:
        A :class:`MutedAudio` with the muted fractions, transcriptions and figure.
    """
    from ...speech.inference import transcribe_detailed

    if out_dir is None:
        out_dir = (Path(mask) / "muted" if isinstance(mask, (str, os.PathLike)) and Path(mask).is_dir()
                   else Path("runs/run_mute_experiment") / run_name(path))
    if isinstance(mask, (str, os.PathLike)):
        mask = load_mask(mask)
    if model is None:
        from ...speech.checkpoints import load_model
        model = load_model()
    out_dir = Path(out_dir)
    samples, rate = load_audio(path)
    thresholds = tuple(float(t) for t in thresholds)
    paths, fractions, texts, clips = [], [], [], [samples]
    for threshold in thresholds:
        muted = muted_samples(mask, len(samples), threshold)
        clip = np.where(muted, np.float32(0.0), samples)
        target = write_wav(out_dir / f"muted_{threshold:g}.wav", clip, rate)
        paths.append(target)
        fractions.append(float(muted.mean()))
        clips.append(clip)
        texts.append(transcribe_detailed(target, model, beam_width=beam_width, lm=lm).text)
    original = transcribe_detailed(path, model, beam_width=beam_width, lm=lm).text
    labels = [f"no mask: “{original}”"] + [
        f"windows with mask mean < {t:g} muted ({f:.0%}): “{text}”" for t, f, text in zip(thresholds, fractions, texts)]
    figure = _waveform_figure(str(path), clips, labels)
    figure_path = out_dir / "waveforms.png"
    from ...infra.atomic import atomic_write
    atomic_write(figure_path, lambda tmp: figure.savefig(tmp, format="png"))
    save_json(out_dir / "muted.json", {"audio": str(path), "thresholds": thresholds, "muted_fractions": fractions,
                                       "transcriptions": texts, "original_transcription": original,
                                       "wavs": [p.name for p in paths]})
    return MutedAudio(thresholds, paths, fractions, texts, original, figure, figure_path)
