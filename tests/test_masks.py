"""Importance masks and muted audio, checked against the independent NumPy forward pass."""
import json

import numpy as np
import pytest
import soundfile as sf
from reference import forward_reference

from deepspeech_audio_features import (
    DeepSpeech,
    random_weights,
    transcribe_detailed,
    write_wav,
)
from deepspeech_audio_features.infra.errors import ParameterError, RunConflictError
from deepspeech_audio_features.interpret.masks.baselines import (
    deletion_curve,
    greedy_occlusion_mask,
    random_mask_baseline,
    saliency_mask,
)
from deepspeech_audio_features.interpret.masks.importance import importance_mask
from deepspeech_audio_features.interpret.masks.mute import frames_by_rank, mute_unimportant_audio, muted_samples
from deepspeech_audio_features.interpret.masks.options import MaskOptions
from deepspeech_audio_features.interpret.masks.problem import check_one_minimal, word_frames
from deepspeech_audio_features.interpret.masks.store import load_mask_snapshots
from deepspeech_audio_features.speech.decoding import Transcription, WordTiming

TOL = 1e-3
FAST = dict(steps=40, eval_every=5)


@pytest.fixture(scope="module")
def weights():
    return random_weights(24, seed=3)


@pytest.fixture(scope="module")
def model(weights):
    return DeepSpeech(weights)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(7).normal(0, 4, (22, 26)).astype(np.float32)


@pytest.fixture(scope="module")
def result(model, x):
    return importance_mask(model, x, **FAST)


def ref_logits(weights, mfccs):
    return forward_reference(weights, mfccs)["layer_6"]


def ref_margins(logits, labels):
    onehot = np.eye(logits.shape[-1], dtype=bool)[labels]
    return np.where(onehot, logits, -np.inf).max(-1) - np.where(onehot, -np.inf, logits).max(-1)


def test_mask_keeps_every_frame_class_in_an_independent_forward(weights, x, result):
    labels = ref_logits(weights, x).argmax(-1)
    masked = ref_logits(weights, result.mask * x).argmax(-1)
    np.testing.assert_array_equal(masked, labels)
    assert result.mask.shape == x.shape and result.mask.dtype == np.uint8
    assert set(np.unique(result.mask)) <= {0, 1}
    assert result.frame_agreement == 1.0 and result.agreement_all_frames == 1.0
    assert result.zero_fraction == pytest.approx(1 - result.mask.mean())
    assert result.zero_fraction > 0.3  # it really removed entries
    assert result.text_masked == result.text_original
    assert result.scores.shape == x.shape and 0 <= result.scores.min() <= result.scores.max() <= 1


def test_mask_is_one_minimal_by_brute_force(weights, x, result):
    """Zeroing any single remaining one breaks the acceptance test at some frame."""
    logits = ref_logits(weights, x)
    labels = logits.argmax(-1)
    tol = np.minimum(TOL, 0.5 * ref_margins(logits, labels))
    assert result.one_minimal and result.one_minimal_checked
    ones = np.argwhere(result.mask == 1)
    assert len(ones) > 0
    for t, c in ones:
        trial = result.mask.copy()
        trial[t, c] = 0
        slack = ref_margins(ref_logits(weights, trial * x), labels) - tol
        assert slack.min() < 1e-4, f"entry ({t}, {c}) could be zeroed"


def test_a_mask_with_a_removable_one_is_not_one_minimal(model, x, result):
    t, c = np.argwhere(result.mask == 0)[0]
    padded = result.mask.copy()
    padded[t, c] = 1  # a one that can be zeroed again
    assert not check_one_minimal(model, x, padded)
    assert check_one_minimal(model, x, result.mask)


def test_time_only_variant_masks_whole_frames(weights, model, x):
    r = importance_mask(model, x, variant="time", **FAST)
    assert np.all(r.mask == r.mask[:, :1])
    np.testing.assert_array_equal(ref_logits(weights, r.mask * x).argmax(-1), ref_logits(weights, x).argmax(-1))
    assert r.one_minimal and r.one_minimal_checked
    assert r.variant == "time"


def test_preserve_frames_explains_a_word_span(weights, model, x):
    transcription = Transcription("ab cd", [WordTiming("ab", 2, 5), WordTiming("cd", 6, 9)])
    frames = word_frames(transcription, 1, num_frames_=len(x))
    np.testing.assert_array_equal(np.nonzero(frames)[0], [6, 7, 8])
    r = importance_mask(model, x, preserve_frames=frames, **FAST)
    labels = ref_logits(weights, x).argmax(-1)
    masked = ref_logits(weights, r.mask * x).argmax(-1)
    np.testing.assert_array_equal(masked[6:9], labels[6:9])
    assert r.frame_agreement == 1.0
    assert not r.mask[8 + 9 + 1:].any()  # frames past 8 + 9 cannot reach frame 8: zero for free
    assert r.zero_fraction > 0.5
    with pytest.raises(ParameterError, match="out of range"):
        word_frames(transcription, 2)


