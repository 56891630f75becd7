"""The Mfcc op's mel filterbank and DCT as NumPy matrices (no TensorFlow), for the MFCC
inversion and the MFCC-domain augmentations."""
from __future__ import annotations

import numpy as np

from ..infra.errors import ParameterError
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


def mel_band_centers(sample_rate: int = SAMPLE_RATE, n_bands: int = 40, low: float = 20.0,
                     high: float = UPPER_FREQUENCY_LIMIT) -> np.ndarray:
    """Centre frequencies in Hz ``[n_bands]`` of the Mfcc op's mel bands (the peak of each triangle)."""
    mels = np.linspace(hz_to_mel(low), hz_to_mel(high), n_bands + 2)[1:-1]
    return 700.0 * np.expm1(mels / 1127.0)


def mfccs_to_log_mel(mfccs: np.ndarray) -> np.ndarray:
    """The 40 log mel energies ``[T, 40]`` that MFCCs ``[T, 26]`` imply.

    The 26 kept DCT coefficients are mapped back through the DCT's pseudo-inverse (the 14
    dropped ones taken as 0), so this is the mel envelope smoothed along frequency: a view
    that reads like a spectrogram (low bands at the bottom, natural log of energy).
    """
    x = np.asarray(mfccs, np.float64)
    if x.ndim != 2 or x.shape[1] != N_INPUT:
        raise ParameterError(f"expected MFCCs [T, {N_INPUT}], got shape {x.shape}")
    return x @ np.linalg.pinv(dct_matrix())
