"""Waveform-level augmentation after synthesis: vocal tract length, room reverberation, noise at an exact SNR.

* :func:`change_tract_length`: resampling (soxr) as if the audio had been recorded at
  ``rate * factor``: every frequency (formants and F0) is multiplied by ``factor`` and every
  duration divided by it. An engine that takes F0 and duration targets (flite) is asked for
  ``F0 / factor`` and ``stretch * factor`` first, so only the formants move: a longer or
  shorter vocal tract at the requested pitch and tempo. Pitch itself is changed by the
  engine's F0 targets, which leave the formants alone.
* :func:`room_impulse_response` / :func:`reverberate`: a synthetic room, a direct sound followed
  by exponentially decaying Gaussian noise whose energy falls 60 dB in ``rt60`` seconds
  (the statistical model of a diffuse reverberant tail); convolution keeps the length and
  timing of the input (the direct sound is at lag 0), so alignments stay valid.
* :func:`place_in_recording`: a synthesized utterance in a room, at a level, padded with
  silence and under noise (what the flite and neural utterances of a corpus go through).
* :func:`add_noise_at_snr`: white or pink noise scaled by its own measured power, so the
  speech-to-noise power ratio is exactly ``snr_db`` (unlike :func:`~.noise.add_noise`,
  which scales by the expected power).

No TensorFlow here.
"""
from __future__ import annotations

import math

import numpy as np
import soxr

from ..infra.errors import ParameterError
from ..speech.frames import SAMPLE_RATE
from .noise import pink_noise

__all__ = ["add_noise_at_snr", "change_tract_length", "place_in_recording", "reverberate", "room_impulse_response"]


def _check_finite(name: str, value: float, low: float, high: float) -> float:
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise ParameterError(f"{name}: expected a finite number in [{low}, {high}], got {value!r}")
    return value


def change_tract_length(audio: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """Resample ``audio`` (float ``[N]`` at ``sample_rate`` Hz) to 16 kHz, frequencies times ``factor``.

    A sample at ``t`` s of the input lands at ``t / factor`` s of the output (soxr compensates
    its filter delay), so alignments scale by ``1 / factor``. ``factor`` in [0.5, 2].

    Returns:
        float32 ``[round(N * 16000 / (sample_rate * factor))]`` at 16 kHz.
    """
    factor = _check_finite("tract_factor", factor, 0.5, 2.0)
    audio = np.asarray(audio, dtype=np.float32)
    if not audio.size:
        return audio
    return soxr.resample(audio, sample_rate * factor, SAMPLE_RATE, quality="HQ").astype(np.float32)


def room_impulse_response(rt60: float, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A synthetic room impulse response ``[round(rt60 * sample_rate)]`` float32, peak 1 at lag 0.

    ``h[0] = 1`` (the direct sound); ``h[n] = g[n] * 10 ** (-3 n / (rt60 * sample_rate)) * 0.3``
    for ``n >= 1`` with ``g`` standard Gaussian: the tail's energy decays 60 dB in ``rt60``
    seconds (its Schroeder decay curve is a line of slope -60 / rt60 dB/s). ``rt60`` in s, [0.05, 3].
    """
    rt60 = _check_finite("rt60", rt60, 0.05, 3.0)
    n = max(2, int(round(rt60 * sample_rate)))
    decay = 10.0 ** (-3.0 * np.arange(n) / (rt60 * sample_rate))
    response = 0.3 * rng.standard_normal(n) * decay
    response[0] = 1.0
    return response.astype(np.float32)


def reverberate(audio: np.ndarray, response: np.ndarray) -> np.ndarray:
    """``audio`` ``[N]`` convolved with ``response`` ``[M]`` (FFT), cut to ``N`` samples; float32.

    The tail beyond ``N`` is dropped (it falls in the corpus's end padding or is cut), so
    the output is as long as the input and its events are where they were.
    """
    audio = np.asarray(audio, dtype=np.float64)
    response = np.asarray(response, dtype=np.float64)
    if not audio.size:
        return audio.astype(np.float32)
    n_fft = 1 << (audio.size + response.size - 2).bit_length()
    wet = np.fft.irfft(np.fft.rfft(audio, n_fft) * np.fft.rfft(response, n_fft), n_fft)[:audio.size]
    return wet.astype(np.float32)


def add_noise_at_snr(audio: np.ndarray, snr_db: float, color: str, rng: np.random.Generator,
                     speech: slice = slice(None)) -> np.ndarray:
    """``audio`` ``[N]`` plus white or pink noise whose power is ``snr_db`` dB below the speech's.

    Both powers are measured over ``audio[speech]`` (e.g. without the silent padding), so
    ``10 log10(P_speech / P_noise)`` over that stretch equals ``snr_db`` (to float32 rounding).
    ``snr_db`` in [-20, 80]; ``color`` ``"white"`` or ``"pink"``.
    """
    snr_db = _check_finite("snr_db", snr_db, -20.0, 80.0)
    audio = np.asarray(audio, dtype=np.float32)
    if color == "white":
        noise = rng.standard_normal(audio.size)
    elif color == "pink":
        noise = pink_noise(audio.size, rng).astype(np.float64)
    else:
        raise ParameterError(f"noise: unknown noise color {color!r} (white or pink)")
    speech_power = float(np.mean(np.square(audio[speech], dtype=np.float64))) if audio[speech].size else 0.0
    noise_power = float(np.mean(np.square(noise[speech]))) if audio[speech].size else 0.0
    if speech_power <= 0.0 or noise_power <= 0.0:
        return audio
    scale = math.sqrt(speech_power / noise_power / 10.0 ** (snr_db / 10.0))
    return (audio + scale * noise).astype(np.float32)


def place_in_recording(speech: np.ndarray, rt60: float | None, peak_db: float, pad_start: float, pad_end: float,
                       noise: str, snr_db: float | None, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    """A 16 kHz utterance ``[N]`` in a room, at a level, padded, under noise; ``(audio float32, pad samples, N)``.

    Order: reverberation with RT60 ``rt60`` s (None: dry) -> speech peak at ``peak_db`` dBFS
    -> ``pad_start`` and ``pad_end`` s of silence -> ``noise`` (``"none"``, ``"white"``,
    ``"pink"``) at ``snr_db`` dB over the speech -> scaled down to a peak of 0.99 if louder.
    The speech occupies samples ``[pad, pad + N)`` of the result.

    Raises:
        ParameterError: the speech is silent after reverberation.
    """
    audio = np.asarray(speech, dtype=np.float32)
    if rt60 is not None:
        audio = reverberate(audio, room_impulse_response(rt60, rng))
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if not peak > 0.0:
        raise ParameterError("speech: silent (no sample above 0), nothing to place in a recording")
    audio = audio * np.float32(10.0 ** (peak_db / 20.0) / peak)
    pad0, pad1 = int(round(pad_start * SAMPLE_RATE)), int(round(pad_end * SAMPLE_RATE))
    n_speech = audio.size
    audio = np.concatenate([np.zeros(pad0, np.float32), audio, np.zeros(pad1, np.float32)])
    if noise != "none" and snr_db is not None:
        audio = add_noise_at_snr(audio, snr_db, noise, rng, speech=slice(pad0, pad0 + n_speech))
    top = float(np.max(np.abs(audio)))
    if top > 0.99:
        audio *= np.float32(0.99 / top)
    return audio.astype(np.float32), pad0, n_speech
