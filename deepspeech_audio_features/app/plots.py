"""Figures and animations: MFCC images, grids of learned inputs, mask animations, waveforms.

Matplotlib only (no TensorFlow). Animations are H.264 mp4 files encoded by the ffmpeg
binary that ships in the ``imageio-ffmpeg`` wheel, written atomically.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation

from ..infra.atomic import atomic_write
from ..infra.errors import ParameterError
from ..speech.frames import SAMPLE_RATE

MFCC_CMAP = "coolwarm"
#: Entries a mask removed are drawn in this colour, which the diverging colour map never takes.
MASKED_COLOR = "black"
#: MFCC images show z-scores from -Z_RANGE to +Z_RANGE (beyond are clipped to the end colours).
Z_RANGE = 3.0
FRAME_SECONDS = 0.02
#: Natural-log range of log-mel images: 14 nats = 60.8 dB below the loudest band.
LOG_MEL_RANGE = 14.0


@dataclass(frozen=True)
class MfccScale:
    """How MFCC images are coloured: each coefficient as a z-score against reference statistics.

    Raw MFCCs are unreadable on one colour scale: c0 (log energy) spans about [-250, 5] on
    speech while c1-c25 span about [-15, 10], so c1-c25 would all get one colour.
    Standardizing each coefficient (c0 included: its z-score reads as loudness relative to
    the reference) puts every row on the same scale, and with statistics of real speech the
    colours of a learned input mean the same as those of a recording.

    Attributes:
        mean, std: ``[26]`` per-coefficient statistics.
        source: where they come from, shown on colour bars.
    """
    mean: np.ndarray
    std: np.ndarray
    source: str = "the MFCCs shown"

    @classmethod
    def of(cls, arrays: Sequence[np.ndarray], source: str = "the MFCCs shown") -> "MfccScale":
        """Statistics pooled over all frames of ``arrays`` (each ``[T_i, 26]``)."""
        frames = np.concatenate([np.asarray(a, np.float64).reshape(-1, np.shape(a)[-1]) for a in arrays])
        return cls(frames.mean(0), frames.std(0), source)

    @classmethod
    def from_stats(cls, stats, source: str = "real speech") -> "MfccScale":
        """From any object with ``mean`` and ``std`` ``[26]`` (e.g. :class:`MfccStats`) or such a dict."""
        get = stats.get if isinstance(stats, dict) else lambda k: getattr(stats, k)
        return cls(np.asarray(get("mean"), np.float64), np.asarray(get("std"), np.float64), source)

    def __call__(self, mfccs: np.ndarray) -> np.ndarray:
        """z-scores ``[T, 26]`` of MFCCs ``[T, 26]``."""
        return (np.asarray(mfccs, np.float64) - self.mean) / np.maximum(self.std, 1e-6)

    @property
    def label(self) -> str:
        return f"z-score per coefficient\n(vs {self.source})"


def mfcc_cmap():
    """The MFCC colour map, with :data:`MASKED_COLOR` for masked entries."""
    return matplotlib.colormaps[MFCC_CMAP].with_extremes(bad=MASKED_COLOR)


def _image(ax, array: np.ndarray, cmap=MFCC_CMAP, seconds: bool = True, **kwargs):
    """Draw ``[T, N]`` with time along x (seconds, 20 ms per frame) and coefficients up."""
    array = array if isinstance(array, np.ma.MaskedArray) else np.asarray(array)
    frames, rows = array.shape
    extent = (0.0, frames * FRAME_SECONDS, -0.5, rows - 0.5) if seconds else None
    return ax.imshow(array.T, interpolation="nearest", cmap=cmap, origin="lower", aspect="auto", extent=extent,
                     **kwargs)


def _label_mfcc_axes(ax, left: bool = True, bottom: bool = True, size: int = 9) -> None:
    if bottom:
        ax.set_xlabel("time (s)", fontsize=size)
    if left:
        ax.set_ylabel("MFCC", fontsize=size)
    ax.set_yticks([0, 5, 10, 15, 20, 25])
    ax.tick_params(labelsize=size - 1)


def mfcc_image(ax, mfccs: np.ndarray, scale: MfccScale, mask: np.ndarray | None = None, **kwargs):
    """MFCCs ``[T, 26]`` as z-scores on ``ax``; entries where ``mask == 0`` in :data:`MASKED_COLOR`.

    Raises:
        ParameterError: NaN or Inf in the MFCCs (they would be drawn in the masked colour), or a
            mask of another shape.
    """
    if not np.all(np.isfinite(np.asarray(mfccs, np.float64))):
        raise ParameterError("mfccs: NaN or Inf values cannot be drawn (they would look like masked entries)")
    z = scale(mfccs)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != np.shape(z):
            raise ParameterError(f"mask: shaped {mask.shape}, but the MFCCs are {np.shape(z)}")
        z = np.ma.masked_where(mask == 0, z)
    return _image(ax, z, cmap=mfcc_cmap(), vmin=-Z_RANGE, vmax=Z_RANGE, **kwargs)


def plot_mfccs(mfccs: np.ndarray, title: str = "MFCCs", ax=None, colorbar: bool = True,
               scale: MfccScale | None = None, mask: np.ndarray | None = None):
    """Image of MFCCs ``[T, 26]``: time in seconds along x, coefficients up, each coefficient
    as a z-score (see :class:`MfccScale`; default: statistics of ``mfccs`` itself).
    ``mask`` ``[T, 26]``: entries where it is 0 are drawn in :data:`MASKED_COLOR`.
    Returns the figure."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 2.8))
    else:
        fig = ax.figure
    scale = scale or MfccScale.of([mfccs])
    img = mfcc_image(ax, mfccs, scale, mask)
    ax.set_title(title, fontsize=11)
    _label_mfcc_axes(ax)
    if colorbar:
        fig.colorbar(img, ax=ax, pad=0.01).set_label(scale.label, fontsize=8)
    return fig


