"""The mask engine's moves (repair, speculative prune) against the plain algorithms they speed up."""
import numpy as np
import pytest

from deepspeech_audio_features import DeepSpeech, random_weights
from deepspeech_audio_features.interpret.masks import engine
from deepspeech_audio_features.interpret.masks.engine import (
    PruneState,
    Speculation,
    chain_length,
    prune,
    repair,
    swap_search,
)
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


def test_greedy_repair_passes_keeps_the_start_and_adds_fewer_units_than_prefix_repair(problem):
    """Both repairs end in masks that pass and contain the start; measuring single additions
    (greedy) turns on fewer units than gradient-ranked prefixes from every start here (on this
    model 52-297 ones of 572 grew to 233-548 ones against 487-572)."""
    for share in (0.1, 0.3, 0.5):
        for seed in range(2):
            start = np.random.default_rng(seed).random(problem.n_units) < share
            greedy = repair(problem, start, np.zeros(problem.n_units), method="greedy")
            prefix = repair(problem, start, np.zeros(problem.n_units), method="prefix")
            assert problem.check(np.array([greedy, prefix]))[0].all()
            assert (greedy >= start).all() and (prefix >= start).all()
            assert greedy.sum() < prefix.sum()


@pytest.mark.parametrize("guess", [0.0, 1.0])
def test_predictions_set_only_the_speed(problem, monkeypatch, guess):
    """Always predicting "rejected" (or "accepted") for unseen units gives the same 1-minimal mask."""
    start = repair(problem, np.random.default_rng(0).random(problem.n_units) < 0.5, np.zeros(problem.n_units))
    order = np.random.default_rng(1).permutation(problem.n_units)
    usual = prune(problem, PruneState(units=start.copy()), order, None).units

    class Fixed(engine._RecentRate):
        def update(self, accepted: bool) -> None:
            self.value = guess

    monkeypatch.setattr(engine, "_RecentRate", lambda: Fixed(value=guess))
    fixed = prune(problem, PruneState(units=start.copy()), order, None)
    np.testing.assert_array_equal(fixed.units, usual)
    assert fixed.one_minimal


@pytest.mark.parametrize("guess", [False, True])
def test_carried_over_predictions_set_only_the_speed(problem, guess):
    """A Speculation from elsewhere (every unit last seen accepted, or rejected) changes no decision."""
    start = repair(problem, np.random.default_rng(0).random(problem.n_units) < 0.5, np.zeros(problem.n_units))
    order = np.random.default_rng(1).permutation(problem.n_units)
    usual = prune(problem, PruneState(units=start.copy()), order, None).units
    speculation = Speculation(seen={int(u): guess for u in range(problem.n_units)}, accuracy=0.99)
    carried = prune(problem, PruneState(units=start.copy()), order, None, speculation=speculation)
    np.testing.assert_array_equal(carried.units, usual)
    assert carried.one_minimal and len(speculation.seen) == problem.n_units


def test_repair_turns_entries_back_on_until_every_frame_agrees(model, x, problem):
    result = importance_mask(model, x, steps=40, eval_every=5, swap_moves=0)
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


def test_swap_moves_keep_every_frame_and_remove_more_ones_than_they_add(problem):
    start = repair(problem, np.random.default_rng(0).random(problem.n_units) < 0.5, np.zeros(problem.n_units))
    order = np.random.default_rng(1).permutation(problem.n_units)
    rank = np.argsort(order)
    minimal = prune(problem, PruneState(units=start), order, None).units
    zeros = np.nonzero(~minimal)[0]
    moves = []
    units, stats = swap_search(problem, minimal, zeros, rank, 60, on_move=lambda u, s: moves.append(u.copy()))
    assert problem.check(np.array(moves))[0].all()  # every mask along the way passes the exact test
    assert stats.tried == len(moves) == 60 and stats.kept > 0
    assert units.sum() == minimal.sum() - stats.ones_removed < minimal.sum()


