"""DeepSpeech 0.9 features: MFCCs from TensorFlow's own audio ops, and context windows.

The MFCCs come from ``tf.raw_ops.AudioSpectrogram`` and ``tf.raw_ops.Mfcc`` with the
release's parameters, so they equal what DeepSpeech computes bit for bit:

- 16 kHz mono, 32 ms windows (512 samples) every 20 ms (320 samples), periodic Hann
  window, power spectrum (257 bins), only whole windows: ``T = (N - 512) // 320 + 1``;
- 40 triangular mel bands from 20 Hz to ``upper_frequency_limit`` (8000 Hz for 0.7+
  releases, 4000 Hz for 0.6) on the magnitude spectrum, natural log (floor 1e-12),
  DCT-II scaled by sqrt(2/40), first 26 coefficients;
- no mean/variance normalisation.
"""
from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from .audio import SAMPLE_RATE, STEP_SAMPLES, WINDOW_SAMPLES, load_audio

N_INPUT = 26  #: MFCC coefficients per frame
N_CONTEXT = 9  #: frames of context on each side
WINDOW_FRAMES = 2 * N_CONTEXT + 1  #: 19 frames per context window
UPPER_FREQUENCY_LIMIT = 8000.0  #: Hz, DeepSpeech 0.7 and later (0.6 used 4000)


def tf_mfccs(samples: tf.Tensor, sample_rate: int = SAMPLE_RATE,
             upper_frequency_limit: float = UPPER_FREQUENCY_LIMIT) -> tf.Tensor:
    """MFCCs of one waveform as a tensor, inside TensorFlow graphs.

    Args:
        samples: float32 ``[N]`` in [-1, 1] at ``sample_rate``.
    Returns:
        float32 ``[T, 26]``, ``T = (N - 512) // 320 + 1``.
    """
    spectrogram = tf.raw_ops.AudioSpectrogram(
        input=tf.reshape(tf.cast(samples, tf.float32), [-1, 1]),
        window_size=WINDOW_SAMPLES, stride=STEP_SAMPLES, magnitude_squared=True)
    mfcc = tf.raw_ops.Mfcc(
        spectrogram=spectrogram, sample_rate=sample_rate, dct_coefficient_count=N_INPUT,
        upper_frequency_limit=upper_frequency_limit)
    return mfcc[0]


def mfccs(samples: np.ndarray, sample_rate: int = SAMPLE_RATE,
          upper_frequency_limit: float = UPPER_FREQUENCY_LIMIT) -> np.ndarray:
    """DeepSpeech MFCCs of a waveform.

    Args:
        samples: float ``[N]`` in [-1, 1] at 16 kHz (see :func:`load_audio`), N >= 512.
        upper_frequency_limit: top of the mel filterbank in Hz (8000; 4000 for 0.6 models).
    Returns:
        float32 ``[T, 26]`` with ``T = (N - 512) // 320 + 1`` frames, 20 ms apart.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1 or samples.shape[0] < WINDOW_SAMPLES:
        raise ValueError(f"expected a 1-D waveform of at least {WINDOW_SAMPLES} samples, got shape {samples.shape}")
    return tf_mfccs(samples, sample_rate, upper_frequency_limit).numpy()


def audio_file_to_mfccs(path: str | os.PathLike,
                        upper_frequency_limit: float = UPPER_FREQUENCY_LIMIT) -> np.ndarray:
    """Read an audio file (any rate, channels, format) and return its MFCCs ``[T, 26]``.

    Raises :class:`~deepspeech_audio_features.audio.AudioError` for unusable files.
    """
    samples, rate = load_audio(path)
    return mfccs(samples, rate, upper_frequency_limit)


def num_frames(num_samples: int) -> int:
    """Frames DeepSpeech makes from ``num_samples`` samples (whole 32 ms windows only)."""
    return max(0, (num_samples - WINDOW_SAMPLES) // STEP_SAMPLES + 1)


def context_windows(x: np.ndarray) -> np.ndarray:
    """Stack each frame with its 9 neighbours on each side, as the release does.

    Frames beyond the edges are zeros (not MFCCs of silence). The flattening order is
    the release's: value ``k * 26 + c`` is coefficient ``c`` of frame ``t - 9 + k``.

    Args:
        x: ``[T, 26]`` MFCCs.
    Returns:
        ``[T, 494]``.
    """
    x = np.asarray(x)
    padded = np.pad(x, ((N_CONTEXT, N_CONTEXT), (0, 0)))
    t = x.shape[0]
    return np.stack([padded[k:k + t] for k in range(WINDOW_FRAMES)], axis=1).reshape(t, -1)
