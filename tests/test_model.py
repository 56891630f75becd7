import numpy as np
import pytest
import tensorflow as tf
from reference import forward_reference

from deepspeech_audio_features import LAYERS, DeepSpeech, random_weights


@pytest.fixture(scope="module")
def small():
    weights = random_weights(48, seed=3)
    return weights, DeepSpeech(weights)


def test_layer_outputs_match_numpy(small):
    weights, model = small
    x = np.random.default_rng(1).normal(0, 4, (41, 26)).astype(np.float32)
    ours, ref = model.layer_outputs(x), forward_reference(weights, x)
    assert list(ours) == list(LAYERS)
    for name in LAYERS:
        assert ours[name].shape == ref[name].shape
        np.testing.assert_allclose(ours[name], ref[name], atol=2e-5 * max(1, np.abs(ref[name]).max()))


@pytest.mark.parametrize("width", [48, DeepSpeech.CONVOLUTION_BELOW])  # convolution, then windows
@pytest.mark.parametrize("frames", [5, 41])  # shorter and longer than a context window
def test_layer_1_from_mfccs_matches_numpy_and_its_gradient_the_windows(small, frames, width):
    # catches a kernel read in the wrong order (frame and coefficient swapped), an
    # off-by-one edge (padding not centred) or a missing clip, on either route
    if width == 48:
        weights, model = small
    else:
        weights = random_weights(width, seed=3)
        model = DeepSpeech(weights)
    x = np.random.default_rng(4).normal(0, 40, (2, frames, 26)).astype(np.float32)
    ref = np.stack([forward_reference(weights, row)["layer_1"] for row in x])
    assert ref.max() == 20.0 and ref.min() == 0.0  # the clip and the ReLU both bind
    xv = tf.Variable(x)
    cotangent = tf.constant(np.random.default_rng(5).normal(size=ref.shape).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        conv = model.layer_1_from_mfccs(xv)
        dense = model.apply_layer("layer_1", model.context_windows(xv))
        conv_sum, dense_sum = tf.reduce_sum(conv * cotangent), tf.reduce_sum(dense * cotangent)
    np.testing.assert_allclose(conv.numpy(), ref, atol=1e-4)
    np.testing.assert_allclose(tape.gradient(conv_sum, xv).numpy(), tape.gradient(dense_sum, xv).numpy(),
                               rtol=1e-4, atol=1e-5)


def test_probabilities_are_softmax_of_logits(small):
    weights, model = small
    x = np.random.default_rng(2).normal(0, 4, (12, 26)).astype(np.float32)
    logits = forward_reference(weights, x)["layer_6"]
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    probs = model.probabilities(x)
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)


def test_padding_never_changes_real_frames(small):
    _, model = small
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 4, (20, 26)), rng.normal(0, 4, (33, 26))
    batch = np.full((2, 33, 26), 1e3, np.float32)  # garbage in the padding
    batch[0, :20], batch[1] = a, b
    batched = model.layer_outputs(batch, lengths=[20, 33])
    alone = model.layer_outputs(a.astype(np.float32))
    for name in LAYERS:
        np.testing.assert_allclose(batched[name][0, :20], alone[name], rtol=1e-5, atol=1e-5)
        assert not batched[name][0, 20:].any()


def test_early_layers_do_not_run_lstm(small, monkeypatch):
    weights, _ = small
    model = DeepSpeech(weights)

    def boom(*_):
        raise AssertionError("LSTM ran")

    monkeypatch.setattr(model, "_lstm", boom)
    out = model.layer_outputs(np.zeros((5, 26), np.float32), ["layer_1", "layer_3"])
    assert set(out) == {"layer_1", "layer_3"}
    with pytest.raises(AssertionError, match="LSTM ran"):
        model.layer_outputs(np.zeros((5, 26), np.float32), ["rnn_output"])


def test_gradient_matches_finite_differences(small):
    weights, model = small
    rng = np.random.default_rng(5)
    x = tf.constant(rng.normal(0, 2, (1, 15, 26)), tf.float32)
    direction = tf.constant(rng.normal(0, 1, (1, 15, 26)), tf.float32)

    def objective(inp):
        return tf.reduce_sum(model.forward(inp, up_to="layer_6")["layer_6"][..., 3])

    with tf.GradientTape() as tape:
        tape.watch(x)
        value = objective(x)
    grad = tape.gradient(value, x)
    eps = 1e-3  # small enough that few ReLU kinks are crossed, large for float32
    numeric = (objective(x + eps * direction) - objective(x - eps * direction)) / (2 * eps)
    analytic = tf.reduce_sum(grad * direction)
    assert float(tf.reduce_max(tf.abs(grad))) > 0
    np.testing.assert_allclose(float(analytic), float(numeric), rtol=2e-2, atol=1e-3)


def test_rejects_bad_shapes_and_layers(small):
    _, model = small
    with pytest.raises(ValueError, match=r"\[T, 26\]"):
        model.layer_outputs(np.zeros((5, 20), np.float32))
    with pytest.raises(ValueError, match="unknown layer"):
        model.layer_outputs(np.zeros((5, 26), np.float32), ["layer_4"])
