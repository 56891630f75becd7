"""The mask engine's moves (repair, speculative prune) against the plain algorithms they speed up."""
import numpy as np
import pytest

from deepspeech_audio_features import DeepSpeech, random_weights
from deepspeech_audio_features.interpret.masks.engine import PruneState, chain_length, prune, repair
from deepspeech_audio_features.interpret.masks.importance import importance_mask
from deepspeech_audio_features.interpret.masks.problem import MaskProblem

TOL = 1e-3


@pytest.fixture(scope="module")
def model():
    return DeepSpeech(random_weights(24, seed=3))


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(7).normal(0, 4, (22, 26)).astype(np.float32)


@pytest.fixture(scope="module")
def problem(model, x):
    return MaskProblem(model, x, np.ones(len(x), bool), "time-frequency", TOL, 8192)


def test_speculative_prune_equals_plain_sequential_greedy(problem):
    start = repair(problem, np.random.default_rng(0).random(problem.n_units) < 0.5, np.zeros(problem.n_units))
    assert problem.check(start[None])[0][0]
    order = np.random.default_rng(1).permutation(problem.n_units)
    plain = start.copy()
    for unit in order:  # one pass of the textbook algorithm, one forward pass per unit
        if plain[unit]:
            trial = plain.copy()
            trial[unit] = False
            if problem.check(trial[None])[0][0]:
                plain = trial
    batch = problem.batch
    try:
        for problem.batch in (3, 64):
            state = prune(problem, PruneState(units=start.copy()), order, max_passes=1)
            np.testing.assert_array_equal(state.units, plain)
    finally:
        problem.batch = batch


def test_repair_turns_entries_back_on_until_every_frame_agrees(model, x, problem):
    result = importance_mask(model, x, steps=40, eval_every=5)
    for start in (np.zeros(problem.n_units, bool), result.mask.reshape(-1).astype(bool)):
        start = start.copy()
        start[np.nonzero(start)[0][::3]] = False  # break it
        assert not problem.check(start[None])[0][0]
        units = repair(problem, start, np.zeros(problem.n_units))
        assert problem.check(units[None])[0][0]
        assert np.all(units[start])  # it only turns entries on
    assert units.mean() < 1


def test_chain_length_grows_with_prediction_accuracy():
    assert chain_length(0.1, 64) <= chain_length(0.8, 64) <= chain_length(0.99, 64) <= 64
    assert chain_length(0.99, 3) <= 3
