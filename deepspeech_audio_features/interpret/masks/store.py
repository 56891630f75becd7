"""A mask run's folder on disk, and reading masks back.

Layout (the study's)::

    <run>/config.json   what the run is (options, constrained frames, model and input
                        fingerprint): its RunFolder identity
    <run>/<i>.npy       binary masks [T, 26] (uint8), 0, 1, 2, ...; the last is the final mask
    <run>/state.npz     where an unfinished run stands (for resuming)
    <run>/scores.npy    float32 [T, 26] relaxed mask values
    <run>/result.json   the finished run's summary, with ``final_snapshot``

No TensorFlow here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ...infra.atomic import load_array, load_json
from ...infra.runfolder import RunFolder, snapshot_path, snapshot_steps

RESULT = "result.json"
CONFIG = "config.json"
STATE = "state.npz"
SCORES = "scores.npy"


class MaskRunFolder(RunFolder):
    """The run folder of one :func:`importance_mask` run (see the module docstring).

    Args:
        path: the folder.
        identity: the run's config (written to ``config.json``).
        overwrite: clear a folder that holds a run with another config instead of refusing it.
    """

    def __init__(self, path: str | os.PathLike, identity: Mapping[str, Any], overwrite: bool = False):
        super().__init__(path, identity, record=CONFIG, overwrite=overwrite, kind="mask run")

    @property
    def finished(self) -> bool:
        return self.exists(RESULT)

    def snapshots(self) -> list[Path]:
        """The ``<i>.npy`` snapshots written so far, in order."""
        return snapshot_paths(self.path)

    def save_snapshot(self, index: int, mask: np.ndarray) -> Path:
        return self.save_array(snapshot_path(self.path, "", index).name, mask)

    def load_state(self) -> dict[str, np.ndarray] | None:
        """The arrays of ``state.npz``, or None when the run has not saved any."""
        return self.load_arrays(STATE) if self.exists(STATE) else None


def snapshot_paths(run_dir: str | os.PathLike) -> list[Path]:
    """``<run_dir>/<i>.npy`` in order of ``i``."""
    return [snapshot_path(run_dir, "", i) for i in snapshot_steps(run_dir, "")]


def is_finished(run_dir: str | os.PathLike) -> bool:
    """True when the mask run in ``run_dir`` wrote its ``result.json``."""
    return (Path(run_dir) / RESULT).exists()


def load_mask_snapshots(run_dir: str | os.PathLike) -> np.ndarray:
    """All snapshots ``<run_dir>/<i>.npy`` in order, uint8 ``[N, T, 26]`` (the last is the final mask)."""
    paths = snapshot_paths(run_dir)
    if not paths:
        raise FileNotFoundError(f"{run_dir}: no mask snapshots (<i>.npy)")
    return np.stack([load_array(p) for p in paths])


def load_mask(path: str | os.PathLike) -> np.ndarray:
    """A mask ``[T, 26]`` from a ``.npy`` file, or a run folder's final mask (from
    ``result.json``, else its last snapshot)."""
    path = Path(path)
    if path.is_dir():
        if (path / RESULT).exists():
            return load_array(path / load_json(path / RESULT)["final_snapshot"])
        paths = snapshot_paths(path)
        if not paths:
            raise FileNotFoundError(f"{path}: no mask snapshots (<i>.npy)")
        return load_array(paths[-1])
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such mask file")
    return load_array(path)
