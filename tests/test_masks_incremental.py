"""Incremental evaluation of the exact test: the same decisions, and so the same masks, as full passes."""
import numpy as np
import pytest
import tensorflow as tf
from reference import forward_reference

from deepspeech_audio_features import DeepSpeech, audio_file_to_mfccs, load_model, random_weights
from deepspeech_audio_features.infra.resources import example_audio
from deepspeech_audio_features.interpret.masks.engine import PruneState, prune, repair
from deepspeech_audio_features.interpret.masks.importance import importance_mask
from deepspeech_audio_features.interpret.masks.incremental import (
    DELTA,
    PROBE_BATCHES,
    IncrementalTest,
    RejectionMemo,
    _direct,
)
from deepspeech_audio_features.interpret.masks.problem import MaskProblem

TOL = 1e-3


@pytest.fixture(scope="module")
def weights():
    return random_weights(24, seed=3)


@pytest.fixture(scope="module")
def model(weights):
    return DeepSpeech(weights)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(7).normal(0, 4, (40, 26)).astype(np.float32)


def valid_start(problem, seed=0, share=0.5):
    """A valid, not yet pruned mask: a share of the units at random, repaired."""
    rng = np.random.default_rng(seed)
    return repair(problem, rng.random(problem.n_units) < share, np.zeros(problem.n_units))


