"""Run folders: atomic writes of arrays and JSON, numbered snapshots, resuming.

Every experiment writes through these helpers, so a reader (the notebook, a resumed
run) never sees a half-written file. No pickle anywhere: ``.npy``, ``.npz`` and JSON.
No TensorFlow here.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from .audio import atomic_write


class RunConflictError(ValueError):
    """An output folder already holds a run made with other settings (or another model)."""


def save_array(path: str | os.PathLike, array) -> Path:
    """Write one array as ``.npy``, atomically."""
    array = np.asarray(array)
    if array.dtype == object:
        raise TypeError(f"{path}: refusing to save an object array (it would need pickle)")

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
    """Read a ``.npy`` written by :func:`save_array` (never unpickles)."""
    return np.load(path, allow_pickle=False)


def save_json(path: str | os.PathLike, obj) -> Path:
    """Write JSON (indented, keys sorted), atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def load_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text())


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def snapshot_steps(folder: str | os.PathLike, stem: str) -> list[int]:
    """Sorted steps ``N`` of the files ``<folder>/<stem>_N.npy`` (or ``N.npy`` for stem '')."""
    pattern = re.compile(rf"^{re.escape(stem + '_') if stem else ''}(\d+)\.npy$")
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := pattern.match(p.name)))


def snapshot_path(folder: str | os.PathLike, stem: str, step: int) -> Path:
    """``<folder>/<stem>_<step>.npy`` (or ``<folder>/<step>.npy`` for stem '')."""
    return Path(folder) / (f"{stem}_{step}.npy" if stem else f"{step}.npy")