def test_snapshots_resume_and_finished_runs(model, x, tmp_path):
    full = importance_mask(model, x, run_dir=tmp_path / "full", snapshot_every=10, **FAST)
    snaps = load_mask_snapshots(tmp_path / "full")
    assert [p.name for p in full.snapshot_paths] == [f"{i}.npy" for i in range(len(snaps))]
    np.testing.assert_array_equal(snaps[-1], full.mask)
    info = json.loads((tmp_path / "full" / "result.json").read_text())
    assert info["final_snapshot"] == f"{len(snaps) - 1}.npy" and info["frame_agreement"] == 1.0

    for stop_phase in ("optimize", "prune"):
        class Stop(Exception):
            pass

        def interrupt(phase, index, mask):
            if phase == stop_phase:
                raise Stop

        run = tmp_path / f"stopped-{stop_phase}"
        with pytest.raises(Stop):
            importance_mask(model, x, run_dir=run, snapshot_every=10, callback=interrupt, **FAST)
        assert not (run / "result.json").exists()
        resumed = importance_mask(model, x, run_dir=run, snapshot_every=10, **FAST)
        np.testing.assert_array_equal(resumed.mask, full.mask)
        np.testing.assert_array_equal(load_mask_snapshots(run), snaps)

    again = importance_mask(model, x, run_dir=tmp_path / "full", snapshot_every=10, **FAST)  # read back
    np.testing.assert_array_equal(again.mask, full.mask)
    with pytest.raises(RunConflictError, match="other settings"):
        importance_mask(model, x, run_dir=tmp_path / "full", snapshot_every=10, steps=41)
    other = importance_mask(model, x, run_dir=tmp_path / "full", steps=20, overwrite=True)
    assert other.frame_agreement == 1.0 and len(load_mask_snapshots(tmp_path / "full")) == len(other.snapshot_paths)


def test_options_object_and_keyword_overrides_give_the_same_run(model, x, result, tmp_path):
    via_options = importance_mask(model, x, MaskOptions(**FAST))
    np.testing.assert_array_equal(via_options.mask, result.mask)
    with pytest.raises(ParameterError, match="stepz"):
        importance_mask(model, x, stepz=3)
    with pytest.raises(ParameterError, match="mfccs"):
        importance_mask(model, x[:, :20])
    broken = x.copy()
    broken[5, 3] = np.nan
    with pytest.raises(ParameterError, match="mfccs: NaN or Inf in 1 frame.*frame 5"):
        importance_mask(model, broken)  # named as the input, not as the decoder's probabilities


def test_a_folder_with_files_but_no_config_is_refused(model, x, tmp_path):
    (tmp_path / "0.npy").write_bytes(b"stray")
    with pytest.raises(RunConflictError, match="config.json"):
        importance_mask(model, x, run_dir=tmp_path, **FAST)


def test_mask_options_validate_and_name_the_option():
    assert MaskOptions().steps == 300 and MaskOptions().lam == (0.3, 3.0)
    for values, word in [({"lam": [0.0, 3.0]}, "lam"), ({"lam": [1.0]}, "lam"), ({"steps": -1}, "steps"),
                         ({"tau": [1.0, -0.3]}, "tau"), ({"straight_through": 1.5}, "straight_through"),
                         ({"variant": "frequency"}, "variant"), ({"eval_every": 0}, "eval_every"),
                         ({"max_prune_passes": -2}, "max_prune_passes"), ({"learning_rate": 0}, "learning_rate"),
                         ({"stepz": 3}, "stepz")]:
        with pytest.raises(ParameterError, match=word):
            MaskOptions.from_dict(values, source="mask.json")
    with pytest.raises(ParameterError, match="steps"):
        MaskOptions().replace(steps=-5)
    options = MaskOptions.from_dict({"steps": 20, "lam": [1, 2], "max_prune_passes": None})
    assert options.lam == (1.0, 2.0) and MaskOptions.from_dict(options.to_dict()) == options


