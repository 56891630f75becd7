"""The model files people have: DeepSpeech .pb, .pbmm, .tflite and Coqui STT checkpoints.

Fixtures follow the published layouts (tests/model_files.py); each format is checked
against TensorFlow's own execution of the same file and the NumPy reference.
"""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import tensorflow as tf
from model_files import (
    ALPHABET_40,
    confident_weights,
    coqui_folder,
    deepspeech_graph,
    run_frozen_graph,
    run_tflite,
)
from reference import forward_reference
from tensorflow.core.util import memmapped_file_system_pb2

from deepspeech_audio_features import (
    Alphabet,
    CheckpointError,
    DeepSpeech,
    ParameterError,
    audio_file_to_mfccs,
    beam_search_decode,
    context_windows,
    example_audio,
    greedy_decode,
    load_model,
    mfccs,
    save_checkpoint,
)
from deepspeech_audio_features.app.cli import main
from deepspeech_audio_features.speech.formats.memmapped import ALIGNMENT, GRAPH_REGION, write_memmapped


@pytest.fixture(scope="module")
def features():
    """3 s of a gliding tone with noise: MFCCs [149, 26]."""
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 16000
    x = 0.3 * np.sin(2 * np.pi * (150 + 50 * np.sin(2 * np.pi * 1.5 * t)) * t) + 0.02 * rng.standard_normal(t.shape)
    return mfccs(x.astype(np.float32))


@pytest.fixture(scope="module")
def speech():
    """MFCCs of the three example utterances (375 frames of speech)."""
    return [audio_file_to_mfccs(path) for path in example_audio()]


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """(weights, GraphDef, .pb path, .pbmm path) of a fused DeepSpeech export with n_hidden 48."""
    folder = tmp_path_factory.mktemp("frozen")
    weights = confident_weights(48)
    graph, _ = deepspeech_graph(weights)
    (folder / "output_graph.pb").write_bytes(graph.SerializeToString())
    write_memmapped(graph, folder / "output_graph.pbmm")
    return weights, graph, folder / "output_graph.pb", folder / "output_graph.pbmm"


@pytest.fixture(scope="module")
def tflite(tmp_path_factory):
    """(weights, .tflite path) of a static-RNN export of the embedded model, quantized with Optimize.DEFAULT.

    A trained model, because argmax agreement means something only where frames have a
    clear best class: a random network's outputs are near-ties on ~1.5 % of frames, which
    any 0.5 % perturbation flips."""
    weights = load_model().official_weights()
    _, model = deepspeech_graph(weights, fused=False)
    path = tmp_path_factory.mktemp("tflite") / "output_graph.tflite"
    path.write_bytes(model)
    return weights, path


# ----------------------------------------------------------------------------- .pb
def test_pb_layers_equal_tensorflows_execution_of_the_graph(frozen, features):
    weights, graph, pb, _ = frozen
    model = load_model(pb)
    ours = model.layer_outputs(features)
    theirs = run_frozen_graph(graph, context_windows(features))
    reference = forward_reference(weights, features)
    for layer, value in ours.items():
        np.testing.assert_allclose(value, theirs[layer], atol=1e-5, rtol=0, err_msg=layer)
        np.testing.assert_allclose(value, reference[layer], atol=1e-5, rtol=0, err_msg=layer)
    np.testing.assert_allclose(model.probabilities(features), theirs["logits"], atol=1e-5)


def test_pb_metadata_and_alphabet_read_back_exactly(frozen):
    model = load_model(frozen[2])
    assert model.alphabet.labels == tuple(" abcdefghijklmnopqrstuvwxyz'") and model.n_classes == 29
    assert {key: model.metadata[key] for key in ("format", "sample_rate", "feature_win_len", "feature_win_step",
                                                 "beam_width", "graph_version", "upper_frequency_limit")} == {
        "format": "pb", "sample_rate": 16000, "feature_win_len": 32, "feature_win_step": 20, "beam_width": 1024,
        "graph_version": 6, "upper_frequency_limit": 8000.0}
    assert model.metadata["quantization"] is None and model.forget_bias == 0.0 and model.n_hidden == 48


