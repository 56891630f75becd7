"""A good run prints results, not TensorFlow's or KenLM's start-up chatter."""
import subprocess
import sys

from deepspeech_audio_features import example_audio


def run(*argv, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "deepspeech_audio_features", *argv], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_transcribing_with_the_language_model_is_quiet():
    from deepspeech_audio_features import transcribe

    out = run("transcribe", str(example_audio()[0]))
    expected = transcribe(example_audio()[0])  # beam search with the model's LM, as the command does
    assert out.returncode == 0 and expected and out.stdout.strip().endswith(expected)
    assert out.stderr == "", out.stderr


def test_the_silencing_is_what_removes_the_noise():
    """Without it (DAF_VERBOSE_IMPORTS=1) TensorFlow's lines are back: the test above can fail."""
    out = run("transcribe", "--greedy", str(example_audio()[0]), env={"DAF_VERBOSE_IMPORTS": "1"})
    assert out.returncode == 0 and "absl" in out.stderr


def test_no_bar_for_work_already_done(capsys):
    from deepspeech_audio_features.infra.progress import progress_bar

    with progress_bar(total=10, initial=10, desc="loaded") as bar:  # e.g. a finished run read back
        bar.update(0)
    with progress_bar(range(3), desc="working") as bar:
        list(bar)
    err = capsys.readouterr().err
    assert "loaded" not in err and "working" in err