def test_mask_experiment_json_unknown_key_is_named(tmp_path):
    from deepspeech_audio_features.app.experiments import load_mask_experiment

    packaged = load_mask_experiment()
    assert packaged.options == MaskOptions() and packaged.mute_thresholds == (0.1, 0.2, 0.3)
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"name": "mine", "out": "runs/x", "steps": 20, "lamda": [1, 2]}))
    with pytest.raises(ParameterError, match=f"{path}.*lamda"):
        load_mask_experiment(path)
    path.write_text(json.dumps({"name": "mine", "steps": 20, "kappa": -1}))
    with pytest.raises(ParameterError, match="kappa"):
        load_mask_experiment(path)


def test_baselines_end_in_verified_masks(weights, model, x, result):
    labels = ref_logits(weights, x).argmax(-1)
    random = random_mask_baseline(model, x, result.zero_fraction, samples=4)
    occlusion = greedy_occlusion_mask(model, x)
    saliency = saliency_mask(model, x)
    for b in (random, occlusion, saliency):
        assert b.frame_agreement == 1.0
        np.testing.assert_array_equal(ref_logits(weights, b.mask * x).argmax(-1), labels)
        assert b.scores.shape == x.shape
    assert 0 <= random.extra["raw_agreement"] <= 1
    assert occlusion.zero_fraction > 0.2
    fractions, curve = deletion_curve(model, x, result.mask + result.scores)
    assert curve[0] == 1.0 and len(curve) == len(fractions) == 21
    # zeroing exactly the mask's zeros (they come first in this order) keeps every frame
    _, at_mask = deletion_curve(model, x, result.mask + result.scores, [0.0, result.zero_fraction])
    np.testing.assert_array_equal(at_mask, [1.0, 1.0])


# ----------------------------------------------------------------------------- muting
def expected_muted(means, num_samples, threshold):
    """Per-sample loop: frames whose 512-sample window holds the sample (the last frame past the end)."""
    T = len(means)
    out = np.zeros(num_samples, bool)
    for i in range(num_samples):
        covering = [t for t in range(T) if 320 * t <= i < 320 * t + 512] or [T - 1]
        out[i] = all(means[t] < threshold for t in covering)
    return out


def test_muted_samples_are_exactly_the_frames_under_threshold():
    rng = np.random.default_rng(0)
    num_samples = 512 + 320 * 11 + 100  # 12 frames and a tail no window covers
    mask = (rng.random((12, 26)) < rng.random((12, 1))).astype(np.uint8)
    means = mask.mean(1)
    for threshold in (0.0, 0.2, 0.5, 1.01):
        np.testing.assert_array_equal(muted_samples(mask, num_samples, threshold),
                                      expected_muted(means, num_samples, threshold))
    assert not muted_samples(mask, num_samples, 0.0).any()
    assert muted_samples(mask, num_samples, 1.01).all()
    with pytest.raises(ValueError):
        muted_samples(mask[:5], num_samples, 0.1)


def test_rank_muting_mutes_the_least_important_share_of_frames():
    rng = np.random.default_rng(1)
    num_samples = 512 + 320 * 19  # 20 frames
    mask = (rng.random((20, 26)) < 0.05).astype(np.uint8)  # sparse: most frame means are 0
    means = mask.mean(1)
    for share in (0.25, 0.5, 0.75):
        under = frames_by_rank(mask, share)
        assert under.sum() == round(share * 20)
        assert means[under].max() <= means[~under].min()  # no kept frame is less important than a muted one
        rank = np.zeros(20)
        rank[~under] = 1.0  # the same frames as an absolute threshold on 0/1 values
        np.testing.assert_array_equal(muted_samples(mask, num_samples, share=share),
                                      expected_muted(rank, num_samples, 0.5))
    assert muted_samples(mask, num_samples, 0.1).mean() > 0.9  # the study's threshold mutes nearly everything
    with pytest.raises(ParameterError, match="share"):
        frames_by_rank(mask, 1.5)


