"""What feature visualization optimizes: objectives, the batch plan, the staged forward
pass and the penalties (total variation, diversity), and the rule that picks neurons.

For layer ``i`` with output ``y_i(X)`` of shape ``[T, F]`` and a neuron set ``J``, the
study's problem (its equation 2) is::

    maximize over X [T, 26]:  mean_{t, f in J} y_i(X)[t, f]  -  lambda / (T * N) * TV(X)
    TV(X) = sum_{t,n} |X[t+1, n] - X[t, n]| + |X[t, n+1] - X[t, n]|      (anisotropic L1)

All objectives run as **one batch**: rows are sorted deepest layer first and the batch
shrinks as it goes deeper (:func:`staged_activations`), so every objective runs the
network only up to its own layer while the layers they share run as one matmul.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import tensorflow as tf

from ...infra.errors import ParameterError
from ...infra.options import check_int, check_range
from ...speech.model import LAYERS, DeepSpeech

#: What an objective's name (its snapshot folder) may be made of.
_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Objective:
    """What to optimize: the mean activation of ``neurons`` of ``layer``.

    Args:
        layer: one of :data:`~deepspeech_audio_features.speech.model.LAYERS`.
        neurons: the neuron set J (indices into the layer's F outputs).
        lam: lambda, the weight of the total-variation penalty (equation 2).
        negative: minimize the mean activation instead of maximizing it.
        n_inputs: how many inputs to learn for this objective (rows of the batch).
        diversity: weight of Lucid's diversity penalty between those inputs (mean
            pairwise cosine similarity of the Gram matrices of the layer's outputs).
        name: the snapshot folder under the run (default: the layer's name).
        seed: the random stream of this objective's initial noise and jitter (default:
            derived from the name), so a result does not depend on what else is batched.
    """
    layer: str
    neurons: tuple[int, ...]
    lam: float = 0.0
    negative: bool = False
    n_inputs: int = 1
    diversity: float = 0.0
    name: str = ""
    seed: int | None = None

    def __post_init__(self):
        if self.layer not in LAYERS:
            raise ParameterError(f"layer: unknown layer {self.layer!r}; layers are {', '.join(LAYERS)}")
        given = np.atleast_1d(np.asarray(self.neurons))
        if given.dtype == bool or not (np.issubdtype(given.dtype, np.integer)
                                       or (np.issubdtype(given.dtype, np.floating) and np.all(given == np.round(given)))):
            raise ParameterError(f"neurons: objective on {self.layer} needs integer indices, got {self.neurons!r}")
        neurons = tuple(int(n) for n in given.ravel())
        if not neurons or min(neurons) < 0:
            raise ParameterError(f"neurons: objective on {self.layer} needs a non-empty set of indices >= 0")
        object.__setattr__(self, "neurons", neurons)
        if not isinstance(self.name, str):
            raise ParameterError(f"name: expected a string, got {self.name!r}")
        object.__setattr__(self, "name", self.name or self.layer)
        if not _SAFE_NAME.fullmatch(self.name) or self.name in (".", ".."):
            raise ParameterError(f"name: {self.name!r} must be a plain folder name (letters, digits, . _ -), "
                                 "so its snapshots stay inside the run folder")
        check_int(f"n_inputs: objective {self.name}", self.n_inputs, 1)
        for field_name in ("lam", "diversity"):
            check_range(f"{field_name}: objective {self.name}", getattr(self, field_name), 0)
        if not isinstance(self.negative, (bool, np.bool_)):
            raise ParameterError(f"negative: objective {self.name}: expected true or false, got {self.negative!r}")
        if self.seed is not None:
            check_int(f"seed: objective {self.name}", self.seed)

    @property
    def depth(self) -> int:
        """Index of the layer in :data:`LAYERS` (0 = layer_1)."""
        return LAYERS.index(self.layer)

    def stream(self, copy: int) -> int:
        """The seed offset of input ``copy`` of this objective (stable across batches)."""
        base = self.seed if self.seed is not None else zlib.crc32(self.name.encode())
        return int(base) * 1009 + copy

    def to_json(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> "Objective":
        return cls(**{**data, "neurons": tuple(data["neurons"])})


def layer_width(model: DeepSpeech, layer: str) -> int:
    """F, the number of outputs of ``layer`` (n_hidden, or the model's classes for the logits)."""
    return int(model.dense["layer_6"][0].shape[1]) if layer == "layer_6" else model.n_hidden


def check_objectives(model: DeepSpeech, objectives: Sequence[Objective]) -> None:
    """ParameterError for duplicate names or a neuron index past its layer's width."""
    names = [o.name for o in objectives]
    if len(set(names)) != len(names):
        raise ParameterError(f"objectives: names must be unique (they name the snapshot folders): {names}")
    for obj in objectives:
        width = layer_width(model, obj.layer)
        if max(obj.neurons) >= width:
            raise ParameterError(f"neurons: objective {obj.name}: neuron {max(obj.neurons)} out of range, "
                                 f"{obj.layer} has {width} outputs")


# ====================================================================== the batch plan
@dataclass
class Plan:
    """The batch: rows sorted deepest layer first; ``counts[k]`` rows reach layer k.

    ``order[r]`` is ``(objective index, copy)`` of sorted row r; ``sorted_to_object[r]``
    its index among the rows in objective order (copies together);
    ``weights[k]``: ``[rows ending at layer k, F]`` neuron weights ``1/|J|``;
    ``signs``/``lams``: ``[B]``; ``diverse``: ``(depth, first row, last row + 1, weight)``.
    """
    objectives: list[Objective]
    order: list[tuple[int, int]]
    sorted_to_object: np.ndarray
    counts: list[int]
    weights: dict[int, np.ndarray]
    signs: np.ndarray
    lams: np.ndarray
    diverse: list[tuple[int, int, int, float]]

    def rows(self, objective: int) -> list[int]:
        """Sorted rows of objective number ``objective``."""
        return [r for r, (j, _) in enumerate(self.order) if j == objective]

    def per_objective(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """``{name: values of its rows}``; one row is squeezed (``[T, 26]``, not ``[1, T, 26]``)."""
        out = {}
        for i, obj in enumerate(self.objectives):
            chosen = values[self.rows(i)]
            out[obj.name] = chosen[0] if obj.n_inputs == 1 else chosen
        return out

    def to_object_order(self, values: np.ndarray) -> np.ndarray:
        """Rows in sorted order -> rows in objective order."""
        out = np.empty_like(values)
        out[self.sorted_to_object] = values
        return out


def plan_objectives(model: DeepSpeech, objectives: Sequence[Objective]) -> Plan:
    """Check the objectives and lay them out as one batch (see :class:`Plan`)."""
    objectives = list(objectives)
    check_objectives(model, objectives)
    by_depth = sorted(range(len(objectives)), key=lambda i: -objectives[i].depth)  # stable
    order = [(i, c) for i in by_depth for c in range(objectives[i].n_inputs)]
    object_rows = [(i, c) for i in range(len(objectives)) for c in range(objectives[i].n_inputs)]
    depths = np.array([objectives[i].depth for i, _ in order])
    counts = [int(np.sum(depths >= k)) for k in range(len(LAYERS))]
    diverse = []
    for i, obj in enumerate(objectives):
        if obj.n_inputs > 1 and obj.diversity:
            first = order.index((i, 0))
            diverse.append((obj.depth, first, first + obj.n_inputs, float(obj.diversity)))
    return Plan(objectives, order, np.array([object_rows.index(rc) for rc in order]), counts,
                _neuron_weights(model, objectives, order),
                np.array([-1.0 if objectives[i].negative else 1.0 for i, _ in order], np.float32),
                np.array([objectives[i].lam for i, _ in order], np.float32), diverse)


def _neuron_weights(model: DeepSpeech, objectives: list[Objective], order) -> dict[int, np.ndarray]:
    """depth -> ``[rows ending there, F]``, ``1/|J|`` on each row's neurons."""
    weights = {}
    for k in range(len(LAYERS)):
        rows = [i for i, _ in order if objectives[i].depth == k]
        if rows:
            w = np.zeros((len(rows), layer_width(model, LAYERS[k])), np.float32)
            for r, i in enumerate(rows):
                w[r, list(objectives[i].neurons)] = 1.0 / len(set(objectives[i].neurons))
            weights[k] = w
    return weights


# ====================================================================== forward and penalties
def staged_activations(model: DeepSpeech, x: tf.Tensor, counts: Sequence[int],
                       weights: dict[int, tf.Tensor], keep: Sequence[int] = ()) -> tuple[tf.Tensor, dict]:
    """Mean neuron activations of a batch whose rows stop at different layers.

    Rows are sorted deepest first: ``counts[k]`` rows go through layer k, so the batch
    shrinks with depth and no row runs past its own layer. Same sums as
    :meth:`DeepSpeech.forward` for full-length inputs, layer 1 by :meth:`DeepSpeech.layer_1_from_mfccs`
    (a test checks they agree to float32 round-off).

    Args:
        x: ``[B, T, 26]`` MFCCs (every frame real).
        counts: ``[6]`` non-increasing row counts per layer, ``counts[0] == B``.
        weights: depth -> ``[rows ending at that depth, F]``; row r's activation is
            ``mean_t sum_f y[r, t, f] * w[r, f]``.
        keep: depths whose full outputs to return as well (for the diversity penalty).
    Returns:
        ``(activations [B], {depth: [counts[depth], T, F]})``, activations in row order.
    """
    pieces, kept = [], {}
    h = x
    for k, layer in enumerate(LAYERS):
        n = counts[k]
        if n == 0:
            break
        h = model.layer_1_from_mfccs(h) if k == 0 else model.apply_layer(layer, h[:n])
        if k in weights:
            ending = counts[k + 1] if k + 1 < len(counts) else 0
            mean_t = tf.reduce_mean(h[ending:n], axis=1)  # [rows, F]
            pieces.append(tf.reduce_sum(mean_t * weights[k], axis=1))
        if k in keep:
            kept[k] = h
    # pieces run shallow rows last-first; rows are deepest first, so reverse
    return tf.concat(pieces[::-1], axis=0), kept


def total_variation(x: tf.Tensor) -> tf.Tensor:
    """Anisotropic L1 total variation over the last two axes.

    Args:
        x: ``[..., T, N]``.
    Returns:
        ``[...]``: ``sum |x[t+1, n] - x[t, n]| + sum |x[t, n+1] - x[t, n]|``.
        Its gradient uses sign(0) = 0 at ties.
    """
    return _total_variation(tf.convert_to_tensor(x, tf.float32))


@tf.custom_gradient
def _total_variation(x: tf.Tensor):
    # The gradient written out (each difference's sign, added at its two ends) gives
    # the same values as autodiff's slices and pads, in 2.1 instead of 15.4 CPU ms for
    # [256, 100, 26] (benchmarks/atlas_profile.py): autodiff's took a tenth of a layer_1
    # atlas step.
    dt = x[..., 1:, :] - x[..., :-1, :]
    dn = x[..., :, 1:] - x[..., :, :-1]
    value = tf.reduce_sum(tf.abs(dt), axis=[-2, -1]) + tf.reduce_sum(tf.abs(dn), axis=[-2, -1])

    def gradient(upstream):
        lead = [[0, 0]] * (len(x.shape) - 2)
        st, sn = tf.sign(dt), tf.sign(dn)
        along_t = tf.pad(st, lead + [[1, 0], [0, 0]]) - tf.pad(st, lead + [[0, 1], [0, 0]])
        along_n = tf.pad(sn, lead + [[0, 0], [1, 0]]) - tf.pad(sn, lead + [[0, 0], [0, 1]])
        return (along_t + along_n) * upstream[..., None, None]

    return value, gradient


def diversity_penalty(kept: dict[int, tf.Tensor], diverse: Sequence[tuple[int, int, int, float]]) -> tf.Tensor:
    """Sum over objectives of weight * mean pairwise cosine similarity of Gram matrices.

    Args:
        kept: depth -> layer outputs ``[rows, T, F]`` (from :func:`staged_activations`).
        diverse: ``(depth, first row, last row + 1, weight)`` per objective (:attr:`Plan.diverse`).
    """
    total = tf.constant(0.0)
    for depth, first, last, weight in diverse:
        a = kept[depth][first:last]  # [n, T, F]
        gram = tf.einsum("ntf,ntg->nfg", a, a) / tf.cast(tf.shape(a)[1], tf.float32)
        flat = tf.math.l2_normalize(tf.reshape(gram, [last - first, -1]), axis=1)
        sims = tf.matmul(flat, flat, transpose_b=True)
        n = last - first
        total += weight * (tf.reduce_sum(sims) - tf.linalg.trace(sims)) / (n * (n - 1))
    return total


# ====================================================================== choosing neurons
def select_neurons(model: DeepSpeech, mfccs: Sequence[np.ndarray], layers: Sequence[str] = LAYERS,
                   count: int = 3, batch_size: int = 32) -> dict[str, list[int]]:
    """The ``count`` most variable neurons of each layer on real speech.

    The rule: standard deviation of each neuron's output over all real frames of
    ``mfccs`` (a list of ``[T_i, 26]``, padding excluded), highest first. Dead or
    saturated neurons (std 0) are never picked, and a neuron that varies across speech is
    one whose maximization says something about what the layer responds to. Ties break
    by lower index.

    Returns:
        ``{layer: [neuron, ...]}``.
    """
    from ...speech.batching import length_batches, pad_batch

    layers = list(layers)
    forward = model.compiled_forward(max(layers, key=LAYERS.index))
    sums = {layer: 0.0 for layer in layers}
    squares = {layer: 0.0 for layer in layers}
    frames = 0
    for batch in length_batches([len(m) for m in mfccs], batch_size):
        x, lengths = pad_batch([np.asarray(mfccs[i], np.float32) for i in batch])
        outputs = forward(x, lengths)
        for layer in layers:
            y = outputs[layer].numpy().astype(np.float64)  # zero at padded frames
            sums[layer] = sums[layer] + y.sum(axis=(0, 1))
            squares[layer] = squares[layer] + (y ** 2).sum(axis=(0, 1))
        frames += int(lengths.sum())
    chosen = {}
    for layer in layers:
        mean = sums[layer] / frames
        std = np.sqrt(np.maximum(squares[layer] / frames - mean ** 2, 0.0))
        chosen[layer] = [int(i) for i in np.lexsort((np.arange(len(std)), -std))[:count]]
    return chosen
