"""The Mfcc op's mel filterbank and DCT as NumPy matrices (no TensorFlow), for the MFCC
inversion and the MFCC-domain augmentations."""
from __future__ import annotations

import numpy as np

from .frames import N_INPUT, SAMPLE_RATE, UPPER_FREQUENCY_LIMIT, WINDOW_SAMPLES


def hz_to_mel(f) -> np.ndarray:
    """The Mfcc op's mel scale: ``1127 ln(1 + f / 700)`` (float64)."""
    return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)


def mel_filterbank(n_bins: int = WINDOW_SAMPLES // 2 + 1, sample_rate: int = SAMPLE_RATE, n_bands: int = 40,
                   low: float = 20.0, high: float = UPPER_FREQUENCY_LIMIT) -> np.ndarray:
    """The triangular mel filterbank of ``tf.raw_ops.Mfcc``, ``[n_bins, n_bands]`` (float64).

    mel(f) = 1127 ln(1 + f / 700); band b rises linearly in mel from edge b to edge b+1
    and falls to edge b+2 (n_bands + 2 edges equally spaced from ``low`` to ``high``);
    only bins from ``int(1.5 + low / hz_per_bin)`` to ``int(high / hz_per_bin)`` count.
    """
    hz_per_bin = 0.5 * sample_rate / (n_bins - 1)
    edges = np.linspace(hz_to_mel(low), hz_to_mel(high), n_bands + 2)
    bins = hz_to_mel(np.arange(n_bins) * hz_per_bin)[:, None]
    rising = (bins - edges[None, :-2]) / (edges[1:-1] - edges[:-2])
    falling = (edges[None, 2:] - bins) / (edges[2:] - edges[1:-1])
    bank = np.clip(np.minimum(rising, falling), 0.0, None)
    bank[:int(1.5 + low / hz_per_bin)] = 0.0
    bank[int(high / hz_per_bin) + 1:] = 0.0
    return bank


def dct_matrix(n_in: int = 40, n_out: int = N_INPUT) -> np.ndarray:
    """The Mfcc op's DCT-II ``[n_in, n_out]``: ``sqrt(2 / n_in) cos(pi / n_in * k * (j + 1/2))``."""
    k = np.arange(n_out)[None, :]
    j = np.arange(n_in)[:, None]
    return np.sqrt(2.0 / n_in) * np.cos(np.pi / n_in * k * (j + 0.5))
