import json

import numpy as np
import soundfile as sf

from deepspeech_audio_features import (
    DeepSpeech,
    random_weights,
    save_checkpoint,
    transcribe,
)
from deepspeech_audio_features.app.cli import main


def test_transcribe_command_matches_api_and_skips_bad_files(tmp_path, capsys, speechlike):
    model = DeepSpeech(random_weights(24, seed=2))
    save_checkpoint(model, tmp_path / "ckpt", step=3)
    good, bad = tmp_path / "good.wav", tmp_path / "bad.wav"
    sf.write(good, speechlike, 16000, subtype="PCM_16")
    bad.write_bytes(b"not audio at all")
    code = main(["transcribe", str(good), str(bad), "--checkpoint", str(tmp_path / "ckpt"), "--greedy", "--json"])
    out, err = capsys.readouterr()
    assert code == 0  # one good file is enough for success
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert len(lines) == 1 and lines[0]["path"] == str(good)
    assert lines[0]["text"] == transcribe(good, model, beam_width=1)
    assert f"skipped: {bad}: unreadable or not audio" in err


def test_missing_checkpoint_is_one_clear_line(tmp_path, capsys):
    code = main(["transcribe", str(tmp_path / "x.wav"), "--checkpoint", str(tmp_path / "none")])
    _, err = capsys.readouterr()
    assert code == 2 and err.strip().startswith("error:") and str(tmp_path / "none") in err
    assert len(err.strip().splitlines()) == 1


def test_lm_command_writes_arpa_from_csv(tmp_path, capsys):
    (tmp_path / "a.csv").write_text("wav_filename,wav_filesize,transcript\nx.wav,1,the cat sat\ny.wav,1,a dog\n")
    assert main(["lm", "--csv", str(tmp_path / "a.csv"), "--out", str(tmp_path / "lm.arpa")]) == 0
    text = (tmp_path / "lm.arpa").read_text()
    assert "ngram 1=8" in text and "\tcat\t" in text and "the cat" in text


def test_evaluate_with_no_readable_utterance_is_an_error_not_a_perfect_score(tmp_path, capsys):
    save_checkpoint(DeepSpeech(random_weights(24, seed=2)), tmp_path / "ckpt")
    csv_path = tmp_path / "data.csv"
    csv_path.write_text("wav_filename,wav_filesize,transcript\nwav/missing.wav,0,hello\n")
    code = main(["evaluate", "--csv", str(csv_path), "--checkpoint", str(tmp_path / "ckpt"), "--beam-width", "1"])
    out, err = capsys.readouterr()
    assert code == 2 and '"cer"' not in out
    assert f"{csv_path}: no readable utterances (1 skipped" in err and "missing.wav" in err


def test_every_command_explains_itself():
    """--help of every command: a description, examples, and help text for every option."""
    from deepspeech_audio_features.app.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps no public list
    assert len(commands) >= 13
    for name, command in commands.items():
        text = command.format_help()
        assert "examples:\n  python -m deepspeech_audio_features " + name in text, name
        undocumented = [a.option_strings or a.dest for a in command._actions if not a.help]
        assert not undocumented, (name, undocumented)


def test_version(capsys):
    import pytest

    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0 and "deepspeech_audio_features 0." in capsys.readouterr().out


def test_threads_option_mask_defaults_to_one_thread_and_bad_counts_exit_2(capsys):
    import pytest

    from deepspeech_audio_features.app.cli import build_parser, tensorflow_threads

    parser = build_parser()
    assert tensorflow_threads(parser.parse_args(["mask"])) == 1  # the measured faster setting
    assert tensorflow_threads(parser.parse_args(["--threads", "2", "mask"])) == 2  # the user's choice wins
    assert tensorflow_threads(parser.parse_args(["mask-dataset", "d.csv"])) == 1  # in-process batch of masks
    assert tensorflow_threads(parser.parse_args(["transcribe", "a.wav"])) is None  # TensorFlow's own default
    for bad in ("0", "-1", "x", "1.5", "100000"):
        with pytest.raises(SystemExit) as exit_info:
            main(["--threads", bad, "transcribe", "a.wav"])
        assert exit_info.value.code == 2
        assert "argument --threads: expected a whole number of threads from 1 to 1024, got" in capsys.readouterr().err


def test_set_tensorflow_threads_applies_before_tensorflow_starts_and_checks_its_argument():
    import subprocess
    import sys

    import pytest

    from deepspeech_audio_features.infra.errors import ParameterError
    from deepspeech_audio_features.infra.threads import check_threads

    for bad in (0, -3, True, 1.5, "2", None, 5000, np.int64(0)):
        with pytest.raises(ParameterError, match="threads"):
            check_threads(bad)
    assert check_threads(np.int64(2)) == 2 and type(check_threads(np.int64(2))) is int
    code = ("from deepspeech_audio_features.infra.threads import set_tensorflow_threads as s\n"
            "import tensorflow as tf\n"
            "first = s(1)\n"
            "tf.constant(1.0) + 1.0\n"  # the runtime starts: the pools are fixed now
            "print(first, tf.config.threading.get_intra_op_parallelism_threads(),"
            " tf.config.threading.get_inter_op_parallelism_threads(), s(1), s(2))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "1", "1", "True", "False"]


def test_mask_runs_on_one_thread_only_for_small_models(tmp_path):
    from deepspeech_audio_features.app.cli import build_parser, tensorflow_threads

    parser = build_parser()
    for n_hidden, expected in ((256, 1), (512, 1), (513, None), (2048, None)):  # measured: big models lose
        folder = tmp_path / f"model-{n_hidden}"
        folder.mkdir()
        (folder / "deepspeech_audio_features.json").write_text(json.dumps({"n_hidden": n_hidden}))
        assert tensorflow_threads(parser.parse_args(["mask", "--checkpoint", str(folder)])) == expected
    (tmp_path / "official").mkdir()  # no metadata: the size is unknown before loading, TensorFlow chooses
    assert tensorflow_threads(parser.parse_args(["mask", "--checkpoint", str(tmp_path / "official")])) is None
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "deepspeech_audio_features.json").write_text("{not json")
    assert tensorflow_threads(parser.parse_args(["mask", "--checkpoint", str(tmp_path / "broken")])) is None