def test_pb_of_0_6_without_the_limit_attribute_uses_the_op_default(tmp_path):
    graph, _ = deepspeech_graph(confident_weights(16), upper_frequency_limit=None)
    (tmp_path / "v06.pb").write_bytes(graph.SerializeToString())
    assert load_model(tmp_path / "v06.pb").upper_frequency_limit == 4000.0


def test_pb_with_its_own_alphabet(tmp_path, features):
    weights = confident_weights(16, n_classes=ALPHABET_40.num_classes)
    graph, _ = deepspeech_graph(weights, alphabet=ALPHABET_40)
    (tmp_path / "de.pb").write_bytes(graph.SerializeToString())
    model = load_model(tmp_path / "de.pb")
    assert model.alphabet == ALPHABET_40 and model.logits(features).shape == (len(features), 41)


# ----------------------------------------------------------------------------- .pbmm
def test_pbmm_gives_the_pb_model(frozen, features):
    _, _, pb, pbmm = frozen
    a, b = load_model(pb), load_model(pbmm)
    assert b.metadata["format"] == "pbmm" and a.alphabet == b.alphabet
    assert a.fingerprint() == b.fingerprint()  # the very same weights
    np.testing.assert_array_equal(a.logits(features), b.logits(features))


def test_pbmm_layout_read_by_tensorflows_own_proto(frozen):
    """The directory parsed with TensorFlow's MemmappedFileSystemDirectory message (an
    independent reader): regions 64-byte aligned, named as the converter names them, lengths
    matching, the graph region last, the directory offset in the last 8 bytes."""
    _, graph, _, pbmm = frozen
    data = pbmm.read_bytes()
    (offset,) = struct.unpack("<Q", data[-8:])
    directory = memmapped_file_system_pb2.MemmappedFileSystemDirectory.FromString(data[offset:-8])
    elements = {e.name: e for e in directory.element}
    big = sorted(n.name for n in graph.node if n.op == "Const" and len(n.attr["value"].tensor.tensor_content) >= 10000)
    assert "layer_1/weights" in big and "layer_2/weights" not in big  # 48 x 48 x 4 bytes stay inline
    expected = sorted("memmapped_package://" + name.replace("/", "_") for name in big)
    assert sorted(elements) == sorted(expected + [GRAPH_REGION]) and directory.element[-1].name == GRAPH_REGION
    for name in expected:
        assert elements[name].offset % ALIGNMENT == 0
    rewritten = tf.compat.v1.GraphDef.FromString(data[elements[GRAPH_REGION].offset:offset])
    immutable = {n.name: n for n in rewritten.node if n.op == "ImmutableConst"}
    assert sorted(immutable) == big
    kernel = immutable["cudnn_lstm/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell/kernel"]
    region = elements[kernel.attr["memory_region_name"].s.decode()]
    stored = np.frombuffer(data[region.offset:region.offset + region.length], "<f4").reshape(96, 192)
    original = next(n for n in graph.node if n.name == kernel.name)
    np.testing.assert_array_equal(stored, tf.make_ndarray(original.attr["value"].tensor))


def test_pbmm_regions_read_by_tensorflows_immutable_const(frozen, tmp_path):
    """TensorFlow's C++ memmapped *package* reader (MemmappedEnv) has no Python binding, so a
    ``memmapped_package://`` name cannot be opened from the wheel; its region reader can: each
    region written to its own file and mapped by ``tf.raw_ops.ImmutableConst``."""
    _, graph, pb, pbmm = frozen
    data = pbmm.read_bytes()
    (offset,) = struct.unpack("<Q", data[-8:])
    directory = memmapped_file_system_pb2.MemmappedFileSystemDirectory.FromString(data[offset:-8])
    values = load_model(pb).official_weights()
    for element in directory.element[:-1]:
        name = next(key for key in values if key.replace("/", "_") == element.name.removeprefix("memmapped_package://"))
        path = tmp_path / f"region-{len(name)}-{abs(hash(name))}"
        path.write_bytes(data[element.offset:element.offset + element.length])
        mapped = tf.raw_ops.ImmutableConst(dtype=tf.float32, shape=values[name].shape, memory_region_name=str(path))
        np.testing.assert_array_equal(mapped.numpy(), values[name])


