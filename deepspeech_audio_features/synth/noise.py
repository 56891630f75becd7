"""Background noise for the corpus's utterances: white or pink, at a signal-to-noise ratio.

No TensorFlow here.
"""
from __future__ import annotations

import math

import numpy as np

from ..infra.errors import ParameterError

__all__ = ["add_noise", "pink_noise"]


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f power) noise ``[n]`` float32 with unit RMS, shaped from white noise in the FFT domain."""
    if n <= 0:
        return np.zeros(0, np.float32)
    n_fft = 1 << max(0, (n - 1).bit_length())  # a power of two: fast whatever n is
    spectrum = np.fft.rfft(rng.standard_normal(n_fft))
    freqs = np.arange(spectrum.shape[0], dtype=np.float64)
    freqs[0] = 1.0  # keep DC finite
    noise = np.fft.irfft(spectrum / np.sqrt(freqs), n_fft)[:n]
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, color: str, rng: np.random.Generator,
              reference: np.ndarray | None = None) -> np.ndarray:
    """Add white or pink noise at ``snr_db`` dB below the power of ``reference`` (default: ``samples``).

    Args:
        samples: float32 ``[N]``.
        snr_db: signal-to-noise ratio in dB.
        color: ``"white"`` or ``"pink"``.
        rng: the noise source.
        reference: the speech whose power sets the noise level (e.g. without padding).
    Returns:
        float32 ``[N]``.
    """
    ref = samples if reference is None else reference
    power = float(np.mean(np.square(ref, dtype=np.float64))) if ref.size else 0.0
    if power <= 0.0:
        return samples.astype(np.float32)
    if color == "white":
        noise = rng.standard_normal(samples.shape[0]).astype(np.float32)
    elif color == "pink":
        noise = pink_noise(samples.shape[0], rng)
    else:
        raise ParameterError(f"color: unknown noise color {color!r} (white or pink)")
    scale = math.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (samples + scale * noise).astype(np.float32)
