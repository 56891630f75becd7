"""Flite utterances of a corpus: their plan (:class:`FliteSpec`, :func:`plan_flite`) and rendering.

Variety per utterance, drawn from ``numpy.random.default_rng([seed, 7101, index])``. The
train voices are male; their F0 reaches up to 1.6 times their own (awb: 206 Hz), above the
held-out ``slt``'s own 170 Hz (measured), and their formants up to 1.18 times.

* voice: flite's ``kal``, ``kal16``, ``awb``, ``rms``, ``slt``; the held-out voices
  (``test_voices``, default ``slt``) speak only in the test split, where every voice speaks
  (so the test split scores seen and unseen voices on unseen sentences);
* tempo: ``duration_stretch`` 0.8-1.25;
* pitch: F0 mean 0.8-1.6 times the voice's own (flite's ``int_f0_target_mean``; ``rms``
  ignores F0 targets, measured) and, for ``awb`` and ``slt``, an F0 standard deviation
  of 5-25% of it (``kal``'s voicing breaks up with large values, measured);
* vocal tract length: formants times 0.88-1.18 (:func:`~.waveform.change_tract_length`,
  with flite's F0 and duration targets compensated so pitch and tempo stay as drawn);
* room: half the utterances reverberated with an RT60 of 0.15-0.7 s
  (:func:`~.waveform.room_impulse_response`);
* level, padding and noise as the eSpeak utterances: speech peak -18 to -1 dBFS, 0.05-0.35 s
  of silence each side, and for three quarters white or pink noise at 10-40 dB SNR
  (:func:`~.waveform.add_noise_at_snr`, over the speech).

Alignments: flite's phone end times (``-psdur``) through the tract-length resampling
(times divided by its factor) and the leading padding; a diphone voice's audio stops in the
middle of the final pause, which is cut at the audio's end. Word spans come from the phones
and flite's lexicon (:func:`~.engines.word_spans`).

No TensorFlow here.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from ..infra.errors import EngineError, ParameterError
from ..speech.frames import SAMPLE_RATE
from ..speech.phones import fold_phones
from .engines import FLITE_VOICES, SpokenAlignment, flite_intervals, flite_phones_by_word, flite_synthesize, word_spans
from .plan import plan_held_out_first
from .text import make_text, pick, word_cdf
from .waveform import change_tract_length, place_in_recording

__all__ = ["FLITE_DEFAULT_F0", "FLITE_RANGES", "FliteSpec", "flite_split_voices", "plan_flite", "render_flite_aligned"]

_TAG_FLITE_UTTERANCE = 7101
#: Each voice's own median F0 in Hz (measured with an autocorrelation tracker on one sentence);
#: None: the voice ignores flite's F0 targets.
FLITE_DEFAULT_F0: dict[str, float | None] = {"kal": 90.0, "kal16": 90.0, "awb": 129.0, "rms": None, "slt": 170.0}
_F0_STDDEV_VOICES = ("awb", "slt")
#: The ranges :func:`plan_flite` draws from (recorded in corpus.json).
FLITE_RANGES = {
    "duration_stretch": [0.8, 1.25], "f0_mean_factor": [0.8, 1.6], "f0_stddev_fraction": [0.05, 0.25],
    "f0_stddev_voices": list(_F0_STDDEV_VOICES), "tract_factor": [0.88, 1.18],
    "reverb": {"probability": 0.5, "rt60_seconds": [0.15, 0.7]}, "peak_dbfs": [-18.0, -1.0], "clean_fraction": 0.25,
    "noise": ["white", "pink"], "snr_db": [10.0, 40.0], "pad_seconds": [0.05, 0.35],
}


@dataclasses.dataclass(frozen=True)
class FliteSpec:
    """Everything needed to render one flite utterance; drawn before dispatch.

    Units: ``duration_stretch`` factor (> 1 slower); ``f0_mean``, ``f0_stddev`` Hz (None: the
    voice's own); ``tract_factor`` formant factor; ``rt60`` s (None: dry); ``peak_db`` dBFS;
    ``snr_db`` dB (``noise`` ``"none"``, ``"white"`` or ``"pink"``); ``pad_start``/``pad_end`` s.
    """

    index: int
    split: str
    wav: str
    transcript: str
    voice: str
    duration_stretch: float
    f0_mean: float | None
    f0_stddev: float | None
    tract_factor: float
    rt60: float | None
    peak_db: float
    noise: str
    snr_db: float | None
    pad_start: float
    pad_end: float
    seed: int
    engine: str = "flite"


def _draw(seed: int, index: int, split: str, width: int, voices: Sequence[str], vocab, cdf,
          avoid: set[str]) -> FliteSpec:
    rng = np.random.default_rng([seed, _TAG_FLITE_UTTERANCE, index])
    text = make_text(rng, vocab, cdf)
    while text in avoid:
        text = make_text(rng, vocab, cdf)
    voice = pick(rng, list(voices))
    default_f0 = FLITE_DEFAULT_F0[voice]
    f0_mean = round(default_f0 * float(rng.uniform(0.8, 1.6)), 2) if default_f0 else None
    stddev_fraction = float(rng.uniform(0.05, 0.25))
    reverb, rt60 = rng.random() < 0.5, round(float(rng.uniform(0.15, 0.7)), 3)
    noisy = rng.random() >= 0.25
    return FliteSpec(
        index=index, split=split, wav=f"wav/{index:0{width}d}.wav", transcript=text, voice=voice,
        duration_stretch=round(float(rng.uniform(0.8, 1.25)), 4),
        f0_mean=f0_mean,
        f0_stddev=round(stddev_fraction * f0_mean, 2) if f0_mean and voice in _F0_STDDEV_VOICES else None,
        tract_factor=round(float(rng.uniform(0.88, 1.18)), 4),
        rt60=rt60 if reverb else None,
        peak_db=round(float(rng.uniform(-18.0, -1.0)), 2),
        noise=str(rng.choice(["white", "pink"])) if noisy else "none",
        snr_db=round(float(rng.uniform(10.0, 40.0)), 2) if noisy else None,
        pad_start=round(float(rng.uniform(0.05, 0.35)), 3),
        pad_end=round(float(rng.uniform(0.05, 0.35)), 3),
        seed=int(rng.integers(1, 2**31 - 1)),
    )


def flite_split_voices(test_voices: Sequence[str]) -> dict[str, list[str]]:
    """Voices per split: train and dev the voices not held out, test every voice."""
    unknown = sorted(set(test_voices) - set(FLITE_VOICES))
    if unknown:
        raise ParameterError(f"flite_test_voices: flite has no English voice {unknown[0]!r} "
                             f"(voices: {', '.join(FLITE_VOICES)})")
    seen = [v for v in FLITE_VOICES if v not in test_voices]
    if not seen or not test_voices:
        raise ParameterError(f"flite_test_voices: hold out at least one flite voice and train on at least one "
                             f"(got {', '.join(test_voices) or 'none'})")
    return {"train": seen, "dev": seen, "test": list(FLITE_VOICES)}


def plan_flite(n_utterances: int, seed: int, dev_fraction: float, test_fraction: float, vocab: Sequence[str],
               first_index: int, test_voices: Sequence[str] = ("slt",), train_texts: set[str] = frozenset(),
               held_out_texts: set[str] = frozenset(), width: int = 6) -> list[FliteSpec]:
    """Draw ``n_utterances`` flite utterances at indices ``first_index, ...`` (train, then dev, then test).

    Sentences: test and dev ones avoid ``train_texts`` and ``held_out_texts`` (other engines'
    train and dev/test sentences) and each other; train ones avoid every held-out
    sentence of every engine. So no sentence of a dev or test split, of any engine, is
    ever trained on, and an engine's dev and test sets share no sentence with another's.
    """
    voices = flite_split_voices(test_voices)
    cdf = word_cdf(len(vocab))
    return plan_held_out_first(lambda index, split, avoid: _draw(seed, index, split, width, voices[split], vocab, cdf,
                                                                 avoid),
                               n_utterances, dev_fraction, test_fraction, first_index, train_texts, held_out_texts)


def render_flite_aligned(spec: FliteSpec) -> tuple[np.ndarray, SpokenAlignment]:
    """Synthesize and augment one flite utterance: float32 ``[N]`` at 16 kHz in [-1, 1) and its alignment.

    Order: flite (F0 target / tract factor, duration stretch * tract factor) -> tract-length
    resampling to 16 kHz -> reverberation -> level -> padding -> noise at ``snr_db`` over the
    speech -> scaled down if it would clip.
    """
    tract = spec.tract_factor
    speech = flite_synthesize(spec.transcript, spec.voice, spec.duration_stretch * tract,
                              spec.f0_mean / tract if spec.f0_mean else None,
                              spec.f0_stddev / tract if spec.f0_stddev else None)
    audio = change_tract_length(speech.audio, speech.sample_rate, tract)
    if not np.any(audio):
        raise EngineError(f"flite produced silence for {spec.transcript!r} with voice {spec.voice!r}")
    audio, pad0, n_speech = place_in_recording(audio, spec.rt60, spec.peak_db, spec.pad_start, spec.pad_end,
                                               spec.noise, spec.snr_db, np.random.default_rng(spec.seed))
    words = spec.transcript.split()
    labels = [label for label, _ in speech.phones]
    owners = word_spans(labels, flite_phones_by_word(words))
    speech_seconds = n_speech / SAMPLE_RATE
    clipped = [(label, min(end / tract, speech_seconds)) for label, end in speech.phones]
    if clipped:  # the last phone ends where the speech does (a diphone voice stops mid-pause)
        clipped[-1] = (clipped[-1][0], speech_seconds)
    word_intervals, phone_intervals = flite_intervals(clipped, words, owners, 1.0, pad0 / SAMPLE_RATE)
    _, unknown = fold_phones(labels)
    return audio.astype(np.float32), SpokenAlignment(len(audio) / SAMPLE_RATE, word_intervals, phone_intervals, unknown)

