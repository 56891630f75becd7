"""The atlas's media: Ogg Opus audio, lossless WebP pictures and inline SVG curves.

Pictures are drawn one pixel per frame and coefficient (or mel band) with the colour maps
and scales of :mod:`..plots` and enlarged by the browser without smoothing
(``image-rendering: pixelated``), so a learned input of 100 frames is a 100 x 26 image of a
few kilobytes; the axes are HTML around it. Curves (activation over time, histograms) are
inline SVG. Every file goes through :func:`~...infra.atomic.atomic_write`. No TensorFlow.
"""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ...infra.atomic import atomic_write
from ...infra.errors import AudioError, ParameterError
from ...speech.frames import SAMPLE_RATE, STEP_SAMPLES, WINDOW_SAMPLES
from ..plots import LOG_MEL_RANGE, Z_RANGE, MfccScale, mfcc_cmap

__all__ = ["encode_audio", "mfcc_picture", "log_mel_picture", "audio_snippet", "trace_svg", "histogram_svg",
           "colour_stops"]

#: Fade at both ends of a snippet (seconds), so a cut in the middle of a sound does not click.
FADE_SECONDS = 0.005


def encode_audio(samples: np.ndarray, path: str | os.PathLike, quality: float = 0.9,
                 sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono ``samples [N]`` (float, [-1, 1]) as Ogg Opus, atomically.

    ``quality`` is libsndfile's compression level in [0, 1] (1: smallest file). Both
    Chromium and Firefox play Ogg Opus natively.
    """
    import soundfile as sf

    samples = np.clip(np.asarray(samples, np.float32), -1.0, 1.0)
    if samples.ndim != 1 or not len(samples):
        raise ParameterError(f"{path}: expected mono samples [N] with N >= 1, got shape {samples.shape}")

    def write(tmp: str) -> None:
        sf.write(tmp, samples, sample_rate, format="OGG", subtype="OPUS", compression_level=quality)

    return atomic_write(path, write)


def _write_rgb(rgb: np.ndarray, path: str | os.PathLike) -> Path:
    """``rgb [rows, cols, 3]`` uint8 (row 0 at the top) as a lossless WebP."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    return atomic_write(path, lambda tmp: image.save(tmp, format="WEBP", lossless=True, quality=100, method=4))


def _colour(values: np.ndarray, cmap, low: float, high: float) -> np.ndarray:
    """``values [T, N]`` -> ``[N, T, 3]`` uint8, time along x, the first row at the bottom."""
    scaled = np.clip((np.asarray(values, np.float64) - low) / (high - low), 0.0, 1.0)
    rgba = cmap(scaled.T[::-1])
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def mfcc_picture(mfccs: np.ndarray, scale: MfccScale, path: str | os.PathLike) -> Path:
    """MFCCs ``[T, 26]`` as z-scores (:class:`~..plots.MfccScale`) from ``-Z_RANGE`` to
    ``+Z_RANGE`` in the MFCC colour map: a ``26 x T`` pixel WebP, c0 at the bottom.

    Raises:
        ParameterError: NaN or Inf in the MFCCs.
    """
    if not np.all(np.isfinite(np.asarray(mfccs, np.float64))):
        raise ParameterError(f"{path}: NaN or Inf in the MFCCs to draw")
    return _write_rgb(_colour(scale(mfccs), mfcc_cmap(), -Z_RANGE, Z_RANGE), path)


def log_mel_picture(mfccs: np.ndarray, path: str | os.PathLike, top: float | None = None) -> Path:
    """The 40 log mel energies MFCCs ``[T, 26]`` imply, the top :data:`~..plots.LOG_MEL_RANGE`
    nats below ``top`` (default: the picture's maximum) in magma: a ``40 x T`` pixel WebP."""
    import matplotlib

    from ...speech.filters import mfccs_to_log_mel

    log_mel = mfccs_to_log_mel(mfccs)
    top = float(log_mel.max()) if top is None else top
    return _write_rgb(_colour(log_mel, matplotlib.colormaps["magma"], top - LOG_MEL_RANGE, top), path)


def colour_stops(cmap_name: str = "mfcc", n: int = 9) -> str:
    """A CSS ``linear-gradient`` argument list of ``n`` stops of the MFCC colour map (or magma),
    for the colour bars drawn in HTML."""
    import matplotlib

    cmap = mfcc_cmap() if cmap_name == "mfcc" else matplotlib.colormaps[cmap_name]
    stops = []
    for i, value in enumerate(np.linspace(0.0, 1.0, n)):
        r, g, b, _ = (np.asarray(cmap(value)) * 255).round().astype(int)
        stops.append(f"rgb({r},{g},{b}) {100 * i / (n - 1):.0f}%")
    return ", ".join(stops)


def audio_snippet(path: str | os.PathLike, first_frame: int, last_frame: int) -> tuple[np.ndarray, float]:
    """The samples under frames ``first_frame..last_frame`` of a 16 kHz utterance (clipped to
    the file), faded in and out over :data:`FADE_SECONDS`.

    Returns:
        ``(samples [N] float32, start time in seconds)``.
    Raises:
        AudioError: the file cannot be read or is not 16 kHz.
    """
    import soundfile as sf

    start = max(first_frame, 0) * STEP_SAMPLES
    stop = last_frame * STEP_SAMPLES + WINDOW_SAMPLES
    try:
        with sf.SoundFile(str(path)) as handle:
            if handle.samplerate != SAMPLE_RATE:
                raise AudioError(f"{path}: {handle.samplerate} Hz, expected {SAMPLE_RATE}")
            handle.seek(min(start, handle.frames))
            samples = handle.read(max(0, min(stop, handle.frames) - start), dtype="float32", always_2d=True)[:, 0]
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(f"{path}: cannot read the audio ({err})") from None
    if not len(samples):
        raise AudioError(f"{path}: no samples in frames {first_frame}..{last_frame}")
    fade = min(int(FADE_SECONDS * SAMPLE_RATE), len(samples) // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        samples[:fade] *= ramp
        samples[-fade:] *= ramp[::-1]
    return samples, start / SAMPLE_RATE


def _number(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def trace_svg(trace: np.ndarray, start_seconds: float, frame_seconds: float, peak_seconds: float,
              words: Sequence[tuple[float, float, str]], phones: Sequence[tuple[float, float, str]],
              threshold: float | None = None, width: int = 300, height: int = 92) -> str:
    """An inline SVG of a neuron's activation over a snippet with the aligned words and phones.

    Args:
        trace: ``[n]`` activation per frame from ``start_seconds`` on (NaN: outside the utterance).
        start_seconds: the time of ``trace[0]``'s frame.
        frame_seconds: frame step (0.02 s).
        peak_seconds: where the example peaks (a vertical line).
        words, phones: ``(start s, end s, label)`` in utterance time; drawn where they overlap.
        threshold: the neuron's top-quantile threshold (a dashed line), if known.
    """
    trace = np.asarray(trace, np.float64)
    n = len(trace)
    span = max(n * frame_seconds, frame_seconds)
    plot_h = height - 34  # room for the phone and word rows below the curve
    finite = trace[np.isfinite(trace)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if threshold is not None and np.isfinite(threshold):
        low, high = min(low, threshold), max(high, threshold)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5

    def x_of(seconds: float) -> float:
        return (seconds - start_seconds) / span * width

    def y_of(value: float) -> float:
        return 2 + (high - value) / (high - low) * (plot_h - 4)

    parts = [f'<svg class="trace" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="activation over time">',
             f'<rect class="plot" x="0" y="0" width="{width}" height="{plot_h}"/>']
    segments, current = [], []
    for i, value in enumerate(trace):
        if np.isfinite(value):
            current.append(f"{_number(x_of(start_seconds + (i + 0.5) * frame_seconds))},{_number(y_of(value))}")
        elif current:
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    if threshold is not None and np.isfinite(threshold):
        y = _number(y_of(threshold))
        parts.append(f'<line class="threshold" x1="0" x2="{width}" y1="{y}" y2="{y}"/>')
    for points in segments:
        parts.append(f'<polyline class="activation" points="{" ".join(points)}"/>')
    px = _number(x_of(peak_seconds))
    parts.append(f'<line class="peak" x1="{px}" x2="{px}" y1="0" y2="{plot_h}"/>')
    parts.append(f'<text class="scale" x="2" y="10">{high:.3g}</text>'
                 f'<text class="scale" x="2" y="{plot_h - 3}">{low:.3g}</text>')
    for row, (items, kind) in enumerate(((phones, "phone"), (words, "word"))):
        top = plot_h + 1 + row * 16
        for begin, end, label in items:
            a, b = max(x_of(begin), 0.0), min(x_of(end), float(width))
            if b <= a:
                continue
            parts.append(f'<rect class="{kind}" x="{_number(a)}" y="{top}" width="{_number(b - a)}" height="15"/>')
            if b - a >= 9:
                parts.append(f'<text class="{kind}" x="{_number((a + b) / 2)}" y="{top + 11}">'
                             f'{html.escape(str(label))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(counts: np.ndarray, edges: np.ndarray, threshold: float | None = None,
                  width: int = 300, height: int = 70) -> str:
    """An inline SVG of an activation histogram ``counts [B]`` over ``edges [B+1]`` on a
    square-root count axis (so the long tail the examples come from stays visible), with the
    neuron's top-quantile threshold as a dashed line."""
    counts = np.asarray(counts, np.float64)
    edges = np.asarray(edges, np.float64)
    if counts.ndim != 1 or edges.shape != (len(counts) + 1,):
        raise ParameterError(f"histogram: expected counts [B] and edges [B+1], got {counts.shape} and {edges.shape}")
    plot_h = height - 14
    heights = np.sqrt(counts / max(counts.max(), 1.0)) * (plot_h - 2)
    low, high = float(edges[0]), float(edges[-1])
    extent = max(high - low, 1e-12)
    bar = width / len(counts)
    parts = [f'<svg class="histogram" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="activation histogram">']
    for i, h in enumerate(heights):
        if h > 0:
            parts.append(f'<rect x="{_number(i * bar)}" y="{_number(plot_h - h)}" width="{_number(max(bar - 0.5, 0.5))}"'
                         f' height="{_number(h)}"/>')
    if threshold is not None and np.isfinite(threshold) and low <= threshold <= high:
        x = _number((threshold - low) / extent * width)
        parts.append(f'<line class="threshold" x1="{x}" x2="{x}" y1="0" y2="{plot_h}"/>')
    parts.append(f'<text class="scale" x="1" y="{height - 2}">{low:.3g}</text>'
                 f'<text class="scale end" x="{width - 1}" y="{height - 2}">{high:.3g}</text></svg>')
    return "".join(parts)
