"""Reading and writing DeepSpeech checkpoints in the release's layout; :func:`load_model`
also opens the other formats people have (``formats/``: ``.pb``, ``.pbmm``, ``.tflite``,
Coqui STT checkpoint folders).

One format serves Mozilla's official checkpoints (0.5-0.9) and the project's own
models: TensorFlow v1-style name-based checkpoints (``<prefix>.index`` +
``<prefix>.data-*``) with the release's variable names, and a ``checkpoint`` index
file naming the latest prefix. The project keeps extra facts (alphabet, feature
settings, training info) in ``deepspeech_audio_features.json`` beside it.
"""
from __future__ import annotations

import glob
import json
import os
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import tensorflow as tf

from ..infra.atomic import atomic_write
from ..infra.errors import CheckpointError
from ..infra.resources import asset_path
from .alphabet import Alphabet
from .frames import UPPER_FREQUENCY_LIMIT
from .model import LSTM_SCOPE, DeepSpeech, official_shapes

METADATA_FILE = "deepspeech_audio_features.json"
#: The model shipped with the project, used when no checkpoint is given.
EMBEDDED_MODEL_NAME = "synth-en"
EMBEDDED_MODEL_DIR = asset_path("models", EMBEDDED_MODEL_NAME)
#: 0.5 releases named the LSTM differently and trained it with forget bias 1.
LSTM_SCOPE_V05 = "lstm_fused_cell"
INDEX_FILES = ("checkpoint", "best_dev_checkpoint")
# Variables a training checkpoint carries that inference does not use.
#: Types of the metadata fields this package reads (others are kept as they are).
_METADATA_TYPES = {"alphabet": (str, list), "upper_frequency_limit": (int, float), "forget_bias": (int, float),
                   "n_hidden": (int,), "name": (str,), "lm_alpha": (int, float), "lm_beta": (int, float),
                   "lm": (str,)}
_IGNORED = re.compile(
    r"(/Adam(_\d+)?$|^beta[12]_power|^learning_rate|^global_step$|^cudnn_lstm/opaque_kernel)")




