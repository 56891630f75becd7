"""Masks scored against where the words are: a pointing game for speech recognition.

A mask that explains one word (``preserve_frames`` = the word's frames, see
:func:`~.importance.importance_mask`) should keep input near that word. Given the word's
aligned interval ``[start, end)`` in seconds (a TextGrid's, :mod:`~...speech.alignments`),
:func:`pointing_score` measures how much of a mask lies where the word is:

* **word frames** ``[first, stop)``: the frames whose *centre* lies in ``[start, end)``,
  the mapping :mod:`~...speech.alignments` uses for frame labels. Frame ``t`` covers
  samples ``[320 t, 320 t + 512)`` at 16 kHz, so its centre is at ``(320 t + 256) /
  16000`` s: ``t`` is a word frame when ``start <= (320 t + 256) / 16000 < end``;
* **widened span** ``[max(0, first - 9), min(T, stop + 9))``: the word frames plus
  DeepSpeech's context window (each output frame reads input frames ``t - 9 .. t + 9``
  through its first layer);
* **share inside**: the mask's mass in the widened span over its total mass. A frame's
  mass is its number of ones (``[T, 26]`` masks) or its value (time-only ``[T]`` masks),
  so a time-only mask and its expansion to ``[T, 26]`` score the same;
* **hit** (the pointing game of Zhang et al., 2016, in time): whether the frame of
  largest mass lies in the widened span. Time-only masks give every kept frame the same
  mass, so ties are common: the hit is the share of the tied frames that lie inside
  (the chance that breaking the tie at random hits), 0 or 1 without ties;
* **chance**: the widened span's share of all ``T`` frames, what a mask with its ones
  spread uniformly over the input would score; and **chance reachable**: its share of
  the frames ``[0, min(T, stop + 9))`` that can reach the word at all. The model's LSTM
  runs forwards, so a word's outputs depend on every input frame up to ``stop - 1 + 9``
  and on none after; a word-span mask is zero past that for free, so a mask spread
  uniformly over what can matter scores ``chance_reachable``, the fair comparison.

The share before the span is what the mask keeps for the LSTM's memory (context beyond
the 9-frame window); the share after it is zero for any word-span mask.

NumPy only (no TensorFlow): the scores of saved masks can be recomputed anywhere.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Literal, NamedTuple, Sequence

import numpy as np

from ...infra.errors import ParameterError
from ...infra.options import Options, check_choice, check_int, check_range, option
from ...speech.frames import N_CONTEXT, N_INPUT, SAMPLE_RATE, STEP_SAMPLES, WINDOW_SAMPLES

__all__ = ["METHODS", "WORD_RULES", "PointingOptions", "PointingScore", "choose_word", "context_span", "format_table",
           "frame_mass", "pointing_score", "summarize_scores", "word_frame_span"]

#: The masks scored: our method, then the baselines of :mod:`.baselines`.
METHODS: tuple[str, ...] = ("ours", "random", "occlusion", "saliency")
#: How the word of an utterance is chosen.
WORD_RULES: tuple[str, ...] = ("longest", "middle")


class FrameSpan(NamedTuple):
    """Frames ``[first, stop)``."""

    first: int
    stop: int


def _frame_centre(t: np.ndarray | int) -> np.ndarray:
    return (np.asarray(t) * STEP_SAMPLES + WINDOW_SAMPLES / 2) / SAMPLE_RATE


def word_frame_span(start: float, end: float, n_frames: int) -> FrameSpan:
    """The frames ``[first, stop)`` whose centres ``(320 t + 256) / 16000`` s lie in ``[start, end)``.

    The same rule as :func:`~...speech.alignments.frame_word_labels` (a frame takes the
    label of the interval holding its centre).

    Args:
        start, end: the word's interval in seconds of the audio.
        n_frames: ``T``, the input's frames.
    Raises:
        ParameterError: a bound that is not a finite number, an empty or reversed
            interval, an interval outside the ``T`` frames' audio, or one holding no
            frame centre (shorter than a frame step).
    """
    check_int("n_frames", n_frames, 1)
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                or not math.isfinite(value):
            raise ParameterError(f"word interval: {name} must be a finite number of seconds, got {value!r}")
    if not end > start:
        raise ParameterError(f"word interval: [{start}, {end}) s is empty (end must be after start)")
    audio_end = float(_frame_centre(n_frames - 1)) + WINDOW_SAMPLES / 2 / SAMPLE_RATE
    if start >= audio_end or end <= 0:
        raise ParameterError(f"word interval: [{start:.3f}, {end:.3f}) s lies outside the input's audio "
                             f"(0 to {audio_end:.3f} s, {n_frames} frames)")
    centres = _frame_centre(np.arange(n_frames))
    inside = np.flatnonzero((centres >= start) & (centres < end))
    if not len(inside):
        raise ParameterError(f"word interval: [{start:.3f}, {end:.3f}) s holds no frame centre "
                             f"(frames are 20 ms apart; centres at (320 t + 256) / 16000 s)")
    return FrameSpan(int(inside[0]), int(inside[-1]) + 1)


def context_span(span: FrameSpan, n_frames: int, context: int = N_CONTEXT) -> FrameSpan:
    """``span`` widened by ``context`` frames on each side, clipped to ``[0, n_frames)``."""
    check_int("context", context, 0)
    return FrameSpan(max(0, span.first - context), min(n_frames, span.stop + context))


def frame_mass(mask: np.ndarray) -> np.ndarray:
    """Each frame's mass, float64 ``[T]``: the ones of a ``[T, 26]`` mask, a time-only ``[T]`` mask's values.

    Raises:
        ParameterError: another shape, no frame, NaN/Inf or negative values.
    """
    mask = np.asarray(mask)
    if mask.dtype == bool:
        mask = mask.astype(np.uint8)
    if not np.issubdtype(mask.dtype, np.number) or not (
            mask.ndim == 1 or (mask.ndim == 2 and mask.shape[1] in (1, N_INPUT))) or mask.shape[0] == 0:
        raise ParameterError(f"mask: expected [T, {N_INPUT}] or time-only [T] numbers, got {mask.dtype} "
                             f"shaped {mask.shape}")
    mask = mask.astype(np.float64)
    if not np.all(np.isfinite(mask)):
        raise ParameterError("mask: holds NaN or Inf")
    if np.any(mask < 0):
        raise ParameterError("mask: holds negative values (a mask's entries are 0/1 or non-negative weights)")
    return mask.reshape(mask.shape[0], -1).sum(axis=1)


@dataclasses.dataclass(frozen=True)
class PointingScore:
    """How much of a mask lies at one word (see the module's docstring for the definitions).

    Attributes:
        share_inside: mass in the widened span / total mass (NaN for an all-zero mask).
        share_before / share_after: mass before / after the widened span / total mass.
        hit: share of the largest-mass frames inside the widened span (0 or 1 without ties).
        chance: widened span frames / ``T``.
        chance_reachable: widened span frames / frames that can reach the word.
        ones: the mask's total mass (its ones for binary masks).
        frames: ``T``.
        word_frames: the word's frames ``[first, stop)``; span_frames: the widened span.
    """

    share_inside: float
    share_before: float
    share_after: float
    hit: float
    chance: float
    chance_reachable: float
    ones: float
    frames: int
    word_frames: FrameSpan
    span_frames: FrameSpan

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "word_frames": list(self.word_frames), "span_frames": list(self.span_frames)}


def pointing_score(mask: np.ndarray, interval: Sequence[float], context: int = N_CONTEXT) -> PointingScore:
    """Score ``mask`` against one word's aligned interval.

    Args:
        mask: ``[T, 26]`` (ones counted per frame) or time-only ``[T]`` non-negative values.
        interval: ``(start, end)`` seconds, or an :class:`~...speech.alignments.Interval`.
        context: frames added on each side of the word's frames (DeepSpeech's 9).
    Returns:
        A :class:`PointingScore`; an all-zero mask gives NaN shares and a hit of 0.
    Raises:
        ParameterError: a bad mask (:func:`frame_mass`) or interval (:func:`word_frame_span`).
    """
    mass = frame_mass(mask)
    n = len(mass)
    if len(interval) < 2:
        raise ParameterError(f"word interval: expected (start, end) seconds, got {interval!r}")
    word = word_frame_span(interval[0], interval[1], n)
    span = context_span(word, n, context)
    reachable = min(n, word.stop + context)
    total = float(mass.sum())
    chance, chance_reachable = (span.stop - span.first) / n, (span.stop - span.first) / reachable
    if total == 0:
        return PointingScore(math.nan, math.nan, math.nan, 0.0, chance, chance_reachable, 0.0, n, word, span)
    top = np.flatnonzero(mass == mass.max())
    hit = float(np.mean((top >= span.first) & (top < span.stop)))
    return PointingScore(share_inside=float(mass[span.first:span.stop].sum() / total),
                         share_before=float(mass[:span.first].sum() / total),
                         share_after=float(mass[span.stop:].sum() / total), hit=hit, chance=chance,
                         chance_reachable=chance_reachable, ones=total, frames=n, word_frames=word, span_frames=span)


def choose_word(words: Sequence[Sequence], rule: str = "longest") -> int:
    """Index of the word an utterance is scored on: ``"longest"`` (largest ``end - start``
    to the microsecond a TextGrid stores, the first of equals) or ``"middle"`` (index ``len // 2``).

    Raises:
        ParameterError: no words, or an unknown rule.
    """
    check_choice("word_rule", rule, WORD_RULES)
    if not len(words):
        raise ParameterError("words: the alignment has no word")
    if rule == "middle":
        return len(words) // 2
    durations = [round(float(w[1]) - float(w[0]), 6) for w in words]  # 0.6 - 0.2 < 0.4 in floats
    return int(np.argmax(durations))


def summarize_scores(rows: Sequence[dict]) -> list[dict]:
    """The table: per (method, variant), means over the rows' utterances.

    Args:
        rows: dicts with ``method``, ``variant`` and :meth:`PointingScore.to_dict`'s keys.
    Returns:
        One dict per (method, variant) in first-seen order: ``share_inside``, ``hit``,
        ``chance``, ``chance_reachable``, ``share_before``, ``ones`` (means; NaN shares of
        all-zero masks left out and counted in ``empty``), ``n`` and ``completed`` (how many
        searches ended on their own rather than at a time budget).
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["variant"]), []).append(row)
    table = []
    for (method, variant), group in groups.items():
        def mean(key: str, group=group) -> float:
            values = [r[key] for r in group if not math.isnan(r[key])]
            return float(np.mean(values)) if values else math.nan
        table.append({"method": method, "variant": variant, "share_inside": mean("share_inside"), "hit": mean("hit"),
                      "chance": mean("chance"), "chance_reachable": mean("chance_reachable"),
                      "share_before": mean("share_before"), "ones": mean("ones"), "n": len(group),
                      "completed": sum(bool(r.get("completed", True)) for r in group),
                      "empty": sum(math.isnan(r["share_inside"]) for r in group)})
    return table


