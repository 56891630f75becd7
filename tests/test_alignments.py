"""Word and phone alignments: eSpeak's events against the audio and the transcript, the phone
table, TextGrids beside a dataset, and per-frame labels."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from deepspeech_audio_features.infra.errors import FileFormatError
from deepspeech_audio_features.speech.alignments import (
    Alignment,
    Interval,
    frame_char_labels,
    frame_phone_labels,
    frame_word_labels,
    read_alignments,
    read_textgrid,
    write_textgrid,
)
from deepspeech_audio_features.speech.alphabet import ALPHABET
from deepspeech_audio_features.speech.audio import write_wav
from deepspeech_audio_features.speech.phones import PHONE_CLASSES, fold_phone, fold_phones
from deepspeech_audio_features.synth.espeak import ESpeakSynthesizer
from deepspeech_audio_features.synth.phonemes import ESPEAK_TO_TIMIT, events_to_intervals
from deepspeech_audio_features.synth.plan import UtteranceSpec
from deepspeech_audio_features.synth.render import render_utterance, render_utterance_aligned
from deepspeech_audio_features.synth.voices import list_english_voices

RATE = 16000
TEXT = "the weather was cold and the children stayed inside"


def _spec(text=TEXT, voice="en-us", word_gap=4, speed=1.1, pad_start=0.25, noise="none") -> UtteranceSpec:
    return UtteranceSpec(index=0, split="test", wav="x.wav", transcript=text, voice=voice, rate=160, pitch=50,
                         pitch_range=50, word_gap=word_gap, speed=speed, peak_db=-3.0, noise=noise,
                         snr_db=30.0 if noise != "none" else None, pad_start=pad_start, pad_end=0.2, seed=5)


def _rms(audio: np.ndarray, start: float, end: float) -> float:
    piece = audio[int(start * RATE):int(end * RATE)]
    return float(np.sqrt(np.mean(piece.astype(np.float64) ** 2))) if piece.size else 0.0


# --- events and the phone table ---------------------------------------------------------------
def test_events_do_not_change_the_audio_and_come_in_order():
    synth = ESpeakSynthesizer()
    pcm, events = synth.synthesize_native_aligned(TEXT, "en-us", seed=1)
    assert np.array_equal(pcm, synth.synthesize_native(TEXT, "en-us", seed=1))
    samples = [e.sample for e in events]
    assert samples == sorted(samples) and 0 <= samples[0] and samples[-1] <= len(pcm)
    assert [TEXT[e.text_start:e.text_start + e.text_length] for e in events if e.kind == "word"] == TEXT.split()
    assert [e.name.lstrip("'") for e in events if e.kind == "phoneme"][:2] == ["D", "@2"]  # "the"


@pytest.mark.parametrize("voice", list_english_voices())
def test_every_english_voice_uses_only_mapped_mnemonics(voice):
    text = "thirty three dollars and fifty eight cents worthy airline backyard hurry theory iraqi burlington loch"
    _, events = ESpeakSynthesizer().synthesize_native_aligned(text, voice, isolated=False)
    names = {e.name.lstrip("',") for e in events if e.kind == "phoneme"}
    assert names - set(ESPEAK_TO_TIMIT) == set()
    assert all(fold_phone(ESPEAK_TO_TIMIT[n]) in PHONE_CLASSES + (None,) for n in names)


def test_an_unknown_mnemonic_is_counted_and_labelled_not_dropped():
    from deepspeech_audio_features.synth.espeak import SpeechEvent

    events = [SpeechEvent("word", 0, 0, 2), SpeechEvent("phoneme", 0, name="h"), SpeechEvent("phoneme", 100, name="Q7")]
    words, phones, espeak, unknown = events_to_intervals(events, "hq", 300, 100.0)
    assert unknown == {"Q7": 1}
    assert [p.label for p in phones] == ["hh", "spn"] and [p.label for p in espeak] == ["h", "Q7"]
    assert phones[1] == Interval(1.0, 3.0, "spn") and words == [Interval(0.0, 3.0, "hq")]


def test_folding_follows_timit_39_and_reads_mfa_labels():
    assert len(PHONE_CLASSES) == 39 and len(set(PHONE_CLASSES)) == 39
    assert [fold_phone(x) for x in ("ao", "AH0", "ix", "zh", "ux", "pau", "kcl", "", "sp", "EY1", "axr")] == [
        "aa", "ah", "ih", "sh", "uw", "sil", "sil", "sil", "sil", "ey", "er"]
    assert fold_phone("q") is None and fold_phone("spn") is None
    with pytest.raises(FileFormatError, match="'xx'"):
        fold_phone("xx")
    assert fold_phones(["aa", "xx", "xx"]) == (["aa", None, None], {"xx": 2})


# --- against the audio and the transcript -------------------------------------------------------
@pytest.fixture(scope="module")
def rendered():
    audio, alignment = render_utterance_aligned(_spec())
    return audio, alignment


def test_rendered_audio_is_the_same_with_and_without_alignment(rendered):
    assert np.array_equal(render_utterance(_spec()), rendered[0])


def test_words_tier_spells_the_transcript_and_phones_tile_the_speech(rendered):
    audio, alignment = rendered
    assert " ".join(w.label for w in alignment.words) == TEXT
    assert alignment.duration == pytest.approx(len(audio) / RATE)
    starts = [p.start for p in alignment.phones]
    assert starts == sorted(starts)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(alignment.phones, alignment.phones[1:]))
    assert alignment.phones[0].start == pytest.approx(0.25)  # after the leading padding
    assert all(w.start >= 0.25 - 1e-9 and w.end <= alignment.duration for w in alignment.words)


def test_pauses_are_quiet_and_words_start_at_energy_rises(rendered):
    audio, alignment = rendered
    speech = [p for p in alignment.phones if p.label != "pau"]
    pauses = [p for p in alignment.phones if p.label == "pau" and p.end - p.start > 0.03]
    assert len(pauses) >= 5  # word_gap=4: 40 ms gaps between words
    speech_rms = np.median([_rms(audio, p.start, p.end) for p in speech])
    # trim 10 ms at each side: the resampler's filter and eSpeak's fades spill over the edge
    pause_rms = np.median([_rms(audio, p.start + 0.01, p.end - 0.01) for p in pauses])
    assert pause_rms < 0.1 * speech_rms
    rises = 0
    for w in alignment.words[1:]:
        before, after = _rms(audio, w.start - 0.03, w.start - 0.005), _rms(audio, w.start + 0.005, w.start + 0.08)
        rises += after > 3 * before
    assert rises >= len(alignment.words) - 2  # a voiced start may carry over a little


@pytest.mark.parametrize("speed", [0.9, 1.1])
def test_speed_change_scales_the_times(speed):
    a1 = render_utterance_aligned(_spec(speed=1.0, pad_start=0.0, word_gap=0))[1]
    a2 = render_utterance_aligned(_spec(speed=speed, pad_start=0.0, word_gap=0))[1]
    s1, s2 = np.array([w.start for w in a1.words]), np.array([w.start for w in a2.words])
    np.testing.assert_allclose(s2, s1 / speed, atol=1e-6)


# --- TextGrids and datasets --------------------------------------------------------------------
def test_textgrid_round_trip_and_dataset_reader(rendered, tmp_path):
    audio, alignment = rendered
    write_wav(tmp_path / "a.wav", audio)
    write_wav(tmp_path / "b.wav", audio)
    write_wav(tmp_path / "c.wav", audio)
    alignment.write(tmp_path / "a.TextGrid")  # beside the wav
    alignment.write(tmp_path / "grids-b.TextGrid")  # named in the column
    with open(tmp_path / "d.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["wav_filename", "wav_filesize", "transcript", "textgrid"])
        w.writerow(["a.wav", 0, TEXT, ""])
        w.writerow(["b.wav", 0, TEXT, "grids-b.TextGrid"])
        w.writerow(["c.wav", 0, TEXT, ""])  # no TextGrid at all
    result = read_alignments(tmp_path / "d.csv")
    assert result.alignments[2] is None and "c.TextGrid" in result.problems[0]
    for got in result.alignments[:2]:
        assert got.transcript == TEXT
        assert [p.label for p in got.phones] == [p.label for p in alignment.phones]
        np.testing.assert_allclose([p.start for p in got.phones], [p.start for p in alignment.phones], atol=1e-6)
        assert got.unknown == {} and None not in got.phone_classes


def test_a_textgrid_without_a_words_tier_is_a_file_format_error(tmp_path):
    write_textgrid(tmp_path / "x.TextGrid", 1.0, [], [Interval(0, 1, "aa")])
    from praatio import textgrid

    grid = textgrid.openTextgrid(str(tmp_path / "x.TextGrid"), includeEmptyIntervals=False)
    grid.removeTier("words")
    grid.save(str(tmp_path / "y.TextGrid"), format="short_textgrid", includeBlankSpaces=True)
    with pytest.raises(FileFormatError, match="y.TextGrid.*'words'"):
        read_textgrid(tmp_path / "y.TextGrid")
    (tmp_path / "z.TextGrid").write_text("not a textgrid")
    with pytest.raises(FileFormatError, match="z.TextGrid"):
        read_textgrid(tmp_path / "z.TextGrid")


def test_frame_labels_use_deepspeech_frame_centres():
    phones = [Interval(0.0, 0.1, "pau"), Interval(0.1, 0.23, "AH0"), Interval(0.23, 0.3, "q"), Interval(0.3, 0.41, "s")]
    words = [Interval(0.1, 0.41, "us")]
    alignment = Alignment("x", 0.5, words, phones, *fold_phones(p.label for p in phones))
    n = 24
    centre = (np.arange(n) * 320 + 256) / 16000  # frame t covers samples [320t, 320t+512)
    expect = np.full(n, PHONE_CLASSES.index("sil"))
    expect[(centre >= 0.1) & (centre < 0.23)] = PHONE_CLASSES.index("ah")
    expect[(centre >= 0.23) & (centre < 0.3)] = -1
    expect[(centre >= 0.3) & (centre < 0.41)] = PHONE_CLASSES.index("s")
    np.testing.assert_array_equal(frame_phone_labels(alignment, n), expect)
    np.testing.assert_array_equal(frame_word_labels(alignment, n), np.where((centre >= 0.1) & (centre < 0.41), 0, -1))
    chars = frame_char_labels(alignment, n, ALPHABET)
    inside = (centre >= 0.1) & (centre < 0.41)
    half = 0.1 + 0.31 / 2
    np.testing.assert_array_equal(chars[inside], np.where(centre[inside] < half, ALPHABET.index("u"),
                                                          ALPHABET.index("s")))
    assert set(chars[~inside]) == {ALPHABET.index(" ")}


def test_corpus_writes_textgrids_and_align_adds_the_same_ones(tmp_path):
    from deepspeech_audio_features.synth.corpus import align_corpus, synthesize_corpus

    out = tmp_path / "c"
    synthesize_corpus(out, 6, seed=1, workers=1, progress=False, dev_fraction=0.2, test_fraction=0.2)
    grids = {p.name: p.read_bytes() for p in sorted((out / "wav").glob("*.TextGrid"))}
    wavs = {p.name: p.read_bytes() for p in sorted((out / "wav").glob("*.wav"))}
    assert len(grids) == len(wavs) == 6
    for p in (out / "wav").glob("*.TextGrid"):
        p.unlink()
    summary = align_corpus(out, workers=1, progress=False)
    assert summary["aligned"] == 6 and summary["failed"] == {}
    assert {p.name: p.read_bytes() for p in sorted((out / "wav").glob("*.TextGrid"))} == grids
    assert {p.name: p.read_bytes() for p in sorted((out / "wav").glob("*.wav"))} == wavs
    result = read_alignments(out / "train.csv")
    assert result.problems == [] and all(a.transcript == t for a, t in zip(result.alignments, result.transcripts))
    Path(out / "wav" / "000000.wav").write_bytes(b"RIFF")  # a wav that is not this plan's
    (out / "wav" / "000000.TextGrid").unlink()
    assert "000000.wav" in align_corpus(out, workers=1, progress=False)["failed"]["0"]
