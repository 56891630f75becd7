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

from ..infra.errors import ParameterError
from .audio import load_audio
from .frames import (
    N_INPUT,
    SAMPLE_RATE,
    STEP_SAMPLES,
    UPPER_FREQUENCY_LIMIT,
    WINDOW_SAMPLES,
)


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
        raise ParameterError(f"expected a 1-D waveform of at least {WINDOW_SAMPLES} samples, got shape {samples.shape}")
    if not np.all(np.isfinite(samples)):
        raise ParameterError("samples: NaN or Inf in the waveform")
    check_feature_settings(sample_rate, upper_frequency_limit)
    return tf_mfccs(samples, sample_rate, upper_frequency_limit).numpy()


def check_feature_settings(sample_rate: int, upper_frequency_limit: float) -> None:
    """ParameterError unless the rate is DeepSpeech's 16 kHz and the filterbank top is in (20, 8000] Hz."""
    if sample_rate != SAMPLE_RATE:
        raise ParameterError(f"sample_rate: DeepSpeech's features need {SAMPLE_RATE} Hz audio, got {sample_rate!r} "
                             "(load_audio resamples)")
    if isinstance(upper_frequency_limit, bool) or not isinstance(upper_frequency_limit, (int, float)) \
            or not 20.0 < upper_frequency_limit <= SAMPLE_RATE / 2:
        raise ParameterError(f"upper_frequency_limit: must be in (20, {SAMPLE_RATE // 2}] Hz, got {upper_frequency_limit!r}")


def audio_file_to_mfccs(path: str | os.PathLike,
                        upper_frequency_limit: float = UPPER_FREQUENCY_LIMIT) -> np.ndarray:
    """Read an audio file (any rate, channels, format) and return its MFCCs ``[T, 26]``.

    Raises :class:`~deepspeech_audio_features.audio.AudioError` for unusable files.
    """
    samples, rate = load_audio(path)
    return mfccs(samples, rate, upper_frequency_limit)


# ---------------------------------------------------------------------- MFCC inversion


