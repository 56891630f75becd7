"""DeepSpeech and Coqui STT ``.tflite`` exports: weights found by the structure of the graph.

DeepSpeech 0.9.3's ``export()`` (training/deepspeech_training/train.py, ``--export_tflite``)
builds the inference graph with ``rnn_impl_static_rnn``: an ``LSTMCell(forget_bias=0)``
unrolled ``n_steps`` (16) times, and converts it with ``converter.optimizations =
[tf.lite.Optimize.DEFAULT]`` (dynamic-range quantization: int8 weights with per-tensor (old
converters) or per-output-channel (new ones) scales for matrices of 1,024 elements or more,
float biases). Coqui STT 1.x exports the same graph. Tensor names are converter-generated,
so the layers are found as the chain of ``FULLY_CONNECTED`` ops in execution order: three
dense layers, the LSTM kernel (one weight applied ``n_steps`` times), two dense layers.
The ``Mfcc`` custom op's options (a flexbuffer) give the upper frequency limit; the
``metadata_*`` constants survive conversion as output tensors.

The file is read with the published flatbuffer schema (tensorflow/lite/schema/schema.fbs,
as generated in ``tensorflow.lite.python.schema_py_generated``), so loading needs no
interpreter.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
from flatbuffers import flexbuffers
from tensorflow.lite.python import schema_py_generated as schema

from ...infra.errors import CheckpointError
from ..alphabet import Alphabet
from ..frames import N_INPUT, WINDOW_FRAMES
from ..model import DENSE_LAYERS, LSTM_SCOPE
from .build import build_model
from .frozen_graph import INT_METADATA, read_bytes

_TYPES = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.FLOAT16: np.float16,
          schema.TensorType.INT32: np.int32, schema.TensorType.INT8: np.int8, schema.TensorType.UINT8: np.uint8,
          schema.TensorType.INT64: np.int64}
_MALFORMED = (IndexError, struct.error, ValueError, UnicodeDecodeError, TypeError, AttributeError)


class _Graph:
    """The main subgraph of a ``.tflite`` flatbuffer: ops in execution order and constant tensors."""

    def __init__(self, data: bytes, source: str):
        self.data, self.source = data, source
        self.model = schema.Model.GetRootAs(data, 0)
        self.subgraph = self.model.Subgraphs(0)
        codes = [self.model.OperatorCodes(i) for i in range(self.model.OperatorCodesLength())]
        self.ops = []  # (name, inputs, outputs, custom options)
        for i in range(self.subgraph.OperatorsLength()):
            op = self.subgraph.Operators(i)
            code = codes[op.OpcodeIndex()]
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = code.CustomCode().decode() if code.CustomCode() else _BUILTIN_NAMES.get(builtin, str(builtin))
            custom = op.CustomOptionsAsNumpy().tobytes() if op.CustomOptionsLength() else b""
            self.ops.append((name, list(op.InputsAsNumpy()) if op.InputsLength() else [],
                             list(op.OutputsAsNumpy()) if op.OutputsLength() else [], custom))
        self.producer = {out: op for op in self.ops for out in op[2]}

    def tensor(self, index: int):
        return self.subgraph.Tensors(index)

    def name(self, index: int) -> str:
        return self.tensor(index).Name().decode("utf-8", "replace")

    def raw(self, index: int) -> bytes:
        """The constant bytes of tensor ``index`` (empty for computed tensors)."""
        buffer = self.model.Buffers(self.tensor(index).Buffer())
        if buffer.Offset() > 1:  # large models keep buffers after the flatbuffer
            return self.data[buffer.Offset():buffer.Offset() + buffer.Size()]
        return buffer.DataAsNumpy().tobytes() if buffer.DataLength() else b""

    def array(self, index: int) -> np.ndarray:
        tensor = self.tensor(index)
        dtype = _TYPES.get(tensor.Type())
        if dtype is None:
            raise CheckpointError(f"{self.source}: tensor {self.name(index)} has type {tensor.Type()}, expected a number")
        shape = tuple(tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
        return np.frombuffer(self.raw(index), dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)

    def strings(self, index: int) -> list[bytes]:
        """A constant string tensor: int32 count, int32 offsets[count + 1], bytes."""
        raw = self.raw(index)
        (count,) = struct.unpack_from("<i", raw, 0)
        offsets = struct.unpack_from(f"<{count + 1}i", raw, 4)
        return [raw[offsets[i]:offsets[i + 1]] for i in range(count)]

    def constant_source(self, index: int) -> int:
        """The constant behind ``index``, looking through a DEQUANTIZE (float16 models)."""
        op = self.producer.get(index)
        if not self.raw(index) and op is not None and op[0] == "DEQUANTIZE":
            return op[1][0]
        return index

    def dequantized(self, index: int) -> tuple[np.ndarray, dict | None]:
        """A weight as float32, and its quantization facts (None if stored as float32)."""
        index = self.constant_source(index)
        value = self.array(index)
        if value.dtype == np.float32:
            return value.astype(np.float32), None
        quant = self.tensor(index).Quantization()
        if value.dtype == np.float16:
            return value.astype(np.float32), {"dtype": "float16"}
        scales = quant.ScaleAsNumpy() if quant is not None and quant.ScaleLength() else None
        if scales is None:
            raise CheckpointError(f"{self.source}: {value.dtype} tensor {self.name(index)} has no quantization scale")
        zero_points = quant.ZeroPointAsNumpy() if quant.ZeroPointLength() else np.zeros_like(scales)
        axis = quant.QuantizedDimension() if len(scales) > 1 else None
        shape = [1] * value.ndim
        if axis is not None:
            shape[axis] = -1
        scale, zero = np.reshape(scales, shape), np.reshape(zero_points, shape)
        weights = ((value.astype(np.float32) - zero) * scale).astype(np.float32)
        step = float(np.max(scales))
        rms = float(np.sqrt(np.mean(weights ** 2))) or 1.0
        return weights, {"dtype": str(value.dtype), "scales": int(len(scales)),
                         "per_channel": bool(len(scales) > 1), "weight_error_bound": step / 2,
                         # rounding error of a uniform quantizer: RMS step / sqrt(12)
                         "expected_weight_error_rms": float(np.sqrt(np.mean(np.square(scales)) / 12)),
                         "relative_weight_error_rms": float(np.sqrt(np.mean(np.square(scales)) / 12)) / rms}


_BUILTIN_NAMES = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}


def fully_connected_chain(graph: _Graph) -> list[tuple[int, int, int]]:
    """``[(weight tensor, bias tensor, uses)]`` of the FULLY_CONNECTED ops, in first-use order."""
    chain: dict[int, list] = {}
    for name, inputs, _, _ in graph.ops:
        if name == "FULLY_CONNECTED":
            weight = graph.constant_source(inputs[1])
            bias = inputs[2] if len(inputs) > 2 else -1
            chain.setdefault(weight, [weight, bias, 0])[2] += 1
    return [tuple(entry) for entry in chain.values()]


def read_weights(graph: _Graph) -> tuple[dict[str, np.ndarray], dict, int]:
    """Release-named float32 weights, the quantization facts per layer, and n_steps."""
    chain = fully_connected_chain(graph)
    uses = [entry[2] for entry in chain]
    if len(chain) != 6 or uses[3] < 2 or any(count != 1 for i, count in enumerate(uses) if i != 3):
        raise CheckpointError(f"{graph.source}: expected DeepSpeech's chain of 6 FULLY_CONNECTED weights (3 dense "
                              f"layers, the LSTM applied n_steps times, 2 dense layers), found {len(chain)} used "
                              f"{uses} times")
    names = [f"{layer}/weights" for layer in DENSE_LAYERS[:3]] + [f"{LSTM_SCOPE}/kernel"] \
        + [f"{layer}/weights" for layer in DENSE_LAYERS[3:]]
    weights, quantization = {}, {}
    for name, (weight, bias, _) in zip(names, chain):
        if bias < 0:
            raise CheckpointError(f"{graph.source}: the FULLY_CONNECTED op of {name} has no bias")
        value, facts = graph.dequantized(weight)
        if value.ndim != 2:
            raise CheckpointError(f"{graph.source}: {name} is {value.ndim}-D, expected a matrix")
        weights[name] = value.T  # TFLite keeps [out, in]; the release's variables are [in, out]
        weights[name.rsplit("/", 1)[0] + "/bias"] = graph.dequantized(bias)[0]
        if facts:
            quantization[name] = facts
    return weights, quantization, uses[3]


def read_facts(graph: _Graph) -> tuple[dict, Alphabet | None]:
    """Feature settings and the alphabet from the metadata outputs and the Mfcc op's options."""
    metadata: dict = {}
    alphabet = None
    by_name = {graph.name(i): i for i in range(graph.subgraph.TensorsLength())}
    for name, key in INT_METADATA.items():
        if name in by_name and graph.raw(by_name[name]):
            metadata[key] = int(graph.array(by_name[name]).ravel()[0])
    if "metadata_alphabet" in by_name:
        alphabet = Alphabet.deserialize(graph.strings(by_name["metadata_alphabet"])[0],
                                        f"{graph.source}: metadata_alphabet")
    for name, _, _, options in graph.ops:
        if name == "Mfcc":
            metadata["upper_frequency_limit"] = float(flexbuffers.Loads(options).get("upper_frequency_limit", 4000.0))
    return metadata, alphabet


