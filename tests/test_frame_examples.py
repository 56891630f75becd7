"""Time-localized examples and histograms per neuron: the streaming accumulator and the
dissection pass against brute force over every frame, in NumPy."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepspeech_audio_features import DeepSpeech, random_weights
from deepspeech_audio_features.infra.atomic import load_json
from deepspeech_audio_features.infra.errors import ParameterError
from deepspeech_audio_features.interpret.frame_examples import (
    FrameExampleAccumulator,
    histogram_edges,
    load_frame_examples,
)


def brute_force(acts: list[np.ndarray], k: int, window: int, edges: np.ndarray, stride: int) -> dict[str, np.ndarray]:
    """Every frame of every utterance in memory; Python sorts with the documented tie rule
    (the multiplicative hash of the position, in Python integers)."""
    width = acts[0].shape[1]

    def rank(u: int, t: int) -> int:
        return ((u * stride + t) * 0x9E3779B1) % 2 ** 32

    out = {f"{side}_{name}": [] for side in ("top", "bottom") for name in ("utterance", "frame", "value", "trace")}
    for f in range(width):
        frames = [(float(a[t, f]), u, t) for u, a in enumerate(acts) for t in range(len(a))]
        for side, key in (("top", lambda e: (-e[0], rank(e[1], e[2]))), ("bottom", lambda e: (e[0], rank(e[1], e[2])))):
            chosen = sorted(frames, key=key)[:k]
            out[f"{side}_utterance"].append([u for _, u, _ in chosen])
            out[f"{side}_frame"].append([t for _, _, t in chosen])
            out[f"{side}_value"].append([v for v, _, _ in chosen])
            traces = []
            for _, u, t in chosen:
                padded = np.concatenate([np.full(window, np.nan), acts[u][:, f], np.full(window, np.nan)])
                traces.append(padded[t:t + 2 * window + 1])
            out[f"{side}_trace"].append(traces)
    result = {name: np.array(v) for name, v in out.items()}
    every = np.concatenate(acts)
    result["histogram_counts"] = np.stack([np.histogram(np.clip(every[:, f], edges[0], edges[-1]), edges)[0]
                                           for f in range(width)])
    return result


def assert_same_examples(got: dict, want: dict) -> None:
    for name in ("top_utterance", "top_frame", "bottom_utterance", "bottom_frame", "histogram_counts"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    for name in ("top_value", "bottom_value", "top_trace", "bottom_trace"):
        np.testing.assert_array_equal(got[name], want[name].astype(np.float32), err_msg=name)  # NaN == NaN here


def random_utterances(rng, n: int, width: int) -> list[np.ndarray]:
    """Utterances of 1-40 frames; values on a coarse grid (many ties), some exactly 0, some outside [0, 2]."""
    return [np.round(rng.normal(1.0, 1.0, (rng.integers(1, 40), width)), 1).astype(np.float32) for _ in range(n)]


def stream(acts: list[np.ndarray], order: np.ndarray, batch: int, acc: FrameExampleAccumulator) -> None:
    """Feed utterances in ``order`` as zero-padded batches (garbage beyond each length)."""
    for start in range(0, len(order), batch):
        ids = order[start:start + batch]
        lengths = np.array([len(acts[u]) for u in ids])
        padded = np.full((len(ids), lengths.max() + 3, acts[0].shape[1]), 99.0, np.float32)  # padding must be ignored
        for row, u in enumerate(ids):
            padded[row, :lengths[row]] = acts[u]
        acc.update(padded, lengths, ids)


def test_accumulator_matches_brute_force_whatever_the_batching():
    rng = np.random.default_rng(0)
    acts = random_utterances(rng, 23, 5)
    acts[3][:, 4] = 0.0  # a flat neuron stretch: ties decided by position
    k, window = 6, 4
    edges = np.linspace(0.0, 2.0, 9).astype(np.float32)  # values outside fall in the end bins
    want = brute_force(acts, k, window, edges, 64)
    for seed, batch in ((1, 4), (2, 7), (3, 23)):
        acc = FrameExampleAccumulator(5, k, window, edges, stride=64)
        stream(acts, np.random.default_rng(seed).permutation(len(acts)), batch, acc)
        got = acc.result()
        assert_same_examples(got, want)
        np.testing.assert_array_equal(got["histogram_edges"], edges)
        assert got["histogram_counts"].sum(axis=1).tolist() == [sum(map(len, acts))] * 5
    # edges of the traces are NaN exactly outside the utterance
    first = want["top_trace"][0, 0]
    t = want["top_frame"][0, 0]
    assert np.isnan(first[:max(0, window - t)]).all() and not np.isnan(first[window]).any()
    # two shards merged equal one pass, and a state round trip changes nothing
    a = FrameExampleAccumulator(5, k, window, edges, stride=64)
    b = FrameExampleAccumulator(5, k, window, edges, stride=64)
    stream(acts, np.arange(0, 10), 3, a)
    stream(acts, np.arange(10, 23), 5, b)
    b = FrameExampleAccumulator.from_arrays(b.arrays())
    a.merge(b)
    assert_same_examples(a.result(), want)


def test_fewer_frames_than_k_leave_empty_slots():
    acc = FrameExampleAccumulator(2, 5, 1, np.array([0.0, 0.5, 1.0], np.float32), stride=8)
    acc.update(np.array([[[0.5, 2.0], [0.25, -1.0]]], np.float32), np.array([2]), np.array([7]))
    got = acc.result()
    assert got["top_utterance"][0].tolist() == [7, 7, -1, -1, -1]
    assert got["top_frame"][1, :2].tolist() == [0, 1] and got["bottom_frame"][1, :2].tolist() == [1, 0]
    assert got["histogram_counts"].tolist() == [[1, 1], [1, 1]]  # 0.25 | 0.5 (bins half-open); -1, 2: end bins


def test_histogram_edges_rule():
    np.testing.assert_array_equal(histogram_edges("layer_2", 4), [0, 5, 10, 15, 20])
    np.testing.assert_array_equal(histogram_edges("rnn_output", 2), [-1, 0, 1])
    np.testing.assert_allclose(histogram_edges("layer_6", 4, np.array([-2.0, 2.0])), [-4, -2, 0, 2, 4])
    with pytest.raises(ParameterError, match="layer_6"):
        histogram_edges("layer_6", 4)


@pytest.mark.parametrize("layer, bins", [("rnn_output", 40), ("layer_2", 40), ("layer_6", 7)])
def test_histogram_counts_values_on_and_next_to_every_edge(layer, bins):
    """Values exactly on each float32 edge and one ulp either side: where rounding would put
    an arithmetic bin index on the wrong side."""
    edges = histogram_edges(layer, bins, np.array([-3.3, 7.1], np.float32))
    on = np.concatenate([edges, np.nextafter(edges, np.float32(-np.inf)), np.nextafter(edges, np.float32(np.inf)),
                         [edges[0] - 5, edges[-1] + 5]]).astype(np.float32)
    acc = FrameExampleAccumulator(1, 1, 0, edges, stride=len(on) + 1)
    acc.update(on[None, :, None], np.array([len(on)]), np.array([0]))
    np.testing.assert_array_equal(acc.result()["histogram_counts"][0],
                                  np.histogram(np.clip(on, edges[0], edges[-1]), edges)[0])


@pytest.fixture(scope="module")
def aligned_corpus(tmp_path_factory):
    """Six synthesized utterances with TextGrids, plus a seventh (a copy of the first) without one."""
    import csv
    import shutil

    from deepspeech_audio_features.synth.corpus import synthesize_corpus

    out = tmp_path_factory.mktemp("fex") / "c"
    synthesize_corpus(out, 6, seed=2, workers=1, progress=False, dev_fraction=0.0, test_fraction=0.0)
    with open(out / "train.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    shutil.copy(out / rows[1][0], out / "unaligned.wav")
    rows.append(["unaligned.wav", rows[1][1], rows[1][2]])
    with open(out / "mixed.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return out / "mixed.csv"


def per_utterance(model, dataset, layers):
    from deepspeech_audio_features.speech.datasets import read_dataset
    from deepspeech_audio_features.speech.mfcc import audio_file_to_mfccs

    forward = model.compiled_forward(layers[-1])
    acts = {layer: [] for layer in layers}
    for utt in read_dataset(dataset):
        x = audio_file_to_mfccs(utt.path, model.upper_frequency_limit)
        out = forward(x[None], np.array([len(x)], np.int32))
        for layer in layers:
            acts[layer].append(out[layer].numpy()[0])
    return acts


def test_dissection_pass_keeps_examples_equal_to_brute_force(aligned_corpus, tmp_path):
    from deepspeech_audio_features.interpret.dissection import dissect_dataset

    model = DeepSpeech(random_weights(16, seed=3), metadata={"name": "tiny"})
    layers = ["layer_2", "rnn_output", "layer_6"]
    result = dissect_dataset(model, aligned_corpus, tmp_path / "run", layers=layers, batch_size=3, top_k=4, window=6,
                             histogram_bins=10, checkpoint_every=1, progress=False)
    assert result.report["unaligned"] == 1 and result.report["skipped"] == []
    acts = per_utterance(model, aligned_corpus, layers)
    stride = load_json(Path(result.out) / "index.json")["position_stride"]
    for layer in layers:
        examples = load_frame_examples(result.out, layer)
        want = brute_force(acts[layer], 4, 6, examples.histogram_edges, stride)
        got = {name: getattr(examples, name) for name in want}
        np.testing.assert_array_equal(got["top_utterance"], want["top_utterance"])
        np.testing.assert_array_equal(got["top_frame"], want["top_frame"])
        np.testing.assert_array_equal(got["histogram_counts"], want["histogram_counts"])
        for name in ("top_value", "bottom_value", "top_trace", "bottom_trace"):  # batched vs single forwards
            np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)
        assert examples.top_trace.shape == (examples.neurons, 4, 13) and examples.histogram_counts.shape[1] == 10
    np.testing.assert_array_equal(load_frame_examples(result.out, "layer_2").histogram_edges, np.linspace(0, 20, 11))
    # the unaligned utterance (index 6) adds frames to the histograms, none to the phone statistics
    assert load_frame_examples(result.out, "layer_2").histogram_counts.sum(axis=1)[0] == sum(map(len, acts["layer_2"]))
    assert result.layers["layer_2"].counts.sum() == sum(map(len, acts["layer_2"][:6]))
    # one example with its words and phones
    examples = load_frame_examples(result.out, "rnn_output")
    example = examples.example(0, "top", 0)
    assert example.path == examples.paths[example.utterance] and example.value == examples.top_value[0, 0]
    assert example.time == pytest.approx(0.02 * example.frame + 0.016)
    if example.utterance < 6:
        assert example.words and example.phones and example.phone_at_peak()
        assert all(s < example.time + 6.5 * 0.02 and e > example.time - 6.5 * 0.02 for s, e, _ in example.phones)
    else:
        assert example.words == [] and example.phones == []
    with pytest.raises(ParameterError, match="rank"):
        examples.example(0, "top", 4)
    with pytest.raises(ParameterError, match="which"):
        examples.example(0, "middle")


def test_resume_after_interruption_gives_identical_files(aligned_corpus, tmp_path):
    from deepspeech_audio_features.interpret import dissection

    model = DeepSpeech(random_weights(16, seed=3), metadata={"name": "tiny"})
    settings = dict(layers=["layer_1", "layer_6"], batch_size=2, top_k=3, window=2, histogram_bins=5,
                    checkpoint_every=1, progress=False)
    whole = dissection.dissect_dataset(model, aligned_corpus, tmp_path / "whole", **settings)
    original = dissection._accumulate_batch
    calls = []

    def interrupted(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return original(*args, **kwargs)

    dissection._accumulate_batch = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            dissection.dissect_dataset(model, aligned_corpus, tmp_path / "resumed", **settings)
    finally:
        dissection._accumulate_batch = original
    resumed = dissection.dissect_dataset(model, aligned_corpus, tmp_path / "resumed", **settings)
    assert resumed.report["this_session"]["batches"] == 2  # 4 batches, 2 saved before the interruption
    for name in ("layer_1.npz", "layer_1_examples.npz", "layer_6.npz", "layer_6_examples.npz"):
        with np.load(tmp_path / "whole" / name) as a, np.load(tmp_path / "resumed" / name) as b:
            assert a.files == b.files
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}:{key}")
    assert whole.summary == resumed.summary


def test_a_dataset_without_alignments_gives_examples_and_empty_phone_statistics(tmp_path):
    import soundfile as sf

    from deepspeech_audio_features.interpret.dissection import dissect_dataset

    rng = np.random.default_rng(5)
    for i in range(3):
        sf.write(tmp_path / f"u{i}.wav", rng.normal(0, 0.1, 8000 + 1600 * i).astype(np.float32), 16000)
    (tmp_path / "data.csv").write_text("wav_filename,transcript\n" + "".join(f"u{i}.wav,hello\n" for i in range(3)))
    model = DeepSpeech(random_weights(16, seed=3), metadata={"name": "tiny"})
    result = dissect_dataset(model, tmp_path / "data.csv", tmp_path / "run", layers=["layer_1"], top_k=2, window=3,
                             progress=False)
    assert result.report["unaligned"] == 3 and result.report["labelled_frames"] == 0
    assert "phone statistics are empty" in result.summary["layer_1"]["note"]
    examples = load_frame_examples(result.out, "layer_1")
    assert examples.histogram_counts[0].sum() == sum(len(a) for a in per_utterance(model, tmp_path / "data.csv",
                                                                                   ["layer_1"])["layer_1"])
    example = examples.example(3, "top", 1)
    assert example.words == [] and example.phones == [] and example.transcript == "hello"


def test_cli_dissect_then_neuron_examples(aligned_corpus, tmp_path, capsys):
    import json

    from deepspeech_audio_features import save_checkpoint
    from deepspeech_audio_features.app.cli import main

    model = DeepSpeech(random_weights(16, seed=3), metadata={"name": "tiny"})
    save_checkpoint(model, tmp_path / "ckpt")
    run = str(tmp_path / "run")
    assert main(["dissect", "--dataset", str(aligned_corpus), "--out", run, "--checkpoint", str(tmp_path / "ckpt"),
                 "--layers", "layer_2", "--top-k", "3", "--window", "5", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["unaligned"] == 1
    assert main(["neuron-examples", "--run", run, "--layer", "layer_2", "--neurons", "1,4", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["examples"]
    examples = load_frame_examples(run, "layer_2")
    assert [(r["neuron"], r["which"], r["rank"]) for r in rows] == [(n, w, k) for n in (1, 4) for w in ("top", "bottom")
                                                                  for k in range(3)]
    assert rows[0]["activation"] == pytest.approx(float(examples.top_value[1, 0]))
    assert rows[0]["path"] == examples.paths[examples.top_utterance[1, 0]]
    assert main(["neuron-examples", "--run", run, "--layer", "layer_2", "--which", "top", "--k", "1"]) == 0
    table = capsys.readouterr().out
    assert table.count("top frames:") == 3 and "bottom" not in table  # the 3 best detectors by default
    assert main(["neuron-examples", "--run", run, "--layer", "layer_2", "--neurons", "99"]) == 2
    assert "neuron: expected 0..15" in capsys.readouterr().err


def test_study_helpers_show_the_examples_of_learned_input_neurons(aligned_corpus, tmp_path):
    import json

    import matplotlib

    matplotlib.use("Agg")
    from deepspeech_audio_features.app import study
    from deepspeech_audio_features.interpret.dissection import dissect_dataset

    model = DeepSpeech(random_weights(16, seed=3), metadata={"name": "tiny"})
    result = dissect_dataset(model, aligned_corpus, tmp_path / "run", layers=["layer_1", "layer_2"], top_k=3,
                             window=5, progress=False)
    neurons = study.best_detectors(result, "layer_2", 2)
    assert len(neurons) == 2 and result.layers["layer_2"].best_iou[neurons[0]] == result.layers["layer_2"].best_iou.max()
    fig = study.frame_examples_figure(result.out, "layer_2", neurons, n=3)
    assert len(fig.axes) == 6
    example = load_frame_examples(result.out, "layer_2").example(neurons[0])
    samples, rate = study.frame_snippet(example)
    assert rate == 16000 and 0 < len(samples) <= (2 * 5 + 1) * 320 + 1
    # a visualization run's objectives (its config.json): the phones at each optimized neuron's top frames
    vis = tmp_path / "vis"
    vis.mkdir()
    (vis / "config.json").write_text(json.dumps({"objectives": [{"layer": "layer_2", "neurons": [1, 4]},
                                                                {"layer": "layer_6", "neurons": [0]}]}))
    rows = study.learned_input_phones(result.out, vis)
    assert [(r["layer"], r["neuron"]) for r in rows] == [("layer_2", 1), ("layer_2", 4)]  # layer_6 not dissected
    examples = load_frame_examples(result.out, "layer_2")
    assert rows[0]["phones"] == [e.phone_at_peak() for e in examples.examples(1)]
