"""visualize_neurons: every neuron of a layer in resumable batches (the atlas's learned inputs)."""
import numpy as np
import pytest
from reference import forward_reference

from deepspeech_audio_features import DeepSpeech, VisualizationOptions, random_weights
from deepspeech_audio_features.infra.errors import FileFormatError, RunConflictError
from deepspeech_audio_features.interpret.featurevis import Objective, load_neuron_inputs, maximize_activation, visualize_neurons
from deepspeech_audio_features.interpret.featurevis import neurons as neurons_module

FRAMES = 20
OPTIONS = VisualizationOptions(steps=8, frames=FRAMES)


@pytest.fixture(scope="module")
def tiny():
    weights = random_weights(16, seed=5)
    return weights, DeepSpeech(weights, metadata={"name": "tiny"})


def test_files_follow_the_contract_and_load_back(tiny, tmp_path):
    weights, model = tiny
    result = visualize_neurons(model, "layer_2", tmp_path, options=OPTIONS, batch_size=6, progress=False)
    files = sorted(p.name for p in (tmp_path / "layer_2").glob("batch-*.npz"))
    assert files == ["batch-0000.npz", "batch-0001.npz", "batch-0002.npz"]  # 16 neurons, 6 per batch
    with np.load(tmp_path / "layer_2" / "batch-0001.npz") as batch:
        assert batch["neurons"].dtype == np.int32 and batch["neurons"].tolist() == list(range(6, 12))
        assert batch["inputs"].dtype == np.float32 and batch["inputs"].shape == (6, FRAMES, 26)
        assert batch["activation"].dtype == np.float32 and batch["activation"].shape == (6,)
    loaded = load_neuron_inputs(tmp_path, "layer_2")
    assert loaded.layer == "layer_2" and loaded.neurons.tolist() == list(range(16))
    assert loaded.inputs.shape == (16, FRAMES, 26) and loaded.activation.shape == (16,)
    assert loaded.config["batch_size"] == 6 and loaded.config["options"]["steps"] == 8
    np.testing.assert_array_equal(loaded.inputs, result.inputs)
    # the stored activation is the neuron's mean activation on its stored input (float64 NumPy forward)
    for n in (0, 7, 15):
        expected = forward_reference(weights, loaded.input_of(n))["layer_2"][:, n].mean()
        assert loaded.activation[n] == pytest.approx(expected, rel=1e-4, abs=1e-4)
    assert result.report["this_session"]["batches"] == 3


def test_a_neurons_input_does_not_depend_on_its_batch(tiny, tmp_path):
    _, model = tiny
    everything = visualize_neurons(model, "rnn_output", tmp_path / "all", options=OPTIONS, batch_size=16, progress=False)
    some = visualize_neurons(model, "rnn_output", tmp_path / "some", neurons=[11, 2, 7], options=OPTIONS, batch_size=2,
                             progress=False)
    assert some.neurons.tolist() == [2, 7, 11]
    # equal up to float32 round-off of differently sized matmuls, which Adam's normalized
    # steps (0.3 here) can grow on entries whose gradient is near zero
    np.testing.assert_allclose(some.inputs, everything.inputs[[2, 7, 11]], atol=1e-3)
    assert np.median(np.abs(some.inputs - everything.inputs[[2, 7, 11]])) < 1e-6
    np.testing.assert_allclose(some.activation, everything.activation[[2, 7, 11]], atol=1e-4)
    # and it is the input maximize_activation learns for that neuron alone
    alone = maximize_activation(model, [Objective("rnn_output", (7,), name="rnn_output-7")], OPTIONS, progress=False)
    np.testing.assert_allclose(some.input_of(7), alone.inputs["rnn_output-7"], atol=1e-3)


