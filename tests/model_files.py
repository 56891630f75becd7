"""Model files in the published layouts, built by the tests (no downloads).

- :func:`deepspeech_graph`: DeepSpeech 0.9.3's inference graph (``create_inference_graph`` +
  ``export()``'s metadata constants, training/deepspeech_training/train.py) in
  ``tf.compat.v1``, frozen with ``convert_variables_to_constants``; the LSTM is the fused
  ``BlockLSTM`` (``LSTMBlockFusedCell(forget_bias=0)``) for ``.pb``, or an ``LSTMCell``
  unrolled ``n_steps`` times (``rnn_impl_static_rnn``) for ``.tflite``, which is converted
  with ``Optimize.DEFAULT`` as ``export()`` does.
- :func:`coqui_folder`: a Coqui STT checkpoint folder (checkpoint with optimizer slots,
  ``alphabet.txt``, ``flags.txt``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from deepspeech_audio_features.speech.alphabet import ENGLISH, Alphabet
from deepspeech_audio_features.speech.model import LSTM_SCOPE, random_weights

v1 = tf.compat.v1
N_STEPS = 16
#: Graph tensors holding each layer's output (named by the fixture, for comparisons).
LAYER_TENSORS = {"layer_1": "layer_1_out", "layer_2": "layer_2_out", "layer_3": "layer_3_out",
                 "rnn_output": "rnn_output", "layer_5": "layer_5_out", "layer_6": "layer_6_out"}
#: 40 labels, as a Coqui STT language might have (with '#', which alphabet.txt escapes).
ALPHABET_40 = Alphabet(tuple(" abcdefghijklmnopqrstuvwxyz'äöüßéèàç#-.?"[:40]))


def confident_weights(n_hidden: int, n_classes: int = 29, seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights with a sharper output layer, so frames have a clear best class."""
    weights = random_weights(n_hidden, seed=seed, n_classes=n_classes)
    weights["layer_6/weights"] *= 6.0
    return weights


def _dense(variables, name, x, relu=True):
    y = tf.add(tf.matmul(x, variables[f"{name}/weights"]), variables[f"{name}/bias"])
    return tf.minimum(tf.nn.relu(y), 20.0, name=f"{name}_out") if relu else tf.identity(y, name=f"{name}_out")


def _mfcc_ops(samples, upper_frequency_limit):
    spectrogram = tf.raw_ops.AudioSpectrogram(input=tf.reshape(samples, [-1, 1]), window_size=512, stride=320,
                                              magnitude_squared=True)
    limit = {} if upper_frequency_limit is None else {"upper_frequency_limit": upper_frequency_limit}
    return tf.identity(tf.raw_ops.Mfcc(spectrogram=spectrogram, sample_rate=16000, dct_coefficient_count=26, **limit),
                       name="mfccs")


