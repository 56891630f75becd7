"""Run folders: one experiment run per folder, resumed exactly or refused, never mixed.

Every experiment that writes a run (feature visualization, dataset search, masks, batch
masks) opens its output folder as a :class:`RunFolder` with the settings that define the
run (its *identity*). A folder that holds a run with the same identity is resumed; one
with another identity, or with files but no record of what made them, is refused with
:class:`RunConflictError` (or cleared, if asked). Every file goes through the atomic
writers of :mod:`.atomic`. No TensorFlow here.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .atomic import load_array, load_json, save_array, save_arrays, save_json
from .errors import FileFormatError, RunConflictError
from .resources import asset_path


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


def _as_json(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, NumPy scalars numbers)."""
    from .atomic import _json_default
    return json.loads(json.dumps(value, default=_json_default))


class RunFolder:
    """An experiment's output folder, holding exactly one run.

    Args:
        path: the folder (created on :meth:`open`).
        identity: the settings that make two runs the same run (model fingerprint, input,
            options...); JSON-serializable. Compared key by key with the stored record.
        record: the JSON file that holds the identity (and anything else the experiment
            stores with it), e.g. ``config.json`` or ``index.json``.
        overwrite: clear a folder that holds another run instead of refusing it.
        kind: how messages name the run ("run", "search", "mask run", ...).
    """

    def __init__(self, path: str | os.PathLike, identity: Mapping[str, Any], record: str = "config.json",
                 overwrite: bool = False, kind: str = "run"):
        self.path = Path(path)
        self.identity = _as_json(dict(identity))
        self.record_name = record
        self.overwrite = overwrite
        self.kind = kind
        self.resumed = False

    # ---------------------------------------------------------------- identity
    def differing(self, stored: Mapping[str, Any]) -> list[str]:
        """Identity keys whose stored value differs from this run's."""
        return sorted(k for k in self.identity if stored.get(k) != self.identity[k])

    def open(self, extra: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None) -> "RunFolder":
        """Check the folder, then write the record (identity plus ``extra``) if it is new.

        Sets :attr:`resumed` when the folder already holds this run. ``extra`` may be a
        function, called only when the record is written (e.g. a costly dataset listing).

        Raises:
            RunConflictError: the folder holds a run with another identity, or run files
                without a record (unless ``overwrite``); or the record is unreadable.
        """
        record = self.path / self.record_name
        if record.exists():
            try:
                stored = load_json(record)
            except ValueError as err:
                stored, differing = None, [f"unreadable {self.record_name}: {err}"]
            else:
                differing = self.differing(stored) if isinstance(stored, dict) else [f"{self.record_name} is not an object"]
            if not differing:
                self.resumed = True
                return self
            if not self.overwrite:
                raise RunConflictError(f"{self.path}: holds a {self.kind} with other settings ({', '.join(differing)}); "
                                       "pass overwrite=True (--overwrite) or choose another folder")
            self.clear()
        elif self.path.exists() and any(not p.name.startswith(".") for p in self.path.iterdir()):
            # Files without a record could come from any run: resuming could mix two.
            raise RunConflictError(f"{self.path}: holds files but no {self.record_name}, so it cannot be resumed; "
                                   "choose an empty folder or delete this one")
        extra = extra() if callable(extra) else extra
        self.save_json(self.record_name, {**(extra or {}), **self.identity})
        return self

    def clear(self) -> None:
        """Delete everything in the folder (only ever called on a folder with a record)."""
        for child in self.path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    # ---------------------------------------------------------------- files
    def file(self, *parts: str) -> Path:
        """``<folder>/<parts...>``; refuses a name that leaves the folder."""
        path = self.path.joinpath(*parts)
        if ".." in Path(*parts).parts or Path(*parts).is_absolute():
            raise RunConflictError(f"{path}: a run file must stay inside {self.path}")
        return path

    def exists(self, *parts: str) -> bool:
        return self.file(*parts).exists()

    def save_json(self, name: str, obj) -> Path:
        return save_json(self.file(name), obj)

    def load_json(self, name: str):
        return load_json(self.file(name))

    def save_array(self, name: str, array) -> Path:
        return save_array(self.file(name), array)

    def save_arrays(self, name: str, **arrays) -> Path:
        return save_arrays(self.file(name), **arrays)

    def load_array(self, name: str) -> np.ndarray:
        return load_array(self.file(name))

    def load_arrays(self, name: str) -> dict[str, np.ndarray]:
        """All arrays of an ``.npz`` written by :meth:`save_arrays` (never unpickles)."""
        path = self.file(name)
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except FileNotFoundError:
            raise
        except (zipfile.BadZipFile, ValueError, EOFError, OSError) as err:
            raise FileFormatError(f"{path}: unreadable or truncated ({err}); delete it to redo that part") from None

    def load_batch(self, name: str, keys) -> tuple[dict[str, np.ndarray] | None, str | None]:
        """A batch file's arrays, or why it cannot be used: ``(arrays, None)`` or ``(None, reason)``
        ("missing", unreadable, or lacking some of ``keys``); callers check the contents."""
        if not self.exists(name):
            return None, "missing"
        try:
            data = self.load_arrays(name)
        except FileFormatError as err:
            return None, str(err)
        if set(keys) - set(data):
            return None, f"{self.file(name)}: lacks {', '.join(sorted(set(keys) - set(data)))}"
        return data, None

    def snapshot_steps(self, stem: str = "", sub: str = "") -> list[int]:
        return snapshot_steps(self.path / sub if sub else self.path, stem)

    def snapshot_path(self, stem: str, step: int, sub: str = "") -> Path:
        return snapshot_path(self.path / sub if sub else self.path, stem, step)


def run_name(path: str | os.PathLike) -> str:
    """The study's folder name for an audio file: the file name for the packaged examples,
    else its path relative to the current folder with ``/`` replaced by ``-``
    (``data/x.wav`` -> ``data-x.wav``), else its name."""
    try:
        path = Path(path).resolve()
    except (RuntimeError, OSError):  # a symlink loop: named as given (reading it fails later, for it alone)
        path = Path(os.path.abspath(path))
    if path.parent == asset_path("audio").resolve():
        return path.name
    try:
        rel = path.relative_to(Path.cwd().resolve())
    except ValueError:
        return path.name
    return str(rel).replace(os.sep, "-")
