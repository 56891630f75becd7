import json

import numpy as np
import pytest
import tensorflow as tf
from reference import dct2, forward_reference, mel_filterbank

from deepspeech_audio_features import LAYERS, DeepSpeech, mfccs, random_weights
from deepspeech_audio_features.app.experiments import run_visualization_experiment, visualization_pieces
from deepspeech_audio_features.infra.errors import ParameterError, RunConflictError
from deepspeech_audio_features.infra.runfolder import snapshot_steps
from deepspeech_audio_features.interpret.featurevis import (
    DirectParam,
    MfccStats,
    Objective,
    ScaledParam,
    TimeJitter,
    VisualizationOptions,
    diversity_penalty,
    initial_inputs,
    load_snapshots,
    maximize_activation,
    plan_objectives,
    select_neurons,
    snapshots,
    staged_activations,
    total_variation,
)
from deepspeech_audio_features.speech.filters import dct_matrix
from deepspeech_audio_features.speech.filters import mel_filterbank as our_filterbank
from deepspeech_audio_features.speech.inverse import mfccs_to_audio

FRAMES = 24


@pytest.fixture(scope="module")
def tiny():
    weights = random_weights(32, seed=5)
    return weights, DeepSpeech(weights)


def tv_numpy(x):
    x = np.asarray(x, np.float64)
    return np.abs(np.diff(x, axis=-2)).sum((-2, -1)) + np.abs(np.diff(x, axis=-1)).sum((-2, -1))


def tv_grad_numpy(x):
    """d TV / dx with sign(0) = 0, written out term by term."""
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    st = np.sign(x[1:, :] - x[:-1, :])
    g[1:, :] += st
    g[:-1, :] -= st
    sn = np.sign(x[:, 1:] - x[:, :-1])
    g[:, 1:] += sn
    g[:, :-1] -= sn
    return g


def mean_activation_numpy(weights, x, layer, neurons):
    return forward_reference(weights, x)[layer][:, list(neurons)].mean()


# ------------------------------------------------------------------ regularizer
def test_total_variation_value_and_gradient_match_numpy():
    x = np.random.default_rng(0).normal(0, 3, (3, 17, 26)).astype(np.float32)
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        tv = total_variation(xv)
        weighted = tf.reduce_sum(tv * [1.0, 2.0, 3.0])
    grad = tape.gradient(weighted, xv).numpy()
    np.testing.assert_allclose(tv.numpy(), tv_numpy(x), rtol=1e-5)
    for b, w in enumerate([1.0, 2.0, 3.0]):
        np.testing.assert_allclose(grad[b], w * tv_grad_numpy(x[b]), atol=1e-6)
    # a hand-checked case: one step of height 2 in time across all 26 coefficients
    step = np.zeros((4, 26), np.float32)
    step[2:] = 2.0
    assert float(total_variation(step)) == pytest.approx(2.0 * 26)


def test_total_variation_gradient_at_ties_and_without_batch_axis():
    # integer values in {0, 1, 2}: about a third of the neighbour differences are 0,
    # where the gradient takes sign(0) = 0; a [T, N] input has no leading axes to pad
    x = np.random.default_rng(1).integers(0, 3, (9, 26)).astype(np.float32)
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        tv = total_variation(xv)
    np.testing.assert_array_equal(tape.gradient(tv, xv).numpy(), tv_grad_numpy(x))
    assert float(tv) == tv_numpy(x[None])[0]


# ------------------------------------------------------------------ pieces
def test_staged_activations_equal_forward_per_row(tiny):
    weights, model = tiny
    objectives = [Objective("layer_6", (1, 4)), Objective("rnn_output", (0,), n_inputs=2),
                  Objective("layer_2", (3, 5, 7)), Objective("layer_1", (2,))]
    plan = plan_objectives(model, objectives)
    x = np.random.default_rng(1).normal(0, 3, (len(plan.order), FRAMES, 26)).astype(np.float32)
    act, _ = staged_activations(model, tf.constant(x), plan.counts,
                                {k: tf.constant(w) for k, w in plan.weights.items()})
    assert plan.counts == [5, 4, 3, 3, 1, 1]  # rows reaching layer_1 ... layer_6
    for r, (i, _) in enumerate(plan.order):
        obj = objectives[i]
        expected = mean_activation_numpy(weights, x[r], obj.layer, obj.neurons)
        assert act.numpy()[r] == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_time_jitter_crops_per_row():
    x = np.arange(2 * 10 * 3, dtype=np.float32).reshape(2, 10, 3)
    out = TimeJitter(4).apply(tf.constant(x), tf.constant([0, 3])).numpy()
    np.testing.assert_array_equal(out[0], x[0, 0:6])
    np.testing.assert_array_equal(out[1], x[1, 3:9])