def test_interrupted_run_resumes_to_identical_files(tiny, tmp_path, monkeypatch):
    _, model = tiny
    whole = visualize_neurons(model, "layer_3", tmp_path / "whole", options=OPTIONS, batch_size=4, progress=False)
    original = neurons_module.visualize_batch
    calls = []

    def dies_on_third_batch(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed between batches
        return original(*args)

    monkeypatch.setattr(neurons_module, "visualize_batch", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        visualize_neurons(model, "layer_3", tmp_path / "cut", options=OPTIONS, batch_size=4, progress=False)
    assert len(list((tmp_path / "cut" / "layer_3").glob("batch-*.npz"))) == 2
    with pytest.raises(FileFormatError, match=r"layer_3: incomplete neuron visualization, 2 of 4 batches missing"):
        load_neuron_inputs(tmp_path / "cut", "layer_3")
    monkeypatch.setattr(neurons_module, "visualize_batch", original)
    resumed = visualize_neurons(model, "layer_3", tmp_path / "cut", options=OPTIONS, batch_size=4, progress=False)
    assert resumed.report["this_session"]["batches"] == 2
    for b in range(4):
        with np.load(tmp_path / "whole" / "layer_3" / f"batch-{b:04d}.npz") as a, \
                np.load(tmp_path / "cut" / "layer_3" / f"batch-{b:04d}.npz") as c:
            for key in ("neurons", "inputs", "activation", "total_variation"):
                np.testing.assert_array_equal(a[key], c[key])
    np.testing.assert_array_equal(whole.inputs, resumed.inputs)
    # a damaged batch file is learned again and named in the report
    (tmp_path / "cut" / "layer_3" / "batch-0001.npz").write_bytes(b"PK\x03\x04 truncated")
    again = visualize_neurons(model, "layer_3", tmp_path / "cut", options=OPTIONS, batch_size=4, progress=False)
    assert again.report["this_session"]["batches"] == 1 and "batch-0001.npz" in again.report["recomputed_batches"][0]
    np.testing.assert_array_equal(whole.inputs, again.inputs)


def test_a_folder_of_another_run_is_refused(tiny, tmp_path):
    _, model = tiny
    visualize_neurons(model, "layer_1", tmp_path, neurons=[0, 1], options=OPTIONS, batch_size=2, progress=False)
    other_model = DeepSpeech(random_weights(16, seed=6))
    with pytest.raises(RunConflictError, match=r"layer_1: holds a neuron visualization with other settings \(model\)"):
        visualize_neurons(other_model, "layer_1", tmp_path, neurons=[0, 1], options=OPTIONS, batch_size=2, progress=False)
    for changed, key in ((dict(options=OPTIONS.replace(steps=9)), "options"), (dict(batch_size=1), "batch_size"),
                         (dict(neurons=[0, 2]), "neurons")):
        call = {"neurons": [0, 1], "options": OPTIONS, "batch_size": 2, **changed}
        with pytest.raises(RunConflictError, match=key):
            visualize_neurons(model, "layer_1", tmp_path, progress=False, **call)
    # another layer is another run folder beside it; overwrite starts a refused folder over
    visualize_neurons(model, "layer_6", tmp_path, neurons=[3], options=OPTIONS, progress=False)
    replaced = visualize_neurons(other_model, "layer_1", tmp_path, neurons=[0, 1], options=OPTIONS, batch_size=2,
                                 overwrite=True, progress=False)
    assert replaced.config["model"]["fingerprint"] == other_model.fingerprint()
    assert load_neuron_inputs(tmp_path, "layer_6").neurons.tolist() == [3]


def test_load_names_the_folder_without_a_run(tmp_path):
    with pytest.raises(FileFormatError, match=r"layer_5: no neuron visualization here"):
        load_neuron_inputs(tmp_path, "layer_5")


@pytest.mark.slow
def test_on_dask_equals_in_process(tiny, tmp_path):
    distributed = pytest.importorskip("distributed")
    _, model = tiny
    here = visualize_neurons(model, "layer_5", tmp_path / "here", options=OPTIONS, batch_size=3, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        there = visualize_neurons(model, "layer_5", tmp_path / "there", options=OPTIONS, batch_size=3, progress=False,
                                  scheduler=client)
    session = there.report["this_session"]["distributed"]
    assert session["failed_shards"] == [] and len(session["workers"]) == 2
    assert all(w["model_loads"] == 1 for w in session["workers"].values())
    assert there.neurons.tolist() == here.neurons.tolist()
    np.testing.assert_allclose(there.inputs, here.inputs, atol=1e-3)
    assert np.median(np.abs(there.inputs - here.inputs)) < 1e-6
    np.testing.assert_allclose(there.activation, here.activation, atol=1e-4)


def test_learned_inputs_beat_real_speech(tmp_path):
    """The claim on the trained embedded model: each neuron's learned input (T frames) drives
    its mean activation higher than any T-frame window of the package's real example
    utterances, except neurons whose start left them at exactly zero (a ReLU off on the
    whole noise input has no gradient; the run reports them as zero)."""
    from deepspeech_audio_features import audio_file_to_mfccs, example_audio, load_model

    model = load_model()
    frames = 50
    real = [audio_file_to_mfccs(p) for p in example_audio()]
    options = VisualizationOptions(steps=100, frames=frames)
    checked = 0
    for layer, chosen in (("layer_1", range(0, 384, 48)), ("rnn_output", range(0, 384, 48)), ("layer_6", range(0, 29, 4))):
        chosen = list(chosen)
        learned = visualize_neurons(model, layer, tmp_path, neurons=chosen, options=options, batch_size=8, progress=False)
        outputs = [model.layer_outputs(x)[layer][:, chosen] for x in real if len(x) >= frames]
        best_window = np.max([np.lib.stride_tricks.sliding_window_view(y, frames, axis=0).mean(-1).max(0)
                              for y in outputs], axis=0)
        alive = learned.activation != 0
        assert np.all(learned.activation[alive] > best_window[alive]), (layer, learned.activation, best_window)
        assert alive.sum() >= len(chosen) - 1
        checked += int(alive.sum())
    assert checked >= 22


def test_command_line_summary_json_and_resume(tiny, tmp_path, capsys):
    import json

    from deepspeech_audio_features import save_checkpoint
    from deepspeech_audio_features.app.cli import main

    _, model = tiny
    save_checkpoint(model, tmp_path / "ckpt", step=1)
    common = ["--checkpoint", str(tmp_path / "ckpt"), "--out", str(tmp_path / "atlas"), "--steps", "4", "--frames",
              str(FRAMES), "--batch-size", "5", "--no-progress"]
    assert main(["visualize-neurons", "layer_2", "layer_6", "--neurons", "0:3,7", *common]) == 0
    out = capsys.readouterr().out
    assert "4 steps, T = 20 frames, 5 neurons per batch" in out and "layer_6" in out
    assert main(["visualize-neurons", "layer_2", "--neurons", "0:3,7", "--json", *common]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary[0]["layer"] == "layer_2" and summary[0]["neurons"] == 4 and summary[0]["computed_batches"] == 0
    api = load_neuron_inputs(tmp_path / "atlas", "layer_2")
    assert api.neurons.tolist() == [0, 1, 2, 7] and api.config["options"]["steps"] == 4
    assert main(["visualize-neurons", "layer_2", "--neurons", "0:3", *common]) == 2  # another neuron list: refused
    assert "holds a neuron visualization with other settings (neurons)" in capsys.readouterr().err
