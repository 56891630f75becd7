"""The DeepSpeech network in TensorFlow 2: layers, truncated and batched forward passes.

Architecture (DeepSpeech 0.6-0.9, ``create_model`` in the release's train.py)::

    X [T, 26] --context windows--> [T, 494]
      --layer_1, layer_2, layer_3: min(relu(xW + b), 20)-->  [T, n_hidden]
      --LSTM (ICFO gates, forget bias 0, no cell clip)--> rnn_output [T, n_hidden]
      --layer_5: clipped ReLU--> [T, n_hidden] --layer_6: linear--> logits [T, C]

C, the number of classes, is the alphabet's size plus the CTC blank: 29 for DeepSpeech's
English models, whatever ``layer_6`` holds for others (e.g. Coqui STT's languages).

Inputs are batches ``[B, T, 26]`` with ``lengths [B]``. Frames at or past a sequence's
length are zeroed before the context windows are built, so a real frame sees exactly
the zero padding it would see alone, and every layer's output is zero there.
"""
from __future__ import annotations

import hashlib
from typing import Iterable, Mapping

import numpy as np
import tensorflow as tf

from ..infra.errors import CheckpointError, ParameterError
from .alphabet import NUM_CLASSES, Alphabet
from .frames import N_CONTEXT, N_INPUT, UPPER_FREQUENCY_LIMIT, WINDOW_FRAMES

#: The six layers of the study, in network order. ``layer_6`` is the raw logits.
LAYERS: tuple[str, ...] = ("layer_1", "layer_2", "layer_3", "rnn_output", "layer_5", "layer_6")
RELU_CLIP = 20.0
#: Release variable names (0.6-0.9). The LSTM kernel rows are [x; h], columns i, c~, f, o.
LSTM_SCOPE = "cudnn_lstm/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell"
DENSE_LAYERS = ("layer_1", "layer_2", "layer_3", "layer_5", "layer_6")


def official_shapes(n_hidden: int, n_input: int = N_INPUT * WINDOW_FRAMES,
                    n_classes: int = NUM_CLASSES) -> dict[str, tuple[int, ...]]:
    """Variable name -> shape of a release-layout checkpoint with ``n_hidden`` units."""
    h = n_hidden
    return {
        "layer_1/weights": (n_input, h), "layer_1/bias": (h,),
        "layer_2/weights": (h, h), "layer_2/bias": (h,),
        "layer_3/weights": (h, h), "layer_3/bias": (h,),
        f"{LSTM_SCOPE}/kernel": (2 * h, 4 * h), f"{LSTM_SCOPE}/bias": (4 * h,),
        "layer_5/weights": (h, h), "layer_5/bias": (h,),
        "layer_6/weights": (h, n_classes), "layer_6/bias": (n_classes,),
    }