def test_scaled_param_round_trip_and_bounds():
    mean, std = np.linspace(-5, 5, 26), np.linspace(0.5, 3, 26)
    x = np.random.default_rng(2).normal(0, 2, (2, 5, 26)).astype(np.float32)
    param = ScaledParam(x, mean, std)
    np.testing.assert_allclose(param().numpy(), x, atol=1e-5)
    lo, hi = param.bounds(np.full(26, -1.0), np.full(26, 1.0))
    np.testing.assert_allclose(mean + std * lo, -1.0, atol=1e-6)
    np.testing.assert_allclose(mean + std * hi, 1.0, atol=1e-6)


def test_initial_noise_depends_on_objective_not_on_batch():
    a, b = Objective("layer_1", (0,)), Objective("layer_2", (1,), n_inputs=2)
    both = initial_inputs([a, b], FRAMES, "noise", 2.0, seed=3)
    alone = initial_inputs([b], FRAMES, "noise", 2.0, seed=3)
    np.testing.assert_array_equal(both[1:], alone)
    assert not np.allclose(both[1], both[2])  # copies differ
    assert both.std() == pytest.approx(2.0, rel=0.1)
    assert not np.allclose(initial_inputs([b], FRAMES, "noise", 2.0, seed=4), alone)


def test_diversity_penalty_matches_numpy():
    a = np.random.default_rng(3).random((3, 7, 5)).astype(np.float32)
    got = float(diversity_penalty({2: tf.constant(a)}, [(2, 0, 3, 0.5)]))
    grams = [m.T @ m / 7 for m in a.astype(np.float64)]
    flat = [g.ravel() / np.linalg.norm(g) for g in grams]
    sims = [flat[i] @ flat[j] for i in range(3) for j in range(3) if i != j]
    assert got == pytest.approx(0.5 * np.mean(sims), rel=1e-5)


def test_objective_validation(tiny):
    _, model = tiny
    with pytest.raises(ValueError, match="unknown layer"):
        Objective("layer_9", (1,))
    with pytest.raises(ValueError, match="out of range"):
        maximize_activation(model, [Objective("layer_6", (29,))], steps=1, frames=FRAMES, progress=False)
    with pytest.raises(ValueError, match="unique"):
        maximize_activation(model, [Objective("layer_1", (1,)), Objective("layer_1", (2,))], steps=1,
                            frames=FRAMES, progress=False)


