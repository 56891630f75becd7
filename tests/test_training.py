import json

import numpy as np
import pytest

from deepspeech_audio_features import ParameterError, load_model
from deepspeech_audio_features.app.cli import build_parser, train_config_from_args
from deepspeech_audio_features.speech.audio import write_wav
from deepspeech_audio_features.speech.batching import length_batches, pad_batch
from deepspeech_audio_features.synth.options import TrainConfig
from deepspeech_audio_features.synth.training import load_features, train


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    """Six 'utterances': tones whose pitch encodes a one-letter transcript, plus a bad file."""
    root = tmp_path_factory.mktemp("corpus")
    rows = []
    for i, word in enumerate(["a", "b", "a", "b", "a", "b"]):
        t = np.arange(12000) / 16000
        f0 = 300 if word == "a" else 1200
        write_wav(root / f"{i}.wav", 0.3 * np.sin(2 * np.pi * f0 * t) * (t > 0.2) * (t < 0.55))
        rows.append(f"{i}.wav,1,{word}")
    (root / "bad.wav").write_bytes(b"junk")
    rows.append("bad.wav,4,a")
    (root / "train.csv").write_text("wav_filename,wav_filesize,transcript\n" + "\n".join(rows) + "\n")
    return root


def config(corpus, out, **kw):
    base = dict(train=str(corpus / "train.csv"), dev=str(corpus / "train.csv"), out=str(out), n_hidden=16,
                batch_size=2, learning_rate=3e-3, dropout=0.0, epochs=2, patience=5, seed=1)
    base.update(kw)
    return TrainConfig(**base)


def test_features_skip_bad_files_and_cache(tiny_corpus, tmp_path):
    data = load_features(str(tiny_corpus / "train.csv"), tmp_path, progress=False)
    assert len(data) == 6 and len(data.skipped) == 1 and "bad.wav" in data.skipped[0]
    again = load_features(str(tiny_corpus / "train.csv"), tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    np.testing.assert_array_equal(again.mfccs[3], data.mfccs[3])


def test_length_batches_cover_everything_once():
    lengths = [5, 1, 9, 3, 7, 2, 8]
    batches = length_batches(lengths, 3, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(7))
    x, n = pad_batch([np.ones((2, 3)), np.ones((4, 3))])
    assert x.shape == (2, 4, 3) and n.tolist() == [2, 4] and x[0, 2:].sum() == 0


def test_training_lowers_loss_keeps_best_and_resumes_identically(tiny_corpus, tmp_path):
    full = train(config(tiny_corpus, tmp_path / "full", epochs=4), progress=False)
    log = [json.loads(line) for line in (tmp_path / "full" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 4 and log[-1]["train_loss"] < log[0]["train_loss"]
    best = load_model(tmp_path / "full" / "best")
    assert best.n_hidden == 16 and full["epochs"] == 4
    # Interrupted after 2 epochs, then resumed: the same weights as running 4 in one go.
    train(config(tiny_corpus, tmp_path / "split", epochs=2), progress=False)
    train(config(tiny_corpus, tmp_path / "split", epochs=4), progress=False)
    a = load_model(tmp_path / "full" / "last").official_weights()
    b = load_model(tmp_path / "split" / "last").official_weights()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6)


def test_error_rates_count_edits_and_refuse_an_empty_set():
    import pytest

    from deepspeech_audio_features.synth.training import error_rates

    # 1 substitution in 7 characters; 1 of 2 words wrong
    assert error_rates(["the cat"], ["the cot"]) == {"cer": pytest.approx(1 / 7), "wer": pytest.approx(1 / 2)}
    with pytest.raises(ValueError, match="no utterances"):
        error_rates([], [])


def test_voice_perturbation_changes_training_and_still_resumes_identically(tiny_corpus, tmp_path):
    perturbed = dict(frequency_warp=0.15, equalizer_db=6.0, echo_probability=0.5)
    train(config(tiny_corpus, tmp_path / "perturbed", epochs=2, **perturbed), progress=False)
    train(config(tiny_corpus, tmp_path / "plain", epochs=2), progress=False)
    shared = str(tmp_path / "cache")  # a features cache outside the run folder, as `make train`'s second stage uses
    train(config(tiny_corpus, tmp_path / "split", epochs=1, features_cache=shared, **perturbed), progress=False)
    train(config(tiny_corpus, tmp_path / "split", epochs=2, features_cache=shared, **perturbed), progress=False)
    assert not (tmp_path / "split" / "features").exists() and len(list((tmp_path / "cache").glob("*.npz"))) == 1
    a, b, c = (load_model(tmp_path / run / "last").official_weights() for run in ("perturbed", "split", "plain"))
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(a[name], c[name]) for name in a)


# --- options: TrainConfig is the one home of the defaults ------------------------------

REQUIRED = ["train", "--train", "a.csv", "--dev", "b.csv", "--out", "o"]


def test_cli_train_defaults_are_train_configs(capsys):
    config = train_config_from_args(build_parser().parse_args(REQUIRED))
    assert config == TrainConfig(train="a.csv", dev="b.csv", out="o")
    assert config.n_hidden == 384  # the embedded model's width (make train, the model card)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--n-hidden N_HIDDEN width of the hidden layers (the embedded model's: 384) (default: 384)" in help_text


def test_cli_train_flags_keep_their_names_and_meaning():
    flags = ["--n-hidden", "64", "--batch-size", "8", "--learning-rate", "5e-4", "--dropout", "0.1", "--epochs", "2",
             "--patience", "3", "--lr-decay", "0.25", "--max-minutes", "0.5", "--seed", "7", "--init-checkpoint", "c",
             "--features-cache", "f", "--frequency-warp", "0.1", "--equalizer-db", "6", "--echo-probability", "0.3",
             "--frequency-masks", "2", "--frequency-mask-bands", "5", "--time-masks", "1", "--time-mask-frames", "9"]
    config = train_config_from_args(build_parser().parse_args(REQUIRED + flags))
    assert config == TrainConfig(train="a.csv", dev="b.csv", out="o", n_hidden=64, batch_size=8, learning_rate=5e-4,
                                 dropout=0.1, epochs=2, patience=3, lr_decay=0.25, max_minutes=0.5, seed=7,
                                 init_checkpoint="c", features_cache="f", frequency_warp=0.1, equalizer_db=6.0,
                                 echo_probability=0.3, frequency_masks=2, frequency_mask_bands=5, time_masks=1,
                                 time_mask_frames=9)


@pytest.mark.parametrize("flag, value, name", [
    ("--n-hidden", "0", "n_hidden"), ("--learning-rate", "0", "learning_rate"), ("--dropout", "1", "dropout"),
    ("--lr-decay", "1.5", "lr_decay"), ("--echo-probability", "2", "echo_probability"), ("--max-minutes", "-1", "max_minutes"),
    ("--frequency-masks", "-1", "frequency_masks"), ("--frequency-mask-bands", "41", "frequency_mask_bands"),
    ("--time-mask-frames", "0", "time_mask_frames"),
])
def test_a_bad_training_option_names_itself(flag, value, name):
    with pytest.raises(ParameterError, match=name):
        train_config_from_args(build_parser().parse_args(REQUIRED + [flag, value]))
    with pytest.raises(ParameterError, match=name):
        TrainConfig.from_dict({"train": "a.csv", "dev": "b.csv", "out": "o", name: float(value)})


def test_train_config_round_trips_through_json():
    config = TrainConfig(train="a.csv", dev="b.csv", out="o", max_minutes=3.0, init_checkpoint="c")
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ParameterError, match="out"):
        TrainConfig(train="a.csv", dev="b.csv", out="")