def _lstm(seq, state_c, state_h, kernel, bias, lengths, fused):
    if fused:  # LSTMBlockFusedCell(forget_bias=0): one BlockLSTM op, no cell clip, no peepholes
        zeros = tf.zeros([kernel.shape[1] // 4])
        _, cs, _, _, _, _, hs = tf.raw_ops.BlockLSTM(
            seq_len_max=tf.cast(tf.reduce_max(lengths), tf.int64), x=seq, cs_prev=state_c, h_prev=state_h, w=kernel,
            wci=zeros, wcf=zeros, wco=zeros, b=bias, forget_bias=0.0, cell_clip=-1.0, use_peephole=False)
        return cs[lengths[0] - 1], hs[lengths[0] - 1], hs
    c, m, outs = state_c, state_h, []  # static_rnn of LSTMCell(forget_bias=0)
    for x_t in tf.unstack(seq, axis=0):
        z = tf.nn.bias_add(tf.matmul(tf.concat([x_t, m], 1), kernel), bias)
        i, j, f, o = tf.split(z, 4, axis=1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(j)
        m = tf.sigmoid(o) * tf.tanh(c)
        outs.append(m)
    return c, m, tf.stack(outs)


def deepspeech_graph(weights, fused=True, alphabet=ENGLISH, upper_frequency_limit=8000.0, sample_rate=16000,
                     serialized_alphabet: bytes | None = None, n_steps=N_STEPS):
    """``(frozen GraphDef, tflite bytes or None)`` of a DeepSpeech-like export with ``weights``."""
    h = weights["layer_1/weights"].shape[1]
    graph = tf.Graph()
    with graph.as_default():
        input_node = v1.placeholder(tf.float32, [1, n_steps, 19, 26], name="input_node")
        lengths = v1.placeholder(tf.int32, [1], name="input_lengths") if fused else None
        state_c = v1.placeholder(tf.float32, [1, h], name="previous_state_c")
        state_h = v1.placeholder(tf.float32, [1, h], name="previous_state_h")
        samples = v1.placeholder(tf.float32, [512], name="input_samples")
        mfccs = _mfcc_ops(samples, upper_frequency_limit)
        variables = {name: v1.get_variable(name, initializer=tf.constant(value)) for name, value in weights.items()}
        x = tf.reshape(tf.transpose(input_node, [1, 0, 2, 3]), [-1, 19 * 26])  # time-major, as create_model
        layer_3 = _dense(variables, "layer_3", _dense(variables, "layer_2", _dense(variables, "layer_1", x)))
        new_c, new_h, outputs = _lstm(tf.reshape(layer_3, [n_steps, 1, h]), state_c, state_h,
                                      variables[f"{LSTM_SCOPE}/kernel"], variables[f"{LSTM_SCOPE}/bias"], lengths, fused)
        rnn_output = tf.reshape(outputs, [-1, h], name="rnn_output")
        layer_6 = _dense(variables, "layer_6", _dense(variables, "layer_5", rnn_output), relu=False)
        raw_logits = tf.reshape(layer_6, [-1, 1, weights["layer_6/weights"].shape[1]], name="raw_logits")
        probs = tf.nn.softmax(raw_logits if fused else tf.squeeze(raw_logits, [1]), name="logits")
        outputs = {"logits": probs, "new_state_c": tf.identity(new_c, name="new_state_c"),
                   "new_state_h": tf.identity(new_h, name="new_state_h"), "mfccs": mfccs}
        for name, value in {"metadata_version": 6, "metadata_sample_rate": sample_rate, "metadata_feature_win_len": 32,
                            "metadata_feature_win_step": 20, "metadata_beam_width": 1024}.items():
            outputs[name] = tf.constant([value], name=name)
        serialized = alphabet.serialize() if serialized_alphabet is None else serialized_alphabet
        outputs["metadata_alphabet"] = tf.constant([serialized], name="metadata_alphabet")
        inputs = [input_node, state_c, state_h, samples]
        if fused:
            outputs["raw_logits"] = raw_logits
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            names = [t.op.name for t in outputs.values()] + list(LAYER_TENSORS.values())
            frozen = v1.graph_util.convert_variables_to_constants(session, graph.as_graph_def(), names)
            frozen = v1.graph_util.extract_sub_graph(frozen, names)
            tflite = None
            if not fused:
                converter = v1.lite.TFLiteConverter.from_session(session, inputs, list(outputs.values()))
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
                converter.allow_custom_ops = True  # AudioSpectrogram, Mfcc: custom ops with TFLite kernels
                tflite = converter.convert()
    return frozen, tflite


def run_frozen_graph(graph_def, windows: np.ndarray, n_steps=N_STEPS) -> dict[str, np.ndarray]:
    """TensorFlow's own execution of a fused frozen graph over context windows ``[T, 494]``,
    ``n_steps`` at a time with the LSTM state carried, as DeepSpeech's native client does."""
    h = next(n for n in graph_def.node if n.name == "previous_state_c").attr["shape"].shape.dim[1].size
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    fetches = {layer: f"{name}:0" for layer, name in LAYER_TENSORS.items()}
    fetches.update(new_state_c="new_state_c:0", new_state_h="new_state_h:0", logits="logits:0")
    out = {key: [] for key in fetches}
    state_c, state_h = np.zeros((1, h), np.float32), np.zeros((1, h), np.float32)
    with v1.Session(graph=graph) as session:
        for start in range(0, len(windows), n_steps):
            chunk = windows[start:start + n_steps]
            batch = np.zeros((1, n_steps, 19, 26), np.float32)
            batch[0, :len(chunk)] = chunk.reshape(-1, 19, 26)
            result = session.run(fetches, {"input_node:0": batch, "input_lengths:0": [len(chunk)],
                                           "previous_state_c:0": state_c, "previous_state_h:0": state_h})
            state_c, state_h = result["new_state_c"], result["new_state_h"]
            for key, value in result.items():
                out[key].append(value.reshape(n_steps if key not in ("new_state_c", "new_state_h") else 1, -1)[:len(chunk)])
    return {key: np.concatenate(values) for key, values in out.items()}


def run_tflite(model: bytes, windows: np.ndarray, n_steps=N_STEPS) -> np.ndarray:
    """``tf.lite.Interpreter``'s own softmax outputs ``[T, C]`` over context windows ``[T, 494]``."""
    interpreter = tf.lite.Interpreter(model_content=model)
    interpreter.allocate_tensors()
    inputs = {d["name"]: d for d in interpreter.get_input_details()}
    outputs = {d["name"]: d for d in interpreter.get_output_details()}
    h = inputs["previous_state_c"]["shape"][1]
    state_c, state_h, probs = np.zeros((1, h), np.float32), np.zeros((1, h), np.float32), []
    for start in range(0, len(windows), n_steps):
        chunk = windows[start:start + n_steps]
        batch = np.zeros((1, n_steps, 19, 26), np.float32)
        batch[0, :len(chunk)] = chunk.reshape(-1, 19, 26)
        for name, value in {"input_node": batch, "previous_state_c": state_c, "previous_state_h": state_h,
                            "input_samples": np.zeros(512, np.float32)}.items():
            interpreter.set_tensor(inputs[name]["index"], value)
        interpreter.invoke()
        state_c = interpreter.get_tensor(outputs["new_state_c"]["index"]).copy()  # valid: the last chunk is not padded
        state_h = interpreter.get_tensor(outputs["new_state_h"]["index"]).copy()
        probs.append(interpreter.get_tensor(outputs["logits"]["index"])[:len(chunk)].copy())
    return np.concatenate(probs)


def foreign_graph() -> tf.compat.v1.GraphDef:
    """A frozen graph of another network (a two-layer classifier)."""
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 10], name="x")
        w = v1.get_variable("dense/kernel", initializer=tf.ones([10, 3]))
        tf.nn.softmax(tf.matmul(x, w), name="probs")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            return v1.graph_util.convert_variables_to_constants(session, graph.as_graph_def(), ["probs"])


def foreign_tflite() -> bytes:
    """A quantized ``.tflite`` of one dense layer: no DeepSpeech chain."""
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [1, 64], name="x")
        w = v1.get_variable("dense/kernel", initializer=tf.ones([64, 32]))
        y = tf.nn.relu(tf.matmul(x, w), name="y")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            converter = v1.lite.TFLiteConverter.from_session(session, [x], [y])
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            return converter.convert()


