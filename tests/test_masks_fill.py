"""The fill of masked entries (zeros, digital silence, corpus mean), through every place a mask is applied."""
import json

import numpy as np
import pytest
from reference import forward_reference

from deepspeech_audio_features import DeepSpeech, random_weights
from deepspeech_audio_features.infra.errors import FileFormatError, ParameterError, RunConflictError
from deepspeech_audio_features.interpret.masks.baselines import deletion_curve, saliency_mask
from deepspeech_audio_features.interpret.masks.fill import (
    MEAN_FILE,
    apply_mask,
    fill_values,
    load_fill_file,
    silence_mfccs,
)
from deepspeech_audio_features.interpret.masks.importance import importance_mask
from deepspeech_audio_features.interpret.masks.incremental import IncrementalTest
from deepspeech_audio_features.interpret.masks.options import MaskOptions
from deepspeech_audio_features.interpret.masks.problem import MaskProblem, check_one_minimal
from deepspeech_audio_features.interpret.masks.store import load_mask_fill
from deepspeech_audio_features.speech.checkpoints import EMBEDDED_MODEL_DIR
from deepspeech_audio_features.speech.mfcc import mfccs

TOL = 1e-3
FAST = dict(steps=30, eval_every=5)


@pytest.fixture(scope="module")
def weights():
    return random_weights(24, seed=3)


@pytest.fixture(scope="module")
def model(weights):
    return DeepSpeech(weights)


@pytest.fixture(scope="module")
def x():
    x = np.random.default_rng(7).normal(0, 4, (22, 26)).astype(np.float32)
    x[:, 0] -= 30.0  # a log energy well above silence's -247, as in speech
    return x


@pytest.fixture(scope="module")
def mean_file(tmp_path_factory, x):
    path = tmp_path_factory.mktemp("fill") / "mean.json"
    values = x.mean(axis=0) + np.linspace(-1, 1, 26)
    path.write_text(json.dumps({"mean": values.tolist()}))
    return path


def reference_labels(weights, x, mask, fill):
    masked = np.where(np.asarray(mask, bool), x, np.asarray(fill, np.float32)[None])  # independent of apply_mask
    return forward_reference(weights, masked)["layer_6"]


def margins(logits, labels):
    onehot = np.eye(logits.shape[-1], dtype=bool)[labels]
    return np.where(onehot, logits, -np.inf).max(-1) - np.where(onehot, -np.inf, logits).max(-1)


def test_silence_is_the_mfcc_op_on_a_zero_waveform():
    silence = silence_mfccs()
    np.testing.assert_array_equal(mfccs(np.zeros(16000, np.float32)), np.repeat(silence[None], 49, axis=0))
    # 40 mel bands at the op's log floor log(1e-12), DCT-II scaled by sqrt(2/40): only c0 is non-zero
    assert silence[0] == pytest.approx(40 * np.sqrt(2 / 40) * np.log(1e-12), rel=1e-5)
    np.testing.assert_allclose(silence[1:], 0, atol=1e-3)


def test_the_embedded_models_corpus_mean_ships_beside_its_checkpoint():
    path = EMBEDDED_MODEL_DIR / MEAN_FILE
    info = json.loads(path.read_text())
    values = load_fill_file(path)
    # the mean of the training set of the model's last stage (as its metadata records it)
    trained_on = json.loads((EMBEDDED_MODEL_DIR / "deepspeech_audio_features.json").read_text())["training"]["train"]
    assert values.shape == (26,) and info["frames"] > 10 ** 6 and info["dataset"] == trained_on
    assert silence_mfccs()[0] < values[0] < 0  # louder than silence, quieter than 0


