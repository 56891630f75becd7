import csv
import json

import numpy as np
import pytest
from reference import forward_reference

from deepspeech_audio_features import DeepSpeech, random_weights, write_wav
from deepspeech_audio_features.app.cli import main as cli_main
from deepspeech_audio_features.infra.errors import ParameterError, RunConflictError
from deepspeech_audio_features.interpret import dataset_search as ds
from deepspeech_audio_features.interpret.dataset_search import (
    get_bottom_examples,
    get_top_examples,
    load_search,
    search_dataset,
)
from deepspeech_audio_features.interpret.featurevis import Objective
from deepspeech_audio_features.interpret.search_options import SearchOptions
from deepspeech_audio_features.speech.checkpoints import save_checkpoint
from deepspeech_audio_features.speech.mfcc import audio_file_to_mfccs

# 0.2 s to 0.66 s of audio: 9 to 32 frames
DURATIONS = [0.3, 0.2, 0.5, 0.25, 0.66, 0.4, 0.35]
OBJECTIVES = [Objective("layer_1", (0, 5)), Objective("layer_3", (2,)), Objective("layer_6", (1, 28), name="logits")]


@pytest.fixture(scope="module")
def tiny():
    weights = random_weights(24, seed=9)
    return weights, DeepSpeech(weights, metadata={"name": "tiny"})


@pytest.fixture
def dataset(tmp_path):
    """Seven synthetic utterances of different lengths, a corrupt file and a too-short file."""
    folder = tmp_path / "data"
    rng = np.random.default_rng(0)
    rows = []
    for i, seconds in enumerate(DURATIONS):
        t = np.arange(int(seconds * 16000)) / 16000
        signal = 0.3 * np.sin(2 * np.pi * (150 + 90 * i) * t) + 0.05 * rng.standard_normal(t.shape)
        write_wav(folder / f"u{i}.wav", signal)
        rows.append((f"u{i}.wav", f"utterance {i}"))
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    write_wav(folder / "short.wav", np.zeros(300))  # under one 32 ms window
    rows += [("corrupt.wav", "broken"), ("short.wav", "short")]
    csv_path = folder / "data.csv"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["wav_filename", "wav_filesize", "transcript"])
        for name, text in rows:
            writer.writerow([name, 0, text])
    return folder, csv_path


def expected_activations(weights, path):
    x = audio_file_to_mfccs(path)
    out = forward_reference(weights, x)
    return [out[o.layer][:, list(o.neurons)].mean() for o in OBJECTIVES]


def test_scores_equal_one_by_one_reference_and_bad_files_are_reported(tiny, dataset, tmp_path):
    weights, model = tiny
    folder, csv_path = dataset
    result = search_dataset(model, csv_path, OBJECTIVES, tmp_path / "run", batch_size=3, progress=False)
    assert result.names == ["layer_1", "layer_3", "logits"]
    assert len(result.paths) == 9
    for i, path in enumerate(result.paths[:7]):
        np.testing.assert_allclose(result.activations[i], expected_activations(weights, path), rtol=1e-4, atol=1e-5)
    assert np.isnan(result.activations[7:]).all()
    assert len(result.skipped) == 2
    assert any("corrupt.wav" in s for s in result.skipped) and any("short.wav" in s for s in result.skipped)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["scored"] == 7 and len(report["skipped"]) == 2
    assert report["this_session"]["utterances"] == 7


def test_batches_are_bucketed_by_length_and_stored_without_pickle(tiny, dataset, tmp_path):
    _, model = tiny
    folder, _ = dataset
    search_dataset(model, folder, OBJECTIVES, tmp_path / "run", batch_size=3, progress=False)
    index = json.loads((tmp_path / "run" / "index.json").read_text())
    bad = sorted(index["paths"].index(str(folder / name)) for name in ("corrupt.wav", "short.wav"))
    assert sorted(i for i, _ in index["unreadable"]) == bad  # found from the headers, never decoded
    order = [i for batch in index["batches"] for i in batch]
    assert sorted(order) == [i for i in range(9) if i not in bad]
    lengths = [len(audio_file_to_mfccs(index["paths"][i])) for i in order]
    assert lengths == sorted(lengths)  # shortest first
    assert all(len(b) <= 3 for b in index["batches"])
    for b in range(len(index["batches"])):
        with np.load(tmp_path / "run" / f"batch_{b}.npz", allow_pickle=False) as data:
            assert data["activations"].shape == (len(data["indices"]), 3)
            assert data["skipped_reasons"].dtype.kind == "U"