def _textbook_swap_search(problem, units, zeros_order, ones_rank, moves, window=6, keep_even=True):
    """The swap search one move and one forward pass per candidate at a time."""
    units, frames, tried, kept = units.copy(), problem.unit_frame(np.arange(problem.n_units)), 0, 0
    for unit in zeros_order:
        if tried == moves:
            break
        if units[unit]:
            continue
        tried += 1
        trial = units.copy()
        trial[unit] = True
        near = np.nonzero(trial & (np.abs(frames - frames[unit]) <= window) & (np.arange(problem.n_units) != unit))[0]
        for one in near[np.lexsort((near, ones_rank[near]))]:
            candidate = trial.copy()
            candidate[one] = False
            if problem.check(candidate[None])[0][0]:
                trial = candidate
        if units.sum() - trial.sum() + 1 >= (1 if keep_even else 2):
            units, kept = trial, kept + 1
    return units, kept


@pytest.mark.parametrize("keep_even", [True, False])
@pytest.mark.parametrize("incremental", [False, True])
def test_swap_moves_equal_the_textbook_search(problem, keep_even, incremental):
    """The swap search (speculative batches, shared predictions, incremental evaluation) decides
    as one forward pass per candidate does."""
    from deepspeech_audio_features.interpret.masks.incremental import IncrementalTest
    start = repair(problem, np.random.default_rng(0).random(problem.n_units) < 0.5, np.zeros(problem.n_units))
    order = np.random.default_rng(1).permutation(problem.n_units)
    rank = np.argsort(order)
    minimal = prune(problem, PruneState(units=start), order, None).units
    zeros = np.nonzero(~minimal)[0]
    plain, plain_kept = _textbook_swap_search(problem, minimal, zeros, rank, 60, keep_even=keep_even)
    problem.incremental = IncrementalTest(problem) if incremental else None
    try:
        units, stats = swap_search(problem, minimal, zeros, rank, 60, keep_even=keep_even)
    finally:
        problem.incremental = None
    np.testing.assert_array_equal(units, plain)
    assert stats.kept == plain_kept > 0 and stats.tried == 60


def test_even_moves_are_kept_only_when_asked_and_never_add_ones(problem):
    """keep_even=False keeps net gains only; keep_even=True also keeps moves that end at the same size
    with another mask (the plateau moves), and no kept move adds a one."""
    start = repair(problem, np.random.default_rng(0).random(problem.n_units) < 0.5, np.zeros(problem.n_units))
    order = np.random.default_rng(1).permutation(problem.n_units)
    minimal = prune(problem, PruneState(units=start), order, None).units
    zeros, rank = np.nonzero(~minimal)[0], np.argsort(order)
    for keep_even in (False, True):
        moves = []
        units, stats = swap_search(problem, minimal, zeros, rank, 60, keep_even=keep_even,
                                   on_move=lambda u, s: moves.append((u.copy(), s.even, s.kept)))
        sizes = [int(m[0].sum()) for m in moves]
        assert all(b <= a for a, b in zip([int(minimal.sum())] + sizes, sizes))  # never more ones
        assert problem.check(np.array([m[0] for m in moves]))[0].all()
        if keep_even:
            assert stats.even > 0
            changed = [(a != b).any() for a, b in zip([minimal] + [m[0] for m in moves], [m[0] for m in moves])]
            assert sum(changed) == stats.kept  # every kept move (even ones too) changed the mask
        else:
            assert stats.even == 0
        assert units.sum() == minimal.sum() - stats.ones_removed


def test_importance_mask_with_swap_moves_is_verified_one_minimal_and_resumes(model, x, tmp_path):
    plain = importance_mask(model, x, steps=40, swap_moves=0)
    swapped = importance_mask(model, x, steps=40, swap_moves=60, swap_round=15, run_dir=tmp_path / "full")
    assert swapped.frame_agreement == 1.0 and swapped.one_minimal and swapped.one_minimal_checked
    assert swapped.mask.sum() < plain.mask.sum()
    assert swapped.moves["swap_tried"] == 60 and swapped.moves["swap_kept"] > 0 and plain.moves["swap_tried"] == 0
    assert swapped.moves["swap_rounds"] == 4
    prune_snapshots = []
    importance_mask(model, x, steps=40, swap_moves=60, swap_round=15,
                    callback=lambda phase, index, mask: prune_snapshots.append(index) if phase == "prune" else None)
    assert len(prune_snapshots) >= 3  # the first prune, then at least two between or after rounds

    class Stop(Exception):
        pass

    for at in (prune_snapshots[1], prune_snapshots[-1]):  # after the first round that kept a move; after the last
        def stop(phase, index, mask):
            if phase == "prune" and index == at:
                raise Stop

        with pytest.raises(Stop):
            importance_mask(model, x, steps=40, swap_moves=60, swap_round=15, run_dir=tmp_path / f"stopped{at}",
                            callback=stop)
        resumed = importance_mask(model, x, steps=40, swap_moves=60, swap_round=15, run_dir=tmp_path / f"stopped{at}")
        np.testing.assert_array_equal(resumed.mask, swapped.mask)
        assert resumed.moves == swapped.moves