def resolve_checkpoint(path: str | os.PathLike) -> str:
    """Turn a checkpoint directory or prefix into the prefix of its latest checkpoint.

    A directory must hold a ``checkpoint`` or ``best_dev_checkpoint`` index file (the
    release's ``best_dev_checkpoint`` wins when both exist) or exactly one ``*.index``.
    """
    path = Path(path)
    if path.is_dir():
        for index_name in reversed(INDEX_FILES):
            if (path / index_name).exists():
                state = tf.train.get_checkpoint_state(str(path), latest_filename=index_name)
                if state is None or not state.model_checkpoint_path:
                    raise CheckpointError(f"{path / index_name}: index file names no checkpoint")
                prefix = Path(state.model_checkpoint_path)
                prefix = prefix if prefix.is_absolute() else path / prefix
                # Index files written on another machine may hold absolute paths from there.
                if not Path(f"{prefix}.index").exists() and Path(f"{path / prefix.name}.index").exists():
                    prefix = path / prefix.name
                break
        else:
            indexes = sorted(path.glob("*.index"))
            if len(indexes) != 1:
                raise CheckpointError(f"{path}: no checkpoint index file and {len(indexes)} *.index files")
            prefix = indexes[0].with_suffix("")
    else:
        prefix = path
    if not Path(f"{prefix}.index").exists():
        raise CheckpointError(f"{prefix}: no such checkpoint (missing {prefix}.index)")
    return str(prefix)


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], float, str]:
    """Read the inference weights of a release-layout checkpoint.

    Returns:
        ``(weights, forget_bias, prefix)``: release variable name -> float32 array, the
        forget bias the naming implies (0, or 1 for 0.5's ``lstm_fused_cell``), and the
        resolved prefix.
    Raises:
        CheckpointError: listing missing, unknown or mis-shaped variables.
    """
    prefix = resolve_checkpoint(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as err:
        raise CheckpointError(f"{prefix}: unreadable checkpoint ({str(err).splitlines()[0]})") from None
    shapes = {name: tuple(shape) for name, shape in reader.get_variable_to_shape_map().items()}
    forget_bias = 0.0
    renamed = {}
    for name in shapes:
        if name.startswith(LSTM_SCOPE_V05 + "/"):
            renamed[name] = LSTM_SCOPE + name[len(LSTM_SCOPE_V05):]
            forget_bias = 1.0
    if "layer_1/weights" not in shapes:
        raise CheckpointError(f"{prefix}: missing variable layer_1/weights (not a DeepSpeech checkpoint?)")
    n_hidden = shapes["layer_1/weights"][1]
    n_classes = shapes["layer_6/weights"][-1] if len(shapes.get("layer_6/weights", ())) == 2 else None
    expected = official_shapes(n_hidden, **({"n_classes": n_classes} if n_classes else {}))
    found = {renamed.get(name, name): shape for name, shape in shapes.items()}
    missing = sorted(set(expected) - set(found))
    unknown = sorted(name for name in set(found) - set(expected) if not _IGNORED.search(name))
    misshaped = [f"{name} {found[name]} (expected {expected[name]})"
                 for name in sorted(set(expected) & set(found)) if found[name] != expected[name]]
    problems = []
    if missing:
        problems.append("missing " + ", ".join(missing))
    if unknown:
        problems.append("unknown " + ", ".join(unknown))
    if misshaped:
        problems.append("mis-shaped " + ", ".join(misshaped))
    if problems:
        raise CheckpointError(f"{prefix}: " + "; ".join(problems))
    inverse = {new: old for old, new in renamed.items()}
    try:
        weights = {name: reader.get_tensor(inverse.get(name, name)).astype(np.float32) for name in expected}
    except (tf.errors.OpError, ValueError, IndexError) as err:  # e.g. a truncated or missing .data file
        raise CheckpointError(f"{prefix}: unreadable weights ({str(err).splitlines()[0]})") from None
    not_finite = sorted(name for name, value in weights.items() if not np.all(np.isfinite(value)))
    if not_finite:
        raise CheckpointError(f"{prefix}: NaN or Inf in {', '.join(not_finite)}")
    return weights, forget_bias, prefix


def read_metadata(path: str | os.PathLike) -> dict:
    """The project's JSON metadata beside a checkpoint (empty for official checkpoints)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    meta_path = folder / METADATA_FILE
    if not meta_path.exists():
        return {}
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{meta_path}: invalid JSON ({err})") from None
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{meta_path}: expected a JSON object, got {type(metadata).__name__}")
    for key, kinds in _METADATA_TYPES.items():
        if key in metadata and (not isinstance(metadata[key], kinds) or isinstance(metadata[key], bool)):
            names = " or ".join(k.__name__ for k in kinds)
            raise CheckpointError(f"{meta_path}: {key} must be {names}, got {metadata[key]!r}")
    lm = metadata.get("lm")
    if lm is not None and (Path(lm).name != lm or lm in (".", "..")):  # the LM must sit beside the checkpoint
        raise CheckpointError(f"{meta_path}: lm must be a file name in {folder}, got {lm!r}")
    limit = metadata.get("upper_frequency_limit")
    if limit is not None and not 0 < limit <= 8000:  # the MFCC op's filterbank tops out at Nyquist, 8 kHz
        raise CheckpointError(f"{meta_path}: upper_frequency_limit must be in (0, 8000] Hz, got {limit!r}")
    return metadata


def load_model(path: str | os.PathLike | None = None) -> DeepSpeech:
    """Load a DeepSpeech model from a checkpoint or one of the exported formats.

    Args:
        path: a checkpoint directory or prefix (release or the project's own; optimizer
            slots are ignored), a DeepSpeech ``.pb`` / ``.pbmm``, a ``.tflite`` (DeepSpeech or
            Coqui STT, ``alphabet.txt`` read from beside it), a folder holding one of those,
            or a Coqui STT checkpoint folder (``flags.txt``, ``alphabet.txt``). ``None``
            loads the model shipped in the package (``assets/models/synth-en``) (cached:
            later calls return the same object).
    Returns:
        the model; ``model.alphabet`` and ``model.metadata`` (``format``, feature settings,
        ``quantization`` with the weight error for quantized files) say what the file held.
    Raises:
        CheckpointError: one line naming the file, for unreadable, truncated or foreign files.
    """
    if path is None:
        return _embedded_model()
    from .formats import detect_format, load_model_file  # formats.coqui uses read_checkpoint

    if detect_format(path) != "checkpoint":
        return load_model_file(path)
    weights, forget_bias, prefix = read_checkpoint(path)
    metadata = read_metadata(path)
    metadata.setdefault("name", Path(prefix).parent.name)
    metadata.setdefault("checkpoint", prefix)
    metadata.setdefault("upper_frequency_limit", UPPER_FREQUENCY_LIMIT)
    metadata.setdefault("format", "checkpoint")
    try:
        alphabet = Alphabet.coerce(metadata.get("alphabet"))
        return DeepSpeech(weights, forget_bias=metadata.get("forget_bias", forget_bias), metadata=metadata,
                          alphabet=alphabet)
    except (CheckpointError, ValueError) as err:
        raise CheckpointError(f"{prefix}: {err}") from None


@lru_cache(maxsize=1)
def _embedded_model() -> DeepSpeech:
    return load_model(EMBEDDED_MODEL_DIR)


def save_checkpoint(model: DeepSpeech, directory: str | os.PathLike, step: int = 0,
                    prefix_name: str = "best_dev", metadata: dict | None = None) -> str:
    """Write ``model`` in the release layout, plus its JSON metadata.

    Files: ``<directory>/<prefix_name>-<step>.index`` / ``.data-00000-of-00001``, the
    ``checkpoint`` index file, and ``deepspeech_audio_features.json``. The pair is
    written under a prefix the ``checkpoint`` file does not name (``<prefix_name>-<step>``,
    or ``<prefix_name>-<step>_1`` when re-saving the step it names), the ``checkpoint``
    file is switched to it last, and only then is the pair it named before deleted: an
    interrupted save leaves the previous checkpoint whole and readable.

    Returns:
        the new checkpoint's prefix.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    previous = _named_prefix(directory)
    name = f"{prefix_name}-{int(step)}"
    if name == previous:  # never write over the pair the index file names
        name += "_1"
    tmp_prefix = directory / f".tmp-{name}"
    weights = model.official_weights()
    weights["global_step"] = np.array(int(step), dtype=np.int64)
    names = sorted(weights)
    tf.raw_ops.SaveV2(prefix=str(tmp_prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(weights[n]) for n in names])
    for tmp_file in directory.glob(f".tmp-{name}.*"):
        os.replace(tmp_file, directory / (name + tmp_file.name[len(f".tmp-{name}"):]))
    meta = dict(model.metadata)
    meta.update(metadata or {})
    alphabet = Alphabet.coerce(model.metadata.get("alphabet")).to_json()
    meta.update({"alphabet": alphabet, "n_hidden": model.n_hidden, "forget_bias": model.forget_bias,
                 "global_step": int(step)})
    meta.setdefault("upper_frequency_limit", UPPER_FREQUENCY_LIMIT)
    meta.pop("checkpoint", None)
    atomic_write(directory / METADATA_FILE,
                 lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n"))
    atomic_write(directory / "checkpoint",
                 lambda tmp: Path(tmp).write_text(
                     f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n'))
    if previous is not None and previous != name:  # the switch is done: the old pair is garbage
        for file in (*directory.glob(f"{glob.escape(previous)}.index"), *directory.glob(f"{glob.escape(previous)}.data-*")):
            file.unlink()
    return str(directory / name)


def _named_prefix(directory: Path) -> str | None:
    """The file name of the checkpoint ``<directory>/checkpoint`` names, if it names one there."""
    if not (directory / "checkpoint").exists():
        return None
    state = tf.train.get_checkpoint_state(str(directory), latest_filename="checkpoint")
    if state is None or not state.model_checkpoint_path:
        return None
    prefix = Path(state.model_checkpoint_path)
    return prefix.name if prefix.parent in (Path("."), directory) else None


def remove_other_checkpoints(directory: str | os.PathLike, keep_prefix: str) -> None:
    """Delete checkpoint data files in ``directory`` other than ``keep_prefix``'s."""
    keep = Path(keep_prefix).name
    for file in Path(directory).glob("*-*.*"):
        if (file.name.endswith(".index") or ".data-" in file.name) and not file.name.startswith(keep + "."):
            file.unlink()
