"""Feature visualization: inputs learned by gradient ascent to excite chosen neurons.

For layer ``i`` with output ``y_i(X)`` of shape ``[T, F]`` and a neuron set ``J``, the
study's problem (its equation 2) is::

    maximize over X [T, 26]:  mean_{t, f in J} y_i(X)[t, f]  -  lambda / (T * N) * TV(X)
    TV(X) = sum_{t,n} |X[t+1, n] - X[t, n]| + |X[t, n+1] - X[t, n]|      (anisotropic L1)

The pieces are kept small and separate, as in Lucid / Lucent:

- :class:`Objective` -- a layer, a neuron set, its lambda, a sign (maximize or
  minimize), how many diverse inputs to learn and the diversity weight;
- :func:`total_variation` -- the regularizer;
- parameterizations (:class:`DirectParam`, :class:`ScaledParam`) -- how the optimized
  variable becomes MFCCs ``[B, T, 26]``;
- transforms (:class:`TimeJitter`) -- random changes applied before the network sees
  the input, so that the learned input does not depend on exact frame positions;
- :func:`maximize_activation` -- the optimizer: **all objectives in one batch**, one
  forward and one backward pass per step. Rows are sorted deepest layer first and the
  batch shrinks as it goes deeper (:func:`staged_activations`), so every objective runs
  the network only up to its own layer while the layers they share run as one matmul.

Run folder (the study's layout; every file written atomically)::

    <run>/config.json                       objectives, lambda, seed, model, options
    <run>/<name>/config.json                this objective's own settings
    <run>/<name>/input_var_<step>.npy       X [T, 26] (or [n_inputs, T, 26])
    <run>/<name>/activation_loss_<step>.npy the negated mean activation (scalar or [n_inputs])
    <run>/<name>/total_var_loss_<step>.npy  TV(X) / (T * N), the total variation per element
    <run>/state.npz                         variable + Adam moments of the last snapshot (resume)

``<name>`` is the objective's name, by default its layer. A step's files describe the
input *after* that many updates, so step 0 is the initial input.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf

from ...infra.atomic import load_array, load_json, save_array, save_arrays, save_json
from ...infra.errors import RunConflictError
from ...infra.runfolder import snapshot_steps
from ...speech.frames import N_INPUT
from ...speech.model import LAYERS, DeepSpeech
from ..optim import Adam

#: Bumped when the meaning of a run folder changes; resuming checks it.
RUN_FORMAT = 1


# ====================================================================== objectives
@dataclass(frozen=True)
class Objective:
    """What to optimize: the mean activation of ``neurons`` of ``layer``.

    Args:
        layer: one of :data:`~deepspeech_audio_features.model.LAYERS`.
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
            raise ValueError(f"unknown layer {self.layer!r}; layers are {', '.join(LAYERS)}")
        neurons = tuple(int(n) for n in np.atleast_1d(self.neurons))
        if not neurons or min(neurons) < 0:
            raise ValueError(f"objective on {self.layer}: neurons must be a non-empty set of indices >= 0")
        object.__setattr__(self, "neurons", neurons)
        object.__setattr__(self, "name", self.name or self.layer)
        if self.n_inputs < 1:
            raise ValueError(f"objective {self.name}: n_inputs must be >= 1")

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


def _check_neurons(model: DeepSpeech, objectives: Sequence[Objective]) -> None:
    for obj in objectives:
        width = layer_width(model, obj.layer)
        if max(obj.neurons) >= width:
            raise ValueError(f"objective {obj.name}: neuron {max(obj.neurons)} out of range, "
                             f"{obj.layer} has {width} outputs")


def layer_width(model: DeepSpeech, layer: str) -> int:
    """F, the number of outputs of ``layer`` (n_hidden, or 29 for the logits)."""
    return int(model.dense["layer_6"][0].shape[1]) if layer == "layer_6" else model.n_hidden