def plot_log_mel(mfccs: np.ndarray, title: str = "log-mel spectrogram implied by the MFCCs", ax=None,
                 upper_frequency_limit: float = 8000.0, colorbar: bool = True, top: float | None = None):
    """The 40 log mel energies the MFCCs imply (:func:`mfccs_to_log_mel`), with the bands'
    centre frequencies in Hz up the y axis: easier to read than MFCCs. Colours span
    :data:`LOG_MEL_RANGE` below ``top`` (default: this image's maximum; give one ``top``
    to panels that should share a scale). Returns the figure."""
    from ..speech.filters import mel_band_centers, mfccs_to_log_mel

    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 2.8))
    else:
        fig = ax.figure
    log_mel = mfccs_to_log_mel(mfccs)
    top = float(log_mel.max()) if top is None else top  # the top 60 dB (14 nats), as spectrograms show
    img = _image(ax, log_mel, cmap="magma", vmin=top - LOG_MEL_RANGE, vmax=top)
    centers = mel_band_centers(high=upper_frequency_limit)
    ticks = [b for b in (0, 8, 16, 24, 32, 39)]
    ax.set_yticks(ticks, [f"{centers[b]:.0f}" for b in ticks])
    ax.set_ylabel("mel band centre (Hz)", fontsize=9)
    ax.set_xlabel("time (s)", fontsize=9)
    ax.set_title(title, fontsize=11)
    if colorbar:
        fig.colorbar(img, ax=ax, pad=0.01).set_label("log mel energy (ln)", fontsize=8)
    return fig


def plot_grid(cells: Sequence[Sequence[tuple[np.ndarray, str] | None]], column_titles: Sequence[str] = (),
              title: str = "", cell_size: tuple[float, float] = (2.6, 1.8), font_size: int = 9,
              scale: MfccScale | None = None):
    """A grid of MFCC images ``cells[row][col] = (array [T, 26], caption)`` (None = empty).

    Used for learned inputs (rows = snapshots, columns = layers) and dataset examples. All
    cells share one colour scale (``scale``, default: statistics pooled over every cell),
    shown by one colour bar; time in seconds along x.
    """
    rows, cols = len(cells), max(len(r) for r in cells)
    arrays = [cell[0] for row in cells for cell in row if cell is not None]
    scale = scale or MfccScale.of(arrays)
    fig, axes = plt.subplots(rows, cols, figsize=(cell_size[0] * cols + 1.0, cell_size[1] * rows + 0.8),
                             squeeze=False, layout="constrained")
    img = None
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            cell = cells[r][c] if c < len(cells[r]) else None
            if cell is None:
                ax.axis("off")
                continue
            array, caption = cell
            img = mfcc_image(ax, array, scale)
            head = f"{column_titles[c]}\n" if r == 0 and c < len(column_titles) else ""
            ax.set_title(head + caption, fontsize=font_size)
            _label_mfcc_axes(ax, left=c == 0, bottom=r == rows - 1, size=font_size)
    if img is not None:
        fig.colorbar(img, ax=axes, shrink=0.8, pad=0.01).set_label(scale.label, fontsize=font_size)
    if title:
        fig.suptitle(title, fontsize=font_size + 4)
    return fig


