"""The package's structure: layers import only downwards, NumPy modules never start
TensorFlow, the code and the notebook's source pass the linter, notebook.ipynb is what its
source gives, and a built wheel works outside the checkout."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "deepspeech_audio_features"
#: Each layer may import from the layers listed for it (and from itself).
ALLOWED = {
    "infra": set(),
    "speech": {"infra"},
    "interpret": {"speech", "infra"},
    "synth": {"speech", "infra"},
    "app": {"interpret", "synth", "speech", "infra"},
}
#: Modules with no TensorFlow: importing them must not start it.
NUMPY_ONLY = ["infra.atomic", "infra.runfolder", "infra.errors", "infra.resources", "infra.cluster",
              "speech.frames", "speech.audio", "speech.filters", "speech.inverse", "speech.alphabet",
              "speech.datasets", "speech.language_model", "synth.augmentation", "synth.corpus", "synth.espeak",
              "synth.voices", "synth.text", "synth.plan", "synth.noise", "synth.render", "synth.workers",
              "synth.options", "app.plots", "interpret.optim", "infra.options", "infra.quiet",
              "app.atlas.options", "app.atlas.data", "app.atlas.media", "app.atlas.site",
              "interpret.featurevis.options", "interpret.search_options", "interpret.content_options",
              "interpret.masks.options", "app.cli", "speech.phones", "speech.alignments", "synth.phonemes",
              "interpret.frame_examples", "interpret.masks.pointing"]


def imported_layers(path: Path) -> set[str]:
    """The package's top-level sub-packages that ``path`` imports (relative or absolute)."""
    module = path.relative_to(ROOT).with_suffix("").parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(module[:len(module) - node.level])
                target = base + (node.module.split(".") if node.module else [])
            else:
                target = (node.module or "").split(".")
            if target[:1] == ["deepspeech_audio_features"] and len(target) > 1:
                found.add(target[1] if target[1] in ALLOWED else None)
                if not node.module and node.level:  # from . import x
                    found |= {a.name for a in node.names if a.name in ALLOWED}
    return found - {None}


def test_layers_import_only_downwards():
    wrong = []
    for layer, allowed in ALLOWED.items():
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            bad = imported_layers(path) - allowed - {layer}
            if bad:
                wrong.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not wrong, "\n".join(wrong)
    top = [p.name for p in PACKAGE.glob("*.py")]
    assert sorted(top) == ["__init__.py", "__main__.py"], "modules belong in a layer's folder"


def test_layer_check_catches_an_upward_import(tmp_path):
    """The check above is not vacuous: an upward import is found."""
    fake = PACKAGE / "speech" / "_upward_probe.py"
    fake.write_text("from ..app.plots import plot_mfccs\nfrom ..interpret import optim\n")
    try:
        assert imported_layers(fake) == {"app", "interpret"}
    finally:
        fake.unlink()


def test_numpy_modules_do_not_start_tensorflow():
    code = ("import sys; import importlib; "
            f"[importlib.import_module('deepspeech_audio_features.' + m) for m in {NUMPY_ONLY!r}]; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_code_and_notebook_source_pass_the_linter():
    ruff = Path(sys.executable).parent / "ruff"
    out = subprocess.run([str(ruff), "check", "deepspeech_audio_features", "tests", "tools", "benchmarks",
                          "notebook.pct.py"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_notebook_cells_are_what_its_source_gives():
    import nbformat

    sys.path.insert(0, str(ROOT / "tools"))
    from build_notebook import build, cells

    committed = nbformat.read(ROOT / "notebook.ipynb", as_version=4)
    assert cells(committed) == cells(build())
    assert len(cells(committed)) > 10


def test_public_names_resolve():
    import deepspeech_audio_features as daf

    missing = [name for name in daf.__all__ if getattr(daf, name, None) is None]
    assert not missing and len(daf.__all__) == len(set(daf.__all__))


def test_every_error_has_one_root():
    import deepspeech_audio_features as daf

    errors = [daf.AudioError, daf.CheckpointError, daf.RunConflictError, daf.ESpeakError, daf.ParameterError,
              daf.DatasetError, daf.FileFormatError]
    assert all(issubclass(e, daf.DAFError) for e in errors)


def test_wheel_works_outside_the_checkout(tmp_path):
    """``pip wheel .`` then install (not editable): the embedded model, experiments and
    examples come with it, and the example transcribes from another folder."""
    import shutil

    source, wheels, target, elsewhere = (tmp_path / name for name in ("source", "wheels", "site", "elsewhere"))
    elsewhere.mkdir()
    # Build from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "runs", "data", "build", "*.egg-info", "__pycache__", "notebook.*", ".pytest_cache"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
                   check=True, capture_output=True)
    wheel = next(wheels.glob("deepspeech_audio_features-*.whl"))
    subprocess.run(pip + ["install", "--no-deps", "--target", str(target), str(wheel)], check=True,
                   capture_output=True)
    code = ("import deepspeech_audio_features as d; from deepspeech_audio_features import *; "
            "print(d.__file__); print(run_train_inputs_experiment.__module__); "
            "print(transcribe(example_audio()[0]))")
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=elsewhere, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith(str(target))  # the installed copy, not the checkout
    # the packaged model, LM and example audio: the same transcription as the checkout's
    from deepspeech_audio_features import example_audio, transcribe

    assert lines[-1] == transcribe(example_audio()[0]) and lines[-1].strip()