def coqui_folder(folder: Path, weights: dict[str, np.ndarray], alphabet: Alphabet, flags: dict | None = None,
                 absl_flags: bool = False) -> Path:
    """A Coqui STT checkpoint folder: ``best_dev-<step>`` with Adam slots, the
    ``best_dev_checkpoint`` index, ``alphabet.txt`` (with a comment) and ``flags.txt``."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = dict(weights)
    tensors.update({f"{name}/Adam": np.zeros_like(value) for name, value in weights.items()})
    tensors.update(global_step=np.array(1234, np.int64), learning_rate=np.array(1e-4, np.float32))
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=str(folder / "best_dev-1234"), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])
    (folder / "best_dev_checkpoint").write_text('model_checkpoint_path: "best_dev-1234"\n'
                                                'all_model_checkpoint_paths: "best_dev-1234"\n')
    (folder / "alphabet.txt").write_text("# Each line is a label; \\# for a hash sign.\n" + alphabet.to_text()
                                         + "# end\n", encoding="utf-8")
    flags = flags if flags is not None else {
        "n_hidden": weights["layer_1/weights"].shape[1], "audio_sample_rate": 16000, "feature_win_len": 32,
        "feature_win_step": 20, "alphabet_config_path": "alphabet.txt", "bytes_output_mode": False}
    if absl_flags:
        text = "".join(f"--{key}={str(value).lower() if isinstance(value, bool) else value}\n"
                       for key, value in flags.items())
    else:
        text = json.dumps(flags, indent=2)
    (folder / "flags.txt").write_text(text)
    return folder