def test_mute_unimportant_audio_writes_transcribes_and_plots(model, speechlike, tmp_path):
    wav = write_wav(tmp_path / "in.wav", speechlike[:16000])
    original, _ = sf.read(wav, dtype="int16")
    T = (16000 - 512) // 320 + 1
    mask = np.ones((T, 26), np.uint8)
    mask[10:20] = 0
    mask[30:40, :20] = 0  # mean 6/26 = 0.23
    result = mute_unimportant_audio(wav, mask, (0.0, 0.1, 0.3), out_dir=tmp_path / "out", model=model)
    assert [p.name for p in result.paths] == ["muted_0.wav", "muted_0.1.wav", "muted_0.3.wav"]
    assert result.muted_fractions[0] == 0.0
    for threshold, path, fraction in zip(result.thresholds, result.paths, result.muted_fractions):
        written, rate = sf.read(path, dtype="int16")
        assert rate == 16000 and len(written) == len(original)
        muted = expected_muted(mask.mean(1), len(original), threshold)
        assert np.all(written[muted] == 0)
        np.testing.assert_array_equal(written[~muted], original[~muted])
        assert fraction == pytest.approx(muted.mean())
    assert result.muted_fractions[0] < result.muted_fractions[1] < result.muted_fractions[2]
    for path, text in zip(result.paths, result.transcriptions):
        assert text == transcribe_detailed(path, model, beam_width=1).text
    assert result.transcriptions[0] == result.original_transcription
    assert len(result.figure.axes) == 4 and result.figure_path.stat().st_size > 0
    saved = json.loads((tmp_path / "out" / "muted.json").read_text())
    assert saved["muted_fractions"] == result.muted_fractions
    ranked = mute_unimportant_audio(wav, mask, out_dir=tmp_path / "out", model=model, by="rank")
    assert ranked.thresholds == (0.25, 0.5, 0.75) and [p.name for p in ranked.paths][0] == "muted_rank_0.25.wav"
    for share, path in zip(ranked.thresholds, ranked.paths):
        written, _ = sf.read(path, dtype="int16")
        np.testing.assert_array_equal(written == 0, muted_samples(mask, len(original), share=share) | (original == 0))


def test_cli_mask_and_mute(model, speechlike, tmp_path, monkeypatch, capsys):
    from deepspeech_audio_features.app.cli import main
    from deepspeech_audio_features.speech.checkpoints import save_checkpoint

    monkeypatch.chdir(tmp_path)
    save_checkpoint(model, tmp_path / "ckpt")
    write_wav(tmp_path / "clip.wav", speechlike[:6400])  # 19 frames
    assert main(["mask", "clip.wav", "--checkpoint", "ckpt", "--steps", "20", "--no-progress", "--json"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["frame_agreement"] == 1.0
    assert main(["mask", "clip.wav", "--checkpoint", "ckpt", "--steps", "20", "--no-progress", "--plot", "m.png"]) == 0
    summary = capsys.readouterr().out
    assert "frame agreement 1.000" in summary and "ones" in summary and (tmp_path / "m.png").stat().st_size > 1000
    run = tmp_path / "runs" / "run_mask_experiment" / "clip.wav"
    assert (run / "result.json").exists() and (run / "0.npy").exists()
    assert main(["mute", "clip.wav", str(run), "--checkpoint", "ckpt", "--thresholds", "0", "0.5"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["thresholds"] == [0.0, 0.5] and printed["muted_fractions"][0] == 0.0
    assert (run / "muted" / "muted_0.5.wav").exists() and (run / "muted" / "waveforms.png").exists()


def test_prune_runs_cheapest_first_from_the_relaxed_optimization(model, x, tmp_path):
    """Without swap moves, the final mask is exactly greedy elimination in increasing theta
    from the repaired mask (the reversed order ends elsewhere: with fewer ones on this random
    model), and skipping the relaxed optimization ends with more ones."""
    from deepspeech_audio_features.interpret.masks.engine import PruneState, prune
    from deepspeech_audio_features.interpret.masks.problem import MaskProblem

    result = importance_mask(model, x, swap_moves=0, **FAST)
    importance_mask(model, x, run_dir=tmp_path, max_prune_passes=0, swap_moves=0, **FAST)
    state = np.load(tmp_path / "state.npz")
    problem = MaskProblem(model, x, np.ones(len(x), bool), "time-frequency", TOL, 8192)
    order = np.lexsort((np.arange(problem.n_units), state["theta"]))
    cheapest_first = prune(problem, PruneState(units=state["units"].astype(bool)), order, None).units
    np.testing.assert_array_equal(problem.expand(cheapest_first), result.mask)
    reversed_order = prune(problem, PruneState(units=state["units"].astype(bool)), order[::-1], None).units
    assert not np.array_equal(reversed_order, cheapest_first)
    skipped = importance_mask(model, x, steps=0, swap_moves=0)
    assert skipped.mask.sum() > result.mask.sum()


def test_ours_is_sparser_than_greedy_occlusion_and_saliency_on_every_input(model):
    for seed in (11, 12, 13):
        x = np.random.default_rng(seed).normal(0, 4, (16, 26)).astype(np.float32)
        ours = importance_mask(model, x, **FAST)
        for baseline in (greedy_occlusion_mask(model, x), saliency_mask(model, x)):
            assert baseline.frame_agreement == 1.0
            assert ours.zero_fraction > baseline.zero_fraction, (seed, type(baseline).__name__)