def test_pbmm_of_old_writers_without_lengths(frozen, tmp_path, features):
    _, graph, pb, _ = frozen
    write_memmapped(graph, tmp_path / "old.pbmm", write_lengths=False)
    assert load_model(tmp_path / "old.pbmm").fingerprint() == load_model(pb).fingerprint()


# ----------------------------------------------------------------------------- .tflite
def test_tflite_is_the_float_model_within_the_quantization_error(tflite, speech):
    weights, path = tflite
    model, float_model = load_model(path), DeepSpeech(weights)
    quantization = model.metadata["quantization"]
    assert quantization["scheme"].startswith("dynamic-range int8") and model.metadata["n_steps"] == 16
    assert set(quantization["layers"]) == {"layer_1/weights", "layer_2/weights", "layer_3/weights", "layer_5/weights",
                                           "layer_6/weights",
                                           "cudnn_lstm/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell/kernel"}
    for name, value in model.official_weights().items():  # the measured error is within the recorded bound
        bound = quantization["layers"].get(name, {}).get("weight_error_bound", 0.0)
        assert np.abs(value - weights[name]).max() <= bound * 1.0001 + 1e-7, name
    ours = np.concatenate([model.logits(x) for x in speech])
    reference = np.concatenate([float_model.logits(x) for x in speech])
    # Six quantized matrices in a row, each off by ~1 % (RMS): logits within 10x that of their range.
    tolerance = 10 * quantization["relative_weight_error_rms"] * np.abs(reference).max()
    assert np.abs(ours - reference).max() <= tolerance
    # With every logit within the tolerance, a frame's class can only change where the float
    # model's two best logits are within twice it of each other: every disagreement is such a near tie.
    differ = ours.argmax(1) != reference.argmax(1)
    top_two = np.sort(reference, axis=1)[:, -2:]
    assert np.all(top_two[differ, 1] - top_two[differ, 0] <= 2 * tolerance)
    assert 1.0 - differ.mean() >= 0.97