# ====================================================================== regularizer
def total_variation(x: tf.Tensor) -> tf.Tensor:
    """Anisotropic L1 total variation over the last two axes.

    Args:
        x: ``[..., T, N]``.
    Returns:
        ``[...]``: ``sum |x[t+1, n] - x[t, n]| + sum |x[t, n+1] - x[t, n]|``.
        Its gradient uses sign(0) = 0 at ties.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    dt = tf.abs(x[..., 1:, :] - x[..., :-1, :])
    dn = tf.abs(x[..., :, 1:] - x[..., :, :-1])
    return tf.reduce_sum(dt, axis=[-2, -1]) + tf.reduce_sum(dn, axis=[-2, -1])


# ====================================================================== parameterizations
class DirectParam:
    """X is the variable itself (the study's parameterization)."""
    kind = "direct"

    def __init__(self, initial: np.ndarray):
        """``initial``: MFCCs ``[B, T, 26]``."""
        self.variable = tf.Variable(np.asarray(initial, np.float32), name="input_var")

    def __call__(self) -> tf.Tensor:
        """MFCCs ``[B, T, 26]``."""
        return tf.identity(self.variable)

    def to_variable(self, x: np.ndarray) -> np.ndarray:
        """Variable values that produce MFCCs ``x``."""
        return np.asarray(x, np.float32)

    def bounds(self, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-coefficient MFCC bounds ``[26]`` expressed on the variable."""
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

    def __call__(self) -> tf.Tensor:
        return self.mean + self.std * self.variable

    def to_variable(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float32) - self.mean) / self.std).astype(np.float32)

    def bounds(self, low, high):
        return (low - self.mean) / self.std, (high - self.mean) / self.std


# ====================================================================== transforms
@dataclass(frozen=True)
class TimeJitter:
    """Random time shift: the network sees ``X[s : s + T - max_shift]``, s uniform in
    ``[0, max_shift]``, drawn per row and step (Lucid's ``jitter``, in time only)."""
    max_shift: int

    def draw(self, rng: np.random.Generator) -> int:
        return int(rng.integers(0, self.max_shift + 1))

    def apply(self, x: tf.Tensor, offsets: tf.Tensor) -> tf.Tensor:
        """``x [B, T, N]``, ``offsets [B]`` -> ``[B, T - max_shift, N]``."""
        window = tf.shape(x)[1] - self.max_shift
        index = offsets[:, None] + tf.range(window)[None, :]
        return tf.gather(x, index, batch_dims=1)


# ====================================================================== staged forward
@dataclass
class _Plan:
    """Rows sorted deepest layer first; ``counts[k]`` rows reach layer k."""
    objectives: list[Objective]
    order: list[tuple[int, int]]  # sorted row -> (objective index, copy)
    counts: list[int]
    weights: dict[int, np.ndarray]  # depth -> [rows ending there, F] neuron weights 1/|J|
    signs: np.ndarray  # [B] +1 maximize, -1 minimize
    lams: np.ndarray  # [B]
    diverse: list[tuple[int, int, int, float]]  # (depth, first row, last row + 1, weight)


def _plan(model: DeepSpeech, objectives: Sequence[Objective]) -> _Plan:
    objectives = list(objectives)
    names = [o.name for o in objectives]
    if len(set(names)) != len(names):
        raise ValueError(f"objective names must be unique (they name the snapshot folders): {names}")
    _check_neurons(model, objectives)
    by_depth = sorted(range(len(objectives)), key=lambda i: -objectives[i].depth)  # stable
    order = [(i, c) for i in by_depth for c in range(objectives[i].n_inputs)]
    depths = np.array([objectives[i].depth for i, _ in order])
    counts = [int(np.sum(depths >= k)) for k in range(len(LAYERS))]
    weights = {}
    for k in range(len(LAYERS)):
        rows = [i for i, _ in order if objectives[i].depth == k]
        if rows:
            w = np.zeros((len(rows), layer_width(model, LAYERS[k])), np.float32)
            for r, i in enumerate(rows):
                w[r, list(objectives[i].neurons)] = 1.0 / len(set(objectives[i].neurons))
            weights[k] = w
    diverse = []
    for i, obj in enumerate(objectives):
        if obj.n_inputs > 1 and obj.diversity:
            first = order.index((i, 0))
            diverse.append((obj.depth, first, first + obj.n_inputs, float(obj.diversity)))
    signs = np.array([-1.0 if objectives[i].negative else 1.0 for i, _ in order], np.float32)
    lams = np.array([objectives[i].lam for i, _ in order], np.float32)
    return _Plan(objectives, order, counts, weights, signs, lams, diverse)


def staged_activations(model: DeepSpeech, x: tf.Tensor, counts: Sequence[int],
                       weights: dict[int, tf.Tensor], keep: Sequence[int] = ()) -> tuple[tf.Tensor, dict]:
    """Mean neuron activations of a batch whose rows stop at different layers.

    Rows are sorted deepest first: ``counts[k]`` rows go through layer k, so the batch
    shrinks with depth and no row runs past its own layer. Same arithmetic as
    :meth:`DeepSpeech.forward` for full-length inputs (a test checks they agree).

    Args:
        x: ``[B, T, 26]`` MFCCs (every frame real).
        counts: ``[6]`` non-increasing row counts per layer, ``counts[0] == B``.
        weights: depth -> ``[rows ending at that depth, F]``; row r's activation is
            ``mean_t sum_f y[r, t, f] * w[r, f]``.
        keep: depths whose full outputs to return as well (for the diversity penalty).
    Returns:
        ``(activations [B], {depth: [counts[depth], T, F]})``, activations in row order.
    """
    h = model.context_windows(x)
    pieces, kept = [], {}
    for k, layer in enumerate(LAYERS):
        n = counts[k]
        if n == 0:
            break
        if k:
            h = h[:n]
        h = model.apply_layer(layer, h)
        if k in weights:
            ending = counts[k + 1] if k + 1 < len(counts) else 0
            mean_t = tf.reduce_mean(h[ending:n], axis=1)  # [rows, F]
            pieces.append(tf.reduce_sum(mean_t * weights[k], axis=1))
        if k in keep:
            kept[k] = h
    # pieces run shallow rows last-first; rows are deepest first, so reverse
    return tf.concat(pieces[::-1], axis=0), kept


def _diversity_penalty(kept: dict, diverse) -> tf.Tensor:
    """Sum over objectives of weight * mean pairwise cosine similarity of Gram matrices."""
    total = tf.constant(0.0)
    for depth, first, last, weight in diverse:
        a = kept[depth][first:last]  # [n, T, F]
        gram = tf.einsum("ntf,ntg->nfg", a, a) / tf.cast(tf.shape(a)[1], tf.float32)
        flat = tf.math.l2_normalize(tf.reshape(gram, [last - first, -1]), axis=1)
        sims = tf.matmul(flat, flat, transpose_b=True)
        n = last - first
        total += weight * (tf.reduce_sum(sims) - tf.linalg.trace(sims)) / (n * (n - 1))
    return total


# ====================================================================== inputs and statistics
@dataclass(frozen=True)
class MfccStats:
    """Per-coefficient statistics ``[26]`` of real MFCCs: mean, std and a range
    (the ``percentile`` and ``100 - percentile`` percentiles) used for clamping."""
    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def to_json(self) -> dict:
        return {k: np.asarray(v).round(6).tolist() for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> "MfccStats":
        return cls(**{k: np.asarray(data[k], np.float32) for k in ("mean", "std", "low", "high")})


def mfcc_stats(mfccs: Sequence[np.ndarray], percentile: float = 0.5) -> MfccStats:
    """Statistics of a list of ``[T_i, 26]`` MFCC arrays (all frames pooled)."""
    frames = np.concatenate([np.asarray(m, np.float32) for m in mfccs])
    return MfccStats(frames.mean(0), frames.std(0), np.percentile(frames, percentile, 0).astype(np.float32),
                     np.percentile(frames, 100 - percentile, 0).astype(np.float32))


def load_dataset_mfccs(dataset: str | os.PathLike, max_utterances: int | None = 256, seed: int = 0,
                       upper_frequency_limit: float = 8000.0) -> tuple[list[np.ndarray], list[str]]:
    """MFCCs of up to ``max_utterances`` utterances drawn at random (``seed``) from a
    dataset; unusable files are skipped. Returns ``(mfccs [T_i, 26] list, paths)``."""
    from ...infra.errors import AudioError
    from ...speech.datasets import read_dataset
    from ...speech.mfcc import audio_file_to_mfccs

    utterances = read_dataset(dataset)
    order = np.random.default_rng(seed).permutation(len(utterances))
    if max_utterances is not None:
        order = np.sort(order[:max_utterances])
    out, paths = [], []
    for i in order:
        try:
            out.append(audio_file_to_mfccs(utterances[i].path, upper_frequency_limit))
            paths.append(utterances[i].path)
        except AudioError:
            continue
    if not out:
        raise ValueError(f"{dataset}: no usable utterances")
    return out, paths


def select_neurons(model: DeepSpeech, mfccs: Sequence[np.ndarray], layers: Sequence[str] = LAYERS,
                   count: int = 3, batch_size: int = 32) -> dict[str, list[int]]:
    """The ``count`` most variable neurons of each layer on real speech.

    The rule: standard deviation of each neuron's output over all real frames of
    ``mfccs`` (padding excluded), highest first. Dead or saturated neurons (std 0) are
    never picked, and a neuron that varies across speech is one whose maximization
    says something about what the layer responds to. Ties break by lower index.

    Returns:
        ``{layer: [neuron, ...]}``.
    """
    from ...speech.batching import length_batches, pad_batch

    layers = list(layers)
    deepest = max(layers, key=LAYERS.index)
    forward = model.compiled_forward(deepest)
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
        ranked = np.lexsort((np.arange(len(std)), -std))
        chosen[layer] = [int(i) for i in ranked[:count]]
    return chosen


def initial_inputs(objectives: Sequence[Objective], frames: int, init: str | np.ndarray = "noise",
                   init_std: float = 1.0, seed: int = 0, stats: MfccStats | None = None) -> np.ndarray:
    """Starting MFCCs ``[B, T, 26]``, rows in objective order (copies together).

    ``init``: ``"zeros"``; ``"noise"`` (normal, std ``init_std``, around the data mean
    when ``stats`` is given, else around 0; each row from its objective's own stream);
    ``"mean"`` (the data mean, needs ``stats``); an array ``[T', 26]`` (an utterance's
    MFCCs, cropped or zero-padded to T) or an audio path (its MFCCs).
    """
    rows = []
    centre = np.zeros(N_INPUT, np.float32) if stats is None else np.asarray(stats.mean, np.float32)
    given = None
    if isinstance(init, (str, os.PathLike)) and init not in ("zeros", "noise", "mean"):
        from ...speech.mfcc import audio_file_to_mfccs

        given = audio_file_to_mfccs(init)
    elif not isinstance(init, str):
        given = np.asarray(init, np.float32)
    if given is not None:
        if given.ndim != 2 or given.shape[1] != N_INPUT:
            raise ValueError(f"initial MFCCs must be [T, {N_INPUT}], got {given.shape}")
        given = np.pad(given[:frames], ((0, max(0, frames - len(given))), (0, 0)))
    elif init == "mean" and stats is None:
        raise ValueError("init='mean' needs MFCC statistics")
    for obj in objectives:
        for copy in range(obj.n_inputs):
            if given is not None:
                rows.append(given)
            elif init == "zeros":
                rows.append(np.zeros((frames, N_INPUT), np.float32))
            elif init == "mean":
                rows.append(np.tile(centre, (frames, 1)))
            elif init == "noise":
                rng = np.random.default_rng([seed, obj.stream(copy)])
                rows.append(centre + init_std * rng.standard_normal((frames, N_INPUT)).astype(np.float32))
            else:
                raise ValueError(f"unknown init {init!r}")
    return np.stack(rows).astype(np.float32)


# ====================================================================== the optimizer
@dataclass
class VisualizationResult:
    """Final inputs and their losses, per objective name.

    ``inputs[name]``: ``[T, 26]`` (``[n_inputs, T, 26]`` when several);
    ``activation[name]``: the mean activation (not negated), scalar or ``[n_inputs]``;
    ``total_variation[name]``: TV per element; ``steps``: the number of updates done.
    """
    inputs: dict[str, np.ndarray]
    activation: dict[str, np.ndarray]
    total_variation: dict[str, np.ndarray]
    steps: int
    out: str | None = None
    config: dict = field(default_factory=dict)
    #: wall seconds of the steps after the first one of this call (tracing excluded)
    #: and how many steps that covers (snapshot writing included).
    timing: dict = field(default_factory=dict)


def maximize_activation(model: DeepSpeech, objectives: Sequence[Objective], steps: int = 500,
                        out: str | os.PathLike | None = None, frames: int = 100,
                        learning_rate: float = 0.3, init: str | np.ndarray = "noise", init_std: float = 1.0,
                        seed: int = 0, snapshot_every: int = 10, jitter: int = 0, clamp: bool = False,
                        param: str = "direct", stats: MfccStats | None = None,
                        beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-7,
                        progress: bool = True, extra_config: dict | None = None) -> VisualizationResult:
    """Learn inputs for many objectives at once (one forward/backward per step for all).

    Each row ``r`` of the batch (one per input of each objective) minimizes::

        -sign * mean_{t, f in J} y_layer(X_r)[t, f] + lam / (T * N) * TV(X_r)

    plus, for objectives with several inputs, ``diversity`` times their mean pairwise
    Gram similarity. Rows are independent, so batching changes no result (tested).

    Defaults were chosen on the embedded model's architecture (n_hidden 384, its first
    training checkpoint), six objectives of three most-variable neurons, T = 100:
    learning rate 0.03 / 0.1 / 0.3 / 1.0 reached after 150 steps mean activations of
    14.0 / 16.7 / 19.2 / 19.8 on layer_1 (clip 20) and 2.73 / 3.48 / 3.54 / 3.63 on
    layer_6, with the lowest total variation at 0.3, hence 0.3 (in MFCC units; real
    MFCCs spread from std 47 for c0, silence included, to 0.4 for c25). Starting from
    noise (std 1 around the data mean when ``stats`` is given) beat zeros on layers 1
    and 6 (zeros: 13.4 and 2.3). ``param="scaled"`` and ``clamp`` reached lower
    activations at equal steps, and the study used neither, so both are off by default;
    jitter is off as in the study.

    Args:
        objectives: what to optimize; names must be unique.
        steps: Adam updates in total (a resumed run continues up to this number).
        out: run folder for snapshots and resuming (``None``: nothing written).
        frames: T, the input length in 20 ms frames.
        learning_rate: Adam's step size, in MFCC units (variable units for ``scaled``).
        init: ``"noise"``, ``"zeros"``, ``"mean"``, MFCCs ``[T', 26]`` or an audio path
            (see :func:`initial_inputs`).
        init_std: standard deviation of the initial noise.
        seed: seeds the initial noise and the jitter (with each objective's stream).
        snapshot_every: k, write snapshots at steps 0, k, 2k, ... and at ``steps``.
        jitter: max time shift in frames (0 = off); the network then sees T - jitter frames.
        clamp: after every update clip each coefficient to ``[stats.low, stats.high]``.
        param: ``"direct"`` (X is the variable) or ``"scaled"`` (see :class:`ScaledParam`).
        stats: real-speech MFCC statistics (needed by ``clamp``, ``param="scaled"``,
            ``init="mean"``; shifts ``"noise"`` to the data mean).
    Returns:
        :class:`VisualizationResult` with the inputs after ``steps`` updates.
    Raises:
        ValueError: a bad objective, or ``out`` holds a run with other settings.
    """
    from tqdm.auto import tqdm

    if (clamp or param == "scaled") and stats is None:
        raise ValueError("clamp and param='scaled' need MFCC statistics (stats=mfcc_stats(...))")
    if jitter < 0 or jitter >= frames:
        raise ValueError(f"jitter must be in [0, frames); got {jitter}")
    plan = _plan(model, objectives)
    config = {
        "format": RUN_FORMAT,
        "objectives": [o.to_json() for o in plan.objectives],
        "frames": int(frames), "learning_rate": float(learning_rate),
        "init": init if isinstance(init, str) else "array", "init_std": float(init_std), "seed": int(seed),
        "snapshot_every": int(snapshot_every), "jitter": int(jitter), "clamp": bool(clamp), "param": param,
        "adam": {"beta1": beta1, "beta2": beta2, "epsilon": epsilon},
        "stats": stats.to_json() if stats is not None else None,
        "model": {"fingerprint": model.fingerprint(), "n_hidden": model.n_hidden,
                  "name": model.metadata.get("name"), "checkpoint": model.metadata.get("checkpoint")},
    }
    if not isinstance(init, str):
        config["init_fingerprint"] = hashlib.sha1(np.ascontiguousarray(init, np.float32).tobytes()).hexdigest()[:16]
    config.update(extra_config or {})

    # Rows in sorted (deepest first) order; objective-order rows map onto them.
    start_rows = initial_inputs(plan.objectives, frames, init, init_std, seed, stats)
    object_rows = [(i, c) for i in range(len(plan.objectives)) for c in range(plan.objectives[i].n_inputs)]
    sorted_to_object = np.array([object_rows.index(rc) for rc in plan.order])
    if param == "scaled":
        parameterization = ScaledParam(start_rows[sorted_to_object], stats.mean, stats.std)
    elif param == "direct":
        parameterization = DirectParam(start_rows[sorted_to_object])
    else:
        raise ValueError(f"unknown param {param!r} (direct or scaled)")
    variable = parameterization.variable
    m = tf.Variable(tf.zeros_like(variable))
    v = tf.Variable(tf.zeros_like(variable))
    start = 0
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        start = _resume_or_start(out_path, config, variable, m, v, sorted_to_object)
        steps = max(steps, start)  # a finished longer run is returned as it is
        save_json(out_path / "config.json", {**config, "steps": int(steps)})
        for obj in plan.objectives:
            save_json(out_path / obj.name / "config.json",
                      {**{k: config[k] for k in config if k != "objectives"}, "objective": obj.to_json(),
                       "layer": obj.layer, "neurons": list(obj.neurons), "lam": obj.lam, "steps": int(steps)})

    lower = upper = None
    if clamp:
        lo, hi = parameterization.bounds(stats.low, stats.high)
        lower, upper = tf.constant(lo, tf.float32), tf.constant(hi, tf.float32)
    weights = {k: tf.constant(w) for k, w in plan.weights.items()}
    signs, lams = tf.constant(plan.signs), tf.constant(plan.lams)
    keep = sorted({d for d, *_ in plan.diverse})
    scale = 1.0 / (frames * N_INPUT)
    transform = TimeJitter(jitter) if jitter else None

    @tf.function(autograph=False)  # plain Python control flow only; traced once per call
    def evaluate(offsets):
        with tf.GradientTape() as tape:
            x = parameterization()
            seen = transform.apply(x, offsets) if transform is not None else x
            act, kept = staged_activations(model, seen, plan.counts, weights, keep)
            tv = total_variation(x)
            loss = tf.reduce_sum(-signs * act + lams * scale * tv)
            if plan.diverse:
                loss += _diversity_penalty(kept, plan.diverse)
        return act, tv * scale, tape.gradient(loss, variable)

    adam = Adam(learning_rate, beta1, beta2, epsilon)

    @tf.function(autograph=False)
    def update(grad, step):
        new, m_new, v_new = adam.step(variable, grad, m, v, tf.cast(step + 1, tf.float32), ops=tf)
        m.assign(m_new)
        v.assign(v_new)
        if lower is not None:
            new = tf.clip_by_value(new, lower, upper)
        variable.assign(new)

    act = tv = None
    clock = end = None
    timed = 0
    bar = tqdm(total=steps, initial=min(start, steps), desc="feature visualization", disable=not progress)
    for step in range(start, steps + 1):
        offsets = np.zeros(len(plan.order), np.int32)
        if transform is not None:
            for r, (i, c) in enumerate(plan.order):
                offsets[r] = transform.draw(np.random.default_rng([seed, plan.objectives[i].stream(c), step]))
        act, tv, grad = evaluate(tf.constant(offsets))
        if out_path is not None and (step % snapshot_every == 0 or step == steps):
            _write_snapshots(out_path, plan, step, parameterization().numpy(), act.numpy(), tv.numpy())
            save_arrays(out_path / "state.npz", step=np.int64(step),
                        variable=_to_object_order(variable.numpy(), sorted_to_object),
                        m=_to_object_order(m.numpy(), sorted_to_object),
                        v=_to_object_order(v.numpy(), sorted_to_object))
        if step < steps:
            update(grad, tf.constant(step, tf.int64))
            if clock is None:  # the first step traces; time the others
                clock = end = time.perf_counter()
            else:
                timed, end = timed + 1, time.perf_counter()
            bar.update(1)
            if progress and step % 10 == 0:
                bar.set_postfix(activation=f"{float(np.mean(act.numpy() * plan.signs)):.3f}")
    bar.close()
    elapsed = end - clock if clock is not None else 0.0
    x_final = parameterization().numpy()
    act_np, tv_np = (act.numpy(), tv.numpy()) if act is not None else (None, None)
    inputs, activation, variation = {}, {}, {}
    for i, obj in enumerate(plan.objectives):
        rows = [r for r, (j, _) in enumerate(plan.order) if j == i]
        squeeze = (lambda a: a[0]) if obj.n_inputs == 1 else (lambda a: a)
        inputs[obj.name] = squeeze(x_final[rows])
        if act_np is not None:
            activation[obj.name] = squeeze(act_np[rows])
            variation[obj.name] = squeeze(tv_np[rows])
    return VisualizationResult(inputs, activation, variation, steps, str(out_path) if out_path else None, config,
                               {"steps": timed, "seconds": elapsed})


def _to_object_order(values: np.ndarray, sorted_to_object: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    out[sorted_to_object] = values
    return out


def _identity(config: dict) -> dict:
    """The settings a resumed run must share with the original (all but ``steps``)."""
    return json.loads(json.dumps({k: v for k, v in config.items() if k != "steps"}, default=str))


def _resume_or_start(out: Path, config: dict, variable, m, v, sorted_to_object) -> int:
    state_path, config_path = out / "state.npz", out / "config.json"
    if not config_path.exists():
        return 0
    old = _identity(load_json(config_path))
    if old != _identity(config):
        differing = sorted(k for k in set(old) | set(_identity(config)) if old.get(k) != _identity(config).get(k))
        raise RunConflictError(f"{out}: holds a run with other settings ({', '.join(differing)}); "
                         "use another folder or delete it")
    if not state_path.exists():
        return 0
    with np.load(state_path, allow_pickle=False) as state:
        variable.assign(state["variable"][sorted_to_object])
        m.assign(state["m"][sorted_to_object])
        v.assign(state["v"][sorted_to_object])
        return int(state["step"])


def _write_snapshots(out: Path, plan: _Plan, step: int, x: np.ndarray, act: np.ndarray, tv: np.ndarray) -> None:
    for i, obj in enumerate(plan.objectives):
        rows = [r for r, (j, _) in enumerate(plan.order) if j == i]
        squeeze = (lambda a: a[0]) if obj.n_inputs == 1 else (lambda a: a)
        folder = out / obj.name
        save_array(folder / f"input_var_{step}.npy", squeeze(x[rows]))
        save_array(folder / f"activation_loss_{step}.npy", squeeze(-act[rows]))
        save_array(folder / f"total_var_loss_{step}.npy", squeeze(tv[rows]))


def load_snapshots(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read one objective's snapshots back.

    Returns:
        ``{"steps": [S], "input_var": [S, T, 26] (or [S, n, T, 26]),
        "activation": [S] (the mean activation, i.e. minus activation_loss),
        "total_var_loss": [S]}``, in step order.
    """
    folder = Path(folder)
    steps = snapshot_steps(folder, "input_var")
    if not steps:
        raise FileNotFoundError(f"{folder}: no input_var_<step>.npy snapshots")
    return {"steps": np.array(steps),
            "input_var": np.stack([load_array(folder / f"input_var_{s}.npy") for s in steps]),
            "activation": -np.stack([load_array(folder / f"activation_loss_{s}.npy") for s in steps]),
            "total_var_loss": np.stack([load_array(folder / f"total_var_loss_{s}.npy") for s in steps])}


# ====================================================================== experiments