def test_swap_rounds_prune_between_them(model, x):
    """One round of 60 moves is the search without pruning in between; rounds of 15 prune
    after each round that kept a move (more prune passes)."""
    one = importance_mask(model, x, steps=40, swap_moves=60, swap_round=60)
    four = importance_mask(model, x, steps=40, swap_moves=60, swap_round=15)
    assert one.moves["swap_rounds"] == 1 and four.moves["swap_rounds"] == 4
    assert four.moves["prune_passes"] > one.moves["prune_passes"]
    assert four.one_minimal and one.one_minimal


def test_swap_orders_both_verify_and_the_order_is_used(model, x):
    """Zeros ranked by the margin hinge's gradient at the current mask (the default) or by theta:
    both end verified and 1-minimal, and the masks differ (an order left unused would not)."""
    by_gradient = importance_mask(model, x, steps=40, swap_moves=60, swap_round=15)
    by_theta = importance_mask(model, x, steps=40, swap_moves=60, swap_round=15, swap_order="theta")
    for result in (by_gradient, by_theta):
        assert result.frame_agreement == 1.0 and result.one_minimal and result.one_minimal_checked
    assert not np.array_equal(by_gradient.mask, by_theta.mask)


def test_a_run_folder_of_one_swap_rule_refuses_the_other(model, x, tmp_path):
    from deepspeech_audio_features import RunConflictError

    first = importance_mask(model, x, steps=10, swap_moves=5, run_dir=tmp_path / "run")
    with pytest.raises(RunConflictError, match="swap_rule"):
        importance_mask(model, x, steps=10, swap_moves=5, swap_keep_even=False, run_dir=tmp_path / "run")
    again = importance_mask(model, x, steps=10, swap_moves=5, run_dir=tmp_path / "run")
    np.testing.assert_array_equal(again.mask, first.mask)


def test_progress_bars_for_each_phase_none_when_quiet_or_nothing_runs(model, x, tmp_path, capsys):
    from deepspeech_audio_features.interpret.masks.baselines import greedy_occlusion_mask, saliency_mask

    importance_mask(model, x, steps=20, swap_moves=3, run_dir=tmp_path / "run", progress=True)
    err = capsys.readouterr().err
    for desc in ("mask: optimize", "mask: repair", "mask: prune pass 1", "mask: swap moves"):
        assert desc in err, desc
    assert "/20" in err and f"/{x.size}" in err  # totals: optimization steps, units in the prune order
    importance_mask(model, x, steps=20, swap_moves=3, run_dir=tmp_path / "run", progress=True)  # finished: read back
    importance_mask(model, x, steps=20, progress=False)
    saliency_mask(model, x)
    assert capsys.readouterr().err == ""
    saliency_mask(model, x, progress=True)
    greedy_occlusion_mask(model, x, progress=True)
    err = capsys.readouterr().err
    assert "saliency: threshold search" in err and "occlusion: single units" in err and "occlusion: prune" in err


def test_a_run_killed_after_the_greedy_prune_resumes_exactly(model, x, tmp_path, monkeypatch):
    """The state saved when the greedy prune ended says it is 1-minimal: the resumed run goes straight
    to the swap moves (before, it ran one more pass and reported one more prune pass than a run
    that was never stopped)."""
    from deepspeech_audio_features.interpret.masks import importance

    whole = importance_mask(model, x, steps=40, swap_moves=20)

    class Killed(Exception):
        pass

    def killed(*args):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(importance, "_swap", killed)
        with pytest.raises(Killed):
            importance_mask(model, x, steps=40, swap_moves=20, run_dir=tmp_path)
    resumed = importance_mask(model, x, steps=40, swap_moves=20, run_dir=tmp_path)
    np.testing.assert_array_equal(resumed.mask, whole.mask)
    assert resumed.moves == whole.moves