def test_resume_recomputes_only_missing_batches(tiny, dataset, tmp_path, monkeypatch):
    _, model = tiny
    _, csv_path = dataset
    run = tmp_path / "run"
    full = search_dataset(model, csv_path, OBJECTIVES, tmp_path / "full", batch_size=2, progress=False)

    real, calls = ds.batch_activations, []

    def dies_on_third(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(ds, "batch_activations", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        search_dataset(model, csv_path, OBJECTIVES, run, batch_size=2, progress=False)
    assert sorted(p.name for p in run.glob("batch_*.npz")) == ["batch_0.npz", "batch_1.npz"]
    partial = load_search(run)
    assert np.isnan(partial.activations).any(axis=1).sum() > 2  # unfinished rows are NaN

    calls.clear()
    monkeypatch.setattr(ds, "batch_activations", lambda *args: calls.append(1) or real(*args))
    resumed = search_dataset(model, csv_path, OBJECTIVES, run, batch_size=2, progress=False)
    n_batches = len(json.loads((run / "index.json").read_text())["batches"])
    assert len(calls) == n_batches - 2
    np.testing.assert_array_equal(resumed.activations, full.activations)
    assert sorted(resumed.skipped) == sorted(full.skipped)
    with pytest.raises(RunConflictError, match="other settings"):
        search_dataset(model, csv_path, OBJECTIVES[:2], run, batch_size=2, progress=False)


def test_top_and_bottom_examples(tiny, dataset, tmp_path):
    weights, model = tiny
    _, csv_path = dataset
    run = tmp_path / "run"
    result = search_dataset(model, csv_path, OBJECTIVES, run, batch_size=4, progress=False)
    top, bottom = get_top_examples(3, run), get_bottom_examples(2, run)
    for j, name in enumerate(result.names):
        scores = {p: expected_activations(weights, p)[j] for p in result.paths[:7]}
        ranked = sorted(scores, key=scores.get, reverse=True)
        assert [e.path for e in top[name]] == ranked[:3]
        assert [e.path for e in bottom[name]] == ranked[::-1][:2]
        path, activation = top[name][0]
        assert activation == pytest.approx(scores[path], rel=1e-4, abs=1e-5)
    assert get_top_examples(100, run)["layer_1"].__len__() == 7  # skipped files never appear


def test_cli_search_and_visualize(tiny, dataset, tmp_path, capsys):
    _, model = tiny
    _, csv_path = dataset
    checkpoint = save_checkpoint(model, tmp_path / "model")
    assert cli_main(["search", "--checkpoint", str(tmp_path / "model"), "--dataset", str(csv_path),
                     "--objective", "layer_2:1,3", "--out", str(tmp_path / "search"), "--batch-size", "4",
                     "--top", "2", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed["top"]["layer_2"]) == 2 and len(printed["report"]["skipped"]) == 2
    # the default output: a table with the neuron ids, and a figure on request
    assert cli_main(["search", "--checkpoint", str(tmp_path / "model"), "--dataset", str(csv_path),
                     "--objective", "layer_2:1,3", "--out", str(tmp_path / "search"), "--batch-size", "4",
                     "--top", "2", "--plot", str(tmp_path / "top.png")]) == 0
    out = capsys.readouterr().out
    assert "layer_2 neurons 1, 3" in out and "top 2" in out and "bottom 1" in out and "{" not in out
    assert (tmp_path / "top.png").read_bytes()[:4] == b"\x89PNG"
    assert checkpoint
    assert cli_main(["visualize", "--checkpoint", str(tmp_path / "model"), "--objective", "layer_1:0,1:0.5",
                     "--objective", "rnn_output:2", "--out", str(tmp_path / "vis"), "--steps", "3",
                     "--frames", "20", "--snapshot-every", "2", "--plot", str(tmp_path / "vis.svg")]) == 0
    out = capsys.readouterr().out
    assert "mean activation" in out and "rnn_output" in out and (tmp_path / "vis.svg").read_text().startswith("<?xml")
    for name in ("layer_1", "rnn_output"):
        assert sorted(p.name for p in (tmp_path / "vis" / name).glob("input_var_*.npy")) == [
            "input_var_0.npy", "input_var_2.npy", "input_var_3.npy"]
    # an experiment JSON, with options and pieces from the command line on top of it
    experiment = tmp_path / "exp.json"
    experiment.write_text(json.dumps({"name": "exp", "layers": ["layer_2"], "neurons": {"layer_2": [1, 2]},
                                      "lam": 0.5, "steps": 50, "frames": 20, "jitter": 0, "param": "direct"}))
    assert cli_main(["visualize", "--checkpoint", str(tmp_path / "model"), "--experiment", str(experiment),
                     "--out", str(tmp_path / "exp"), "--steps", "2", "--jitter", "3", "--learning-rate", "0.2"]) == 0
    config = json.loads((tmp_path / "exp" / "config.json").read_text())
    assert (config["steps"], config["frames"], config["jitter"], config["learning_rate"]) == (2, 20, 3, 0.2)
    assert cli_main(["visualize", "--checkpoint", str(tmp_path / "model"), "--experiment", str(experiment),
                     "--out", str(tmp_path / "exp2"), "--snapshot-every", "0"]) == 2  # ParameterError: one line
    assert "snapshot_every" in capsys.readouterr().err


@pytest.mark.parametrize("values, word", [
    ({"batch_size": 0}, "batch_size"), ({"batch_size": "8"}, "batch_size"), ({"max_utterances": -2}, "max_utterances"),
    ({"shards": 0}, "shards"), ({"worker_threads": 1.5}, "worker_threads"), ({"batchsize": 3}, "batchsize"),
])
def test_search_options_name_the_bad_option(values, word):
    with pytest.raises(ParameterError, match=word):
        SearchOptions.from_dict(values, source="search.json")


def test_search_options_object_equals_keywords(tiny, dataset, tmp_path):
    _, model = tiny
    _, csv_path = dataset
    a = search_dataset(model, csv_path, OBJECTIVES, tmp_path / "a", SearchOptions(batch_size=3, max_utterances=5),
                       progress=False)
    b = search_dataset(model, csv_path, OBJECTIVES, tmp_path / "b", batch_size=3, max_utterances=5, progress=False)
    np.testing.assert_array_equal(a.activations, b.activations)
    assert len(a.paths) == 5
    with pytest.raises(ParameterError, match="batch_size"):
        search_dataset(model, csv_path, OBJECTIVES, tmp_path / "c", batch_size=0, progress=False)
    with pytest.raises(ParameterError, match="options"):
        search_dataset(model, csv_path, OBJECTIVES, tmp_path / "c", 4, progress=False)


def test_a_folder_with_files_but_no_index_is_refused(tiny, dataset, tmp_path):
    _, model = tiny
    _, csv_path = dataset
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "batch_0.npz").write_bytes(b"")
    with pytest.raises(RunConflictError, match="index.json"):
        search_dataset(model, csv_path, OBJECTIVES, tmp_path / "run", progress=False)