def test_tflite_argmax_agrees_with_the_interpreter(tflite, speech):
    _, path = tflite
    model = load_model(path)
    theirs = np.concatenate([run_tflite(path.read_bytes(), context_windows(x)) for x in speech])
    ours = np.concatenate([model.logits(x) for x in speech])
    # The interpreter also quantizes activations as it runs (we compute in float with the dequantized
    # weights), so some frames differ: on the embedded model 11 of 395, where either side can be the one
    # that moved (against the float model our dequantized network keeps 98.7 % of the best classes, the
    # interpreter 97.2 %). Per frame the two output distributions are close: total variation 0.0014
    # (median) and 0.057 (95th percentile); wrong scales or a transposed matrix move every frame.
    differ = ours.argmax(1) != theirs.argmax(1)
    assert 1.0 - differ.mean() >= 0.96
    probabilities = np.exp(ours - ours.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    np.testing.assert_allclose(theirs.sum(1), 1.0, atol=1e-4)  # the graph's output is the softmax
    distance = 0.5 * np.abs(probabilities - theirs).sum(1)
    assert np.median(distance) < 0.01 and np.percentile(distance, 90) < 0.1
    assert model.alphabet.labels == tuple(" abcdefghijklmnopqrstuvwxyz'")
    assert model.metadata["upper_frequency_limit"] == 8000.0 and model.metadata["sample_rate"] == 16000


def test_tflite_quantization_is_json_and_survives_save_checkpoint(tflite, tmp_path):
    model = load_model(tflite[1])
    json.dumps(model.metadata)
    reloaded = load_model(save_checkpoint(model, tmp_path / "ckpt"))
    assert reloaded.fingerprint() == model.fingerprint() and reloaded.alphabet == model.alphabet


# ----------------------------------------------------------------------------- Coqui STT
@pytest.mark.parametrize("absl_flags", [False, True], ids=["json-flags", "absl-flags"])
def test_coqui_checkpoint_with_40_labels(tmp_path, features, absl_flags):
    weights = confident_weights(24, n_classes=41, seed=5)
    folder = coqui_folder(tmp_path / "coqui", weights, ALPHABET_40, absl_flags=absl_flags)
    model = load_model(folder)
    assert model.alphabet == ALPHABET_40 and "#" in model.alphabet.labels and model.n_classes == 41
    assert model.metadata["format"] == "coqui-checkpoint" and model.metadata["sample_rate"] == 16000
    np.testing.assert_allclose(model.logits(features), forward_reference(weights, features)["layer_6"], atol=1e-5)
    text = greedy_decode(model.probabilities(features), model.alphabet).text
    assert set(text) <= set("".join(ALPHABET_40.labels))


def test_model_zoo_folder_with_tflite_and_alphabet(tflite, tmp_path):
    (tmp_path / "model.tflite").write_bytes(tflite[1].read_bytes())
    (tmp_path / "alphabet.txt").write_text(Alphabet(tuple(" abcdefghijklmnopqrstuvwxyz'")).to_text())
    assert load_model(tmp_path).metadata["format"] == "tflite"


# ----------------------------------------------------------------------------- alphabets
def test_alphabet_txt_comments_escapes_and_serialization():
    alphabet = Alphabet.parse("# comment\n \na\n\\#\nä\nch\n")
    assert alphabet.labels == (" ", "a", "#", "ä", "ch") and alphabet.blank_index == 5
    assert Alphabet.parse(alphabet.to_text()) == alphabet
    assert Alphabet.deserialize(alphabet.serialize()) == alphabet
    np.testing.assert_array_equal(alphabet.text_to_labels("ach a#"), [1, 4, 0, 1, 2])
    assert alphabet.labels_to_text([1, 4, 5, 0, 3]) == "ach ä"


def test_decoders_take_the_models_alphabet():
    alphabet = Alphabet(tuple(" xyz"))
    probs = np.full((6, 5), 0.01)
    for t, label in enumerate([1, 4, 2, 0, 3, 3]):
        probs[t, label] = 1.0
    probs /= probs.sum(1, keepdims=True)
    assert greedy_decode(probs, alphabet).text == "xy z"
    assert beam_search_decode(probs, beam_width=8, alphabet=alphabet).text == "xy z"
    with pytest.raises(ParameterError, match=r"\[T, 29\]"):
        greedy_decode(probs)


def test_a_mismatched_alphabet_is_refused():
    from deepspeech_audio_features import random_weights

    with pytest.raises(CheckpointError, match="layer_6 has 29 outputs"):
        DeepSpeech(random_weights(8), alphabet=ALPHABET_40)


# ----------------------------------------------------------------------------- inspect
def test_inspect_prints_what_was_found(tflite, capsys):
    assert main(["inspect", str(tflite[1])]) == 0
    out = capsys.readouterr().out
    for fragment in ("format: tflite", "layer_1/weights", "(494, 384)", "alphabet: 28 labels", "upper_frequency_limit",
                     "dynamic-range int8"):
        assert fragment in out


def test_a_quantized_model_says_so(tflite):
    model = load_model(tflite[1])
    assert "QUANTIZED" in repr(model) and "approximate" in model.quantization_note
    assert "QUANTIZED" not in repr(load_model()) and load_model().quantization_note is None
