"""The exact test behind every importance mask: one masking problem and its batched check.

For MFCCs ``X [T, 26]`` and per-frame classes ``c_t = argmax_k logits[t, k]`` of ``X``, a
candidate mask ``M`` *keeps* frame ``t`` when the margin ``logit[t, c_t] - max_{k != c_t}
logit[t, k]`` of the masked input ``M * X + (1 - M) * F`` (``F [26]`` the fill, see
:mod:`.fill`; 0 in the study) is at least ``tol_t = min(tol, margin_t(X) / 2)``: float32
round-off between batch sizes cannot flip a kept frame. :class:`MaskProblem` runs that
test on many candidate masks per forward pass; :func:`verify_mask` is the final batch-1
check and :func:`is_one_minimal` the independent single-flip check.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np
import tensorflow as tf

from ...infra.errors import ParameterError
from ...speech.decoding import Transcription
from ...speech.frames import N_CONTEXT, N_INPUT
from ...speech.model import DeepSpeech
from .fill import apply_mask, fill_values
from .options import VARIANTS


def class_margins(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``logits [..., T, C]``, ``labels [T]`` -> ``[..., T]`` logit of the label minus the best other."""
    logits = np.asarray(logits, dtype=np.float64)
    onehot = np.eye(logits.shape[-1], dtype=bool)[labels]
    own = np.where(onehot, logits, -np.inf).max(axis=-1)
    other = np.where(onehot, -np.inf, logits).max(axis=-1)
    return own - other


def checked_mfccs(mfccs) -> np.ndarray:
    """The masking input as float32 ``[T, 26]``, or :class:`ParameterError` naming what is wrong.

    Raises:
        ParameterError: not numbers, another shape, no frame, or NaN / Inf (first bad frame named).
    """
    try:
        x = np.ascontiguousarray(mfccs, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ParameterError(f"mfccs: expected an array shaped [T, {N_INPUT}], got {type(mfccs).__name__} "
                             f"({error})") from None
    if x.ndim != 2 or x.shape[1] != N_INPUT or x.shape[0] == 0:
        raise ParameterError(f"mfccs: expected an array shaped [T, {N_INPUT}], got {x.shape}")
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        bad = np.nonzero(~finite)[0]
        raise ParameterError(f"mfccs: NaN or Inf in {len(bad)} frame(s), the first at frame {bad[0]}")
    return x


def frames_to_keep(preserve_frames, num_frames_: int) -> np.ndarray:
    """None (all) | slice | (start, end) | bool [T] | frame indices -> bool ``[T]``.

    Raises:
        ParameterError: a span outside ``[0, T]`` or ending before it starts, indices
            out of range or not integers, a mask of another length, or no frame at all.
    """
    if preserve_frames is None:
        return np.ones(num_frames_, dtype=bool)
    if isinstance(preserve_frames, tuple) and len(preserve_frames) == 2 and not isinstance(preserve_frames[0], bool):
        start, end = preserve_frames
        if not all(isinstance(v, (int, np.integer)) for v in (start, end)) or not 0 <= start < end <= num_frames_:
            raise ParameterError(f"preserve_frames: span {start}:{end} must be integers with 0 <= start < end <= "
                                 f"{num_frames_} (the input's frames)")
        preserve_frames = slice(int(start), int(end))
    out = np.zeros(num_frames_, dtype=bool)
    if isinstance(preserve_frames, slice):
        out[preserve_frames] = True
    else:
        arr = np.asarray(preserve_frames)
        if arr.dtype == bool:
            if arr.shape != (num_frames_,):
                raise ParameterError(f"preserve_frames: boolean mask shaped {arr.shape}, expected ({num_frames_},)")
            out = arr.copy()
        elif not np.issubdtype(arr.dtype, np.integer) or arr.ndim != 1:
            raise ParameterError(f"preserve_frames: expected a span, a bool [T] mask or 1-D frame indices, "
                                 f"got {arr.dtype} shaped {arr.shape}")
        elif arr.size and (arr.min() < 0 or arr.max() >= num_frames_):
            raise ParameterError(f"preserve_frames: frame indices must lie in [0, {num_frames_}), "
                                 f"got {arr.min()}..{arr.max()}")
        else:
            out[arr] = True
    if not out.any():
        raise ParameterError(f"preserve_frames: selects no frame of the input's {num_frames_}")
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
        raise ParameterError(f"word: words {first}..{last} out of range: the transcription has {len(words)} "
                             f"word(s), counted from 0")
    end = words[last].end_frame
    out = np.zeros(num_frames_ if num_frames_ is not None else end, dtype=bool)
    out[words[first].start_frame:end] = True
    return out


_GRAD_FNS: "weakref.WeakKeyDictionary[DeepSpeech, Callable]" = weakref.WeakKeyDictionary()


def _hinge_grad_fn(model: DeepSpeech) -> Callable:
    """tf.function ``(m [L, U], x [L, 26], fill [26], labels [L], weights [L], kappa [L])`` ->
    ``(data_loss, d data_loss / d m [L, U], margins [L])`` with
    ``data_loss = sum_t weights_t * relu(kappa_t - margin_t) / sum_t weights_t``."""
    if model not in _GRAD_FNS:
        spec = [tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None, N_INPUT], tf.float32),
                tf.TensorSpec([N_INPUT], tf.float32), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.float32),
                tf.TensorSpec([None], tf.float32)]

        @tf.function(input_signature=spec)
        def fn(m, x, fill, labels, weights, kappa):
            with tf.GradientTape() as tape:
                tape.watch(m)
                logits = model.forward((x * m + fill * (1.0 - m))[None], up_to="layer_6")["layer_6"][0]
                onehot = tf.one_hot(labels, tf.shape(logits)[-1]) > 0.5
                own = tf.reduce_max(tf.where(onehot, logits, -1e30), axis=-1)
                other = tf.reduce_max(tf.where(onehot, -1e30, logits), axis=-1)
                margin = own - other
                data = tf.reduce_sum(weights * tf.nn.relu(kappa - margin)) / tf.maximum(tf.reduce_sum(weights), 1.0)
            return data, tape.gradient(data, m), margin

        _GRAD_FNS[model] = fn
    return _GRAD_FNS[model]


