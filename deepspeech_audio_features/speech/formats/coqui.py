"""Coqui STT checkpoint folders: release-named checkpoints with ``alphabet.txt`` and ``flags.txt``.

Coqui STT 1.x (training/coqui_stt_training/train.py, util/config.py) keeps DeepSpeech's
variable names and features; ``layer_6`` has len(alphabet) + 1 outputs (256 in bytes output
mode). Beside the checkpoints it writes ``flags.txt``, the training configuration: a JSON
object in Coqui STT, ``--name=value`` lines (absl's ``flags_into_string``) in DeepSpeech 0.9.
The alphabet is ``alphabet.txt`` (format: alphabet.py, :meth:`Alphabet.parse`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ...infra.errors import CheckpointError
from ..alphabet import Alphabet
from .build import build_model

FLAGS_FILE = "flags.txt"
ALPHABET_FILE = "alphabet.txt"
#: flags.txt name -> metadata key
FLAG_KEYS = {"n_hidden": "n_hidden", "audio_sample_rate": "sample_rate", "feature_win_len": "feature_win_len",
             "feature_win_step": "feature_win_step", "bytes_output_mode": "bytes_output_mode"}


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def read_flags(path: str | os.PathLike) -> dict:
    """The training flags in ``flags.txt`` (JSON object, or absl ``--name=value`` lines)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: unreadable ({err})") from None
    if text.lstrip().startswith("{"):
        try:
            flags = json.loads(text)
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{path}: invalid JSON ({err})") from None
        if not isinstance(flags, dict):
            raise CheckpointError(f"{path}: expected a JSON object")
        return flags
    flags = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if not line.startswith("--"):
            raise CheckpointError(f"{path}: line {number} is neither JSON nor --name=value: {line[:40]!r}")
        name, _, value = line[2:].partition("=")
        flags[name] = _value(value) if value else True
    return flags


def feature_metadata(flags: dict, source: str) -> dict:
    """The flags this toolkit uses, under its metadata names, type-checked."""
    metadata = {}
    for flag, key in FLAG_KEYS.items():
        if flag in flags:
            value = flags[flag]
            if key == "bytes_output_mode":
                if value not in (True, False, "true", "false", "True", "False"):
                    raise CheckpointError(f"{source}: {flag} must be true or false, got {value!r}")
                metadata[key] = value in (True, "true", "True")
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CheckpointError(f"{source}: {flag} must be a number, got {value!r}")
            else:
                metadata[key] = value
    return metadata


def is_coqui_folder(path: Path) -> bool:
    return path.is_dir() and (path / FLAGS_FILE).exists()


def load_coqui_checkpoint(path: str | os.PathLike):
    """Load a Coqui STT (or DeepSpeech 0.9) checkpoint folder with ``flags.txt`` and ``alphabet.txt``."""
    from ..checkpoints import read_checkpoint  # checkpoints.load_model dispatches here

    folder = Path(path)
    flags_path = folder / FLAGS_FILE
    metadata = feature_metadata(read_flags(flags_path), str(flags_path))
    if metadata.pop("bytes_output_mode", False):
        raise CheckpointError(f"{flags_path}: bytes_output_mode (UTF-8 byte outputs) is not supported")
    alphabet_path = folder / ALPHABET_FILE
    if not alphabet_path.exists():
        raise CheckpointError(f"{folder}: no {ALPHABET_FILE} beside {FLAGS_FILE}")
    alphabet = Alphabet.read(alphabet_path)
    weights, forget_bias, prefix = read_checkpoint(folder)
    n_hidden = weights["layer_1/weights"].shape[1]
    if metadata.get("n_hidden", n_hidden) != n_hidden:
        raise CheckpointError(f"{flags_path}: n_hidden {metadata['n_hidden']} but the checkpoint has {n_hidden}")
    metadata.update(format="coqui-checkpoint", name=folder.name, quantization=None, n_hidden=n_hidden)
    model = build_model(prefix, weights, alphabet, metadata, forget_bias)
    return model
