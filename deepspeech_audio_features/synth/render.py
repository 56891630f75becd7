"""Rendering one planned utterance: eSpeak, speed, level, padding and noise -> 16 kHz audio.

No TensorFlow here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..infra.errors import AudioError, ESpeakError
from ..speech.alignments import Interval, write_textgrid
from ..speech.audio import write_wav
from ..speech.frames import SAMPLE_RATE
from .espeak import ESpeakSynthesizer
from .noise import add_noise
from .phonemes import events_to_intervals
from .plan import UtteranceSpec

__all__ = ["RenderedAlignment", "align_to_file", "render_to_file", "render_utterance", "render_utterance_aligned",
           "textgrid_path"]


@dataclass
class RenderedAlignment:
    """Where the words and phones of a rendered utterance are, in seconds of its audio.

    ``phones`` have TIMIT labels, ``espeak`` the same intervals with eSpeak's mnemonics;
    ``unknown`` counts mnemonics the table lacks (labelled ``spn``).
    """

    duration: float
    words: list[Interval]
    phones: list[Interval]
    espeak: list[Interval]
    unknown: dict[str, int]

    def write(self, path: str | os.PathLike) -> Path:
        """Write a TextGrid with tiers ``words``, ``phones`` and ``espeak``."""
        return write_textgrid(path, self.duration, self.words, self.phones, {"espeak": self.espeak})


def render_utterance(spec: UtteranceSpec, synth: ESpeakSynthesizer | None = None) -> np.ndarray:
    """Synthesize and augment one utterance; returns float32 ``[N]`` at 16 kHz in [-1, 1).

    Order: eSpeak (isolated, seeded) -> speed change and resampling to 16 kHz ->
    level so the speech peak is ``peak_db`` dBFS -> silence padding -> noise at
    ``snr_db`` relative to the speech (padding excluded) -> scaled down if it would clip.
    """
    return render_utterance_aligned(spec, synth)[0]


def render_utterance_aligned(spec: UtteranceSpec, synth: ESpeakSynthesizer | None = None
                             ) -> tuple[np.ndarray, RenderedAlignment]:
    """:func:`render_utterance` and the alignment of its words and phones (from eSpeak's events).

    The events' native sample positions are mapped through the speed change, the
    resampling and the leading padding (:func:`~.phonemes.events_to_intervals`).
    """
    synth = synth or ESpeakSynthesizer()
    pcm, events = synth.synthesize_native_aligned(spec.transcript, spec.voice, spec.rate, spec.pitch,
                                                  spec.pitch_range, spec.word_gap, seed=spec.seed, isolated=True)
    speech = synth.resample(pcm, spec.speed)
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
    words, phones, espeak, unknown = events_to_intervals(events, spec.transcript, len(pcm), synth.native_rate,
                                                         spec.speed, pad0 / SAMPLE_RATE)
    alignment = RenderedAlignment(len(audio) / SAMPLE_RATE, words, phones, espeak, unknown)
    return audio.astype(np.float32), alignment


def textgrid_path(out_dir: str | os.PathLike, spec: UtteranceSpec) -> Path:
    """``<out_dir>/<wav stem>.TextGrid``: where an utterance's alignment goes."""
    return (Path(out_dir) / spec.wav).with_suffix(".TextGrid")


def render_to_file(spec, out_dir: str | os.PathLike,
                   renderer: Callable = render_utterance_aligned) -> tuple[int, int, int, dict[str, int]]:
    """Render ``spec`` into ``out_dir / spec.wav`` (16-bit PCM) and its TextGrid beside it.

    ``renderer(spec) -> (audio, alignment with .write(path) and .unknown)``: eSpeak's
    (:func:`render_utterance_aligned`, the default), flite's or the neural engines'.

    Returns:
        ``(index, wav file bytes, frames, unknown labels {name: count})``.
    """
    audio, alignment = renderer(spec)
    path = Path(out_dir) / spec.wav
    write_wav(path, audio, SAMPLE_RATE)
    alignment.write(textgrid_path(out_dir, spec))  # after the wav: a TextGrid means its wav is complete
    return spec.index, path.stat().st_size, int(audio.shape[0]), alignment.unknown


def align_to_file(spec, out_dir: str | os.PathLike,
                  renderer: Callable = render_utterance_aligned) -> tuple[int, int, int, dict[str, int]]:
    """Write the TextGrid of an utterance already rendered into ``out_dir``, without touching its wav.

    The utterance is synthesized again by ``renderer`` (as :func:`render_to_file`'s; every engine is
    deterministic for a spec) and the
    rendered length must equal the wav's, so the alignment belongs to that audio.

    Returns:
        like :func:`render_to_file`, with the wav's bytes and frames.
    Raises:
        AudioError: the wav is missing or its length differs from the re-rendered audio.
    """
    import soundfile as sf

    path = Path(out_dir) / spec.wav
    try:
        frames = sf.info(str(path)).frames
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioError(f"{path}: unreadable ({err})") from None
    audio, alignment = renderer(spec)
    if frames != len(audio):
        raise AudioError(f"{path}: {frames} samples, but utterance {spec.index} renders to {len(audio)}: "
                         "not the corpus this plan makes")
    alignment.write(textgrid_path(out_dir, spec))
    return spec.index, path.stat().st_size, int(frames), alignment.unknown
