"""Figures and animations: MFCC images, grids of learned inputs, mask animations, waveforms.

Matplotlib only (no TensorFlow). Animations are H.264 mp4 files encoded by the ffmpeg
binary that ships in the ``imageio-ffmpeg`` wheel, written atomically.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation

from ..infra.atomic import atomic_write
from ..speech.frames import SAMPLE_RATE

MFCC_CMAP = "coolwarm"


def _image(ax, array: np.ndarray, cmap: str = MFCC_CMAP, **kwargs):
    """Draw ``[T, N]`` with time along x and coefficients up."""
    return ax.imshow(np.asarray(array).T, interpolation="nearest", cmap=cmap, origin="lower", aspect="auto",
                     **kwargs)


def plot_mfccs(mfccs: np.ndarray, title: str = "MFCCs", ax=None, colorbar: bool = True):
    """Image of MFCCs ``[T, 26]``: frames (20 ms) along x, coefficients up. Returns the figure."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 2.6))
    else:
        fig = ax.figure
    img = _image(ax, mfccs)
    ax.set_title(title)
    ax.set_xlabel("frame (20 ms)")
    ax.set_ylabel("MFCC")
    if colorbar:
        fig.colorbar(img, ax=ax, pad=0.01)
    return fig


def plot_grid(cells: Sequence[Sequence[tuple[np.ndarray, str] | None]], column_titles: Sequence[str] = (),
              title: str = "", cell_size: tuple[float, float] = (2.3, 1.5), font_size: int = 7):
    """A grid of MFCC-like images ``cells[row][col] = (array [T, N], caption)`` (None = empty).

    Used for learned inputs (rows = snapshots, columns = layers) and dataset examples.
    Each image uses its own colour range, as the study did.
    """
    rows, cols = len(cells), max(len(r) for r in cells)
    fig, axes = plt.subplots(rows, cols, figsize=(cell_size[0] * cols, cell_size[1] * rows + 0.6),
                             squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            cell = cells[r][c] if c < len(cells[r]) else None
            if cell is None:
                ax.axis("off")
                continue
            array, caption = cell
            _image(ax, array)
            head = f"{column_titles[c]}\n" if r == 0 and c < len(column_titles) else ""
            ax.set_title(head + caption, fontsize=font_size)
            ax.tick_params(labelsize=font_size - 1)
    if title:
        fig.suptitle(title, fontsize=font_size + 5)
    fig.tight_layout()
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
                    titles: Sequence[str] = (), cmaps: Sequence[str] = (), suptitle: str = "",
                    fps: int = 10, hold_last: int = 10, dpi: int = 80,
                    figsize: tuple[float, float] | None = None,
                    ranges: Sequence[tuple[float, float] | None] = ()) -> Path:
    """Encode an H.264 mp4 of stacked image panels changing over time.

    Args:
        panels: ``panels[p][i]`` is frame ``i`` of panel ``p``, an array ``[T, N]``
            (drawn transposed: time along x). Panels are cut to the shortest.
        titles, cmaps: one per panel (default: no title, coolwarm).
        hold_last: extra copies of the last frame, so the result stays on screen.
        ranges: per panel, the colour range ``(vmin, vmax)``; None (the default) uses the
            last frame's range for every frame, so colours mean the same throughout.
    Returns:
        ``path``, written atomically.
    """
    import imageio_ffmpeg

    n_frames = min(len(p) for p in panels)
    if n_frames == 0:
        raise ValueError(f"{path}: no frames to animate")
    matplotlib.rcParams["animation.ffmpeg_path"] = imageio_ffmpeg.get_ffmpeg_exe()
    n = len(panels)
    fig, axes = plt.subplots(n, 1, figsize=figsize or (8, 2.4 * n + (0.6 if suptitle else 0)), squeeze=False,
                             dpi=dpi)
    images = []
    for p, ax in enumerate(axes[:, 0]):
        last = np.asarray(panels[p][n_frames - 1])
        cmap = cmaps[p] if p < len(cmaps) else MFCC_CMAP
        vmin, vmax = (ranges[p] if p < len(ranges) and ranges[p] is not None
                      else (float(last.min()), float(last.max())))
        images.append(_image(ax, panels[p][0], cmap=cmap, vmin=vmin, vmax=vmax))
        if p < len(titles):
            ax.set_title(titles[p], fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()

    def draw(i: int):
        i = min(i, n_frames - 1)
        for p, img in enumerate(images):
            img.set_data(np.asarray(panels[p][i]).T)
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
                   **kwargs) -> Path:
    """Three-row animation of mask snapshots: mask (black = 0), mask x MFCCs, MFCCs."""
    mfccs = np.asarray(mfccs)
    masks = [np.asarray(m, dtype=np.float32) for m in masks]
    return write_animation(
        path, [masks, [m * mfccs for m in masks], [mfccs] * len(masks)],
        titles=["binary importance mask (black = 0, white = 1)", "mask x MFCCs", "MFCCs"],
        cmaps=["gray", MFCC_CMAP, MFCC_CMAP], suptitle=title, ranges=[(0.0, 1.0), None, None], **kwargs)
