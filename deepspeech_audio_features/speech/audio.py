"""Reading, validating, resampling and writing audio.

Everything the network sees is 16 kHz mono float32 in [-1, 1), scaled as DeepSpeech's
one-file inference does (int16 / 32768). No TensorFlow here.
"""
from __future__ import annotations

import errno
import os
import stat
import wave
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ..infra.atomic import atomic_write
from ..infra.errors import AudioError, ParameterError
from .frames import SAMPLE_RATE, WINDOW_SAMPLES, num_frames


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Read an audio file as DeepSpeech input.

    Reads anything libsndfile reads (WAV, FLAC, OGG, ...), any sample rate (resampled
    with soxr's very-high-quality filter), any channel count (averaged to mono) and
    any sample format (integers scaled by their full range, so int16 / 32768).

    Returns:
        ``(samples, sample_rate)``: float32 ``[N]`` and the rate in Hz (16000).

    Raises:
        AudioError: the file is missing, unreadable or not audio, holds no samples,
            is shorter than one 32 ms window, or holds NaN/Inf samples.
    """
    path = Path(path)
    check_audio_path(path)
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(f"{path}: unreadable or not audio ({err})") from None
    if samples.size == 0:
        raise AudioError(f"{path}: holds zero samples")
    claimed = _wav_header_frames(path)
    if claimed is not None and claimed > samples.shape[0]:
        raise AudioError(f"{path}: truncated: the header says {claimed} samples ({claimed / rate:.3f} s), "
                         f"the file holds {samples.shape[0]} ({samples.shape[0] / rate:.3f} s)")
    samples = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{path}: holds NaN or Inf samples")
    if rate != sample_rate:
        samples = soxr.resample(samples, rate, sample_rate, quality="VHQ").astype(np.float32)
    if samples.shape[0] < WINDOW_SAMPLES * sample_rate // SAMPLE_RATE:
        raise AudioError(
            f"{path}: {samples.shape[0] / sample_rate * 1000:.1f} ms long, shorter than one 32 ms window"
        )
    return np.ascontiguousarray(samples, dtype=np.float32), sample_rate


def check_audio_path(path: str | os.PathLike) -> None:
    """AudioError naming ``path`` unless it is an existing file: no such file, a symlink
    loop, a directory, or not readable (libsndfile would only say "System error")."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise AudioError(f"{path}: no such file") from None
    except OSError as err:
        reason = "a symlink loop" if err.errno == errno.ELOOP else err.strerror
        raise AudioError(f"{path}: {reason}") from None
    if stat.S_ISDIR(info.st_mode):
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise AudioError(f"{path}: permission denied")


def _wav_header_frames(path: Path) -> int | None:
    """Sample frames a PCM WAV's header claims (libsndfile silently reads only what is
    there), or None for other files."""
    if path.suffix.lower() != ".wav":
        return None
    try:
        with wave.open(str(path), "rb") as handle:
            return handle.getnframes()
    except (wave.Error, EOFError, OSError):  # not plain PCM (e.g. float WAV): nothing to compare
        return None


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write float samples ``[N]`` in [-1, 1] as a 16-bit PCM mono WAV, atomically.

    Raises:
        ParameterError: samples that are not a finite 1-D waveform (NaN would be written as silence).
    """
    try:
        samples = np.asarray(samples, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ParameterError(f"samples: expected a 1-D waveform of numbers ({error})") from None
    if samples.ndim != 1:
        raise ParameterError(f"samples: expected a 1-D waveform [N], got shape {samples.shape}")
    if not np.isfinite(samples).all():
        raise ParameterError(f"samples: NaN or Inf in the waveform to write to {path}")
    samples = np.clip(samples, -1.0, 32767 / 32768)
    return atomic_write(path, lambda tmp: sf.write(tmp, samples, sample_rate, format="WAV", subtype="PCM_16"))


def file_num_frames(path: str | os.PathLike) -> int:
    """Frames the MFCCs of an audio file will have, from its header alone (no decoding).

    Raises:
        AudioError: unreadable, empty, or shorter than one 32 ms window.
    """
    import soundfile as sf

    check_audio_path(path)
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
