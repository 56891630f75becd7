"""Network dissection in time: the streaming statistics against a direct NumPy computation."""
from __future__ import annotations

import math

import numpy as np
import pytest

from deepspeech_audio_features import DeepSpeech, random_weights
from deepspeech_audio_features.infra.errors import ParameterError, RunConflictError
from deepspeech_audio_features.interpret.dissection import (
    DissectionAccumulator,
    dissect_dataset,
    layer_dissection,
    load_dissection,
)
from deepspeech_audio_features.speech.alignments import frame_phone_labels, read_alignments
from deepspeech_audio_features.speech.mfcc import audio_file_to_mfccs
from deepspeech_audio_features.speech.phones import PHONE_CLASSES

C = len(PHONE_CLASSES)


def reference(acts: np.ndarray, labels: np.ndarray, quantile: float):
    """Direct NumPy: every frame in memory, masks and set operations."""
    keep = labels >= 0
    a, y = acts[keep].astype(np.float64), labels[keep]
    n, f = a.shape
    k = math.ceil(quantile * n)
    mean = np.full((f, C), np.nan)
    for c in range(C):
        if (y == c).any():
            mean[:, c] = a[y == c].mean(axis=0)
    iou = np.zeros((f, C))
    threshold = np.zeros(f)
    for j in range(f):
        threshold[j] = np.sort(a[:, j])[-k]
        fired = a[:, j] >= threshold[j]
        for c in range(C):
            iou[j, c] = (fired & (y == c)).sum() / (fired | (y == c)).sum() if (fired | (y == c)).any() else 0.0
    pref = np.nanargmax(mean, axis=1)
    selectivity = np.zeros(f)
    for j in range(f):
        others = [mean[j, c] for c in range(C) if c != pref[j] and not np.isnan(mean[j, c])]
        selectivity[j] = (mean[j, pref[j]] - np.mean(others)) / a[:, j].std()
    return mean, iou, threshold, pref, selectivity, k


def test_accumulator_matches_numpy_on_a_hand_built_case():
    rng = np.random.default_rng(0)
    n, f = 900, 7
    labels = rng.integers(-1, 6, n)  # six classes present, some frames left out
    acts = rng.normal(size=(n, f)).astype(np.float32)
    acts[labels == 2, 0] += 3.0  # neuron 0 fires on class 2
    acts[labels == 4, 3] += 1.0  # neuron 3 prefers class 4
    quantile = 0.05
    k = math.ceil(quantile * (labels >= 0).sum())
    acc = DissectionAccumulator(f, k)
    for chunk in np.array_split(np.arange(n), 7):  # streamed in uneven batches
        acc.update(acts[chunk], labels[chunk])
    got = layer_dissection("x", acc)
    mean, iou, threshold, pref, selectivity, k_ref = reference(acts, labels, quantile)
    assert got.k == k_ref
    np.testing.assert_allclose(got.mean, mean, rtol=1e-6)
    np.testing.assert_allclose(got.iou, iou, rtol=1e-9)
    np.testing.assert_allclose(got.threshold, threshold, rtol=1e-6)
    np.testing.assert_array_equal(got.preferred[:, 0], pref)
    np.testing.assert_allclose(got.selectivity, selectivity, rtol=1e-6)
    assert got.best_class[0] == 2 and got.preferred[3, 0] == 4
    assert got.summary(0.04)["detectors"] >= 1


def test_a_dead_neuron_detects_nothing():
    acc = DissectionAccumulator(2, 3)
    labels = np.array([0, 0, 1, 1, 1, 2])
    acc.update(np.stack([np.zeros(6), np.arange(6)], axis=1), labels)
    got = layer_dissection("x", acc)
    assert got.best_iou[0] == 0.0 and got.selectivity[0] == 0.0
    assert got.iou[1, 1] == pytest.approx(2 / 4)  # top 3 = frames 3, 4, 5: two of class 1's three


@pytest.fixture(scope="module")
def aligned_corpus(tmp_path_factory):
    from deepspeech_audio_features.synth.corpus import synthesize_corpus

    out = tmp_path_factory.mktemp("dis") / "c"
    synthesize_corpus(out, 6, seed=2, workers=1, progress=False, dev_fraction=0.0, test_fraction=0.0)
    return out / "train.csv"


