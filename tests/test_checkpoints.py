import json

import numpy as np
import pytest
import tensorflow as tf
from reference import forward_reference

from deepspeech_audio_features import (
    CheckpointError,
    load_model,
    official_shapes,
    save_checkpoint,
)
from deepspeech_audio_features.speech.model import LAYERS, LSTM_SCOPE

N_HIDDEN = 32


def write_v1_checkpoint(directory, weights, extra=None, step=1234, index_file="checkpoint",
                        prefix_name="best_dev"):
    """Write a checkpoint as the release did: TF's own v1 Saver, with Adam slots beside."""
    variables = dict(weights)
    variables.update(extra or {})
    graph = tf.Graph()
    with graph.as_default():
        tf_vars = {name: tf.compat.v1.Variable(value, name=name.replace("/", "_"))
                   for name, value in variables.items()}
        step_var = tf.compat.v1.Variable(np.int64(step), name="global_step")
        saver = tf.compat.v1.train.Saver(var_list={**tf_vars, "global_step": step_var})
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            prefix = saver.save(sess, str(directory / prefix_name), global_step=step,
                                latest_filename=index_file)
    return prefix


def release_weights(seed=7, n_hidden=N_HIDDEN):
    rng = np.random.default_rng(seed)
    return {name: rng.normal(0, 0.3, shape).astype(np.float32)
            for name, shape in official_shapes(n_hidden).items()}


def adam_slots(weights):
    slots = {f"{name}/Adam": np.zeros_like(v) for name, v in weights.items()}
    slots.update({f"{name}/Adam_1": np.zeros_like(v) for name, v in weights.items()})
    slots.update({"beta1_power": np.float32(0.9), "beta2_power": np.float32(0.999),
                  "learning_rate": np.float32(1e-4), "cudnn_lstm/opaque_kernel": np.zeros(10, np.float32)})
    return slots


def test_official_layout_matches_numpy_forward(tmp_path):
    weights = release_weights()
    write_v1_checkpoint(tmp_path, weights, adam_slots(weights), index_file="best_dev_checkpoint")
    model = load_model(tmp_path)
    assert model.n_hidden == N_HIDDEN and model.forget_bias == 0.0
    x = np.random.default_rng(0).normal(0, 3, (23, 26)).astype(np.float32)
    ours, ref = model.layer_outputs(x), forward_reference(weights, x)
    for name in LAYERS:
        np.testing.assert_allclose(ours[name], ref[name], atol=3e-5 * max(1, np.abs(ref[name]).max()))


def test_prefix_path_and_v05_naming(tmp_path):
    weights = release_weights(seed=8)
    old = {(name.replace(LSTM_SCOPE, "lstm_fused_cell")): v for name, v in weights.items()}
    prefix = write_v1_checkpoint(tmp_path, old)
    model = load_model(prefix)
    assert model.forget_bias == 1.0
    x = np.random.default_rng(1).normal(0, 3, (9, 26)).astype(np.float32)
    ref = forward_reference(weights, x, forget_bias=1.0)["layer_6"]
    np.testing.assert_allclose(model.logits(x), ref, atol=3e-5 * np.abs(ref).max())


@pytest.mark.parametrize("change, words", [
    ("missing", ["missing", "layer_5/bias"]),
    ("unknown", ["unknown", "layer_7/weights"]),
    ("misshaped", ["mis-shaped", "layer_2/bias (31,)", "expected (32,)"]),
])
def test_bad_checkpoints_list_the_variables(tmp_path, change, words):
    weights = release_weights()
    if change == "missing":
        del weights["layer_5/bias"]
    elif change == "unknown":
        weights["layer_7/weights"] = np.zeros((2, 2), np.float32)
    else:
        weights["layer_2/bias"] = np.zeros(31, np.float32)
    write_v1_checkpoint(tmp_path, weights)
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message
    for word in words:
        assert word in message


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint index file"):
        load_model(tmp_path)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "best_dev-1")


def test_own_models_save_in_release_layout(tmp_path):
    weights = release_weights(seed=9)
    write_v1_checkpoint(tmp_path / "a", weights)
    model = load_model(tmp_path / "a")
    prefix = save_checkpoint(model, tmp_path / "b", step=5, metadata={"note": "hello"})
    # readable by anything that reads release checkpoints: same names and shapes
    names = dict(tf.train.list_variables(prefix))
    for name, shape in official_shapes(N_HIDDEN).items():
        assert tuple(names[name]) == shape
        np.testing.assert_array_equal(tf.train.load_checkpoint(prefix).get_tensor(name), weights[name])
    meta = json.loads((tmp_path / "b" / "deepspeech_audio_features.json").read_text())
    assert meta["note"] == "hello" and meta["n_hidden"] == N_HIDDEN and meta["global_step"] == 5
    again = load_model(tmp_path / "b")
    x = np.random.default_rng(3).normal(0, 3, (7, 26)).astype(np.float32)
    np.testing.assert_array_equal(again.logits(x), model.logits(x))
    assert not [p for p in (tmp_path / "b").iterdir() if p.name.startswith(".tmp")]
