"""The eSpeak NG corpus generator: synthesis, text, held-out splits, determinism, resume, CSVs."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from deepspeech_audio_features.speech.alphabet import ALPHABET
from deepspeech_audio_features.synth.corpus import CSV_HEADER, read_corpus_csv, synthesize_corpus
from deepspeech_audio_features.synth.espeak import ESpeakSynthesizer
from deepspeech_audio_features.synth.noise import add_noise, pink_noise
from deepspeech_audio_features.synth.plan import plan_corpus, split_voice_variants
from deepspeech_audio_features.synth.render import render_utterance
from deepspeech_audio_features.synth.text import build_vocabulary
from deepspeech_audio_features.synth.voices import list_english_voices, list_voice_variants, mix_voice_variants

N = 16
SEED = 3
FRACTIONS = dict(dev_fraction=0.2, test_fraction=0.25)  # 16 -> 9 train, 3 dev, 4 test


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "c"
    summary = synthesize_corpus(out, N, seed=SEED, workers=2, progress=False, **FRACTIONS)
    assert summary["utterances"] == {"train": 9, "dev": 3, "test": 4}
    assert summary["synthesized"] == N and summary["reused"] == 0
    return out


def _rows(csv_path: Path) -> list[dict]:
    with open(csv_path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _file_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "corpus.json"}


# --- eSpeak -------------------------------------------------------------------------

def test_known_word_has_plausible_duration_and_energy():
    synth = ESpeakSynthesizer()
    assert synth is ESpeakSynthesizer()  # one library state per process
    word = synth.synthesize("hello", "en-us")
    sentence = synth.synthesize("hello there, this is a much longer sentence to say", "en-us")
    assert word.dtype == np.float32 and word.ndim == 1
    assert 0.25 < word.shape[0] / 16000 < 1.5  # "hello" at 175 words/min, 16 kHz
    assert np.sqrt(np.mean(word**2)) > 0.01
    assert sentence.shape[0] > 3 * word.shape[0]
    fast = synth.synthesize("hello there, this is a much longer sentence to say", "en-us", rate=350)
    assert fast.shape[0] < 0.75 * sentence.shape[0]
    quicker = synth.synthesize("hello", "en-us", speed=1.1)
    assert quicker.shape[0] == pytest.approx(word.shape[0] / 1.1, rel=0.02)


def test_isolated_synthesis_is_repeatable_and_seed_matters():
    synth = ESpeakSynthesizer()
    a = synth.synthesize_native("the quick brown fox", "en-us+whisper", seed=5)
    synth.synthesize_native("something else in between", "en-gb-x-rp+klatt4", seed=9)
    b = synth.synthesize_native("the quick brown fox", "en-us+whisper", seed=5)
    c = synth.synthesize_native("the quick brown fox", "en-us+whisper", seed=6)
    assert a.dtype == np.int16 and a.size > 0.5 * synth.native_rate
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)  # breath noise follows the seed


def test_unknown_voice_is_an_error():
    with pytest.raises(RuntimeError, match="no voice"):
        ESpeakSynthesizer().synthesize("hello", "xx-not-a-voice")


def test_voices_are_listed_from_the_data():
    variants = list_voice_variants()
    voices = list_english_voices()
    assert len(variants) >= 20 and {"m3", "f2"} <= set(variants)
    assert {"en-us", "en-gb-scotland"} <= set(voices) and all(v.startswith("en") for v in voices)


# --- text ---------------------------------------------------------------------------

def test_vocabulary_is_broad_and_speakable():
    vocab = build_vocabulary()
    assert len(vocab) == 20000 and len(set(vocab)) == 20000
    assert vocab[:3] == ("the", "to", "and")
    assert {"don't", "a", "i", "remember"} <= set(vocab)
    # spelled out, expanded, Roman numerals, single letters
    assert not {"fbi", "ok", "usa", "etc", "mr", "xiv", "s", "b", "linkedin"} & set(vocab)
    assert all(set(w) <= set(ALPHABET) - {" "} for w in vocab)


def test_plan_holds_out_voices_and_sentences_even_with_collisions():
    # Two words make colliding sentences likely, so the hold-out has work to do.
    specs = plan_corpus(300, seed=1, dev_fraction=0.1, test_fraction=0.1, vocab=("yes", "no"))
    by_split = {s: [u for u in specs if u.split == s] for s in ("train", "dev", "test")}
    assert [len(by_split[s]) for s in ("train", "dev", "test")] == [240, 30, 30]
    texts = {s: {u.transcript for u in by_split[s]} for s in by_split}
    assert not texts["test"] & texts["train"] and not texts["dev"] & texts["train"]
    assert not texts["test"] & texts["dev"]
    variants = {s: {u.voice.split("+", 1)[1] for u in by_split[s]} for s in by_split}
    held = split_voice_variants(list_voice_variants(), 1)
    for s in by_split:
        assert variants[s] <= set(held[s])
    assert not set(held["test"]) & set(held["train"]) and not set(held["dev"]) & set(held["train"])
    for u in specs:
        words = u.transcript.split()
        assert 2 <= len(words) <= 10 and set(u.transcript) <= set(ALPHABET)
        assert all(len(w) > 1 or w in ("a", "i") for w in words)


def test_plan_is_deterministic_per_seed():
    a = plan_corpus(50, seed=11)
    assert a == plan_corpus(50, seed=11)
    b = plan_corpus(50, seed=12)
    assert [u.transcript for u in a] != [u.transcript for u in b]


# --- augmentation -------------------------------------------------------------------

@pytest.mark.parametrize("color", ["white", "pink"])
def test_noise_is_added_at_the_requested_snr(color):
    rng = np.random.default_rng(0)
    speech = (0.3 * np.sin(np.arange(32000) * 0.05)).astype(np.float32)
    noisy = add_noise(speech, 15.0, color, rng)
    noise = noisy - speech
    snr = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))
    assert snr == pytest.approx(15.0, abs=0.3)


def test_pink_noise_has_more_low_than_high_frequency_power():
    x = pink_noise(2**15, np.random.default_rng(1))
    power = np.abs(np.fft.rfft(x)) ** 2
    low, high = power[10:200].mean(), power[-4000:].mean()
    assert low > 30 * high  # 1/f: about 100x between these bands
    assert np.sqrt(np.mean(x**2)) == pytest.approx(1.0, rel=1e-3)


# --- the corpus on disk -------------------------------------------------------------

def test_csvs_are_valid_and_match_the_wavs(corpus_dir):
    total = 0
    for split in ("train", "dev", "test"):
        path = corpus_dir / f"{split}.csv"
        assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(CSV_HEADER)
        for row in _rows(path):
            wav = corpus_dir / row["wav_filename"]
            assert int(row["wav_filesize"]) == wav.stat().st_size
            text = row["transcript"]
            assert text and set(text) <= set(ALPHABET) and text == " ".join(text.split())
            info = sf.info(str(wav))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            audio, _ = sf.read(str(wav), dtype="float32")
            assert audio.shape[0] > 0.4 * 16000
            assert np.sqrt(np.mean(audio**2)) > 1e-3 and np.abs(audio).max() > 0.05
            total += 1
    assert total == N


def test_csv_transcripts_follow_the_plan_and_test_is_held_out(corpus_dir):
    specs = plan_corpus(N, seed=SEED, **FRACTIONS)
    recipe = json.loads((corpus_dir / "corpus.json").read_text())
    assert recipe["status"] == "complete" and recipe["seed"] == SEED
    voices = {s: set(recipe["splits"][s]["voice_variants"]) for s in ("train", "dev", "test")}
    assert not voices["test"] & voices["train"] and not voices["dev"] & voices["train"]
    assert not voices["test"] & voices["dev"]
    texts = {}
    for split in ("train", "dev", "test"):
        rows = _rows(corpus_dir / f"{split}.csv")
        planned = [u for u in specs if u.split == split]
        assert [(r["wav_filename"], r["transcript"]) for r in rows] == [(u.wav, u.transcript) for u in planned]
        assert all(u.voice.split("+", 1)[1] in voices[split] for u in planned)
        texts[split] = {r["transcript"] for r in rows}
        assert recipe["splits"][split]["hours"] > 0
    assert not texts["test"] & texts["train"] and not texts["dev"] & texts["train"]


def test_same_seed_gives_identical_corpus_whatever_the_workers(corpus_dir, tmp_path):
    again = tmp_path / "again"
    synthesize_corpus(again, N, seed=SEED, workers=1, progress=False, **FRACTIONS)
    assert _file_bytes(again) == _file_bytes(corpus_dir)


def test_different_seed_gives_different_corpus(corpus_dir, tmp_path):
    other = tmp_path / "other"
    synthesize_corpus(other, N, seed=SEED + 1, workers=2, progress=False, **FRACTIONS)
    a = [r["transcript"] for r in _rows(corpus_dir / "train.csv")]
    b = [r["transcript"] for r in _rows(other / "train.csv")]
    assert a != b
    assert (other / "wav" / "000000.wav").read_bytes() != (corpus_dir / "wav" / "000000.wav").read_bytes()


def test_rerun_reuses_valid_wavs_and_redoes_missing_or_broken_ones(corpus_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(corpus_dir, copy)
    before = _file_bytes(copy)
    (copy / "wav" / "000002.wav").unlink()
    (copy / "wav" / "000005.wav").write_bytes(b"not a wav")
    truncated = copy / "wav" / "000007.wav"  # header intact, samples cut: libsndfile reads it as a shorter wav
    truncated.write_bytes(truncated.read_bytes()[:100])
    summary = synthesize_corpus(copy, N, seed=SEED, workers=1, progress=False, **FRACTIONS)
    assert (summary["synthesized"], summary["reused"]) == (3, N - 3)
    assert _file_bytes(copy) == before
    # a corpus.json from another plan means the wavs cannot be trusted: all are redone
    recipe = json.loads((copy / "corpus.json").read_text())
    recipe["plan_sha256"] = "0" * 64
    (copy / "corpus.json").write_text(json.dumps(recipe))
    summary = synthesize_corpus(copy, N, seed=SEED, workers=2, progress=False, **FRACTIONS)
    assert (summary["synthesized"], summary["reused"]) == (N, 0)
    assert _file_bytes(copy) == before


def test_read_corpus_csv_resolves_paths_and_reports_missing_files(corpus_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(corpus_dir, copy)
    rows, problems = read_corpus_csv(copy / "test.csv")
    assert problems == [] and len(rows) == 4
    assert all(Path(p).is_absolute() and Path(p).is_file() for p, _ in rows)
    missing = Path(rows[1][0])
    missing.unlink()
    rows2, problems2 = read_corpus_csv(copy / "test.csv")
    assert [r[0] for r in rows2] == [r[0] for i, r in enumerate(rows) if i != 1]
    assert len(problems2) == 1 and "missing file" in problems2[0] and str(missing) in problems2[0]
    (copy / "bad.csv").write_text("path,text\nx.wav,hi\n")
    with pytest.raises(ValueError, match="wav_filename"):
        read_corpus_csv(copy / "bad.csv")


def test_mixed_voices_join_train_only_and_are_really_spoken(corpus_dir, tmp_path):
    import dataclasses

    mixed = tmp_path / "mixed"
    summary = synthesize_corpus(mixed, N, seed=SEED, workers=2, progress=False, mixed_voices=150, **FRACTIONS)
    assert summary["failed"] == 0 and summary["utterances"] == {"train": 9, "dev": 3, "test": 4}
    # Dev, test and every transcript are exactly those of the corpus without mixed voices.
    for split in ("dev", "test"):
        assert _rows(mixed / f"{split}.csv") == _rows(corpus_dir / f"{split}.csv")
        for row in _rows(mixed / f"{split}.csv"):
            assert (mixed / row["wav_filename"]).read_bytes() == (corpus_dir / row["wav_filename"]).read_bytes()
    assert [r["transcript"] for r in _rows(mixed / "train.csv")] == [r["transcript"] for r in _rows(corpus_dir / "train.csv")]
    held = split_voice_variants(list_voice_variants(), SEED)
    voices = mix_voice_variants(held["train"], 150, SEED)
    recipe = json.loads((mixed / "corpus.json").read_text())
    assert set(recipe["splits"]["train"]["voice_variants"]) == set(held["train"]) | set(voices)
    specs = plan_corpus(N, seed=SEED, mixed_variants=list(voices), **FRACTIONS)
    spec = next(u for u in specs if "+mix" in u.voice)
    # eSpeak ignores an unknown variant silently: the mixed voice must sound unlike its base voice alone.
    plain = render_utterance(dataclasses.replace(spec, voice=spec.voice.split("+")[0]))
    spoken, _ = sf.read(str(mixed / spec.wav), dtype="float32")
    assert len(plain) != len(spoken) or np.abs(plain - spoken).max() > 0.05
    # Lines are only ever taken from train variants (formant frequencies rescaled).
    data = Path(ESpeakSynthesizer().data_path) / "voices" / "!v"
    donor_lines = {" ".join(line.split("//")[0].split()) for v in held["train"]
                   for line in (data / v).read_text(encoding="utf-8", errors="replace").splitlines()}
    for text in voices.values():
        for line in text.splitlines()[2:]:
            assert line.startswith("formant") or line in donor_lines
    with pytest.raises(ValueError, match="at most"):
        synthesize_corpus(tmp_path / "too-many", N, seed=SEED, workers=1, progress=False, mixed_voices=400, **FRACTIONS)


def test_extra_train_adds_new_sentences_and_keeps_the_rest(corpus_dir, tmp_path):
    base = plan_corpus(60, seed=SEED)
    more = plan_corpus(60, seed=SEED, extra_train=40)
    assert more[:60] == base and all(u.split == "train" for u in more[60:])
    earlier = {u.transcript for u in base}
    extra = [u.transcript for u in more[60:]]
    assert len(set(extra)) == 40 and not set(extra) & earlier
    held = split_voice_variants(list_voice_variants(), SEED)
    assert all(u.voice.split("+", 1)[1] in held["train"] for u in more[60:])
    bigger = tmp_path / "bigger"
    summary = synthesize_corpus(bigger, N, seed=SEED, workers=2, progress=False, extra_train=3, **FRACTIONS)
    assert summary["utterances"] == {"train": 12, "dev": 3, "test": 4} and summary["failed"] == 0
    assert _rows(bigger / "train.csv")[:9] == _rows(corpus_dir / "train.csv")
    for split in ("dev", "test"):
        assert _rows(bigger / f"{split}.csv") == _rows(corpus_dir / f"{split}.csv")


# --- options: CorpusOptions holds the defaults of the corpus command and synthesize_corpus ---

def test_cli_corpus_options_are_corpus_options():
    from deepspeech_audio_features.app.cli import build_parser
    from deepspeech_audio_features.synth.options import CorpusOptions

    args = build_parser().parse_args(["corpus", "--out", "c"])
    assert CorpusOptions.from_args(args) == CorpusOptions() and CorpusOptions().n_utterances == 15000
    args = build_parser().parse_args(["corpus", "--out", "c", "--utterances", "40", "--seed", "2", "--mixed-voices", "5",
                                      "--extra-train", "8"])
    assert CorpusOptions.from_args(args) == CorpusOptions(n_utterances=40, seed=2, mixed_voices=5, extra_train=8)


@pytest.mark.parametrize("values, name", [({"n_utterances": 0}, "n_utterances"), ({"dev_fraction": 1.0}, "dev_fraction"),
                                          ({"mixed_voices": -1}, "mixed_voices"), ({"extra_train": -2}, "extra_train")])
def test_a_bad_corpus_option_names_itself_before_anything_is_written(tmp_path, values, name):
    from deepspeech_audio_features import ParameterError

    args = {"n_utterances": 10, **values}
    with pytest.raises(ParameterError, match=name):
        synthesize_corpus(tmp_path / "c", progress=False, **args)
    assert not (tmp_path / "c").exists()


def test_the_synth_modules_and_the_cli_parser_do_not_start_tensorflow():
    import subprocess
    import sys

    modules = ["espeak", "voices", "text", "plan", "noise", "render", "workers", "corpus", "options"]
    code = ("import sys, importlib; from deepspeech_audio_features.app.cli import build_parser; build_parser(); "
            f"[importlib.import_module('deepspeech_audio_features.synth.' + m) for m in {modules!r}]; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False"
