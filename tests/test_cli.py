import json

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