def format_table(table: Sequence[dict]) -> str:
    """:func:`summarize_scores`'s table as aligned text (shares in percent), with a legend."""
    lines = [f"{'method':<10} {'variant':<15} {'inside':>7} {'hit':>7} {'chance':>7} {'reach.':>7} {'before':>7} "
             f"{'ones':>7} {'n':>4} {'done':>4}"]
    for r in table:
        lines.append(f"{r['method']:<10} {r['variant']:<15} {100 * r['share_inside']:6.1f}% {100 * r['hit']:6.1f}% "
                     f"{100 * r['chance']:6.1f}% {100 * r['chance_reachable']:6.1f}% {100 * r['share_before']:6.1f}% "
                     f"{r['ones']:7.1f} {r['n']:4d} {r.get('completed', r['n']):4d}")
    lines += ["inside: mean share of the mask's ones in the word's frames +- the context; hit: the frame with the most",
              "ones lies there; chance: that span's share of all frames; reach.: its share of the frames that can reach",
              "the word (up to its last frame + context); before: share of the ones before the span (the LSTM's memory);",
              "done: searches that ended on their own (ours: 1-minimal; occlusion: within --occlusion-max-seconds)"]
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class PointingOptions(Options):
    """Options of :func:`~.pointing_game.pointing_game`; all of them are the run's identity."""

    methods: tuple[str, ...] = option(METHODS, "masks to compute: ours, random, occlusion, saliency")
    variants: tuple[str, ...] = option(("time-frequency", "time"),
                                       "mask shapes: time-frequency (an MFCC entry per unit) and/or time (whole frames)")
    word_rule: Literal["longest", "middle"] = option("longest", "which word of each utterance: the longest "
                                                     "(aligned duration) or the middle one")
    steps: int = option(100, "our method's relaxed-optimization steps")
    max_prune_seconds: float | None = option(None, "our method's time budget for pruning (none: until 1-minimal)")
    occlusion_max_seconds: float | None = option(20.0, "time budget of the greedy occlusion baseline per mask "
                                                       "(none: no limit; a capped run keeps the units it did not reach)")
    context: int = option(N_CONTEXT, "frames added on each side of the word's frames")
    seed: int = option(0, "random baseline's seed")

    def validate(self) -> None:
        if not self.methods:
            raise ParameterError("methods: choose at least one of " + ", ".join(METHODS))
        for method in self.methods:
            check_choice("methods", method, METHODS)
        if not self.variants:
            raise ParameterError("variants: choose time-frequency and/or time")
        for variant in self.variants:
            check_choice("variants", variant, ("time-frequency", "time"))
        check_choice("word_rule", self.word_rule, WORD_RULES)
        check_int("steps", self.steps, 0)
        check_int("context", self.context, 0)
        check_int("seed", self.seed, 0)
        for name in ("max_prune_seconds", "occlusion_max_seconds"):
            if getattr(self, name) is not None:
                check_range(name, getattr(self, name), 0, low_open=True)