def plot_curves(steps: Sequence[int], curves: dict[str, Sequence[float]], title: str = "",
                xlabel: str = "optimization step", ax=None):
    """Line plot of named curves over steps (e.g. activation and total variation per element)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3))
    else:
        fig = ax.figure
    for name, values in curves.items():
        ax.plot(steps, values, label=name)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_waveforms(original: np.ndarray, variants: dict[str, np.ndarray], sample_rate: int = SAMPLE_RATE,
                   title: str = "", line_width: float = 0.5):
    """The original waveform ``[N]`` above each variant ``{label: [N]}`` (e.g. muted copies)."""
    n = 1 + len(variants)
    fig, axes = plt.subplots(n, 1, figsize=(9, 1.6 * n), sharex=True, squeeze=False)
    seconds = np.arange(len(original)) / sample_rate
    axes[0][0].plot(seconds, original, lw=line_width)
    axes[0][0].set_title("original", fontsize=9)
    for ax, (label, samples) in zip(axes[1:, 0], variants.items()):
        ax.plot(seconds[:len(samples)], samples, lw=line_width)
        ax.set_title(label, fontsize=9)
    axes[-1][0].set_xlabel("seconds")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def write_animation(path: str | os.PathLike, panels: Sequence[Sequence[np.ndarray]],
                    titles: Sequence[str] = (), cmaps: Sequence = (), suptitle: str = "",
                    fps: int = 10, hold_last: int = 10, dpi: int = 80,
                    figsize: tuple[float, float] | None = None,
                    ranges: Sequence[tuple[float, float] | None] = (), labels: Sequence[str] = (),
                    colorbar_labels: Sequence[str | None] = (), player_margin: float = 0.5) -> Path:
    """Encode an H.264 mp4 of stacked image panels changing over time.

    Args:
        panels: ``panels[p][i]`` is frame ``i`` of panel ``p``, an array ``[T, N]`` (drawn
            transposed: time in seconds along x; a masked array shows its masked entries in
            the colour map's "bad" colour). Panels are cut to the shortest.
        titles, cmaps: one per panel (default: no title, coolwarm).
        hold_last: extra copies of the last frame, so the result stays on screen.
        ranges: per panel, the colour range ``(vmin, vmax)``; None (the default) uses the
            last frame's range for every frame, so colours mean the same throughout.
        labels: per frame, a counter shown in the corner (e.g. ``"step 120 / 300"``).
        colorbar_labels: per panel, a colour bar with this label (None: no colour bar).
        player_margin: inches left empty below the panels, where a browser's video
            controls sit, so they cover no data when the video is paused.
    Returns:
        ``path``, written atomically.
    """
    import imageio_ffmpeg

    n_frames = min(len(p) for p in panels)
    if n_frames == 0:
        raise ParameterError(f"{path}: no frames to animate")
    matplotlib.rcParams["animation.ffmpeg_path"] = imageio_ffmpeg.get_ffmpeg_exe()
    n = len(panels)
    width, height = figsize or (8, 2.4 * n + (0.6 if suptitle else 0) + (0.3 if labels else 0))
    fig, axes = plt.subplots(n, 1, figsize=(width, height + player_margin), squeeze=False, dpi=dpi)
    images = []
    for p, ax in enumerate(axes[:, 0]):
        last = np.asarray(panels[p][n_frames - 1])
        cmap = cmaps[p] if p < len(cmaps) else mfcc_cmap()
        vmin, vmax = (ranges[p] if p < len(ranges) and ranges[p] is not None
                      else (float(np.min(last)), float(np.max(last))))
        images.append(_image(ax, panels[p][0], cmap=cmap, vmin=vmin, vmax=vmax))
        if p < len(titles):
            ax.set_title(titles[p], fontsize=10)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.tick_params(labelsize=7)
        if p < len(colorbar_labels) and colorbar_labels[p]:
            fig.colorbar(images[-1], ax=ax, pad=0.01).set_label(colorbar_labels[p], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    counter = fig.text(0.99, 0.995, "", ha="right", va="top", fontsize=10, family="monospace") if labels else None
    fig.tight_layout(rect=(0, player_margin / (height + player_margin), 1, 0.97 if labels else 1))

    def draw(i: int):
        i = min(i, n_frames - 1)
        for p, img in enumerate(images):
            img.set_data(np.ma.asarray(panels[p][i]).T)
        if counter is not None:
            counter.set_text(labels[min(i, len(labels) - 1)])
            return [*images, counter]
        return images

    anim = animation.FuncAnimation(fig, draw, frames=n_frames + hold_last, blit=True)
    writer = animation.FFMpegWriter(fps=fps, codec="libx264", extra_args=["-pix_fmt", "yuv420p"])

    path = Path(path)
    try:
        # ffmpeg picks the container from the suffix, so the temporary name keeps .mp4.
        atomic_write(path, lambda tmp: anim.save(tmp + ".mp4", writer=writer) or os.replace(tmp + ".mp4", tmp))
    finally:
        plt.close(fig)
    return path


def mask_animation(path: str | os.PathLike, masks: Sequence[np.ndarray], mfccs: np.ndarray, title: str = "",
                   scale: MfccScale | None = None, labels: Sequence[str] = (), **kwargs) -> Path:
    """Three-row animation of mask snapshots: the mask (black = 0), the MFCCs it keeps (removed
    entries in :data:`MASKED_COLOR`, which no kept value takes) and the MFCCs, as z-scores."""
    mfccs = np.asarray(mfccs)
    scale = scale or MfccScale.of([mfccs])
    z = scale(mfccs)
    masks = [np.asarray(m, dtype=np.float32) for m in masks]
    kept = [np.ma.masked_where(m == 0, z) for m in masks]
    return write_animation(
        path, [masks, kept, [z] * len(masks)],
        titles=["binary importance mask (black = 0: removed, white = 1: kept)",
                "MFCCs the mask keeps (black: removed)", "MFCCs"],
        cmaps=["gray", mfcc_cmap(), mfcc_cmap()], suptitle=title,
        ranges=[(0.0, 1.0), (-Z_RANGE, Z_RANGE), (-Z_RANGE, Z_RANGE)], labels=labels,
        colorbar_labels=[None, scale.label, scale.label], **kwargs)
