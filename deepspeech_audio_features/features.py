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

from .audio import SAMPLE_RATE, STEP_SAMPLES, WINDOW_SAMPLES, AudioError, load_audio

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


def file_num_frames(path: str | os.PathLike) -> int:
    """Frames the MFCCs of an audio file will have, from its header alone (no decoding).

    Raises:
        AudioError: unreadable, empty, or shorter than one 32 ms window.
    """
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(f"{path}: unreadable or not audio ({err})") from None
    if info.frames <= 0:
        raise AudioError(f"{path}: holds zero samples")
    frames = num_frames(int(round(info.frames * SAMPLE_RATE / info.samplerate)))
    if frames < 1:
        raise AudioError(f"{path}: {info.frames / info.samplerate * 1000:.1f} ms long, shorter than one 32 ms window")
    return frames


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


# ---------------------------------------------------------------------- MFCC inversion
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


def _stft(x: np.ndarray, window: np.ndarray, hop: int) -> np.ndarray:
    frames = (len(x) - len(window)) // hop + 1
    index = np.arange(len(window))[None, :] + hop * np.arange(frames)[:, None]
    return np.fft.rfft(x[index] * window, axis=1)


def _istft(spec: np.ndarray, window: np.ndarray, hop: int, length: int) -> np.ndarray:
    frames = np.fft.irfft(spec, n=len(window), axis=1) * window
    out, norm = np.zeros(length), np.zeros(length)
    for i, frame in enumerate(frames):
        out[i * hop:i * hop + len(window)] += frame
        norm[i * hop:i * hop + len(window)] += window ** 2
    return out / np.maximum(norm, 1e-8)


def mfccs_to_audio(X: np.ndarray, upper_frequency_limit: float = UPPER_FREQUENCY_LIMIT, iterations: int = 100,
                   oversample: int = 1, seed: int = 0, peak: float | None = None) -> np.ndarray:
    """Turn DeepSpeech MFCCs back into a waveform that can be listened to (approximate).

    The analysis is undone step by step:

    1. the 26 kept DCT coefficients -> 40 log mel energies with the DCT's pseudo-inverse
       (the 14 dropped coefficients are taken as 0, so the mel envelope is smoothed);
    2. ``exp`` -> mel energies -> a non-negative magnitude spectrum ``[T, 257]`` by
       non-negative least squares through the filterbank (multiplicative updates), which
       spreads each band's energy over its bins (no pitch harmonics survive the mel
       filterbank, so voiced speech comes back as whisper-like noise in the right bands;
       bins below 20 Hz and above the upper limit stay silent);
    3. phase from fast Griffin-Lim (momentum 0.99) on DeepSpeech's own frames (512-sample
       periodic Hann, hop 320; ``oversample`` > 1 interpolates the magnitudes to a finer
       hop, which sounds smoother but re-analyses worse: the interpolated frames are not
       the ones the features see).

    How approximate: re-analysing the result with :func:`mfccs` gives back the MFCCs with
    an RMS error of 0.03-0.07 times the coefficients' standard deviation on synthesized
    corpus utterances (100 iterations; 0.06-0.14 after 30; ~0.2 with ``oversample=4``),
    largest in c0 at silences and in the high coefficients; ``tests/test_visualization.py``
    checks a bound. What is lost is what the MFCCs never held: pitch and fine spectral
    detail (the mel filterbank keeps 40 bands, the DCT 26 of their 40 coefficients), so
    voiced speech returns whisper-like in the right bands; bins below 20 Hz and above the
    upper limit stay silent. Learned inputs need not be the MFCCs of any waveform, so
    theirs come back less exactly.

    Args:
        X: ``[T, 26]`` MFCCs (20 ms frames), T >= 1.
        upper_frequency_limit: the model's filterbank top (8000 Hz; 4000 for 0.6).
        iterations: Griffin-Lim iterations.
        oversample: Griffin-Lim hop = 320 / oversample.
        seed: the initial random phase.
        peak: rescale the result to this peak amplitude (default: keep the level the
            MFCCs imply, so that re-analysis reproduces c0).
    Returns:
        float32 ``[(T - 1) * 320 + 512]`` samples at 16 kHz.
    """
    X = np.asarray(X, np.float64)
    if X.ndim != 2 or X.shape[1] != N_INPUT:
        raise ValueError(f"expected MFCCs [T, {N_INPUT}], got {X.shape}")
    frames = X.shape[0]
    bank = mel_filterbank(high=upper_frequency_limit)  # [257, 40]
    log_mel = X @ np.linalg.pinv(dct_matrix())  # [T, 40]
    mel = np.exp(np.clip(log_mel, -40.0, 40.0))
    magnitude = mel @ (bank / np.maximum(bank.sum(0, keepdims=True), 1e-12)).T  # [T, 257] start
    gram = bank @ bank.T
    target = mel @ bank.T
    for _ in range(200):  # Lee-Seung updates for min ||S B - M||^2, S >= 0
        magnitude *= target / np.maximum(magnitude @ gram, 1e-30)
    hop = STEP_SAMPLES // oversample
    length = (frames - 1) * STEP_SAMPLES + WINDOW_SAMPLES
    positions = np.arange((length - WINDOW_SAMPLES) // hop + 1) * hop / STEP_SAMPLES
    left = np.minimum(np.floor(positions).astype(int), frames - 1)
    right = np.minimum(left + 1, frames - 1)
    frac = (positions - left)[:, None]
    fine = (1 - frac) * magnitude[left] + frac * magnitude[right]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW_SAMPLES) / WINDOW_SAMPLES)
    rng = np.random.default_rng(seed)
    spec = fine * np.exp(2j * np.pi * rng.random(fine.shape))
    previous = np.zeros_like(spec)
    for _ in range(iterations):
        rebuilt = _stft(_istft(spec, window, hop, length), window, hop)
        accelerated = rebuilt + 0.99 * (rebuilt - previous)
        previous = rebuilt
        spec = fine * np.exp(1j * np.angle(accelerated))
    audio = _istft(spec, window, hop, length)
    if peak is not None:
        audio *= peak / max(np.max(np.abs(audio)), 1e-12)
    return audio.astype(np.float32)