def test_dissect_dataset_matches_per_utterance_forwards(aligned_corpus, tmp_path):
    weights = random_weights(16, seed=3)
    model = DeepSpeech(weights, metadata={"name": "tiny"})
    layers = ["layer_2", "rnn_output"]
    result = dissect_dataset(model, aligned_corpus, tmp_path / "run", layers=layers, batch_size=2, quantile=0.02,
                             checkpoint_every=1, progress=False)
    aligned = read_alignments(aligned_corpus)
    forward = model.compiled_forward("rnn_output")
    acts, labels = {layer: [] for layer in layers}, []
    for path, alignment in zip(aligned.paths, aligned.alignments):
        x = audio_file_to_mfccs(path, model.upper_frequency_limit)
        out = forward(x[None], np.array([len(x)], np.int32))
        for layer in layers:
            acts[layer].append(out[layer].numpy()[0])
        labels.append(frame_phone_labels(alignment, len(x)))
    y = np.concatenate(labels)
    for layer in layers:
        mean, iou, threshold, _, selectivity, k = reference(np.concatenate(acts[layer]), y, 0.02)
        got = result.layers[layer]
        np.testing.assert_allclose(got.mean, mean, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(got.threshold, threshold, rtol=1e-5, atol=1e-6)
        live = got.threshold > np.concatenate(acts[layer]).min(axis=0)  # a tie at a dead ReLU's 0 has no firing set
        np.testing.assert_allclose(got.iou[live], iou[live], atol=1e-9)
        np.testing.assert_allclose(got.selectivity, selectivity, rtol=1e-4, atol=1e-6)
    # resume: the finished run is read back, nothing is recomputed
    again = dissect_dataset(model, aligned_corpus, tmp_path / "run", layers=layers, batch_size=2, quantile=0.02,
                            progress=False)
    assert again.report["this_session"]["batches"] == 0
    np.testing.assert_array_equal(again.layers["layer_2"].iou, result.layers["layer_2"].iou)
    np.testing.assert_array_equal(load_dissection(tmp_path / "run")["rnn_output"].mean, result.layers["rnn_output"].mean)
    with pytest.raises(RunConflictError, match="quantile"):
        dissect_dataset(model, aligned_corpus, tmp_path / "run", layers=layers, batch_size=2, quantile=0.05,
                        progress=False)
    # overwrite replaces the other run whole: a fresh index of the dataset, the same numbers
    # (a stale record once left the new run without its dataset listing)
    replaced = dissect_dataset(model, aligned_corpus, tmp_path / "run", layers=layers, batch_size=2, quantile=0.05,
                               progress=False, overwrite=True)
    assert replaced.report["this_session"]["batches"] > 0
    np.testing.assert_allclose(replaced.layers["layer_2"].mean, result.layers["layer_2"].mean, rtol=1e-5, atol=1e-7)
    with pytest.raises(ParameterError, match="layers"):
        dissect_dataset(model, aligned_corpus, tmp_path / "other", layers=["layer_9"], progress=False)


def test_probes_beat_chance_and_the_mfcc_probe_is_the_input(aligned_corpus):
    """A probe on the MFCC input learns the phones of the utterances it trained on above chance,
    and the probes see exactly the features the model computes."""
    from deepspeech_audio_features.interpret.probes import ProbeOptions, collect_frames, probe_layers

    model = DeepSpeech(random_weights(16, seed=3), metadata={"name": "tiny"})
    options = ProbeOptions(max_frames=None, steps=300)
    x, phones, chars, skipped = collect_frames(model, aligned_corpus, ["mfcc", "layer_1"], options)
    assert skipped == [] and len(x["mfcc"]) == len(phones) == len(chars) == len(x["layer_1"])
    aligned = read_alignments(aligned_corpus)
    first = audio_file_to_mfccs(aligned.paths[0], model.upper_frequency_limit)
    y0 = frame_phone_labels(aligned.alignments[0], len(first))
    np.testing.assert_allclose(x["mfcc"][:(y0 >= 0).sum()], first[y0 >= 0], rtol=1e-6)
    result = probe_layers(model, aligned_corpus, {"same": aligned_corpus}, ["mfcc", "layer_1"], options)
    assert result.table["phone"]["mfcc"]["train"] == result.table["phone"]["mfcc"]["same"]
    assert result.table["phone"]["mfcc"]["same"] > result.chance["phone"]["same"] + 0.1
    assert result.table["char"]["mfcc"]["same"] > result.chance["char"]["same"]
    with pytest.raises(ParameterError, match="inputs"):
        probe_layers(model, aligned_corpus, {"same": aligned_corpus}, ["layer_9"])
