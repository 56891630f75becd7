"""Rendering one planned utterance: eSpeak, speed, level, padding and noise -> 16 kHz audio.

No TensorFlow here.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..infra.errors import ESpeakError
from ..speech.audio import write_wav
from ..speech.frames import SAMPLE_RATE
from .espeak import ESpeakSynthesizer
from .noise import add_noise
from .plan import UtteranceSpec

__all__ = ["render_to_file", "render_utterance"]


def render_utterance(spec: UtteranceSpec, synth: ESpeakSynthesizer | None = None) -> np.ndarray:
    """Synthesize and augment one utterance; returns float32 ``[N]`` at 16 kHz in [-1, 1).

    Order: eSpeak (isolated, seeded) -> speed change and resampling to 16 kHz ->
    level so the speech peak is ``peak_db`` dBFS -> silence padding -> noise at
    ``snr_db`` relative to the speech (padding excluded) -> scaled down if it would clip.
    """
    synth = synth or ESpeakSynthesizer()
    speech = synth.synthesize(spec.transcript, spec.voice, spec.rate, spec.pitch, spec.pitch_range,
                              spec.word_gap, seed=spec.seed, speed=spec.speed, isolated=True)
    peak = float(np.max(np.abs(speech))) if speech.size else 0.0
    if peak <= 0.0:
        raise ESpeakError(f"eSpeak produced silence for {spec.transcript!r} with voice {spec.voice!r}")
    speech = speech * np.float32(10.0 ** (spec.peak_db / 20.0) / peak)
    pad0, pad1 = int(round(spec.pad_start * SAMPLE_RATE)), int(round(spec.pad_end * SAMPLE_RATE))
    audio = np.concatenate([np.zeros(pad0, np.float32), speech, np.zeros(pad1, np.float32)])
    if spec.noise != "none" and spec.snr_db is not None:
        audio = add_noise(audio, spec.snr_db, spec.noise, np.random.default_rng(spec.seed), reference=speech)
    top = float(np.max(np.abs(audio)))
    if top > 0.99:
        audio *= np.float32(0.99 / top)
    return audio.astype(np.float32)


def render_to_file(spec: UtteranceSpec, out_dir: str | os.PathLike) -> tuple[int, int, int]:
    """Render ``spec`` into ``out_dir / spec.wav`` (16-bit PCM); returns ``(index, file bytes, frames)``."""
    audio = render_utterance(spec)
    path = Path(out_dir) / spec.wav
    write_wav(path, audio, SAMPLE_RATE)
    return spec.index, path.stat().st_size, int(audio.shape[0])