def random_weights(n_hidden: int, seed: int = 0, n_classes: int = NUM_CLASSES) -> dict[str, np.ndarray]:
    """Glorot-uniform weights and small random biases in the release layout (float32)."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in official_shapes(n_hidden, n_classes=n_classes).items():
        if len(shape) == 2:
            limit = np.sqrt(6.0 / (shape[0] + shape[1]))
            weights[name] = rng.uniform(-limit, limit, shape).astype(np.float32)
        else:
            weights[name] = rng.uniform(-0.1, 0.1, shape).astype(np.float32)
    return weights


def _as_batch(mfccs, lengths) -> tuple[tf.Tensor, tf.Tensor, bool]:
    """Accept ``[T, 26]`` or ``[B, T, 26]`` (+ lengths); return float32 batch, int32 lengths."""
    try:
        x = tf.convert_to_tensor(mfccs, dtype=tf.float32)
    except (TypeError, ValueError) as error:
        raise ParameterError(f"mfccs: expected numbers shaped [T, {N_INPUT}] or [B, T, {N_INPUT}], "
                             f"got {type(mfccs).__name__} ({str(error).splitlines()[0][:80]})") from None
    single = x.shape.rank == 2
    if single:
        x = x[None]
    if x.shape.rank != 3 or x.shape[-1] != N_INPUT:
        raise ParameterError(f"expected MFCCs shaped [T, {N_INPUT}] or [B, T, {N_INPUT}], got {tuple(x.shape)}")
    if x.shape[1] == 0:
        raise ParameterError("mfccs: no frames (T = 0)")
    if not bool(tf.reduce_all(tf.math.is_finite(x))):
        raise ParameterError("mfccs: NaN or Inf in the input")
    if lengths is None:
        lengths = tf.fill([tf.shape(x)[0]], tf.shape(x)[1])
    lengths = tf.convert_to_tensor(lengths, dtype=tf.int32)
    return x, lengths, single


def _plain(value):
    """Plain dicts and lists all the way down (from tf.Module's tracking wrappers or tuples)."""
    if isinstance(value, (dict, Mapping)):  # tf's dict proxies are dicts but not Mappings
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


class DeepSpeech(tf.Module):
    """A DeepSpeech network whose weights are ``tf.Variable`` s.

    Build one with :func:`~deepspeech_audio_features.checkpoints.load_model` (from a
    checkpoint) or directly from a dict of release-named arrays.

    Args:
        weights: release variable name -> array, shapes as :func:`official_shapes`.
        forget_bias: added to the forget gate (0 for 0.6+, 1 for 0.5 checkpoints).
        metadata: free-form JSON-able facts about the model (alphabet, features, training).
        alphabet: the labels of ``layer_6``'s columns but the last (the blank); default: the
            metadata's ``alphabet``, else English. Its size must fit ``layer_6``.
    """

    def __init__(self, weights: Mapping[str, np.ndarray], forget_bias: float = 0.0,
                 metadata: dict | None = None, name: str = "deepspeech", alphabet: Alphabet | None = None):
        super().__init__(name=name)
        n_hidden = int(np.shape(weights["layer_1/weights"])[1])
        n_classes = int(np.shape(weights["layer_6/weights"])[-1])
        expected = official_shapes(n_hidden, n_classes=n_classes)
        for key, shape in expected.items():
            if tuple(np.shape(weights[key])) != shape:
                raise CheckpointError(f"{key}: shape {tuple(np.shape(weights[key]))}, expected {shape}")
        self.metadata = dict(metadata or {})
        self.alphabet = Alphabet.coerce(alphabet if alphabet is not None else self.metadata.get("alphabet"))
        if self.alphabet.num_classes != n_classes:
            raise CheckpointError(f"layer_6 has {n_classes} outputs but the alphabet has {len(self.alphabet)} labels "
                                  f"(+ blank = {self.alphabet.num_classes})")
        self.metadata["alphabet"] = self.alphabet.to_json()
        self.n_hidden = n_hidden
        self.n_classes = n_classes
        self.forget_bias = float(forget_bias)
        self.dense = {
            layer: (tf.Variable(np.asarray(weights[f"{layer}/weights"], np.float32), name=f"{layer}_weights"),
                    tf.Variable(np.asarray(weights[f"{layer}/bias"], np.float32), name=f"{layer}_bias"))
            for layer in DENSE_LAYERS
        }
        kernel = np.asarray(weights[f"{LSTM_SCOPE}/kernel"], np.float32)
        # Kept split so the input projection runs as one matmul over all frames.
        self.lstm_input_kernel = tf.Variable(kernel[:n_hidden], name="lstm_input_kernel")
        self.lstm_recurrent_kernel = tf.Variable(kernel[n_hidden:], name="lstm_recurrent_kernel")
        self.lstm_bias = tf.Variable(np.asarray(weights[f"{LSTM_SCOPE}/bias"], np.float32), name="lstm_bias")
        self._compiled: dict = {}

    # ------------------------------------------------------------------ weights
    def official_weights(self) -> dict[str, np.ndarray]:
        """The weights under their release names, as float32 arrays."""
        out = {}
        for layer, (w, b) in self.dense.items():
            out[f"{layer}/weights"] = w.numpy()
            out[f"{layer}/bias"] = b.numpy()
        out[f"{LSTM_SCOPE}/kernel"] = np.concatenate(
            [self.lstm_input_kernel.numpy(), self.lstm_recurrent_kernel.numpy()], axis=0)
        out[f"{LSTM_SCOPE}/bias"] = self.lstm_bias.numpy()
        return out

    def fingerprint(self) -> str:
        """A short hash (16 hex digits) of every weight and the forget bias, so a run can
        tell whether it is resumed on the same model."""
        digest = hashlib.sha1(repr(self.forget_bias).encode())
        for name, value in sorted(self.official_weights().items()):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        return digest.hexdigest()[:16]

    @property
    def metadata(self) -> dict:
        """Free-form JSON-able facts about the model (alphabet, format, features, quantization, training)."""
        return self.__dict__.setdefault("_plain_metadata", {})

    @metadata.setter
    def metadata(self, value: Mapping) -> None:
        # Kept out of tf.Module's attribute tracking, which would wrap nested dicts in
        # proxies that json.dumps cannot write.
        self.__dict__["_plain_metadata"] = _plain(value)

    @property
    def upper_frequency_limit(self) -> float:
        """Top of the MFCC filterbank in Hz this model was trained with (8000; 4000 for 0.6)."""
        return float(self.metadata.get("upper_frequency_limit", UPPER_FREQUENCY_LIMIT))

    # ------------------------------------------------------------------ forward
    def forward(self, x: tf.Tensor, lengths: tf.Tensor | None = None, up_to: str = "layer_6",
                dropout: float = 0.0, training: bool = False) -> dict[str, tf.Tensor]:
        """Differentiable forward pass up to layer ``up_to`` (TensorFlow in and out).

        Args:
            x: float32 ``[B, T, 26]`` MFCCs.
            lengths: int32 ``[B]`` real frames per sequence (default: all ``T``).
            up_to: the deepest layer to compute; deeper layers are not run at all.
            dropout: rate applied after layers 1, 2, 3 and 5 when ``training``.
        Returns:
            ``{layer: [B, T, F]}`` for every layer up to ``up_to``, zero at padded frames.
        """
        if up_to not in LAYERS:
            raise ParameterError(f"unknown layer {up_to!r}; layers are {', '.join(LAYERS)}")
        x = tf.convert_to_tensor(x, tf.float32)
        if lengths is None:
            lengths = tf.fill([tf.shape(x)[0]], tf.shape(x)[1])
        depth = LAYERS.index(up_to)
        mask = tf.sequence_mask(lengths, tf.shape(x)[1], dtype=tf.float32)[:, :, None]  # [B, T, 1]
        h = self.context_windows(x * mask)
        out = {}
        for layer in LAYERS[:depth + 1]:
            h = self.apply_layer(layer, h)
            if training and dropout > 0 and layer not in ("rnn_output", "layer_6"):
                h = tf.nn.dropout(h, rate=dropout)
            h = h * mask
            out[layer] = h
        return out

    @staticmethod
    def context_windows(x: tf.Tensor) -> tf.Tensor:
        """``[B, T, 26]`` -> ``[B, T, 494]``: 9 zero frames at each edge; value k*26 + c is
        coefficient c of frame t-9+k."""
        padded = tf.pad(x, [[0, 0], [N_CONTEXT, N_CONTEXT], [0, 0]])
        h = tf.signal.frame(padded, WINDOW_FRAMES, 1, axis=1)  # [B, T, 19, 26]
        return tf.reshape(h, [tf.shape(x)[0], tf.shape(x)[1], WINDOW_FRAMES * N_INPUT])

    #: Below this width :meth:`layer_1_from_mfccs` convolves; at and above it, windows + matmul.
    CONVOLUTION_BELOW = 512

    def layer_1_from_mfccs(self, x: tf.Tensor) -> tf.Tensor:
        """Layer 1 straight from MFCCs ``[B, T, 26]`` -> ``[B, T, n_hidden]``, by the faster route.

        The same sums as :meth:`context_windows` then ``apply_layer("layer_1", ...)``, up to
        float32 round-off from the order of the additions. Narrow models convolve (the
        kernel is layer 1's ``[494, n]`` matrix read as ``[19, 26, n]``, zero frames past
        each edge), which skips the ``[B, T, 494]`` windows: a feature-visualization step of
        256 objectives x 100 frames measured 1.16x / 1.11x as fast at n = 256 / 384, 0.96x /
        0.99x at 512 / 768 and 0.49x / 0.47x at 1,024 / 2,048 (oneDNN's convolution
        gradient; ``benchmarks/atlas.py --layer-1-routes ...``), so from
        ``CONVOLUTION_BELOW`` units on it builds the windows. Feature visualization uses
        it; the forward passes whose values must match bit for bit (the mask search's full
        and incremental evaluation) keep the windows.

        Raises:
            ParameterError: ``x`` is not shaped ``[B, T, 26]`` (NaN is not checked here:
                :meth:`forward`'s callers check their inputs).
        """
        if x.shape.rank != 3 or x.shape[-1] != N_INPUT:
            raise ParameterError(f"x: expected MFCCs shaped [B, T, {N_INPUT}], got {tuple(x.shape)}")
        if self.n_hidden >= self.CONVOLUTION_BELOW:
            return self.apply_layer("layer_1", self.context_windows(x))
        w, b = self.dense["layer_1"]
        kernel = tf.reshape(w, [WINDOW_FRAMES, N_INPUT, -1])
        h = tf.nn.conv1d(x, kernel, stride=1, padding="SAME") + b
        return tf.minimum(tf.nn.relu(h), RELU_CLIP)

    def apply_layer(self, layer: str, h: tf.Tensor) -> tf.Tensor:
        """One layer on ``[B, T, F_in]``: clipped ReLU dense, the LSTM, or the logits (no
        masking, no dropout; :meth:`forward` adds those)."""
        if layer == "rnn_output":
            return self._lstm(h)
        w, b = self.dense[layer]
        h = tf.matmul(h, w) + b
        return h if layer == "layer_6" else tf.minimum(tf.nn.relu(h), RELU_CLIP)

    def _lstm(self, x: tf.Tensor) -> tf.Tensor:
        """Block LSTM over ``[B, T, H]``; only the recurrent matmul is inside the time loop."""
        zeros = tf.zeros([tf.shape(x)[0], self.n_hidden], x.dtype)
        hs, _ = self.lstm_steps(self.lstm_input(x), zeros, zeros)
        return hs

    # ------------------------------------------------------------------ partial forward
    # The pieces of :meth:`forward` on their own, so a caller can recompute only part of
    # the network (e.g. the mask search's incremental evaluation).
    def dense_front(self, windows: tf.Tensor) -> tf.Tensor:
        """Layers 1-3 on context windows ``[..., 494]`` -> ``[..., n_hidden]``."""
        h = windows
        for layer in LAYERS[:3]:
            h = self.apply_layer(layer, h)
        return h

    def lstm_input(self, h3: tf.Tensor) -> tf.Tensor:
        """The LSTM's input projection ``h3 W_x + b``: ``[..., n_hidden]`` -> ``[..., 4 n_hidden]``."""
        return tf.matmul(h3, self.lstm_input_kernel) + self.lstm_bias

    def lstm_steps(self, projected: tf.Tensor, h0: tf.Tensor, c0: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Run the LSTM over projected inputs ``[B, T, 4H]`` from state ``(h0, c0)`` ``[B, H]``.

        Returns:
            ``(hs, cs)``, each ``[B, T, H]``: the output and the cell state after each frame.
        """
        recurrent, forget_bias = self.lstm_recurrent_kernel, self.forget_bias

        def step(state, z_x):
            h, c = state
            z = z_x + tf.matmul(h, recurrent)
            i, g, f, o = tf.split(z, 4, axis=1)  # ICFO, the block LSTM's order
            c = tf.tanh(g) * tf.sigmoid(i) + c * tf.sigmoid(f + forget_bias)
            return tf.tanh(c) * tf.sigmoid(o), c

        hs, cs = tf.scan(step, tf.transpose(projected, [1, 0, 2]), initializer=(h0, c0))
        return tf.transpose(hs, [1, 0, 2]), tf.transpose(cs, [1, 0, 2])

    def compiled_forward(self, up_to: str = "layer_6"):
        """A ``tf.function`` of :meth:`forward` for ``(x [B, T, 26], lengths [B])``, traced once."""
        if up_to not in self._compiled:
            spec = (tf.TensorSpec([None, None, N_INPUT], tf.float32), tf.TensorSpec([None], tf.int32))
            self._compiled[up_to] = tf.function(
                lambda x, lengths: self.forward(x, lengths, up_to=up_to), input_signature=spec)
        return self._compiled[up_to]

    # ------------------------------------------------------------------ NumPy API
    def layer_outputs(self, mfccs, layers: Iterable[str] | None = None,
                      lengths=None) -> dict[str, np.ndarray]:
        """Outputs of the chosen layers for MFCCs ``[T, 26]`` (or ``[B, T, 26]`` + lengths).

        Only the network up to the deepest requested layer runs: asking for layers
        1-3 never runs the LSTM.

        Returns:
            ``{layer: [T, F]}`` (or ``[B, T, F]``, zero at padded frames); F = n_hidden,
            or ``n_classes`` for ``layer_6`` (the logits).
        """
        layers = list(LAYERS if layers is None else ([layers] if isinstance(layers, str) else layers))
        unknown = [name for name in layers if name not in LAYERS]
        if unknown:
            raise ParameterError(f"unknown layer(s) {unknown}; layers are {', '.join(LAYERS)}")
        x, lengths, single = _as_batch(mfccs, lengths)
        deepest = max(layers, key=LAYERS.index)
        outputs = self.compiled_forward(deepest)(x, lengths)
        return {name: (outputs[name][0] if single else outputs[name]).numpy() for name in layers}

    def logits(self, mfccs, lengths=None) -> np.ndarray:
        """Raw logits ``[T, C]`` (``layer_6``; C = ``n_classes``, 29 for English)."""
        return self.layer_outputs(mfccs, ["layer_6"], lengths)["layer_6"]

    def probabilities(self, mfccs, lengths=None) -> np.ndarray:
        """Per-frame symbol probabilities ``[T, C]``: the softmax of the logits."""
        logits = self.logits(mfccs, lengths)
        return tf.nn.softmax(logits, axis=-1).numpy()

    @property
    def quantization_note(self) -> str | None:
        """One line for a model read from a quantized file (weights dequantized), else None."""
        quantization = self.metadata.get("quantization")
        if not quantization:
            return None
        return (f"quantized model ({quantization['scheme']}): weights dequantized, off by up to "
                f"{quantization['relative_weight_error_rms']:.1%} RMS; results are approximate")

    def __repr__(self) -> str:
        note = ", QUANTIZED" if self.metadata.get("quantization") else ""
        return (f"DeepSpeech(n_hidden={self.n_hidden}, forget_bias={self.forget_bias}, "
                f"name={self.metadata.get('name')!r}{note})")
