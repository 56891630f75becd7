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


CHATTY_MODULE = """
import os
os.write(2, b"chatter from C-level stderr\\n")
VALUE = 42
"""
IMPORT_IT = """
import sys
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "quiet":
    from deepspeech_audio_features.infra.quiet import quiet_import_of
    quiet_import_of("chatty")
import chatty
print(chatty.VALUE)
import os
os.write(2, b"after the import\\n")
"""


def test_the_silencing_is_what_removes_the_noise(tmp_path):
    """Whether TensorFlow chatters at import depends on the machine (CPU flags, log level), so the
    mechanism is checked on a module that writes to descriptor 2 while it is imported, as TF's C++ does:
    silenced during that import only, and the import still completes."""
    (tmp_path / "chatty.py").write_text(CHATTY_MODULE)
    loud, quiet = (subprocess.run([sys.executable, "-c", IMPORT_IT, str(tmp_path), mode], capture_output=True,
                                  text=True) for mode in ("loud", "quiet"))
    assert loud.returncode == quiet.returncode == 0 and loud.stdout == quiet.stdout == "42\n"
    assert loud.stderr == "chatter from C-level stderr\nafter the import\n"
    assert quiet.stderr == "after the import\n"


def test_a_failing_import_still_raises_with_its_message(tmp_path):
    (tmp_path / "chatty.py").write_text("raise ImportError('broken on purpose')\n")
    out = subprocess.run([sys.executable, "-c", IMPORT_IT, str(tmp_path), "quiet"], capture_output=True, text=True)
    assert out.returncode == 1 and "broken on purpose" in out.stderr


def test_no_bar_for_work_already_done(capsys):
    from deepspeech_audio_features.infra.progress import progress_bar

    with progress_bar(total=10, initial=10, desc="loaded") as bar:  # e.g. a finished run read back
        bar.update(0)
    with progress_bar(range(3), desc="working") as bar:
        list(bar)
    err = capsys.readouterr().err
    assert "loaded" not in err and "working" in err
