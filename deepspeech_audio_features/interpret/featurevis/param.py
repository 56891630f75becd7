"""Parameterizations: how the optimized variable becomes MFCCs ``[B, T, 26]`` (Lucid's
``param``), and the MFCCs they start from.

:func:`~.render.maximize_activation` takes a *factory*: anything with
``build(start) -> Parameterization`` that turns the starting MFCCs ``[B, T, 26]`` into a
parameterization holding the variable. A parameterization class is its own factory when
it needs no settings (``param=DirectParam``); one with settings gives a
:class:`ParamSpec` (``param=ScaledParam.spec(stats)``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Protocol, Sequence

import numpy as np
import tensorflow as tf

from ...infra.errors import ParameterError
from ...speech.frames import N_INPUT
from .objectives import Objective
from .stats import MfccStats


class Parameterization:
    """The optimized ``variable`` and the map from it to MFCCs ``[B, T, 26]``."""
    #: recorded in the run's config.json as ``"param"`` (resuming compares it)
    kind: ClassVar[str] = "custom"
    variable: tf.Variable

    @classmethod
    def build(cls, start: np.ndarray) -> "Parameterization":
        """A parameterization whose MFCCs are ``start [B, T, 26]``."""
        return cls(start)

    def __call__(self) -> tf.Tensor:
        """MFCCs ``[B, T, 26]``."""
        raise NotImplementedError

    def to_variable(self, x: np.ndarray) -> np.ndarray:
        """Variable values that produce MFCCs ``x``."""
        raise NotImplementedError

    def bounds(self, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-coefficient MFCC bounds ``[26]`` expressed on the variable."""
        raise NotImplementedError


class ParamFactory(Protocol):
    """What ``maximize_activation(param=...)`` takes: a parameterization class or a :class:`ParamSpec`."""

    def build(self, start: np.ndarray) -> Parameterization: ...


@dataclass(frozen=True, eq=False)
class ParamSpec:
    """A parameterization class and its settings, built once the starting MFCCs are known."""
    cls: type[Parameterization]
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.cls.kind

    def build(self, start: np.ndarray) -> Parameterization:
        return self.cls(start, **self.settings)


class DirectParam(Parameterization):
    """X is the variable itself (the study's parameterization)."""
    kind = "direct"

    def __init__(self, initial: np.ndarray):
        """``initial``: MFCCs ``[B, T, 26]``."""
        self.variable = tf.Variable(np.asarray(initial, np.float32), name="input_var")

    @classmethod
    def spec(cls) -> ParamSpec:
        return ParamSpec(cls)

    def __call__(self) -> tf.Tensor:
        return tf.identity(self.variable)

    def to_variable(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float32)

    def bounds(self, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return low, high


class ScaledParam(DirectParam):
    """X = mean + std * V with per-coefficient data statistics ``[26]``.

    Adam moves each entry of V by about the learning rate per step, so here a step moves
    every coefficient by the same fraction of its spread in real speech (c0 spans tens
    of units, c25 a few): the audio analogue of Lucid's decorrelated colour space.
    """
    kind = "scaled"

    def __init__(self, initial: np.ndarray, mean: np.ndarray, std: np.ndarray):
        self.mean = np.asarray(mean, np.float32).reshape(N_INPUT)
        self.std = np.maximum(np.asarray(std, np.float32).reshape(N_INPUT), 1e-3)
        super().__init__(self.to_variable(initial))

    @classmethod
    def spec(cls, stats: MfccStats) -> ParamSpec:
        """The factory for ``maximize_activation(param=...)``: scaled by ``stats``."""
        return ParamSpec(cls, {"mean": stats.mean, "std": stats.std})

    @classmethod
    def build(cls, start: np.ndarray) -> "ScaledParam":
        raise ParameterError("param: ScaledParam needs MFCC statistics; pass ScaledParam.spec(stats)")

    def __call__(self) -> tf.Tensor:
        return self.mean + self.std * self.variable

    def to_variable(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float32) - self.mean) / self.std).astype(np.float32)

    def bounds(self, low, high):
        return (low - self.mean) / self.std, (high - self.mean) / self.std


# ====================================================================== starting MFCCs
def initial_inputs(objectives: Sequence[Objective], frames: int, init: str | np.ndarray = "noise",
                   init_std: float = 1.0, seed: int = 0, stats: MfccStats | None = None) -> np.ndarray:
    """Starting MFCCs ``[B, T, 26]``, rows in objective order (copies together).

    ``init``: ``"zeros"``; ``"noise"`` (normal, std ``init_std``, around the data mean
    when ``stats`` is given, else around 0; each row from its objective's own stream);
    ``"mean"`` (the data mean, needs ``stats``); an array ``[T', 26]`` (an utterance's
    MFCCs, cropped or zero-padded to T) or an audio path (its MFCCs).
    """
    given = _given_start(init, frames)
    if given is None and init not in ("zeros", "noise", "mean"):
        raise ParameterError(f"init: unknown start {init!r}")
    if init == "mean" and stats is None:
        raise ParameterError("init: 'mean' needs MFCC statistics (stats=...)")
    centre = np.zeros(N_INPUT, np.float32) if stats is None else np.asarray(stats.mean, np.float32)
    rows = []
    for obj in objectives:
        for copy in range(obj.n_inputs):
            if given is not None:
                rows.append(given)
            elif init == "zeros":
                rows.append(np.zeros((frames, N_INPUT), np.float32))
            elif init == "mean":
                rows.append(np.tile(centre, (frames, 1)))
            else:
                rng = np.random.default_rng([seed, obj.stream(copy)])
                rows.append(centre + init_std * rng.standard_normal((frames, N_INPUT)).astype(np.float32))
    return np.stack(rows).astype(np.float32)


def _given_start(init: str | os.PathLike | np.ndarray, frames: int) -> np.ndarray | None:
    """MFCCs ``[frames, 26]`` of an array or audio-file ``init`` (cropped or zero-padded), else None."""
    if isinstance(init, (str, os.PathLike)):
        if init in ("zeros", "noise", "mean"):
            return None
        from ...speech.mfcc import audio_file_to_mfccs

        given = audio_file_to_mfccs(init)
    else:
        given = np.asarray(init, np.float32)
    if given.ndim != 2 or given.shape[1] != N_INPUT:
        raise ParameterError(f"init: initial MFCCs must be [T, {N_INPUT}], got {given.shape}")
    return np.pad(given[:frames], ((0, max(0, frames - len(given))), (0, 0)))