# ------------------------------------------------------------------ the optimizer
def test_activation_rises_for_every_layer(tiny, tmp_path):
    weights, model = tiny
    objectives = [Objective(layer, (0, 1, 2), lam=0.05) for layer in LAYERS]
    result = maximize_activation(model, objectives, steps=25, out=tmp_path, frames=FRAMES, learning_rate=0.1,
                                 snapshot_every=5, progress=False)
    for obj in objectives:
        snaps = load_snapshots(tmp_path / obj.name)
        np.testing.assert_array_equal(snaps["steps"], [0, 5, 10, 15, 20, 25])
        first = mean_activation_numpy(weights, snaps["input_var"][0], obj.layer, obj.neurons)
        last = mean_activation_numpy(weights, result.inputs[obj.name], obj.layer, obj.neurons)
        assert last > first + 0.01, obj.layer
        # snapshots hold what the study's files held, checked independently
        np.testing.assert_allclose(snaps["activation"][-1], last, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(snaps["total_var_loss"],
                                   tv_numpy(snaps["input_var"]) / (FRAMES * 26), rtol=1e-5)
        assert snaps["input_var"].shape == (6, FRAMES, 26)
    config = json.loads((tmp_path / "config.json").read_text())
    assert [o["layer"] for o in config["objectives"]] == list(LAYERS)
    assert config["objectives"][0]["lam"] == 0.05 and config["seed"] == 0
    assert config["model"]["n_hidden"] == 32 and config["model"]["fingerprint"]
    per_layer = json.loads((tmp_path / "layer_2" / "config.json").read_text())
    assert per_layer["neurons"] == [0, 1, 2] and per_layer["lam"] == 0.05


def test_negative_objective_lowers_activation(tiny):
    weights, model = tiny
    obj = Objective("layer_2", (0, 1, 2, 3), negative=True)
    x0 = initial_inputs([obj], FRAMES, "noise", 1.0, seed=0)[0]
    result = maximize_activation(model, [obj], steps=15, frames=FRAMES, progress=False)
    assert (mean_activation_numpy(weights, result.inputs["layer_2"], "layer_2", obj.neurons)
            < mean_activation_numpy(weights, x0, "layer_2", obj.neurons) - 0.01)


def test_lambda_lowers_total_variation(tiny):
    _, model = tiny
    common = dict(steps=20, frames=FRAMES, progress=False, learning_rate=0.1)
    low = maximize_activation(model, [Objective("layer_1", (0, 1), lam=0.0)], **common)
    high = maximize_activation(model, [Objective("layer_1", (0, 1), lam=50.0)], **common)
    assert high.total_variation["layer_1"] < 0.8 * low.total_variation["layer_1"]


def test_batched_equals_one_by_one(tiny):
    _, model = tiny
    objectives = [Objective("layer_1", (0, 3), lam=0.3), Objective("rnn_output", (5,), lam=0.1, negative=True),
                  Objective("layer_6", (2, 7), lam=1.0, n_inputs=2), Objective("layer_3", (1,), name="third")]
    common = dict(steps=12, frames=FRAMES, progress=False, transform=TimeJitter(3), seed=7)
    batched = maximize_activation(model, objectives, **common)
    for obj in objectives:
        alone = maximize_activation(model, [obj], **common)
        np.testing.assert_allclose(batched.inputs[obj.name], alone.inputs[obj.name], atol=2e-4)
        np.testing.assert_allclose(batched.activation[obj.name], alone.activation[obj.name], rtol=1e-3, atol=1e-4)
    assert batched.inputs["layer_6"].shape == (2, FRAMES, 26)


def test_interrupted_and_resumed_equals_uninterrupted(tiny, tmp_path, monkeypatch):
    _, model = tiny
    objectives = [Objective("layer_2", (0, 1), lam=0.2), Objective("layer_5", (4,), lam=0.2)]
    common = dict(steps=20, frames=FRAMES, progress=False, snapshot_every=5, transform=TimeJitter(2), seed=11)
    whole = maximize_activation(model, objectives, out=tmp_path / "whole", **common)

    real = snapshots.write_snapshots

    def dies_at_15(run, plan, step, *rest):
        if step == 15:
            raise KeyboardInterrupt
        real(run, plan, step, *rest)

    monkeypatch.setattr(snapshots, "write_snapshots", dies_at_15)
    with pytest.raises(KeyboardInterrupt):
        maximize_activation(model, objectives, out=tmp_path / "cut", **common)
    assert snapshot_steps(tmp_path / "cut" / "layer_2", "input_var") == [0, 5, 10]
    monkeypatch.setattr(snapshots, "write_snapshots", real)
    resumed = maximize_activation(model, objectives, out=tmp_path / "cut", **common)
    for name in ("layer_2", "layer_5"):
        np.testing.assert_allclose(resumed.inputs[name], whole.inputs[name], atol=1e-6)
        a, b = load_snapshots(tmp_path / "whole" / name), load_snapshots(tmp_path / "cut" / name)
        np.testing.assert_array_equal(a["steps"], b["steps"])
        np.testing.assert_allclose(a["input_var"], b["input_var"], atol=1e-6)
    # a finished run resumes to itself; other settings are refused
    again = maximize_activation(model, objectives, out=tmp_path / "cut", **common)
    np.testing.assert_array_equal(again.inputs["layer_2"], resumed.inputs["layer_2"])
    with pytest.raises(RunConflictError, match="other settings"):
        maximize_activation(model, objectives, out=tmp_path / "cut", **{**common, "seed": 12})


def test_clamp_keeps_inputs_in_data_range(tiny):
    _, model = tiny
    low, high = np.full(26, -1.5, np.float32), np.linspace(0.5, 2, 26).astype(np.float32)
    stats = MfccStats(np.zeros(26, np.float32), np.ones(26, np.float32), low, high)
    for param in (None, ScaledParam.spec(stats)):
        result = maximize_activation(model, [Objective("layer_1", (0, 1, 2))], steps=30, frames=FRAMES,
                                     learning_rate=0.5, clamp=True, stats=stats, param=param, progress=False)
        x = result.inputs["layer_1"]
        assert np.all(x >= low - 1e-5) and np.all(x <= high + 1e-5)
        assert np.isclose(x, high, atol=1e-5).any()  # the bound was reached, so it mattered


def gram_similarity_numpy(weights, inputs, layer):
    """Mean pairwise cosine similarity of the Gram matrices of a layer's outputs."""
    flat = []
    for x in inputs:
        a = forward_reference(weights, x)[layer]
        g = (a.T @ a / len(a)).ravel()
        flat.append(g / np.linalg.norm(g))
    n = len(flat)
    return np.mean([flat[i] @ flat[j] for i in range(n) for j in range(n) if i != j])


def test_diversity_penalty_makes_inputs_less_alike(tiny):
    weights, model = tiny
    common = dict(steps=20, frames=FRAMES, learning_rate=0.2, progress=False)
    plain = maximize_activation(model, [Objective("layer_3", (0, 1), n_inputs=3)], **common)
    diverse = maximize_activation(model, [Objective("layer_3", (0, 1), n_inputs=3, diversity=20.0)], **common)
    assert diverse.inputs["layer_3"].shape == (3, FRAMES, 26)
    assert (gram_similarity_numpy(weights, diverse.inputs["layer_3"], "layer_3")
            < gram_similarity_numpy(weights, plain.inputs["layer_3"], "layer_3") - 0.01)


def test_select_neurons_takes_most_variable(tiny):
    weights, model = tiny
    rng = np.random.default_rng(4)
    data = [rng.normal(0, 4, (n, 26)).astype(np.float32) for n in (9, 15, 12)]
    chosen = select_neurons(model, data, ["layer_2", "layer_6"], count=3, batch_size=2)
    for layer in ("layer_2", "layer_6"):
        frames = np.concatenate([forward_reference(weights, x)[layer] for x in data])
        std = frames.std(0)
        assert chosen[layer] == list(np.argsort(-std, kind="stable")[:3])


# ------------------------------------------------------------------ options and pieces
@pytest.mark.parametrize("values, word", [
    ({"steps": -1}, "steps"), ({"steps": 2.5}, "steps"), ({"frames": 0}, "frames"), ({"learning_rate": 0}, "learning_rate"),
    ({"init": "nois"}, "init"), ({"init_std": -1.0}, "init_std"), ({"seed": -1}, "seed"),
    ({"snapshot_every": 0}, "snapshot_every"), ({"clamp": "yes"}, "clamp"), ({"beta1": 1.0}, "beta1"),
    ({"beta2": -0.1}, "beta2"), ({"epsilon": 0}, "epsilon"), ({"learnig_rate": 0.1}, "learnig_rate"),
])
def test_visualization_options_name_the_bad_option(values, word):
    with pytest.raises(ParameterError, match=word):
        VisualizationOptions.from_dict(values, source="vis.json")


def test_bad_pieces_and_overrides_name_the_argument(tiny):
    _, model = tiny
    objectives = [Objective("layer_1", (0,))]
    common = dict(steps=2, frames=FRAMES, progress=False)
    for kwargs, word in [({"steps": -3}, "steps"), ({"param": "scaled"}, "param"), ({"jitter": 3}, "jitter"),
                         ({"transform": TimeJitter(FRAMES)}, "jitter"), ({"clamp": True}, "clamp"),
                         ({"init": np.zeros((5, 26))}, "init"), ({"options": 300}, "options"),
                         ({"param": ScaledParam}, "param")]:
        with pytest.raises(ParameterError, match=word):
            maximize_activation(model, objectives, **{**common, **kwargs})
    with pytest.raises(ParameterError, match="jitter"):
        TimeJitter(-1)
    assert VisualizationOptions().replace(steps=7).steps == 7 and VisualizationOptions().steps == 500


def test_explicit_pieces_equal_the_experiment_json_route(tiny, tmp_path):
    _, model = tiny
    config = {"name": "tiny", "layers": ["layer_1", "layer_3"], "neurons": {"layer_1": [0, 1], "layer_3": [2]},
              "lam": 0.3, "steps": 6, "frames": FRAMES, "seed": 4, "jitter": 2, "param": "direct"}
    from_json = run_visualization_experiment(config, model, tmp_path / "json", progress=False)
    objectives = [Objective("layer_1", (0, 1), lam=0.3), Objective("layer_3", (2,), lam=0.3)]
    explicit = maximize_activation(model, objectives, VisualizationOptions(steps=6, frames=FRAMES, seed=4),
                                   param=DirectParam, transform=TimeJitter(2), progress=False)
    for name in ("layer_1", "layer_3"):
        np.testing.assert_array_equal(from_json.inputs[name], explicit.inputs[name])
    assert json.loads((tmp_path / "json" / "config.json").read_text())["jitter"] == 2
    # the scaled parameterization: the JSON's "scaled" is ScaledParam.spec(stats)
    stats = MfccStats(np.full(26, 0.5, np.float32), np.linspace(0.5, 2, 26).astype(np.float32),
                      np.full(26, -1.0, np.float32), np.full(26, 1.5, np.float32))
    param, transform = visualization_pieces({"param": "scaled", "jitter": 0}, stats)
    assert transform is None
    common = dict(steps=5, frames=FRAMES, clamp=True, stats=stats, progress=False)
    a = maximize_activation(model, objectives, param=param, **common)
    b = maximize_activation(model, objectives, param=ScaledParam.spec(stats), **common)
    np.testing.assert_array_equal(a.inputs["layer_1"], b.inputs["layer_1"])
    with pytest.raises(ParameterError, match="param"):
        visualization_pieces({"param": "warped"}, stats)


def test_option_modules_do_not_start_tensorflow():
    import subprocess
    import sys

    code = ("import sys; import deepspeech_audio_features.interpret.featurevis.options, "
            "deepspeech_audio_features.interpret.search_options, deepspeech_audio_features.app.cli as c; "
            "c.build_parser(); print('tensorflow' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


# ------------------------------------------------------------------ listening
def test_inversion_filterbank_and_dct_match_reference():
    np.testing.assert_allclose(our_filterbank(), mel_filterbank(), atol=1e-12)
    np.testing.assert_allclose(our_filterbank(high=4000.0), mel_filterbank(high=4000.0), atol=1e-12)
    np.testing.assert_allclose(dct_matrix(), dct2(), atol=1e-12)


def test_mfccs_to_audio_reanalyses_close(speechlike):
    x = mfccs(speechlike)
    audio = mfccs_to_audio(x, iterations=60)
    assert audio.dtype == np.float32 and audio.shape == ((len(x) - 1) * 320 + 512,)
    again = mfccs(audio)
    rel = np.sqrt(np.mean((again - x) ** 2)) / x.std(0).mean()
    assert rel < 0.2, rel  # 0.16 here: a harmonic tone loses its pitch; speech-corpus files give 0.03-0.07
    # c0 (the level) follows frame by frame
    assert np.corrcoef(again[:, 0], x[:, 0])[0, 1] > 0.99
    # and a crude inversion (no Griffin-Lim phase, iterations=0) is clearly worse
    crude = mfccs(mfccs_to_audio(x, iterations=0))
    assert np.sqrt(np.mean((crude - x) ** 2)) / x.std(0).mean() > 2 * rel


def test_optimized_loss_has_both_tv_directions_and_lambda_scaled_by_elements(tiny):
    """The gradient the optimizer follows, minus the same with lambda = 0, is exactly
    lambda / (T * N) * d TV / dx (time and frequency differences), against NumPy."""
    from deepspeech_audio_features.interpret.featurevis.render import _evaluator

    _, model = tiny
    x = np.random.default_rng(4).normal(0, 3, (1, FRAMES, 26)).astype(np.float32)
    grads = {}
    for lam in (0.0, 7.0):
        plan = plan_objectives(model, [Objective("layer_2", (0, 3), lam=lam)])
        param = DirectParam.build(x)
        _, tv, grad = _evaluator(model, plan, param, None, FRAMES)(tf.zeros([1], tf.int32))
        grads[lam] = grad.numpy()[0]
        np.testing.assert_allclose(tv.numpy()[0], tv_numpy(x[0]) / (FRAMES * 26), rtol=1e-5)
    expected = 7.0 / (FRAMES * 26) * tv_grad_numpy(x[0])
    np.testing.assert_allclose(grads[7.0] - grads[0.0], expected, rtol=1e-4, atol=1e-6)