class MaskProblem:
    """One masking problem: the input, the classes to keep and the batched exact test.

    Units are the mask's free entries: ``[L, 26]`` for time-frequency masks, ``[L, 1]``
    for time-only masks, where ``L <= T`` is the number of frames that can reach a
    constrained frame (the last constrained frame + 9 context frames; a frame's logits
    depend on the inputs of frames ``<= t + 9``).

    Args:
        model: the network.
        mfccs: ``[T, 26]``.
        frames: bool ``[T]``, the frames that must keep their class.
        variant: ``"time-frequency"`` or ``"time"``.
        tol: acceptance margin in logits.
        batch_frames: candidates per forward pass = ``batch_frames // L`` (4 to 64).
        truncate: drop the frames that cannot reach a constrained frame (``L < T``).
        fill: float32 ``[26]``, what a masked entry becomes (None: zeros, the study's).
    """

    def __init__(self, model: DeepSpeech, mfccs: np.ndarray, frames: np.ndarray, variant: str,
                 tol: float, batch_frames: int, truncate: bool = True, fill: np.ndarray | None = None):
        if variant not in VARIANTS:
            raise ParameterError(f"variant: must be one of {', '.join(VARIANTS)}; got {variant!r}")
        self.model = model
        self.x_full = checked_mfccs(mfccs)
        self.T = self.x_full.shape[0]
        if not frames.any():
            raise ParameterError("preserve_frames: no frame to preserve")
        self.frames_full = frames
        last = int(np.nonzero(frames)[0][-1])
        self.L = min(self.T, last + 1 + N_CONTEXT) if truncate else self.T
        self.x = self.x_full[:self.L]
        self.frames = frames[:self.L]
        self.U = N_INPUT if variant == "time-frequency" else 1
        self.variant = variant
        self.fill = fill_values(fill) if fill is not None else np.zeros(N_INPUT, np.float32)
        self.n_units = self.L * self.U
        self.forward = model.compiled_forward("layer_6")
        self.batch = int(max(4, min(64, batch_frames // max(self.L, 1))))
        logits = self._logits(self.x[None])[0]
        self.labels = logits.argmax(axis=-1).astype(np.int32)
        self.orig_margins = class_margins(logits, self.labels)
        self.tol = np.where(self.frames, np.minimum(tol, 0.5 * np.maximum(self.orig_margins, 0.0)), -np.inf)
        self.evaluations = 0
        #: an :class:`~.incremental.IncrementalTest` scoring moves from their first changed frame (None: full passes)
        self.incremental = None


    # units <-> masks
    def unit_frame(self, flat_index: np.ndarray) -> np.ndarray:
        """The frame of each flat unit index."""
        return np.asarray(flat_index) // self.U

    def expand(self, units: np.ndarray) -> np.ndarray:
        """Flat units ``[n_units]`` -> uint8 full mask ``[T, 26]`` (zeros past ``L``)."""
        out = np.zeros((self.T, N_INPUT), dtype=np.uint8)
        out[:self.L] = np.broadcast_to(np.asarray(units, dtype=np.uint8).reshape(self.L, self.U), (self.L, N_INPUT))
        return out

    def expand_scores(self, values: np.ndarray) -> np.ndarray:
        """Per-unit values ``[n_units]`` -> float32 ``[T, 26]`` (zeros past ``L``)."""
        out = np.zeros((self.T, N_INPUT), np.float32)
        out[:self.L] = np.broadcast_to(np.asarray(values, np.float32).reshape(self.L, self.U), (self.L, N_INPUT))
        return out

    def masked(self, units: np.ndarray) -> np.ndarray:
        """Unit masks ``[B, L, U]`` (or ``[L, U]``) -> masked inputs ``[B, L, 26]``: ``X`` where kept, the fill elsewhere."""
        return apply_mask(self.x, units, self.fill)

    def _logits(self, x: np.ndarray) -> np.ndarray:
        """``x [B, L, 26]`` -> logits ``[B, L, C]``, in chunks of ``self.batch``."""
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
        return class_margins(self._logits(self.masked(units)), self.labels)

    def failing(self, margins: np.ndarray) -> np.ndarray:
        """Margins ``[..., L]`` -> bool ``[..., L]``: constrained frames below their acceptance margin."""
        return (margins < self.tol) & self.frames

    def check(self, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact test of flat unit masks ``[B, n_units]`` -> (keeps every frame [B], failing frames [B, L])."""
        failing = self.failing(self.margins(units))
        return ~failing.any(axis=1), failing

    def check_moves(self, base: np.ndarray, trials: np.ndarray, predicted: np.ndarray | None = None) -> np.ndarray:
        """Exact test of candidates ``trials [B, n_units]`` near the current mask ``base [n_units]``
        -> keeps every frame ``[B]``; incremental when :attr:`incremental` is set, with the same decisions."""
        if self.incremental is None:
            return self.check(trials)[0]
        return self.incremental.check(base, trials, predicted)

    def hinge_grad(self, m: np.ndarray, kappa: np.ndarray, weights: np.ndarray | None = None):
        """(loss, gradient ``[n_units]``, margins ``[L]``) of the margin hinge at soft mask ``m``."""
        weights = self.frames.astype(np.float32) if weights is None else weights
        data, grad, margin = _hinge_grad_fn(self.model)(
            tf.constant(np.asarray(m, np.float32).reshape(self.L, self.U)), tf.constant(self.x),
            tf.constant(self.fill), tf.constant(self.labels), tf.constant(weights.astype(np.float32)),
            tf.constant(np.asarray(kappa, np.float32)))
        return float(data), grad.numpy().reshape(-1).astype(np.float64), margin.numpy()


@dataclass
class Verification:
    """The final batch-1, full-length forward pass of ``M * X`` against ``X``.

    Attributes:
        agreement: share of the constrained frames whose class is unchanged.
        agreement_all: the same over all ``T`` frames.
        ref_logits / got_logits: ``[T, C]`` logits (C = the model's classes) of ``X`` and of ``M * X``.
    """
    agreement: float
    agreement_all: float
    ref_logits: np.ndarray
    got_logits: np.ndarray

    def wrong_frames(self, frames: np.ndarray) -> np.ndarray:
        """Indices of the constrained frames whose class changed."""
        return np.nonzero((self.ref_logits.argmax(-1) != self.got_logits.argmax(-1)) & frames)[0]


def verify_mask(model: DeepSpeech, mfccs: np.ndarray, mask: np.ndarray, frames: np.ndarray,
                fill: np.ndarray | None = None) -> Verification:
    """Final check of ``mask [T, 26]`` on ``mfccs [T, 26]`` with ``fill [26]`` (None: zeros):
    batch 1, full length, plain argmax."""
    forward = model.compiled_forward("layer_6")
    x = np.asarray(mfccs, np.float32)
    length = np.array([x.shape[0]], np.int32)
    ref = forward(x[None], length)["layer_6"].numpy()[0]
    got = forward(apply_mask(x, mask, fill)[None], length)["layer_6"].numpy()[0]
    same = ref.argmax(-1) == got.argmax(-1)
    return Verification(float(same[frames].mean()), float(same.mean()), ref, got)


def is_one_minimal(model: DeepSpeech, mfccs: np.ndarray, mask: np.ndarray, frames: np.ndarray,
                   variant: str, tol: float, batch_frames: int = 8192, fill: np.ndarray | None = None) -> bool:
    """Independent check on the full-length input: masking any single remaining unit (with
    ``fill [26]``, None: zeros) fails the test."""
    problem = MaskProblem(model, mfccs, frames, variant, tol, batch_frames, truncate=False, fill=fill)
    units = np.asarray(mask)[:, :problem.U].reshape(-1).astype(bool)
    if problem.U == 1 and not np.all(mask == mask[:, :1]):
        raise ParameterError("mask: a time-only check needs a mask constant over coefficients")
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
                      variant: str = "time-frequency", tol: float = 1e-3, fill="zeros") -> bool:
    """True when no single one of ``mask [T, 26]`` can be masked keeping every constrained frame.

    Runs ``ones`` forward passes of the full input ``mfccs [T, 26]`` (batched): for small inputs.
    ``fill``: ``"zeros"``, ``"silence"``, ``"mean"`` or 26 values (see :func:`~.fill.fill_values`).
    """
    mfccs = checked_mfccs(mfccs)
    mask = np.asarray(mask)
    if mask.shape != mfccs.shape:
        raise ParameterError(f"mask: shaped {mask.shape}, but the MFCCs are {mfccs.shape}")
    return is_one_minimal(model, mfccs, mask, frames_to_keep(preserve_frames, len(mfccs)), variant, tol,
                          fill=fill_values(fill, model))
