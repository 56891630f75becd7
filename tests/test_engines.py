"""Synthesis engines (real flite, not mocked), their alignments, the multi-engine plan and the
waveform augmentation, each checked against an independent NumPy computation."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import require_flite
from reference import median_f0

from deepspeech_audio_features.speech.frames import SAMPLE_RATE
from deepspeech_audio_features.speech.phones import PHONE_CLASSES, fold_phone
from deepspeech_audio_features.synth import waveform

FRAME = 0.01  # s: one feature frame step


@pytest.fixture(scope="module")
def flite():
    """The engines module, once flite is known to be installed (see :func:`conftest.require_flite`)."""
    require_flite()
    from deepspeech_audio_features.synth import engines

    return engines


def _envelope(audio: np.ndarray, rate: int, hop: float = FRAME) -> np.ndarray:
    step = int(round(hop * rate))
    n = len(audio) // step
    return np.sqrt(np.mean(audio[:n * step].astype(np.float64).reshape(n, step) ** 2, axis=1))


SENTENCE = "the children stayed inside, and the weather was cold"


@pytest.mark.parametrize("voice", ["kal", "kal16", "awb", "rms", "slt"])
def test_each_flite_voice_speaks_with_phones_that_fit_the_audio(flite, voice):
    speech = flite.flite_synthesize(SENTENCE, voice)
    seconds = len(speech.audio) / speech.sample_rate
    assert speech.sample_rate == (8000 if voice == "kal" else 16000)
    labels = [label for label, _ in speech.phones]
    assert all(fold_phone(label) in PHONE_CLASSES for label in labels)  # every label folds to a TIMIT class
    ends = [end for _, end in speech.phones]
    assert ends == sorted(ends)
    # the last speech phone ends inside the audio; the final pause runs to (or, for a diphone voice, past) its end
    assert ends[-2] < seconds <= ends[-1] + FRAME
    envelope = _envelope(speech.audio, speech.sample_rate)
    # silence where flite reports its pauses: the first pause (minus 50 ms for the onset ramp) and the comma's
    starts = [0.0] + ends[:-1]
    pauses = [(s, e) for (label, e), s in zip(speech.phones, starts) if label == "pau" and e < ends[-1]]
    assert len(pauses) == 2  # the leading pause and the one at the comma
    speech_level = np.median(envelope[envelope > 0.1 * envelope.max()])
    for start, end in pauses:
        inside = envelope[int(start / FRAME) + 1:int((end - 0.05) / FRAME)]
        assert inside.size and inside.max() < 0.1 * speech_level, (voice, start, end, inside.max() / speech_level)


def test_word_spans_come_from_the_lexicon_despite_postlexical_changes(flite):
    words = "the apple is a fruit".split()
    pronunciations = flite.flite_phones_by_word(words)
    assert pronunciations[1] == ["ae", "p", "ax", "l"]
    spoken = ["pau", "dh", "iy", "ae", "p", "ax", "l", "ih", "z", "ax", "f", "r", "uw", "t", "pau"]  # "the" -> dh iy
    owners = flite.word_spans(spoken, pronunciations)
    assert owners == [None, 0, 0, 1, 1, 1, 1, 2, 2, 3, 4, 4, 4, 4, None]


def _spec(**changes):
    from deepspeech_audio_features.synth.flite import FliteSpec

    base = dict(index=0, split="test", wav="wav/000000.wav", transcript="six cold children stayed inside all day",
                voice="awb", duration_stretch=1.0, f0_mean=None, f0_stddev=None, tract_factor=1.0, rt60=None,
                peak_db=-3.0, noise="none", snr_db=None, pad_start=0.2, pad_end=0.1, seed=5)
    return dataclasses.replace(FliteSpec(**base), **changes)


@pytest.mark.parametrize("tract", [0.88, 1.0, 1.12])
def test_rendered_alignment_follows_the_audio_through_a_tempo_change(flite, tract):
    """The words and phones, written as a TextGrid, cover the speech; the tract-length resampling
    (which changes the tempo by 1 / factor before flite's compensation) moves them with the audio."""
    from deepspeech_audio_features.synth.flite import render_flite_aligned

    spec = _spec(tract_factor=tract, voice="kal16")
    audio, alignment = render_flite_aligned(spec)
    assert alignment.duration == pytest.approx(len(audio) / SAMPLE_RATE, abs=1e-9)
    speech_end = len(audio) / SAMPLE_RATE - spec.pad_end
    assert alignment.phones[0].start == pytest.approx(spec.pad_start, abs=1e-6)
    assert alignment.phones[-1].end == pytest.approx(speech_end, abs=FRAME)
    assert [w.label for w in alignment.words] == spec.transcript.split()
    # independent check: the unresampled flite audio's log envelope at time t matches the render's at
    # pad + t / f best for f = the tract factor (among 0.8-1.2 in steps of 0.02)
    raw = flite.flite_synthesize(spec.transcript, spec.voice, spec.duration_stretch * tract)
    raw_env = np.log(_envelope(raw.audio, raw.sample_rate) + 1e-4)
    t = np.arange(len(raw_env)) * FRAME
    rendered_env = np.log(_envelope(audio, SAMPLE_RATE, FRAME / 4) + 1e-4)
    factors = np.round(np.arange(0.8, 1.21, 0.02), 2)
    fits = [np.corrcoef(raw_env, rendered_env[np.minimum(((spec.pad_start + t / f) / (FRAME / 4)).astype(int),
                                                         len(rendered_env) - 1)])[0, 1] for f in factors]
    assert factors[int(np.argmax(fits))] == pytest.approx(tract, abs=0.011) and max(fits) > 0.85
    # and the phone boundaries are flite's divided by the factor, shifted by the padding
    flite_ends = np.array([end for _, end in raw.phones[:-1]])
    ours = np.array([p.end for p in alignment.phones[:-1]])
    np.testing.assert_allclose(ours, spec.pad_start + flite_ends / tract, atol=1e-6)


def test_tract_change_keeps_the_drawn_tempo_and_pitch(flite):
    """flite is asked for stretch * factor and F0 / factor, so after the resampling only the formants moved."""
    from deepspeech_audio_features.synth.flite import render_flite_aligned

    plain, _ = render_flite_aligned(_spec(voice="slt", f0_mean=170.0))
    longer, _ = render_flite_aligned(_spec(voice="slt", f0_mean=170.0, tract_factor=0.9))
    assert len(longer) == pytest.approx(len(plain), rel=0.03)
    assert median_f0(longer, SAMPLE_RATE) == pytest.approx(median_f0(plain, SAMPLE_RATE), rel=0.08)


@pytest.mark.parametrize("voice, target", [("awb", 100.0), ("slt", 200.0), ("kal16", 150.0)])
def test_flite_f0_target_sets_the_measured_pitch(flite, voice, target):
    speech = flite.flite_synthesize(SENTENCE, voice, f0_mean=target)
    assert median_f0(speech.audio, speech.sample_rate) == pytest.approx(target, rel=0.1)


def test_multi_engine_plan_holds_out_sentences_and_the_voice(flite, tmp_path):
    from deepspeech_audio_features.synth.corpus import _make_plan
    from deepspeech_audio_features.synth.options import CorpusOptions
    from deepspeech_audio_features.synth.plan import plan_corpus

    options = CorpusOptions(n_utterances=600, seed=4, dev_fraction=0.1, test_fraction=0.2,
                            engines="espeak:0.5,flite:0.5", extra_train=20)
    plan = _make_plan(tmp_path, options)
    espeak = [s for s in plan.specs if getattr(s, "engine", "espeak") == "espeak"]
    flite_specs = [s for s in plan.specs if getattr(s, "engine", "espeak") == "flite"]
    assert len(espeak) == 320 and len(flite_specs) == 300
    # the eSpeak part is exactly an eSpeak-only corpus of its count
    assert espeak == plan_corpus(300, 4, 0.1, 0.2, extra_train=20)
    assert [s.index for s in plan.specs] == list(range(620))
    assert len({s.wav for s in plan.specs}) == 620
    train = {s.transcript for s in plan.specs if s.split == "train"}
    for engine in (espeak, flite_specs):
        dev = {s.transcript for s in engine if s.split == "dev"}
        test = {s.transcript for s in engine if s.split == "test"}
        assert dev and test and not (dev & test) and not (dev & train) and not (test & train)
    voices = {split: {s.voice for s in flite_specs if s.split == split} for split in ("train", "dev", "test")}
    assert "slt" not in voices["train"] | voices["dev"] and "slt" in voices["test"]
    assert voices["train"] == {"kal", "kal16", "awb", "rms"}


def test_a_small_multi_engine_corpus_has_per_engine_splits(flite, tmp_path):
    import json

    from deepspeech_audio_features.synth.corpus import read_corpus_csv, read_speakers, synthesize_corpus

    espeak_only = synthesize_corpus(tmp_path / "espeak", 12, seed=1, dev_fraction=0.2, test_fraction=0.3, workers=1,
                                    progress=False)
    summary = synthesize_corpus(tmp_path, 24, seed=1, dev_fraction=0.2, test_fraction=0.3, workers=1, progress=False,
                                engines="espeak:0.5,flite:0.5", reuse_from=tmp_path / "espeak")
    # the eSpeak half is the eSpeak-only corpus of 12, taken from it rather than synthesized again
    assert summary["failed"] == 0 and summary["copied"] == 12 and summary["synthesized"] == 12
    for split in ("train", "dev", "test"):
        assert ((tmp_path / f"{split}-espeak.csv").read_text() == (tmp_path / "espeak" / f"{split}.csv").read_text())
    assert espeak_only["utterances"]["test"] == 4
    recipe = json.loads((tmp_path / "corpus.json").read_text())
    assert recipe["engines"]["flite"]["held_out_voices"] == ["slt"]
    speakers = read_speakers(tmp_path)
    for engine in ("espeak", "flite"):
        for split in ("train", "dev", "test"):
            rows, problems = read_corpus_csv(tmp_path / f"{split}-{engine}.csv")
            assert rows and not problems
            assert {speakers[path]["engine"] for path, _ in rows} == {engine}
            assert {speakers[path]["split"] for path, _ in rows} == {split}
    flite_train = [v for v in speakers.values() if v["engine"] == "flite" and v["split"] == "train"]
    assert all(not v["held_out"] for v in flite_train)
    # the flite TextGrids read back through the project's reader: every phone folds, words are the transcript's
    from deepspeech_audio_features.speech.alignments import read_alignments

    alignments = read_alignments(tmp_path / "test-flite.csv")
    assert not alignments.problems and not alignments.unknown
    for alignment, transcript in zip(alignments.alignments, alignments.transcripts):
        assert [w.label for w in alignment.words] == transcript.split()
        assert all(c is not None for c in alignment.phone_classes)


# ------------------------------------------------------------------ waveform augmentation vs NumPy
@pytest.mark.parametrize("color", ["white", "pink"])
@pytest.mark.parametrize("snr", [0.0, 12.5, 37.0])
def test_noise_has_the_requested_snr(color, snr):
    rng = np.random.default_rng(1)
    t = np.arange(32000) / SAMPLE_RATE
    speech = (0.2 * np.sin(2 * np.pi * 210 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    audio = np.concatenate([np.zeros(4000, np.float32), speech, np.zeros(2000, np.float32)])
    noisy = waveform.add_noise_at_snr(audio, snr, color, rng, speech=slice(4000, 4000 + speech.size))
    noise = noisy.astype(np.float64) - audio
    measured = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(noise[4000:4000 + speech.size] ** 2))
    assert measured == pytest.approx(snr, abs=0.1)
    assert np.mean(noise[:4000] ** 2) > 0  # the padding is noisy too


@pytest.mark.parametrize("rt60", [0.2, 0.5, 1.0])
def test_room_impulse_response_decays_60_db_in_rt60(rt60):
    """RT60 measured from the Schroeder decay (T20): each random room within 8%, their mean within 2%."""
    measured = []
    for seed in range(8):
        response = waveform.room_impulse_response(rt60, np.random.default_rng(seed)).astype(np.float64)
        assert response[0] == 1.0 and len(response) == round(rt60 * SAMPLE_RATE)
        tail = response[1:] ** 2
        schroeder = 10 * np.log10(np.cumsum(tail[::-1])[::-1] / tail.sum())  # backward-integrated energy, dB
        t = np.arange(tail.size) / SAMPLE_RATE
        band = (schroeder <= -5) & (schroeder >= -25)  # fit -5 to -25 dB, extrapolate to -60
        measured.append(-60.0 / np.polyfit(t[band], schroeder[band], 1)[0])
    np.testing.assert_allclose(measured, rt60, rtol=0.08)
    assert np.mean(measured) == pytest.approx(rt60, rel=0.02)


def test_reverberation_is_a_causal_convolution_of_the_same_length():
    rng = np.random.default_rng(3)
    audio = rng.standard_normal(5000).astype(np.float32)
    response = waveform.room_impulse_response(0.1, rng)
    wet = waveform.reverberate(audio, response)
    np.testing.assert_allclose(wet, np.convolve(audio.astype(np.float64), response.astype(np.float64))[:5000],
                               atol=1e-4)


@pytest.mark.parametrize("factor", [0.88, 1.12])
def test_tract_length_change_scales_every_frequency_and_duration(factor):
    t = np.arange(16000) / SAMPLE_RATE
    audio = (0.3 * np.sin(2 * np.pi * 500 * t) + 0.2 * np.sin(2 * np.pi * 2300 * t)).astype(np.float32)
    out = waveform.change_tract_length(audio, SAMPLE_RATE, factor)
    assert len(out) == round(16000 / factor)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    freqs = np.fft.rfftfreq(len(out), 1 / SAMPLE_RATE)
    peaks = sorted(freqs[np.argsort(spectrum)[-2:]])  # the two strongest bins
    np.testing.assert_allclose(peaks, [500 * factor, 2300 * factor], atol=2.0)


def test_evaluate_groups_error_rates_by_engine_and_voice(tmp_path):
    import jiwer

    from deepspeech_audio_features.app.cli.model_commands import error_rates_by_speaker

    paths = [str(tmp_path / f"{i}.wav") for i in range(4)]
    speakers = {paths[0]: {"engine": "espeak", "voice": "m3", "held_out": True, "split": "test"},
                paths[1]: {"engine": "flite", "voice": "slt", "held_out": True, "split": "test"},
                paths[2]: {"engine": "flite", "voice": "slt", "held_out": True, "split": "test"},
                paths[3]: {"engine": "flite", "voice": "kal", "held_out": False, "split": "test"}}
    refs = ["a cat", "the dog ran", "blue sky", "one two"]
    hyps = {"greedy": ["a cat", "the dig ran", "blue", "one tw"]}
    out = error_rates_by_speaker(paths, refs, hyps, speakers)
    assert out["by_engine"]["espeak"]["greedy"]["cer"] == 0.0
    assert out["by_engine"]["flite"]["utterances"] == 3
    assert out["by_voice"]["flite/slt"]["greedy"]["cer"] == pytest.approx(jiwer.cer(refs[1:3], hyps["greedy"][1:3]))
    assert out["by_voice"]["flite/slt"]["held_out"] and not out["by_voice"]["flite/kal"]["held_out"]
