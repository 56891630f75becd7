"""Muting what a mask calls unimportant: map the mask's frames to audio samples, write the
muted audio and transcribe it again.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ...infra.atomic import atomic_write, save_json
from ...infra.errors import ParameterError
from ...infra.options import check_int, check_range
from ...infra.runfolder import run_name
from ...speech.audio import load_audio, write_wav
from ...speech.frames import N_INPUT, SAMPLE_RATE, STEP_SAMPLES, WINDOW_SAMPLES, num_frames
from ...speech.model import DeepSpeech
from .store import RESULT, load_mask, load_mask_fill

#: Per-frame mask-mean thresholds of the study's masked-audio section.
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.1, 0.2, 0.3)
#: Shares of the frames muted by rank (the least important first). With sparse masks
#: (over 90% zeros) the absolute thresholds mute 44-100% of an example (46-100% on the three
#: examples with the shipped model), so ranks are what tells frames apart.
DEFAULT_SHARES: tuple[float, ...] = (0.25, 0.5, 0.75)


@dataclass
class MutedAudio:
    """Audio with unimportant time windows muted, and what the model hears in it.

    Attributes:
        thresholds: the per-frame mask-mean thresholds (or, with ``by="rank"``, the shares
            of the frames muted).
        by: ``"threshold"`` or ``"rank"``.
        paths: written WAVs, one per threshold.
        muted_fractions: share of the samples set to zero, per threshold.
        transcriptions: transcription of each written WAV (read back from disk).
        original_transcription: transcription of the unmuted file.
        figure: matplotlib ``Figure`` of the waveforms (original first).
        figure_path: where the figure was saved (PNG).
        fill: the fill the mask was made with (``"zeros"``, ``"silence"``, ``"mean"`` or ``"custom"``).
        feature_transcriptions: per threshold, the greedy transcription of the file's MFCCs
            with the muted frames' 26 coefficients replaced by the fill: muting done on the
            features, with the mask's own fill (the audio's muting is digital silence
            whatever the fill).
    """
    thresholds: tuple[float, ...]
    paths: list[Path]
    muted_fractions: list[float]
    transcriptions: list[str]
    original_transcription: str
    figure: object
    figure_path: Path | None = None
    by: str = "threshold"
    fill: str = "zeros"
    feature_transcriptions: list[str] | None = None


def frames_by_rank(mask: np.ndarray, share: float) -> np.ndarray:
    """The ``share`` least important frames: bool ``[T]``, ``round(share * T)`` of them.

    Frames are ranked by their mask mean over the 26 coefficients (or by per-frame
    values ``[T]``), ties in frame order (a stable sort).
    """
    if not 0.0 <= share <= 1.0:
        raise ParameterError(f"share: must be in [0, 1], got {share}")
    mask = np.asarray(mask, dtype=np.float64)
    means = mask.mean(axis=1) if mask.ndim == 2 else mask
    out = np.zeros(len(means), bool)
    out[np.argsort(means, kind="stable")[:int(round(share * len(means)))]] = True
    return out


def frames_under(mask: np.ndarray, threshold: float | None = None, share: float | None = None) -> np.ndarray:
    """bool ``[T]``: frames whose mask mean is ``< threshold``, or the ``share`` least important ones."""
    mask = np.asarray(mask, np.float64)
    means = mask.mean(axis=1) if mask.ndim == 2 else mask
    return means < threshold if share is None else frames_by_rank(means, share)


def muted_samples(mask: np.ndarray, num_samples: int, threshold: float | None = None, *,
                  share: float | None = None) -> np.ndarray:
    """Which samples to mute: bool ``[num_samples]``.

    Frame ``t`` is *under threshold* when the mean of ``mask[t]`` over its 26
    coefficients is ``< threshold``. Frame ``t`` analyses samples ``[320 t, 320 t + 512)``
    (20 ms step, 32 ms window at 16 kHz), so most samples lie in two frames. A sample is
    muted when every frame whose window holds it is under threshold (muting it cannot
    touch the input of a frame above threshold); samples after the last whole window
    (which no frame sees) follow the last frame.

    With ``share`` instead of ``threshold``, the frames *under threshold* are the ``share``
    least important ones (:func:`frames_by_rank`).

    Args:
        mask: ``[T, 26]`` (or per-frame values ``[T]``), with ``T = num_frames(num_samples)``.
    """
    if (threshold is None) == (share is None):
        raise ParameterError("muted_samples: give a threshold or a share, not both")
    mask = _checked_mask(mask, binary=False)
    if threshold is not None:
        check_range("threshold", threshold)  # any finite number: above 1 mutes every frame
    means = mask.mean(axis=1) if mask.ndim == 2 else mask
    T = num_frames(num_samples)
    if means.shape[0] != T:
        raise ParameterError(f"mask: has {means.shape[0]} frames, but {num_samples} samples make {T} frames")
    if T == 0:
        return np.zeros(num_samples, bool)
    under = frames_under(means, threshold, share)
    above = np.concatenate([[0], np.cumsum(~under)])  # frames not under threshold, prefix sums
    i = np.arange(num_samples)
    t_hi = np.minimum(i // STEP_SAMPLES, T - 1)
    t_lo = np.minimum(np.maximum(-((WINDOW_SAMPLES - 1 - i) // STEP_SAMPLES), 0), T - 1)  # ceil((i - 511) / 320)
    return (above[t_hi + 1] - above[t_lo]) == 0


def _checked_mask(mask, binary: bool) -> np.ndarray:
    """``mask`` as float64 ``[T, 26]`` (or ``[T]`` unless ``binary``); ParameterError for
    another shape, NaN/Inf, values outside [0, 1], or (``binary``) values other than 0 and 1."""
    try:
        mask = np.asarray(mask, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"mask: expected a numeric array, got {type(mask).__name__}") from None
    if not ((mask.ndim == 2 and mask.shape[1] == N_INPUT) or (mask.ndim == 1 and not binary)):
        raise ParameterError(f"mask: expected [T, {N_INPUT}]{'' if binary else ' or [T]'}, got shape {mask.shape}")
    if not np.all(np.isfinite(mask)):
        raise ParameterError("mask: holds NaN or Inf")
    if binary and not np.all((mask == 0) | (mask == 1)):
        raise ParameterError("mask: expected a binary mask (0 and 1 only), as importance_mask writes")
    if mask.size and (mask.min() < 0 or mask.max() > 1):
        raise ParameterError(f"mask: values must lie in [0, 1], got {mask.min():g}..{mask.max():g}")
    return mask


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
                           beam_width: int = 1, lm: str | None = None, by: str = "threshold",
                           fill=None) -> MutedAudio:
    """Mute the time windows whose mask mean is under each threshold, write and re-transcribe them.

    With ``by="rank"``, ``thresholds`` are shares of the frames instead (default
    :data:`DEFAULT_SHARES`): the least important ``share`` of the frames is muted.

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
        by: ``"threshold"`` (the study's absolute mask-mean thresholds) or ``"rank"``.
        fill: the fill the mask was made with (``"zeros"``, ``"silence"``, ``"mean"`` or 26
            values; default: a run folder's own, else zeros), used for
            :attr:`MutedAudio.feature_transcriptions`.
    Returns:
        A :class:`MutedAudio` with the muted fractions, transcriptions and figure.
    """
    from ...speech.inference import transcribe_detailed
    from ...speech.mfcc import mfccs
    from .fill import fill_values

    if not isinstance(path, (str, os.PathLike)):
        raise ParameterError(f"path: expected the audio file the mask was computed for, got {type(path).__name__}")

    fill_name = fill if isinstance(fill, str) else "zeros" if fill is None else "custom"
    if fill is None and isinstance(mask, (str, os.PathLike)) and (Path(mask) / RESULT).is_file():
        fill_name, fill = load_mask_fill(mask)  # the run's own fill
    if out_dir is None:
        out_dir = (Path(mask) / "muted" if isinstance(mask, (str, os.PathLike)) and Path(mask).is_dir()
                   else Path("runs/run_mute_experiment") / run_name(path))
    if isinstance(mask, (str, os.PathLike)):
        mask = load_mask(mask)
    mask = _checked_mask(mask, binary=True)
    if isinstance(thresholds, (str, bytes)) or not hasattr(thresholds, "__len__") or len(thresholds) == 0:
        raise ParameterError(f"thresholds: expected a non-empty list of numbers in [0, 1], got {thresholds!r}")
    for threshold in thresholds:
        check_range("thresholds", threshold, 0, 1)
    check_int("beam_width", beam_width, 1)
    if model is None:
        from ...speech.checkpoints import load_model
        model = load_model()
    if by not in ("threshold", "rank"):
        raise ParameterError(f"by: must be 'threshold' or 'rank', got {by!r}")
    if by == "rank" and thresholds is DEFAULT_THRESHOLDS:
        thresholds = DEFAULT_SHARES
    fill = fill_values(fill, model)
    out_dir = Path(out_dir)
    samples, rate = load_audio(path)
    thresholds = tuple(float(t) for t in thresholds)
    prefix = "muted_" if by == "threshold" else "muted_rank_"
    paths, fractions, texts, clips, feature_texts = [], [], [], [samples], []
    x = None
    for threshold in thresholds:
        muted = (muted_samples(mask, len(samples), threshold) if by == "threshold"
                 else muted_samples(mask, len(samples), share=threshold))  # checks the mask's length
        x = mfccs(samples, rate, model.upper_frequency_limit) if x is None else x
        frames = frames_under(mask, threshold) if by == "threshold" else frames_under(mask, share=threshold)
        feature_texts.append(_greedy_text(model, np.where(frames[:, None], fill[None], x)))
        clip = np.where(muted, np.float32(0.0), samples)
        target = write_wav(out_dir / f"{prefix}{threshold:g}.wav", clip, rate)
        paths.append(target)
        fractions.append(float(muted.mean()))
        clips.append(clip)
        texts.append(transcribe_detailed(target, model, beam_width=beam_width, lm=lm).text)
    original = transcribe_detailed(path, model, beam_width=beam_width, lm=lm).text
    what = "windows with mask mean < {:g}" if by == "threshold" else "the least important {:.0%} of the frames"
    labels = [f"no mask: “{original}”"] + [
        f"{what.format(t)} muted ({f:.0%} of the samples): “{text}”" for t, f, text in zip(thresholds, fractions, texts)]
    figure = _waveform_figure(str(path), clips, labels)
    figure_path = out_dir / ("waveforms.png" if by == "threshold" else "waveforms_rank.png")
    atomic_write(figure_path, lambda tmp: figure.savefig(tmp, format="png"))
    save_json(out_dir / ("muted.json" if by == "threshold" else "muted_rank.json"),
              {"audio": str(path), "by": by, "thresholds": thresholds, "muted_fractions": fractions,
                                       "transcriptions": texts, "original_transcription": original,
                                       "wavs": [p.name for p in paths], "fill": fill_name,
                                       "fill_values": fill.tolist(), "feature_transcriptions": feature_texts})
    return MutedAudio(thresholds, paths, fractions, texts, original, figure, figure_path, by, fill_name, feature_texts)


def _greedy_text(model: DeepSpeech, x: np.ndarray) -> str:
    """Greedy transcription of MFCCs ``x [T, 26]``."""
    from ...speech.decoding import greedy_decode

    logits = model.compiled_forward("layer_6")(x[None].astype(np.float32), np.array([len(x)], np.int32))
    return greedy_decode(logits["layer_6"].numpy()[0], model.alphabet).text