@pytest.mark.parametrize("fill", ["zeros", "silence", "mean"])
def test_a_mask_applied_with_each_fill_equals_the_numpy_reference(weights, model, x, mean_file, fill):
    values = fill_values(fill, model, mean_file if fill == "mean" else None)
    mask = np.random.default_rng(0).random(x.shape) < 0.5
    np.testing.assert_array_equal(apply_mask(x, mask, values), np.where(mask, x, values[None]))
    problem = MaskProblem(model, x, np.ones(len(x), bool), "time-frequency", TOL, 8192, fill=values)
    ref = reference_labels(weights, x, mask, values)
    got = problem.margins(mask.reshape(1, -1))[0]
    np.testing.assert_allclose(got, margins(ref, problem.labels), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fill", ["silence", "mean"])
def test_masks_keep_every_frame_with_their_own_fill_and_are_one_minimal(weights, model, x, mean_file, fill):
    extra = {"fill_file": str(mean_file)} if fill == "mean" else {}
    result = importance_mask(model, x, fill=fill, **extra, **FAST)
    values = fill_values(fill, model, mean_file if fill == "mean" else None)
    np.testing.assert_array_equal(result.fill_values, values)
    assert result.fill == fill and result.summary()["fill"] == fill
    labels = forward_reference(weights, x)["layer_6"].argmax(-1)
    np.testing.assert_array_equal(reference_labels(weights, x, result.mask, values).argmax(-1), labels)
    assert result.frame_agreement == 1.0 and result.one_minimal and result.one_minimal_checked
    assert 0.2 < result.zero_fraction < 1
    # brute force with the same fill: masking any remaining one loses a frame (within the acceptance margin)
    tol = np.minimum(TOL, 0.5 * margins(forward_reference(weights, x)["layer_6"], labels))
    for t, c in np.argwhere(result.mask == 1)[::3]:
        trial = result.mask.copy()
        trial[t, c] = 0
        assert (margins(reference_labels(weights, x, trial, values), labels) - tol).min() < 1e-4
    assert check_one_minimal(model, x, result.mask, fill=values)


def test_incremental_evaluation_equals_full_passes_with_a_non_zero_fill(model, x):
    values = silence_mfccs()
    problem = MaskProblem(model, x, np.ones(len(x), bool), "time-frequency", TOL, 8192, fill=values)
    base = np.ones(problem.n_units, bool)
    rng = np.random.default_rng(1)
    trials = np.repeat(base[None], 48, axis=0)
    for row in trials:
        row[rng.choice(problem.n_units, 3, replace=False)] = False
    full = problem.check(trials)[0]
    np.testing.assert_array_equal(IncrementalTest(problem, chunk_frames=3).check(base, trials), full)
    assert 0 < full.mean() < 1
    masks = [importance_mask(model, x, fill="silence", incremental=flag, **FAST).mask for flag in (False, True)]
    np.testing.assert_array_equal(masks[0], masks[1])


def test_the_fill_is_part_of_the_run_folders_identity(model, x, tmp_path):
    run = tmp_path / "run"
    first = importance_mask(model, x, fill="silence", run_dir=run, **FAST)
    assert load_mask_fill(run)[0] == "silence"
    np.testing.assert_array_equal(load_mask_fill(run)[1], first.fill_values)
    again = importance_mask(model, x, fill="silence", run_dir=run, **FAST)  # finished: read back
    assert again.fill == "silence" and np.array_equal(again.mask, first.mask)
    with pytest.raises(RunConflictError):
        importance_mask(model, x, run_dir=run, **FAST)  # the study's zeros: another run
    zeros = importance_mask(model, x, run_dir=tmp_path / "zeros", **FAST)
    config = json.loads((tmp_path / "zeros" / "config.json").read_text())
    assert config["fill"] is None and zeros.fill == "zeros"  # read as absent: the study's older runs still resume
    with pytest.raises(RunConflictError):
        importance_mask(model, x, fill="silence", run_dir=tmp_path / "zeros", **FAST)
    with pytest.raises(RunConflictError):
        importance_mask(model, x, swap_moves=5, run_dir=tmp_path / "zeros", **FAST)


def test_baselines_and_deletion_curves_use_the_fill(weights, model, x):
    values = silence_mfccs()
    result = saliency_mask(model, x, fill="silence")
    assert result.fill == "silence"
    labels = forward_reference(weights, x)["layer_6"].argmax(-1)
    np.testing.assert_array_equal(reference_labels(weights, x, result.mask, values).argmax(-1), labels)
    scores = np.random.default_rng(0).random(x.shape)
    fractions, agreement = deletion_curve(model, x, scores, [0.0, 1.0], fill="silence")
    all_masked = (reference_labels(weights, x, np.zeros_like(x), values).argmax(-1) == labels).mean()
    assert agreement[0] == 1.0 and agreement[1] == pytest.approx(all_masked)


def test_bad_fills_are_named(model, tmp_path):
    with pytest.raises(ParameterError, match="fill: must be one of"):
        MaskOptions(fill="noise")
    with pytest.raises(ParameterError, match="fill_file: only used with fill 'mean'"):
        MaskOptions(fill="zeros", fill_file="x.json")
    with pytest.raises(ParameterError, match="fill_file: fill 'mean' needs"):
        fill_values("mean", model)  # a model without mfcc_mean.json
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"mean": [1.0, 2.0]}))
    with pytest.raises(FileFormatError, match="bad.json: a fill needs 26"):
        fill_values("mean", model, bad)


def test_muting_in_the_features_uses_the_masks_fill(weights, model, speechlike, tmp_path):
    from deepspeech_audio_features import write_wav
    from deepspeech_audio_features.interpret.masks.mute import frames_by_rank, mute_unimportant_audio
    from deepspeech_audio_features.speech.decoding import greedy_decode

    wav = write_wav(tmp_path / "in.wav", speechlike[:16000])
    x = mfccs(speechlike[:16000])
    mask = np.zeros(x.shape, np.uint8)
    mask[::2] = 1
    values = silence_mfccs()
    muted = mute_unimportant_audio(wav, mask, (0.0, 0.5), out_dir=tmp_path / "out", model=model, by="rank",
                                   fill="silence")
    assert muted.fill == "silence" and len(muted.feature_transcriptions) == 2
    assert muted.feature_transcriptions[0] == muted.original_transcription  # nothing replaced
    filled = np.where(frames_by_rank(mask, 0.5)[:, None], values[None], x)
    expected = greedy_decode(forward_reference(weights, filled)["layer_6"], model.alphabet).text
    assert muted.feature_transcriptions[1] == expected
    saved = json.loads((tmp_path / "out" / "muted_rank.json").read_text())
    assert saved["fill"] == "silence" and saved["feature_transcriptions"] == muted.feature_transcriptions
