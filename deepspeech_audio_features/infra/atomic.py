"""Atomic file writes: the only way this package writes a file.

A reader (the notebook, a resumed run, another Dask worker) never sees a half-written
file: everything is written to a temporary file beside its target and renamed into
place. No pickle anywhere: ``.npy``, ``.npz`` and JSON. No TensorFlow here.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import FileFormatError, ParameterError

# The process umask, read once (os.umask can only be read by setting it).
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place.

    A reader never sees a half-written file, and an interrupted write leaves the old one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        with open(tmp, "rb") as handle:  # on disk before the rename, so a crash cannot leave an empty file
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def append_line(path: str | os.PathLike, line: str) -> Path:
    """Add one line to a small text file (a log) by rewriting it atomically, so a crash
    never leaves a half-written last line."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    text = old + line.rstrip("\n") + "\n"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def replace_folder(staging: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Put the finished folder ``staging`` in place of ``target``.

    The old folder is first renamed aside, then ``staging`` is renamed in, then the old
    one is deleted: ``target`` is never a half-deleted folder, and an interruption leaves
    either the old folder, or the new one, or (between the two renames) the old one
    beside it as ``.<name>.old``, which the next call clears.
    """
    import shutil

    staging, target = Path(staging), Path(target)
    aside = target.with_name(f".{target.name}.old")
    if aside.exists():
        shutil.rmtree(aside)
    if target.exists():
        os.rename(target, aside)
    os.rename(staging, target)
    if aside.exists():
        shutil.rmtree(aside)
    return target


def save_array(path: str | os.PathLike, array) -> Path:
    """Write one array as ``.npy``, atomically."""
    array = np.asarray(array)
    if array.dtype == object:
        raise ParameterError(f"{path}: refusing to save an object array (it would need pickle)")

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)

    return atomic_write(path, write)


def save_arrays(path: str | os.PathLike, **arrays) -> Path:
    """Write several arrays as one ``.npz``, atomically."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **{k: np.asarray(v) for k, v in arrays.items()})

    return atomic_write(path, write)


def load_array(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.npy`` written by :func:`save_array` (never unpickles); a truncated or
    malformed file raises :class:`FileFormatError` naming it."""
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as err:
        raise FileFormatError(f"{path}: not a readable .npy file ({err})") from None


def save_json(path: str | os.PathLike, obj) -> Path:
    """Write JSON (indented, keys sorted), atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def load_json(path: str | os.PathLike):
    """Read a JSON file; a truncated or invalid one raises :class:`FileFormatError` naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FileFormatError(f"{path}: not valid JSON ({err})") from None


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise ParameterError(f"cannot write {type(value).__name__} as JSON")
