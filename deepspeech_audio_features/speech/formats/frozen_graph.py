"""DeepSpeech's exported frozen graph (``output_graph.pb``), as written by ``export()`` in
DeepSpeech 0.9.3 training/deepspeech_training/train.py.

``export()`` freezes the inference graph with ``convert_variables_to_constants``, so each
weight is a ``Const`` under its checkpoint name (``layer_1/weights`` ...
``cudnn_lstm/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell/kernel``). The LSTM is one
fused ``BlockLSTM`` op whose ``forget_bias`` attribute is read, not assumed. The feature
settings are constants too (``metadata_sample_rate``, ``metadata_feature_win_len/_step``,
``metadata_beam_width``, ``metadata_alphabet``: a serialized alphabet, 0.7+), and the
``Mfcc`` op carries ``upper_frequency_limit`` (absent in 0.6 graphs: the op default, 4000 Hz).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow.core.framework import graph_pb2

from ...infra.errors import CheckpointError
from ..alphabet import Alphabet
from ..model import official_shapes
from .build import build_model

#: tf.raw_ops.Mfcc's default upper_frequency_limit, used when the attribute is absent (0.6 graphs).
MFCC_OP_DEFAULT_LIMIT = 4000.0
LSTM_OPS = ("BlockLSTM", "BlockLSTMV2")
INT_METADATA = {"metadata_version": "graph_version", "metadata_sample_rate": "sample_rate",
                "metadata_feature_win_len": "feature_win_len", "metadata_feature_win_step": "feature_win_step",
                "metadata_beam_width": "beam_width"}


def parse_graph_def(data: bytes, source: str) -> graph_pb2.GraphDef:
    """A GraphDef from serialized bytes; CheckpointError naming ``source`` if they do not parse."""
    try:
        graph = graph_pb2.GraphDef.FromString(data)
    except (DecodeError, RuntimeWarning, ValueError) as err:
        raise CheckpointError(f"{source}: not a TensorFlow GraphDef ({err})") from None
    if not graph.node:
        raise CheckpointError(f"{source}: a GraphDef with no nodes (empty or not a frozen graph)")
    return graph


def constants(graph: graph_pb2.GraphDef, source: str) -> dict[str, np.ndarray]:
    """Every ``Const`` node's value by node name."""
    out = {}
    for node in graph.node:
        if node.op == "Const":
            try:
                out[node.name] = tf.make_ndarray(node.attr["value"].tensor)
            except (TypeError, ValueError) as err:
                raise CheckpointError(f"{source}: constant {node.name} unreadable ({err})") from None
    return out


def graph_facts(graph: graph_pb2.GraphDef, values: dict[str, np.ndarray], source: str) -> tuple[dict, Alphabet | None,
                                                                                                  float]:
    """``(metadata, alphabet, forget_bias)`` from the metadata constants and the ops' attributes."""
    metadata = {key: int(np.ravel(values[name])[0]) for name, key in INT_METADATA.items() if name in values}
    alphabet = None
    if "metadata_alphabet" in values:
        alphabet = Alphabet.deserialize(bytes(np.ravel(values["metadata_alphabet"])[0]), f"{source}: metadata_alphabet")
    if "metadata_language" in values:
        metadata["language"] = bytes(np.ravel(values["metadata_language"])[0]).decode("utf-8", "replace")
    ops = {}
    for node in graph.node:
        ops.setdefault(node.op, node)
    mfcc = ops.get("Mfcc")
    if mfcc is not None:
        limit = mfcc.attr["upper_frequency_limit"].f if "upper_frequency_limit" in mfcc.attr else MFCC_OP_DEFAULT_LIMIT
        metadata["upper_frequency_limit"] = float(limit)
    lstm = next((ops[name] for name in LSTM_OPS if name in ops), None)
    if lstm is None:
        raise CheckpointError(f"{source}: no BlockLSTM op (not a DeepSpeech 0.6+ .pb export?)")
    if lstm.attr["use_peephole"].b:
        raise CheckpointError(f"{source}: {lstm.name} uses peepholes, which DeepSpeech's LSTM does not")
    return metadata, alphabet, float(lstm.attr["forget_bias"].f)


def model_from_graph_def(graph: graph_pb2.GraphDef, values: dict[str, np.ndarray], source: str, file_format: str):
    """A DeepSpeech model from a frozen GraphDef and its constants (shared by ``.pb`` and ``.pbmm``)."""
    if "layer_1/weights" not in values or "layer_6/weights" not in values:
        names = [node.name for node in graph.node[:3]]
        raise CheckpointError(f"{source}: no layer_1/weights or layer_6/weights constant (a graph of another "
                              f"network? first nodes: {', '.join(names)})")
    n_hidden, n_classes = values["layer_1/weights"].shape[1], values["layer_6/weights"].shape[-1]
    weights = {name: values[name] for name in official_shapes(n_hidden, n_classes=n_classes) if name in values}
    metadata, alphabet, forget_bias = graph_facts(graph, values, source)
    metadata.update(format=file_format, name=Path(source).stem, quantization=None)
    return build_model(source, weights, alphabet, metadata, forget_bias)


def read_bytes(path: str | os.PathLike) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise CheckpointError(f"{path}: unreadable ({err.strerror})") from None


def load_frozen_graph(path: str | os.PathLike):
    """Load a DeepSpeech ``.pb`` (frozen GraphDef) as a :class:`DeepSpeech` model."""
    source = str(path)
    graph = parse_graph_def(read_bytes(path), source)
    return model_from_graph_def(graph, constants(graph, source), source, "pb")

