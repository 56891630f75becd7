"""The optimizer shared by feature visualization and importance masks: one Adam step.

The same code updates NumPy arrays (masks, float64) and TensorFlow tensors (feature
visualization, float32): pass the array library as ``ops`` (``numpy`` or ``tensorflow``),
whose ``sqrt`` and ``square`` it calls. (``square`` rather than ``grad * grad``: in a
``tf.function`` the two do not give the same bits.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction.

    Args:
        learning_rate: step size, in the parameter's units.
        beta1, beta2: decay of the first and second moment estimates.
        epsilon: added to the root of the second moment (TF/Keras use 1e-7, the paper 1e-8).
    """
    learning_rate: float
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8

    def step(self, param: Any, grad: Any, m: Any, v: Any, t: Any, ops: Any = np) -> tuple[Any, Any, Any]:
        """One update at step ``t`` (1 for the first); returns ``(param, m, v)``, all new.

        ``param``, ``grad``, ``m``, ``v`` share one shape; ``t`` is a number or a scalar
        tensor; ``ops`` is ``numpy`` or ``tensorflow``.
        """
        m = self.beta1 * m + (1 - self.beta1) * grad
        v = self.beta2 * v + (1 - self.beta2) * ops.square(grad)
        m_hat = m / (1 - self.beta1 ** t)
        v_hat = v / (1 - self.beta2 ** t)
        return param - self.learning_rate * m_hat / (ops.sqrt(v_hat) + self.epsilon), m, v
