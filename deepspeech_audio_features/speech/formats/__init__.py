"""The model files people have, read into :class:`~deepspeech_audio_features.speech.model.DeepSpeech`.

=====================  ==============================================  =================
format                 what it is                                      module
=====================  ==============================================  =================
``checkpoint``         release/project checkpoint folder or prefix     ``checkpoints``
``coqui-checkpoint``   checkpoint folder + ``flags.txt`` + alphabet    ``coqui``
``pb``                 DeepSpeech frozen graph (``output_graph.pb``)   ``frozen_graph``
``pbmm``               the same, memory-mapped (``*.pbmm``)            ``memmapped``
``tflite``             DeepSpeech / Coqui STT TensorFlow Lite          ``tflite``
=====================  ==============================================  =================
"""
from __future__ import annotations

import os
from pathlib import Path

from ...infra.errors import CheckpointError
from ..alphabet import Alphabet

SUFFIXES = {".pb": "pb", ".pbmm": "pbmm", ".tflite": "tflite"}


def detect_format(path: str | os.PathLike) -> str:
    """The format of ``path`` (see the table above), by suffix or by a folder's contents.

    A folder with ``flags.txt`` is a Coqui STT checkpoint; a folder with no checkpoint
    but exactly one ``.pbmm``/``.pb``/``.tflite`` (a model zoo download) is that file.
    """
    path = Path(path)
    if path.suffix.lower() in SUFFIXES and not path.is_dir():
        return SUFFIXES[path.suffix.lower()]
    if path.is_dir():
        if (path / "flags.txt").exists():
            return "coqui-checkpoint"
        if not any(path.glob("*.index")):
            models = [p for p in sorted(path.iterdir()) if p.suffix.lower() in SUFFIXES]
            if len(models) == 1:
                return SUFFIXES[models[0].suffix.lower()]
            if len(models) > 1:
                raise CheckpointError(f"{path}: {len(models)} model files ({', '.join(p.name for p in models)}); "
                                      "name one")
    return "checkpoint"


def model_file(path: Path) -> Path:
    """The model file itself when ``path`` is a model zoo folder."""
    if path.is_dir():
        return next(p for p in sorted(path.iterdir()) if p.suffix.lower() in SUFFIXES)
    return path


def load_model_file(path: str | os.PathLike):
    """Load any format but ``checkpoint`` (checkpoints.load_model handles those)."""
    path = Path(path)
    kind = detect_format(path)
    if kind == "coqui-checkpoint":
        from .coqui import load_coqui_checkpoint

        return load_coqui_checkpoint(path)
    path = model_file(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such model file")
    if kind == "pb":
        from .frozen_graph import load_frozen_graph

        return load_frozen_graph(path)
    if kind == "pbmm":
        from .memmapped import load_memmapped

        return load_memmapped(path)
    from .tflite import load_tflite

    beside = path.parent / "alphabet.txt"  # Coqui STT's model zoo ships alphabet.txt next to model.tflite
    return load_tflite(path, Alphabet.read(beside) if beside.exists() else None)
