"""Incremental evaluation of the exact test: score candidate masks from the first frame they change.

A change of the mask at frame ``f`` changes the context windows of frames ``f - 9 ..
f + 9`` only, so layers 1-3 (and the LSTM's input projection) are recomputed only for
those windows; the unidirectional LSTM is restarted from the current mask's cached state
at ``f - 10``; and only the margins of frames ``>= f - 9`` are computed, frame chunk by
frame chunk, dropping each candidate as soon as one of its constrained frames certainly
fails (most rejected candidates fail within a few frames of their change).

**Same decisions as full evaluation.** The partial forward pass runs the same operations
on other shapes, so its logits can differ from a full pass's by float32 round-off. A
frame's outcome is taken from the partial pass only when its margin is at least
``delta`` away from the frame's acceptance margin ``tol_t``; a candidate with any frame
inside that band (and no certainly failing frame) makes the whole batch be re-run by the
full pass, exactly as full evaluation would have run it (same rows, same batch), and
those decisions are used. So the decisions, and the masks, are bitwise those of full
evaluation as long as the round-off difference stays below ``delta`` (default
:data:`DELTA` = 1e-3 logits; on the shipped embedded model the largest difference measured
by :meth:`IncrementalTest.max_difference` was 8.5e-5, over the three example files and five
test utterances, 96 candidates each, zeroing 1, 3 or 10 ones of the final or the all-ones
mask). This is
the same kind of assumption full evaluation already makes: its own outcomes could differ
between batch shapes only for a margin within round-off of its acceptance margin.

**Proven rejections are reused** (:class:`RejectionMemo`). Frame ``t``'s logits read the
input frames ``<= t + 9`` only, so a candidate that certainly failed at ``t`` proves the
rejection of every later candidate with the same mask on frames ``0 .. t + 9``. Prune
passes after the first re-test the remaining ones, and most of them failed last time at a
frame that no accepted removal has reached since: those are rejected without a pass.

Cost: on the embedded model the prune phase ran 1.91 / 1.89 / 1.90 times faster than with
full passes on the three example files (1.90x in all, the whole method 1.37x; full and
incremental in the same run of ``benchmarks/masks.py --corpus-n 0``), short of the 3x
hoped for; on the first file 1.49x before proven rejections were reused. On the shipped stage 4
model with one TensorFlow thread (:mod:`~...infra.threads`), 2.37x / 2.34x / 1.73x (1.97x in all,
the whole method 1.45x; ``benchmarks/masks.py --threads 1``). With the swap moves (300,
the default then), whose candidates change one small region each, the search phases
(prune, swap moves, prune) ran 2.90x / 2.95x / 2.51x faster (2.73x in all; the same
candidates, so also the ratio of seconds per evaluation), the whole method 2.19x, same
masks 3/3; with the compiled pieces called without signature binding and the memo's keys
kept sorted, 2.96x in all (3.04x / 3.36x / 2.70x, whole method 2.29x;
``benchmarks/masks.py --corpus-n 0 --full-n 3 --methods ours --full-size-batches 0
--threads 1``), 2.89x in the full benchmark run (``--threads 1``, 23 inputs) right after. With the
swap moves in rounds and a prune after each round (the default since; more of the re-tested
ones are rejected by an earlier proof), 3.25x / 3.76x / 3.47x, **3.49x** in all, the whole method
2.52x, same masks 3/3 (``benchmarks/masks.py --threads 1``, 23 inputs). Candidates that are accepted
must be run to the last frame, and an LSTM step costs nearly as much for 1 candidate as
for 8 (0.08-0.14 ms vs 0.12-0.17 ms per step on this 2-core CPU, n_hidden 384: the 2.4 MB
recurrent kernel is read every step and TensorFlow dispatches each op of the step), so the
LSTM steps per batch, not the frames computed, set the cost: the frames computed fell to
20-27 % of a full pass's, the time to 52-57 %. That holds on that CPU only: on a 2-core AMD EPYC VM an
LSTM step took 0.11-0.18 ms for 1 candidate and 0.45-0.8 ms for 8, so there the rows x frames
computed set the cost, and the search phases still ran 3.62x faster than full passes (same
benchmark, 3 examples).
Tried and not adopted (measured on the first example file, same process): XLA-compiled
LSTM chunks (5.5 s of prune after compilation vs 5.95 s, 9.2 s with compilation), and a
forecast of each unseen unit's outcome by running it 24 frames before building the
speculative batch (fewer batches, 367 vs 524, but 6.3 s vs 6.1 s).

**When the band is crowded.** On a model whose margins are small next to ``delta`` (a
full-size model with random weights: median frame margin 0.19 logits) nearly every
batch has a frame inside the band and is run twice, partially and then fully. The test
keeps a running share of batches that fell back (halved every batch); while it exceeds
one half (two fallbacks in a row), batches go straight to the full pass; a batch is tried
incrementally again after a wait that doubles with every batch that fell back (8 batches
after the first two) and returns to :data:`PROBE_BATCHES` after one that did not. The
decisions are the full pass's either way.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from ...speech.frames import N_CONTEXT, N_INPUT, WINDOW_FRAMES
from ...speech.model import DeepSpeech
from .problem import MaskProblem, class_margins

#: Half-width (logits) of the band around the acceptance margin inside which a partial
#: pass's outcome is not trusted and the batch is re-run by the full pass.
DELTA = 1e-3
#: Frames of the first LSTM chunk (each next chunk doubles); between chunks, candidates that
#: certainly failed are dropped. 16 rather than 8: on a 2-core AMD EPYC VM whose compiled calls
#: cost 0.5-0.6 ms each, the search phases of 100 swap moves took 34.3 / 30.3 / 42.5 s against
#: 38.8 / 31.1 / 48.5 s on three inputs (same masks, more frames computed; two runs each,
#: interleaved in one process); first chunks of 8, 8, 8 frames before doubling were slower still.
CHUNK_FRAMES = 16
#: The largest cached pass (its LSTM inputs' bytes) also kept as the previous base: a swap
#: move that is dropped returns to the mask before it, whose pass is then reused.
KEEP_PREVIOUS_BYTES = 64 * 2 ** 20
#: The wait (full-pass batches before an incremental try while most batches fall back),
#: doubled by every batch that falls back.
PROBE_BATCHES = 2

_FNS: "weakref.WeakKeyDictionary[DeepSpeech, tuple]" = weakref.WeakKeyDictionary()


def _functions(model: DeepSpeech) -> tuple:
    """Compiled pieces: context windows -> LSTM input projection; LSTM chunk -> logits and states."""
    if model not in _FNS:
        @tf.function(input_signature=[tf.TensorSpec([None, WINDOW_FRAMES * N_INPUT], tf.float32)])
        def front(windows):
            return model.lstm_input(model.dense_front(windows))

        spec = [tf.TensorSpec([None, None, 4 * model.n_hidden], tf.float32),
                tf.TensorSpec([None, model.n_hidden], tf.float32), tf.TensorSpec([None, model.n_hidden], tf.float32)]

        @tf.function(input_signature=spec)
        def chunk(projected, h0, c0):
            hs, cs = model.lstm_steps(projected, h0, c0)
            logits = model.apply_layer("layer_6", model.apply_layer("layer_5", hs))
            return logits, hs, cs

        _FNS[model] = (_direct(front), _direct(chunk))
    return _FNS[model]


def _direct(function: tf.types.experimental.PolymorphicFunction) -> Callable:
    """``function``'s one concrete function, called with float32 tensors without the per-call
    signature binding of a ``tf.function`` (0.25 ms of a 1 ms LSTM chunk call, 0.08 ms of a
    0.6 ms call for 40 context windows, on this 2-core CPU with an 8 x 8-frame chunk;
    the search phases of the third example file took 23.1 s through the ``tf.function``,
    22.3 s through the public concrete call and 21.4 s through the flat call, means of two
    runs each in one process). The flat call is TensorFlow's internal entry point; where it
    is missing, the public call is used."""
    concrete = function.get_concrete_function()
    flat = getattr(concrete, "_call_flat", None)
    captured = list(getattr(concrete, "captured_inputs", []))
    if flat is None:
        return lambda *arrays: concrete(*(tf.convert_to_tensor(a, tf.float32) for a in arrays))

    def call(*arrays):
        return flat([tf.convert_to_tensor(a, tf.float32) for a in arrays], captured)

    return call


def context_windows(x: np.ndarray, rows: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """``x [B, L, 26]``; pairs ``(rows [N], frames [N])`` -> context windows ``[N, 494]`` (zero padded)."""
    padded = np.pad(x, ((0, 0), (N_CONTEXT, N_CONTEXT), (0, 0)))
    index = frames[:, None] + np.arange(WINDOW_FRAMES)[None]  # [N, 19] rows of the padded input
    return padded[rows[:, None], index].reshape(len(rows), WINDOW_FRAMES * N_INPUT)


@dataclass
class IncrementalStats:
    """What incremental evaluation did: candidates scored, frames computed (LSTM steps x
    candidates) against a full pass's, windows recomputed, batches, batches re-run by the full
    pass; cached passes of the current mask computed, taken from an accepted candidate, taken
    back from the previous mask, and computed from the previous mask's pass (swap moves);
    batches sent straight to the full pass (fallbacks were frequent), candidates rejected by
    an earlier proof."""
    candidates: int = 0
    frames_computed: int = 0
    frames_full: int = 0
    windows: int = 0
    batches: int = 0
    fallbacks: int = 0
    bases: int = 0
    bases_reused: int = 0
    bases_recalled: int = 0
    bases_from_previous: int = 0
    full_passes: int = 0
    memo_hits: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class RejectionMemo:
    """Rejections already proven, reused when a candidate repeats the inputs that failed.

    Frame ``t``'s logits depend on the input frames ``<= t + 9`` only (context windows of
    9 frames, a unidirectional LSTM). When a candidate certainly failed at frame ``t``,
    any later candidate whose mask equals it on frames ``0 .. t + 9`` computes the same
    logits at ``t`` from the same inputs, so it fails there too: the decision full
    evaluation would take, under the same round-off assumption as partial passes (a
    margin below ``tol_t - delta`` stays below ``tol_t``). Prune passes after the first
    mostly re-test units whose failing frame no accepted removal has reached since.

    Prefixes are found by a hash of each frame's units (random 64-bit weights, summed with
    wrap-around) and confirmed by comparing the stored bits.

    Memory is capped at ``max_bytes`` of stored prefixes (an entry holds up to ``L * U / 8``
    bytes: 4.9 kB for a 30-second input): once full, new proofs are not stored. A proof
    not stored only means a candidate is run again, so the decisions, and the masks, are
    the same with any cap (a test checks this with caps of 0 and of ``U`` bytes).
    """

    #: Default cap on the stored prefixes' bytes.
    MAX_BYTES = 256 * 2 ** 20

    def __init__(self, n_frames: int, units_per_frame: int, seed: int = 0, max_bytes: int = MAX_BYTES):
        rng = np.random.default_rng(seed)
        self.L, self.U = n_frames, units_per_frame
        self.max_bytes, self.stored_bytes, self.dropped = int(max_bytes), 0, 0
        self._frame_weights = rng.integers(1, 2 ** 63, n_frames, dtype=np.uint64) | np.uint64(1)
        self._end_salt = rng.integers(0, 2 ** 63, n_frames, dtype=np.uint64)
        self._entries: dict[int, list[tuple[int, bytes]]] = {}
        self._keys = np.zeros(0, np.uint64)  # sorted keys of ``_entries``
        self._new_keys: list[int] = []  # added since ``_keys`` was last merged

    def _prefix_keys(self, trials: np.ndarray) -> np.ndarray:
        """bool ``[B, n_units]`` -> uint64 ``[B, L]``: key of frames ``0 .. e`` at column ``e``."""
        packed = np.packbits(trials.reshape(len(trials), self.L, self.U), axis=2)  # [B, L, bytes]
        codes = np.zeros(packed.shape[:2], np.uint64)
        for k in range(packed.shape[2]):
            codes |= packed[:, :, k].astype(np.uint64) << np.uint64(8 * k)
        with np.errstate(over="ignore"):
            return np.cumsum((codes + np.uint64(1)) * self._frame_weights, axis=1, dtype=np.uint64) ^ self._end_salt

    def _bits(self, trial: np.ndarray, end: int) -> bytes:
        return np.packbits(trial[:end * self.U]).tobytes()

    def add(self, trials: np.ndarray, rows: np.ndarray, fail_frames: np.ndarray, keys: np.ndarray | None = None) -> None:
        """Remember that ``trials[rows]`` certainly fail at frames ``fail_frames`` (one per row)."""
        if len(rows) == 0:
            return
        keys = self._prefix_keys(trials[rows]) if keys is None else keys[rows]
        for i, (row, frame) in enumerate(zip(rows, fail_frames)):
            end = min(int(frame) + N_CONTEXT + 1, self.L)  # the frames its logits at ``frame`` read
            key = int(keys[i, end - 1])
            entry = (end, self._bits(trials[row], end))
            if entry in self._entries.get(key, ()):
                continue
            if self.stored_bytes + len(entry[1]) > self.max_bytes:
                self.dropped += 1  # full: the candidate will be run again instead
                continue
            if key not in self._entries:
                self._new_keys.append(key)
            self._entries.setdefault(key, []).append(entry)
            self.stored_bytes += len(entry[1])

    def lookup(self, trials: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """bool ``[B, n_units]`` -> (rejected by an earlier proof ``[B]``, prefix keys ``[B, L]``)."""
        keys = self._prefix_keys(trials)
        hit = np.zeros(len(trials), bool)
        if not self._entries:
            return hit, keys
        if self._new_keys:  # merged into the sorted keys: no re-sort of all keys per lookup
            new = np.sort(np.array(self._new_keys, np.uint64))
            self._keys, self._new_keys = np.insert(self._keys, np.searchsorted(self._keys, new), new), []
        index = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        for row, col in zip(*np.nonzero(self._keys[index] == keys)):
            if hit[row]:
                continue
            end = col + 1
            hit[row] = (end, self._bits(trials[row], end)) in self._entries[int(keys[row, col])]
        return hit, keys


@dataclass
class _Base:
    """Cached pass of the current mask: LSTM inputs ``[L, 4H]``, states ``[L, H]``, frame status."""
    key: bytes
    units: np.ndarray
    projected: np.ndarray
    h: np.ndarray
    c: np.ndarray
    first_fail: int  # earliest constrained frame that certainly fails (L: none)
    first_border: int  # earliest constrained frame inside the band (L: none)
    margins: np.ndarray = field(repr=False, default=None)


@dataclass
class _Rows:
    """Per candidate of one batch: first affected frame ``start [B]``, certainly fails ``dead [B]``
    (at frame ``fail_frame [B]``, ``L``: not known to fail), has a frame inside the band ``border [B]``,
    still needed by the speculative batch ``needed [B]``; ``pair [B, L]`` indexes ``projected [N, 4H]``,
    the LSTM inputs of its recomputed windows (-1: the base's)."""
    start: np.ndarray
    dead: np.ndarray
    border: np.ndarray
    needed: np.ndarray
    pair: np.ndarray
    projected: np.ndarray | None
    fail_frame: np.ndarray


class IncrementalTest:
    """The exact test of :class:`~.problem.MaskProblem`, scored incrementally against a base mask.

    Args:
        problem: the masking problem (its ``check`` is the full pass used for fallbacks).
        delta: band around each frame's acceptance margin where the full pass decides.
        chunk_frames: LSTM frames per compiled call.
    """

    def __init__(self, problem: MaskProblem, delta: float = DELTA, chunk_frames: int = CHUNK_FRAMES):
        self.problem = problem
        self.delta = float(delta)
        self.chunk_frames = int(chunk_frames)
        self.front, self.chunk = _functions(problem.model)
        self.stats = IncrementalStats()
        self._fallback_share = 0.0  # running share of batches that fell back to the full pass
        self._probe_every, self._since_probe = PROBE_BATCHES, 0
        self._base: _Base | None = None
        self._previous: _Base | None = None  # the base before the current one (swap moves return to it)
        self._finished: dict = {}
        p = problem
        self._tol = np.where(p.frames, p.tol, -np.inf)
        self.memo = RejectionMemo(p.L, p.U)

    # ------------------------------------------------------------------ the base
    def base(self, units: np.ndarray) -> _Base:
        """The cached pass of ``units``; when ``units`` changed, recomputed from the first
        frame the change reaches (the previous base's states before it are kept)."""
        units = np.asarray(units, bool)
        key = np.packbits(units).tobytes()
        if self._base is not None and self._base.key == key:
            return self._base
        p = self.problem
        old = self._base
        finished = self._finished.pop(key, None)
        self._finished = {}
        if self._previous is not None and self._previous.key == key:  # back to the mask before: no pass needed
            self._base, self._previous = self._previous, old
            self.stats.bases_recalled += 1
            return self._base
        if finished is not None:  # an accepted candidate's pass, from its first affected frame on
            self._previous = _small_enough(old)
            start, projected_tail, hs, cs, margins_tail = finished
            projected, h, c, margins = old.projected.copy(), old.h.copy(), old.c.copy(), old.margins.copy()
            projected[start:], h[start:], c[start:], margins[start:] = projected_tail, hs, cs, margins_tail
            fail, border = self._status(margins, slice(0, p.L))
            self._base = _Base(key, units.copy(), projected, h, c, _first(fail, p.L), _first(border, p.L), margins)
            self.stats.bases_reused += 1
            return self._base
        x = p.masked(units.reshape(p.L, p.U))
        affected, best = np.ones(p.L, bool), (0, -p.L)
        for cached in (self._previous, self._base):  # from the cached pass that agrees longest, then on most frames
            if cached is not None:
                differ = _dilate((units != cached.units).reshape(p.L, p.U).any(axis=1)[None], N_CONTEXT)[0]
                score = (int(differ.argmax()), -int(differ.sum()))
                if score >= best:
                    affected, old, best = differ, cached, score
        self.stats.bases_from_previous += old is not None and old is self._previous
        self._previous = _small_enough(old)  # swap moves: the mask before the move stays at hand
        frames = np.nonzero(affected)[0]
        start = int(frames[0])
        projected = old.projected.copy() if old is not None else np.zeros((p.L, 4 * p.model.n_hidden), np.float32)
        projected[frames] = self.front(context_windows(x[None], np.zeros(len(frames), int), frames)).numpy()
        h0 = old.h[start - 1:start] if start else np.zeros((1, p.model.n_hidden), np.float32)
        c0 = old.c[start - 1:start] if start else np.zeros((1, p.model.n_hidden), np.float32)
        logits, hs, cs = self.chunk(projected[None, start:], h0, c0)
        h = old.h.copy() if old is not None else np.zeros((p.L, p.model.n_hidden), np.float32)
        c = old.c.copy() if old is not None else np.zeros_like(h)
        margins = old.margins.copy() if old is not None else np.zeros(p.L)
        h[start:], c[start:] = hs.numpy()[0], cs.numpy()[0]
        margins[start:] = class_margins(logits.numpy()[0], p.labels[start:])
        fail, border = self._status(margins, slice(0, p.L))
        self._base = _Base(key, units.copy(), projected, h, c, _first(fail, p.L), _first(border, p.L), margins)
        self.stats.bases += 1
        self.stats.frames_computed += p.L - start
        return self._base

    def _status(self, margins: np.ndarray, frames: slice) -> tuple[np.ndarray, np.ndarray]:
        """Margins ``[..., n]`` of frames ``frames`` -> (certainly fails, inside the band), each ``[..., n]``."""
        tol = self._tol[frames]
        fail = margins < tol - self.delta
        border = ~fail & (margins < tol + self.delta) & self.problem.frames[frames]
        return fail, border

    # ------------------------------------------------------------------ the test
    def check(self, base_units: np.ndarray, trials: np.ndarray, predicted: np.ndarray | None = None) -> np.ndarray:
        """Exact test of candidate masks ``trials [B, n_units]`` that differ from ``base_units``.

        Args:
            base_units: bool ``[n_units]``, the current mask (its pass is cached).
            trials: bool ``[B, n_units]``.
            predicted: optional bool ``[B]``, the outcomes a speculative batch assumed; rows
                after the first row whose outcome differs are not needed and may be left
                undecided (returned as False).
        Returns:
            bool ``[B]``: keeps every constrained frame, the decision full evaluation takes.
        """
        p = self.problem
        trials = np.asarray(trials, bool)
        if self._fallback_share > 0.5:
            if self._since_probe < self._probe_every:
                self._since_probe += 1
                self.stats.full_passes += 1  # most batches fell back lately: the full pass alone
                return p.check(trials)[0]
            self._since_probe = 0  # a probe: this batch is tried incrementally
        base = self.base(base_units)
        self._count(trials.shape[0])
        known, keys = self.memo.lookup(trials)
        self.stats.memo_hits += int(known.sum())
        rows = self._rows(base, np.asarray(base_units, bool), trials, known)
        if predicted is not None:
            rows.needed = _needed(rows.dead, predicted, rows.needed)
        pieces = self._run(base, rows, predicted)
        ok = ~rows.dead & rows.needed
        fallback = bool((ok & rows.border).any())
        self._fallback_share = 0.5 * self._fallback_share + 0.5 * fallback  # two fallbacks in a row: > 1/2
        self._probe_every = 2 * self._probe_every if fallback else PROBE_BATCHES  # failed probes: rarer probes
        if fallback:  # an outcome inside the band: the full pass decides
            self.stats.fallbacks += 1
            p.evaluations -= trials.shape[0]  # counted once
            ok = p.check(trials)[0]
        proven = np.nonzero(rows.dead & ~known & (rows.fail_frame < p.L))[0]
        self.memo.add(trials, proven, rows.fail_frame[proven], keys)
        self._keep_finished(trials, rows.start, ok & ~rows.border, pieces)
        return ok

    def _count(self, n_rows: int) -> None:
        p = self.problem
        p.evaluations += n_rows
        self.stats.candidates += n_rows
        self.stats.batches += 1
        self.stats.frames_full += n_rows * p.L

    def _rows(self, base: _Base, base_units: np.ndarray, trials: np.ndarray, known: np.ndarray) -> "_Rows":
        """Where each candidate starts (its first affected frame), what the base (or an earlier
        proof, ``known [B]``) already decides, and the LSTM inputs of its recomputed context windows."""
        p = self.problem
        n_rows = trials.shape[0]
        changed = (trials != base_units[None]).reshape(n_rows, p.L, p.U).any(axis=2)  # [B, L]
        affected = _dilate(changed, N_CONTEXT)
        start = np.where(affected.any(axis=1), affected.argmax(axis=1), p.L)  # first affected frame
        # frames before a row's start are the base's: its status decides them
        dead = (base.first_fail < start) | known
        fail_frame = np.where(base.first_fail < start, base.first_fail, p.L)
        affected[dead] = False  # a decided row needs no windows
        rows, frames = np.nonzero(affected)
        pair = np.full((n_rows, p.L), -1)  # (row, frame) -> index into ``projected``, -1: the base's
        pair[rows, frames] = np.arange(len(rows))
        projected = None
        if len(rows):
            x = p.masked(trials.reshape(n_rows, p.L, p.U))
            projected = self.front(context_windows(x, rows, frames)).numpy()
            self.stats.windows += len(rows)
        return _Rows(start=start, dead=dead, border=(base.first_border < start) & ~dead,
                     needed=np.ones(n_rows, bool), pair=pair, projected=projected, fail_frame=fail_frame)

    def _run(self, base: _Base, rows: "_Rows", predicted: np.ndarray | None, max_steps: int | None = None) -> list:
        """Run the LSTM chunk by chunk for the rows still alive; updates ``rows.dead`` and
        ``rows.border``. Returns the chunks' pieces ``(rows, frames [n, C], valid, LSTM
        inputs, hs, cs, margins)`` for reuse as the next base.

        Rows run in their own time: step k of row b is frame start_b + k, so rows that fail
        soon after their change leave the batch together whatever their frames.
        """
        p = self.problem
        start = rows.start
        h = np.zeros((len(start), p.model.n_hidden), np.float32)
        c = np.zeros_like(h)
        later = start > 0  # rows starting at frame 0 start from the zero state
        h[later], c[later] = base.h[start[later] - 1], base.c[start[later] - 1]
        step, length, pieces = 0, self.chunk_frames, []
        while True:
            active = np.nonzero(~rows.dead & rows.needed & (start + step < p.L))[0]
            if len(active) == 0 or (max_steps is not None and step >= max_steps):
                return pieces
            length = min(length, p.L - int(start[active].min()) - step)  # no chunk past every row's end
            if max_steps is not None:
                length = min(length, max_steps - step)
            frame = start[active, None] + step + np.arange(length)[None]  # [n, C]
            valid = frame < p.L
            frame = np.minimum(frame, p.L - 1)
            chunk = base.projected[frame]
            index = rows.pair[active[:, None], frame]
            own = (index >= 0) & valid
            chunk[own] = rows.projected[index[own]]
            logits, hs, cs = self.chunk(chunk, h[active], c[active])
            hs, cs = hs.numpy(), cs.numpy()
            h[active], c[active] = hs[:, -1], cs[:, -1]
            margins = class_margins(logits.numpy(), p.labels[frame])
            pieces.append((active, frame, valid, chunk, hs, cs, margins))
            self._update_status(rows, active, frame, valid, margins)
            if predicted is not None:
                rows.needed = _needed(rows.dead, predicted, rows.needed)
            step += length
            length *= 2  # rows still running after the first chunk mostly run to the end

    def _update_status(self, rows: "_Rows", active: np.ndarray, frame: np.ndarray, valid: np.ndarray,
                       margins: np.ndarray) -> None:
        """Mark the active rows with a frame that certainly fails (dead) or lies inside the band (border)."""
        tol = np.where(valid, self._tol[frame], -np.inf)
        fail = margins < tol - self.delta
        band = ~fail & (margins < tol + self.delta) & np.isfinite(tol)
        first = np.where(fail, frame, self.problem.L).min(axis=1)
        rows.fail_frame[active] = np.minimum(rows.fail_frame[active], first)
        rows.dead[active] |= fail.any(axis=1)
        rows.border[active] |= band.any(axis=1)
        self.stats.frames_computed += int(valid.sum())

    def _keep_finished(self, trials: np.ndarray, start: np.ndarray, finished: np.ndarray, pieces: list) -> None:
        """Remember the passes of the accepted rows: the next base is usually one of them."""
        self._finished = {}
        for row in np.nonzero(finished)[0]:
            parts = [(frame[k][valid[k]], chunk[k][valid[k]], hs[k][valid[k]], cs[k][valid[k]], margins[k][valid[k]])
                     for active, frame, valid, chunk, hs, cs, margins in pieces
                     for k in np.nonzero(active == row)[0]]
            if not parts:
                continue
            frames = np.concatenate([part[0] for part in parts])
            if frames[-1] != self.problem.L - 1:
                continue
            arrays = [np.concatenate([part[i] for part in parts]) for i in range(1, 5)]
            self._finished[np.packbits(trials[row]).tobytes()] = (int(frames[0]), *arrays)

    # ------------------------------------------------------------------ round-off check
    def max_difference(self, base_units: np.ndarray, trials: np.ndarray) -> float:
        """Largest ``|margin|`` difference, over constrained frames, between this module's
        partial pass (base pass, then each candidate without early stopping) and the full pass."""
        p = self.problem
        trials = np.asarray(trials, bool)
        full = p.margins(trials)
        saved_delta, self.delta = self.delta, -np.inf  # no frame certainly fails: every row runs to the end
        try:
            base = self.base(base_units)
            worst = 0.0
            for row, trial in enumerate(trials):
                partial = self._margins_of(base, np.asarray(base_units, bool), trial)
                worst = max(worst, float(np.abs(partial - full[row])[p.frames].max()))
        finally:
            self.delta = saved_delta
        return worst

    def _margins_of(self, base: _Base, base_units: np.ndarray, trial: np.ndarray) -> np.ndarray:
        """All ``L`` margins of one candidate from the partial pass (base's before its start)."""
        p = self.problem
        changed = (trial != base_units).reshape(p.L, p.U).any(axis=1)
        affected = _dilate(changed[None], N_CONTEXT)[0]
        if not affected.any():
            return base.margins.copy()
        start = int(affected.argmax())
        frames = np.nonzero(affected)[0]
        x = p.masked(trial.reshape(1, p.L, p.U))
        chunk = base.projected[start:].copy()
        chunk[frames - start] = self.front(context_windows(x, np.zeros(len(frames), int), frames)).numpy()
        h0 = base.h[start - 1:start] if start else np.zeros((1, p.model.n_hidden), np.float32)
        c0 = base.c[start - 1:start] if start else np.zeros((1, p.model.n_hidden), np.float32)
        logits, _, _ = self.chunk(chunk[None], h0, c0)
        return np.concatenate([base.margins[:start], class_margins(logits.numpy()[0], p.labels[start:])])


def _small_enough(base: "_Base | None") -> "_Base | None":
    """``base`` if it may be kept as the previous base (:data:`KEEP_PREVIOUS_BYTES`), else None."""
    return base if base is not None and base.projected.nbytes <= KEEP_PREVIOUS_BYTES else None


def _first(flags: np.ndarray, default: int) -> int:
    hits = np.nonzero(flags)[0]
    return int(hits[0]) if len(hits) else default


def _dilate(flags: np.ndarray, width: int) -> np.ndarray:
    """bool ``[B, L]`` -> True within ``width`` frames of any True (the context windows it reaches)."""
    padded = np.pad(flags.astype(np.int32), ((0, 0), (width + 1, width)))
    sums = np.cumsum(padded, axis=1)
    return (sums[:, 2 * width + 1:] - sums[:, :-2 * width - 1]) > 0


def _needed(dead: np.ndarray, predicted: np.ndarray, needed: np.ndarray) -> np.ndarray:
    """Rows a speculative batch still needs: none after the first row that died against an
    "accepted" prediction (later rows were built on it)."""
    wrong = np.nonzero(dead & predicted)[0]
    if len(wrong):
        needed = needed.copy()
        needed[wrong[0] + 1:] = False
    return needed
