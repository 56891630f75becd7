"""A mask run's folder on disk, and reading masks back.

Layout (the study's)::

    <run>/config.json   what the run is (options, constrained frames, model and input
                        fingerprint): its RunFolder identity
    <run>/<i>.npy       binary masks [T, 26] (uint8), 0, 1, 2, ...; the last is the final mask
    <run>/state.npz     where an unfinished run stands (for resuming)
    <run>/scores.npy    float32 [T, 26] relaxed mask values
    <run>/result.json   the finished run's summary, with ``final_snapshot`` and the ``fill``
                        a masked entry became (name and 26 values; absent: zeros)

No TensorFlow here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ...infra.atomic import load_array
from ...infra.errors import FileFormatError, ParameterError
from ...infra.runfolder import RunFolder, snapshot_path, snapshot_steps

RESULT = "result.json"
#: Keys a finished run's result.json must hold.
RESULT_KEYS = ("final_snapshot", "zero_fraction", "frame_agreement", "text_original", "text_masked", "one_minimal",
               "one_minimal_checked", "variant", "agreement_all_frames", "seconds", "evaluations", "phases")
#: Arrays every state.npz holds (a state after repair holds the prune state as well).
STATE_KEYS = ("seconds", "evaluations", "phase", "step", "theta", "adam_m", "adam_v", "best")
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
        """The arrays of ``state.npz``, or None when the run has not saved any.

        Raises:
            FileFormatError: truncated, or without the arrays a state holds.
        """
        if not self.exists(STATE):
            return None
        state = self.load_arrays(STATE)
        missing = sorted(set(STATE_KEYS) - set(state))
        if missing:
            raise FileFormatError(f"{self.file(STATE)}: not a mask run's state (lacks {', '.join(missing)}); "
                                  "delete the folder to start over, or pass overwrite=True")
        return state

    def load_result(self) -> dict:
        """``result.json`` of a finished run, checked: an object whose ``final_snapshot``
        is one of this folder's snapshots.

        Raises:
            FileFormatError: unreadable, of the wrong shape, or naming a file elsewhere.
        """
        info = self.load_json(RESULT)
        path = self.file(RESULT)
        if not isinstance(info, dict) or not set(RESULT_KEYS) <= set(info):
            raise FileFormatError(f"{path}: not a mask result (an object with {', '.join(RESULT_KEYS)})")
        final = info["final_snapshot"]
        if not isinstance(final, str) or final not in {p.name for p in self.snapshots()}:
            raise FileFormatError(f"{path}: final_snapshot {final!r} is not one of this folder's snapshots")
        return info


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


def load_mask_fill(run_dir: str | os.PathLike) -> tuple[str, np.ndarray]:
    """``(fill name, float32 [26] values)`` a finished run's masked entries became (``"zeros"`` for
    runs written before the fill option existed)."""
    info = MaskRunFolder(run_dir, {}).load_result()
    values = info.get("fill_values")
    return str(info.get("fill", "zeros")), np.asarray(values if values is not None else np.zeros(26), np.float32)


def load_mask(path: str | os.PathLike) -> np.ndarray:
    """A mask ``[T, 26]`` from a ``.npy`` file, or a run folder's final mask (from
    ``result.json``, else its last snapshot)."""
    path = Path(path)
    if path.is_dir():
        if (path / RESULT).exists():
            folder = MaskRunFolder(path, {})
            return load_array(path / folder.load_result()["final_snapshot"])
        paths = snapshot_paths(path)
        if not paths:
            raise FileFormatError(f"{path}: no mask snapshots (<i>.npy) and no {RESULT}")
        return load_array(paths[-1])
    if not path.exists():
        raise ParameterError(f"{path}: no such mask file (a .npy mask or a mask run folder)")
    return load_array(path)
