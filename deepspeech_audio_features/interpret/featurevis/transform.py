"""Transforms: random changes applied to the inputs before the network sees them, so that
a learned input does not depend on exact frame positions (Lucid's ``transform``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ...infra.errors import ParameterError
from ...infra.options import check_int


class Transform:
    """A random change of the input batch ``[B, T, 26]``, redrawn per row and step.

    Each row draws one integer per step from its own random stream (:meth:`draw`), so a
    row's draws do not depend on what else is batched; :meth:`apply` changes the batch
    given those draws, inside the compiled step.
    """

    def draw(self, rng: np.random.Generator) -> int:
        """This row's random parameter for one step."""
        raise NotImplementedError

    def apply(self, x: tf.Tensor, draws: tf.Tensor) -> tf.Tensor:
        """``x [B, T, N]`` and ``draws [B]`` -> what the network sees."""
        raise NotImplementedError

    def check(self, frames: int) -> None:
        """ParameterError if the transform cannot apply to inputs of ``frames`` frames."""

    def identity(self) -> dict:
        """What a run's ``config.json`` records about the transform (resuming compares it)."""
        return {"transform": type(self).__name__}


#: What a run records when it has no transform (a jitter of 0, as the study's runs).
NO_TRANSFORM = {"jitter": 0}


@dataclass(frozen=True)
class TimeJitter(Transform):
    """Random time shift: the network sees ``X[s : s + T - max_shift]``, s uniform in
    ``[0, max_shift]``, drawn per row and step (Lucid's ``jitter``, in time only)."""
    max_shift: int

    def __post_init__(self):
        check_int("jitter", self.max_shift, 0)

    def draw(self, rng: np.random.Generator) -> int:
        return int(rng.integers(0, self.max_shift + 1))

    def apply(self, x: tf.Tensor, draws: tf.Tensor) -> tf.Tensor:
        """``x [B, T, N]``, ``draws [B]`` (the offsets) -> ``[B, T - max_shift, N]``."""
        window = tf.shape(x)[1] - self.max_shift
        index = draws[:, None] + tf.range(window)[None, :]
        return tf.gather(x, index, batch_dims=1)

    def check(self, frames: int) -> None:
        if self.max_shift >= frames:
            raise ParameterError(f"jitter: must be in [0, frames={frames}); got {self.max_shift}")

    def identity(self) -> dict:
        return {"jitter": int(self.max_shift)}