def test_partial_forward_pieces_match_the_numpy_reference(weights, model, x):
    ref = forward_reference(weights, x)
    windows = DeepSpeech.context_windows(x[None]).numpy()[0]
    np.testing.assert_allclose(model.dense_front(windows).numpy(), ref["layer_3"], rtol=1e-4, atol=1e-4)
    zeros = np.zeros((1, model.n_hidden), np.float32)
    half = len(x) // 2
    projected = model.lstm_input(model.dense_front(windows[None])).numpy()
    hs, cs = model.lstm_steps(projected[:, :half], zeros, zeros)
    tail, _ = model.lstm_steps(projected[:, half:], hs[:, -1], cs[:, -1])  # restarted from the cached state
    np.testing.assert_allclose(np.concatenate([hs[0], tail[0]]), ref["rnn_output"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("variant, frames", [("time-frequency", None), ("time", None), ("time-frequency", (5, 20))])
def test_incremental_decisions_equal_full_passes(model, x, variant, frames):
    keep = np.zeros(len(x), bool)
    keep[slice(*frames) if frames else slice(None)] = True
    problem = MaskProblem(model, x, keep, variant, TOL, 8192)
    base = valid_start(problem, share=0.9)
    rng = np.random.default_rng(1)
    test = IncrementalTest(problem, chunk_frames=3)
    outcomes = []
    for size in (1, 2, 5):  # candidates zeroing 1, 2 or 5 of the base's ones, as prune and swap moves do
        trials = np.repeat(base[None], 48, axis=0)
        for row in trials:
            row[rng.choice(np.nonzero(base)[0], size, replace=False)] = False
        full = problem.check(trials)[0]
        np.testing.assert_array_equal(test.check(base, trials), full)
        outcomes.append(full)
    assert 0 < np.mean(outcomes) < 1 or variant == "time"  # both outcomes occur (any lost frame fails here)
    assert test.max_difference(base, trials[:8]) < DELTA / 10  # round-off, far inside the band
    assert test.stats.frames_computed < test.stats.frames_full


@pytest.mark.parametrize("variant", ["time-frequency", "time"])
def test_incremental_prune_returns_bitwise_the_full_prune(model, x, variant):
    x = x[:24]
    results = []
    for incremental in (False, True):
        problem = MaskProblem(model, x, np.ones(len(x), bool), variant, TOL, 8192)
        if incremental:
            problem.incremental = IncrementalTest(problem, chunk_frames=4)
        start = valid_start(problem, seed=2)
        order = np.random.default_rng(3).permutation(problem.n_units)
        results.append(prune(problem, PruneState(units=start), order, None).units)
    np.testing.assert_array_equal(results[0], results[1])
    assert problem.incremental.stats.memo_hits > 0  # later passes re-test rejections: the memo answered some


def test_a_full_rejection_memo_changes_speed_not_masks(model, x):
    x = x[:24]
    results, memos = [], []
    for cap in (None, 1, 0):  # uncapped, about one short prefix, nothing stored
        problem = MaskProblem(model, x, np.ones(len(x), bool), "time-frequency", TOL, 8192)
        problem.incremental = IncrementalTest(problem, chunk_frames=4)
        if cap is not None:
            problem.incremental.memo = RejectionMemo(problem.L, problem.U, max_bytes=cap * problem.U)
        start = valid_start(problem, seed=2)
        order = np.random.default_rng(3).permutation(problem.n_units)
        results.append(prune(problem, PruneState(units=start), order, None).units)
        memos.append(problem.incremental.memo)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
    assert memos[0].dropped == 0 and memos[0].stored_bytes > problem.U  # uncapped: stores more than the caps allow
    for memo, cap in zip(memos[1:], (1, 0)):
        assert memo.stored_bytes <= cap * problem.U and memo.dropped > 0
    assert memos[2].lookup(results[0][None])[0].sum() == 0 and not memos[2]._entries  # nothing kept, no empty buckets


def test_rejection_memo_answers_only_candidates_with_the_failing_prefix():
    L, U = 30, 26
    rng = np.random.default_rng(0)
    trial = rng.random((1, L * U)) < 0.5
    memo = RejectionMemo(L, U)
    memo.add(trial, np.array([0]), np.array([10]))  # failed at frame 10: frames 0..19 decide it
    variants = np.repeat(trial, 4, axis=0)
    variants[1, 20 * U + 3] ^= True  # after the prefix: same logits at frame 10
    variants[2, 19 * U + 25] ^= True  # last frame of the prefix (frame 10's context window)
    variants[3, 0] ^= True  # first unit
    hit, _ = memo.lookup(variants)
    np.testing.assert_array_equal(hit, [True, True, False, False])


def test_rejection_memo_confirms_hash_hits_by_the_stored_bits(monkeypatch):
    L, U = 12, 1
    memo = RejectionMemo(L, U)
    monkeypatch.setattr(memo, "_prefix_keys", lambda trials: np.zeros((len(trials), L), np.uint64))  # every key collides
    trial = np.zeros((1, L), bool)
    memo.add(trial, np.array([0]), np.array([1]))
    other = trial.copy()
    other[0, 0] = True
    hit, _ = memo.lookup(np.concatenate([trial, other]))
    np.testing.assert_array_equal(hit, [True, False])


def test_rejection_memo_matches_a_brute_force_search_over_rounds_of_adds_and_lookups():
    """Keys added between lookups are merged into the sorted index: a lost or misplaced key
    would miss a proof (or a wrong one would be found) against this direct prefix comparison."""
    L, U = 16, 2
    rng = np.random.default_rng(7)
    memo, stored = RejectionMemo(L, U), []
    pool = rng.random((12, L * U)) < 0.5
    for _ in range(6):
        rows = rng.choice(len(pool), 3, replace=False)
        frames = rng.integers(0, L, 3)
        memo.add(pool, rows, frames)
        stored += [(pool[r], min(int(f) + 10, L)) for r, f in zip(rows, frames)]
        queries = pool[rng.integers(0, len(pool), 20)].copy()
        flips = rng.random(queries.shape) < 0.02  # some queries differ inside a stored prefix, some after it
        queries ^= flips
        expected = [any(np.array_equal(q[:end * U], bits[:end * U]) for bits, end in stored) for q in queries]
        np.testing.assert_array_equal(memo.lookup(queries)[0], expected)


def test_memo_answers_are_rejections_of_the_full_pass(model, x):
    problem = MaskProblem(model, x, np.ones(len(x), bool), "time-frequency", TOL, 8192)
    base = valid_start(problem, share=0.9)
    rng = np.random.default_rng(4)
    test = IncrementalTest(problem, chunk_frames=3)
    trials = np.repeat(base[None], 64, axis=0)
    for row in trials:
        row[rng.choice(np.nonzero(base)[0], 3, replace=False)] = False
    first = test.check(base, trials)
    again, _ = test.memo.lookup(trials)
    assert again.sum() >= 5 and not (again & first).any()  # proofs kept for rejected rows only
    np.testing.assert_array_equal(test.check(base, trials), problem.check(trials)[0])
    assert test.stats.memo_hits == again.sum()


def test_every_batch_inside_the_band_falls_back_to_full_passes(model, x):
    x = x[:20]
    problem = MaskProblem(model, x, np.ones(len(x), bool), "time-frequency", TOL, 8192)
    start = valid_start(problem, seed=2)
    order = np.random.default_rng(3).permutation(problem.n_units)
    plain = prune(problem, PruneState(units=start.copy()), order, None).units
    problem.incremental = IncrementalTest(problem, delta=1e6)  # nothing is certain: the full pass decides
    units = prune(problem, PruneState(units=start.copy()), order, None).units
    np.testing.assert_array_equal(units, plain)
    stats = problem.incremental.stats
    assert stats.fallbacks > 0
    # after two batches that fell back, waits of 8, 16, 32 ... full-pass batches between incremental tries
    assert stats.fallbacks == stats.batches >= 3
    assert stats.full_passes >= sum(PROBE_BATCHES * 2 ** k for k in range(2, stats.batches))


def test_importance_mask_is_the_same_with_and_without_incremental_evaluation(model, x):
    x = x[:24]
    full = importance_mask(model, x, steps=30, incremental=False)
    fast = importance_mask(model, x, steps=30, incremental=True)
    np.testing.assert_array_equal(fast.mask, full.mask)
    assert fast.evaluations == full.evaluations
    assert fast.phases["incremental"]["candidates"] > 0 and "incremental" not in full.phases
    assert fast.moves["swap_tried"] > 0  # the default search: swap moves too, each scored from the mask before it
    assert fast.phases["incremental"]["bases_from_previous"] > 0


@pytest.mark.slow
def test_example_files_give_bitwise_the_same_masks():
    model = load_model()
    for path in example_audio():
        x = audio_file_to_mfccs(path, model.upper_frequency_limit)
        masks = [importance_mask(model, x, steps=60, swap_moves=60, incremental=flag).mask for flag in (False, True)]
        np.testing.assert_array_equal(masks[0], masks[1])


def test_direct_calls_match_the_tf_function_and_fall_back_to_the_public_call():
    """The flat entry point returns what the ``tf.function`` returns; without one (another
    TensorFlow version), the public concrete call is used with float32 tensors."""
    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32), tf.TensorSpec([None, 3], tf.float32)])
    def pair(a, b):
        return a * 2.0 + b, tf.reduce_sum(a, axis=1)

    a, b = np.arange(6, dtype=np.float64).reshape(2, 3), np.ones((2, 3))
    direct = _direct(pair)(a, b)
    for got, want in zip(direct, pair(a.astype(np.float32), b.astype(np.float32))):
        np.testing.assert_array_equal(got.numpy(), want.numpy())

    class NoFlat:  # a concrete function without ``_call_flat``
        def __init__(self):
            self.calls = []

        def __call__(self, *tensors):
            self.calls.append([t.dtype for t in tensors])
            return tensors[0] + tensors[1]

    class Wrapper:
        def __init__(self):
            self.concrete = NoFlat()

        def get_concrete_function(self):
            return self.concrete

    wrapper = Wrapper()
    np.testing.assert_array_equal(_direct(wrapper)(a, b).numpy(), (a + b).astype(np.float32))
    assert wrapper.concrete.calls == [[tf.float32, tf.float32]]