def load_tflite(path: str | os.PathLike, alphabet: Alphabet | None = None):
    """Load a DeepSpeech / Coqui STT ``.tflite`` as a :class:`DeepSpeech` model (dequantized weights).

    Args:
        alphabet: the labels when the file has no ``metadata_alphabet`` (Coqui STT keeps
            ``alphabet.txt`` beside the model; :func:`load_model` reads it).
    """
    source = str(path)
    data = read_bytes(path)
    if len(data) < 8 or not schema.Model.ModelBufferHasIdentifier(data, 0):
        raise CheckpointError(f"{source}: not a TensorFlow Lite file (no TFL3 identifier)")
    try:
        graph = _Graph(data, source)
        weights, quantization, n_steps = read_weights(graph)
        metadata, own_alphabet = read_facts(graph)
    except _MALFORMED as err:
        raise CheckpointError(f"{source}: truncated or malformed TensorFlow Lite file ({type(err).__name__}: "
                              f"{err})") from None
    n_input = weights["layer_1/weights"].shape[0]
    if n_input != N_INPUT * WINDOW_FRAMES:
        raise CheckpointError(f"{source}: first layer takes {n_input} inputs, expected {N_INPUT * WINDOW_FRAMES} "
                              "(19 frames x 26 MFCCs)")
    metadata.update(format="tflite", name=Path(source).stem, n_steps=n_steps,
                    quantization=summarize(quantization) if quantization else None)
    return build_model(source, weights, own_alphabet or alphabet, metadata)


def summarize(quantization: dict) -> dict:
    """One metadata entry for a quantized model: scheme, layers, and the weight error."""
    first = next(iter(quantization.values()))
    if first["dtype"] == "float16":
        return {"scheme": "float16", "layers": sorted(quantization)}
    return {"scheme": "dynamic-range int8, " + ("per-channel" if first["per_channel"] else "per-tensor") + " scales",
            "layers": {name: {key: facts[key] for key in ("weight_error_bound", "relative_weight_error_rms")}
                       for name, facts in quantization.items()},
            "max_weight_error": max(facts["weight_error_bound"] for facts in quantization.values()),
            "relative_weight_error_rms": max(facts["relative_weight_error_rms"] for facts in quantization.values())}
