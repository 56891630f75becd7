"""The pointing game: masks scored against where the words are.

The scorer is checked on hand-built masks with answers worked out by hand, its frame
mapping against the alignments' frame labels, and the whole run on the packaged examples
(with their eSpeak TextGrids) with the tiny model of test_masks.py.
"""
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_masks import model, weights  # noqa: F401  (the tiny model, shared rather than duplicated)

from deepspeech_audio_features import DeepSpeech, random_weights
from deepspeech_audio_features.infra.errors import RunConflictError
from deepspeech_audio_features.infra.resources import asset_path
from deepspeech_audio_features.interpret.masks.pointing import (
    PointingOptions,
    choose_word,
    context_span,
    pointing_score,
    summarize_scores,
    word_frame_span,
)
from deepspeech_audio_features.speech.alignments import Alignment, Interval, frame_word_labels, read_alignments

EXAMPLES = asset_path("audio", "transcripts.csv")


def hand_mask() -> np.ndarray:
    """T = 40; ones: 3 in frame 2, 5 in frame 10, 26 in frame 20, 4 in frame 36."""
    mask = np.zeros((40, 26), np.uint8)
    mask[2, :3] = 1
    mask[10, 5:10] = 1
    mask[20] = 1
    mask[36, -4:] = 1
    return mask


def test_score_of_a_hand_built_mask():
    # centres 0.02 t + 0.016 s: [0.3, 0.5) holds t = 15..24 (0.316 .. 0.496); +-9: frames 6..33
    score = pointing_score(hand_mask(), (0.3, 0.5))
    assert tuple(score.word_frames) == (15, 25) and tuple(score.span_frames) == (6, 34)
    assert score.ones == 38 and score.frames == 40
    assert score.share_inside == pytest.approx(31 / 38)  # frames 10 and 20
    assert score.share_before == pytest.approx(3 / 38) and score.share_after == pytest.approx(4 / 38)
    assert score.hit == 1.0  # frame 20 holds the most
    assert score.chance == pytest.approx(28 / 40) and score.chance_reachable == pytest.approx(28 / 34)
    # the word one frame later: frame 20 still inside; with context 0 frame 10 falls out
    narrow = pointing_score(hand_mask(), (0.3, 0.5), context=0)
    assert narrow.share_inside == pytest.approx(26 / 38) and narrow.chance == pytest.approx(10 / 40)
    # a word where the heaviest frame is not: a miss, whatever the rest
    miss = pointing_score(hand_mask(), (0.7, 0.76))  # t = 35..37, span 26..39
    assert miss.hit == 0.0 and miss.share_inside == pytest.approx(4 / 38) and miss.share_after == 0.0


def test_frame_mapping_at_the_interval_edges_is_the_alignments_one():
    # a start exactly on a centre is in, an end exactly on a centre is out: centre(10) = 0.216, centre(15) = 0.316
    assert tuple(word_frame_span(0.216, 0.316, 40)) == (10, 15)
    assert tuple(word_frame_span(0.2159, 0.3161, 40)) == (10, 16)
    assert tuple(word_frame_span(0.2161, 0.3159, 40)) == (11, 15)
    rng = np.random.default_rng(0)
    for _ in range(200):  # the same frames as the alignments' labels, anywhere
        start = float(rng.uniform(-0.05, 0.8))
        end = start + float(rng.uniform(0.021, 0.3))
        labels = frame_word_labels(Alignment("x", 1.0, [Interval(start, end, "w")], []), 40)
        expected = np.flatnonzero(labels == 0)
        if not len(expected):
            continue
        first, stop = word_frame_span(start, end, 40)
        np.testing.assert_array_equal(np.arange(first, stop), expected)
    # the context is clipped at both ends of the input
    assert tuple(context_span(word_frame_span(0.0, 0.05, 40), 40)) == (0, 11)
    assert tuple(context_span(word_frame_span(0.75, 0.9, 40), 40)) == (28, 40)


def test_time_only_masks_score_like_their_expansion():
    rng = np.random.default_rng(1)
    frames = (rng.random(40) < 0.3).astype(np.uint8)
    full = pointing_score(np.repeat(frames[:, None], 26, axis=1), (0.3, 0.5))
    for time_only in (frames, frames[:, None], frames.astype(bool)):
        got = pointing_score(time_only, (0.3, 0.5))
        assert got.share_inside == pytest.approx(full.share_inside) and got.hit == pytest.approx(full.hit)
        assert got.ones * 26 == full.ones
    # every kept frame ties for the most: the hit is the share of them inside (here 1 of 2)
    two = np.zeros(40)
    two[[2, 20]] = 1
    assert pointing_score(two, (0.3, 0.5)).hit == 0.5
    empty = pointing_score(np.zeros(40), (0.3, 0.5))
    assert math.isnan(empty.share_inside) and empty.hit == 0.0 and empty.ones == 0


def test_word_choice_and_the_table():
    words = [(0.0, 0.2, "a"), (0.2, 0.6, "bb"), (0.6, 1.0, "cc"), (1.0, 1.1, "d")]
    assert choose_word(words, "longest") == 1  # the first of equals
    assert choose_word(words, "middle") == 2
    rows = [{"method": "ours", "variant": "time", "share_inside": s, "hit": h, "chance": 0.5, "chance_reachable": 0.8,
             "share_before": 1 - s, "ones": 10.0} for s, h in ((1.0, 1.0), (0.5, 0.0), (math.nan, 0.0))]
    (row,) = summarize_scores(rows)
    assert row["share_inside"] == 0.75 and row["hit"] == pytest.approx(1 / 3)
    assert row["n"] == 3 and row["empty"] == 1 and row["completed"] == 3


def test_the_example_textgrids_are_the_engines_and_match_the_transcripts():
    from deepspeech_audio_features.synth.corpus import EXAMPLE_TEXTS

    aligned = read_alignments(EXAMPLES)
    assert aligned.problems == [] and len(aligned.alignments) == len(EXAMPLE_TEXTS)
    for alignment, transcript, (_, _, engine, _) in zip(aligned.alignments, aligned.transcripts, EXAMPLE_TEXTS):
        # eSpeak reports no word event for "the" in "on the way" (its phones fall in "on")
        assert alignment.transcript == transcript.replace(" the ", " ")
        if engine == "espeak":  # speech starts after the examples' 0.3 s of leading silence
            assert alignment.words[0].start == pytest.approx(0.3)
        else:  # flite's own leading pause ("pau") follows the 0.3 s
            assert alignment.phones[0].label == "pau" and alignment.phones[0].start == pytest.approx(0.3)
            assert alignment.words[0].start == pytest.approx(alignment.phones[0].end)


OPTIONS = PointingOptions(methods=("ours", "random", "saliency"), variants=("time-frequency", "time"),
                          word_rule="middle", steps=20)


@pytest.fixture(scope="module")
def game(model, tmp_path_factory):  # noqa: F811
    from deepspeech_audio_features.interpret.masks.pointing_game import pointing_game

    return pointing_game(model, [EXAMPLES], tmp_path_factory.mktemp("pointing") / "run", OPTIONS, max_utterances=1)


def check_masks_point_at_the_word(model, result):  # noqa: F811
    """Every mask keeps the word's classes (an independent forward pass); ours lies more at the
    word than 95 % of random masks with as many ones over the frames that can reach it."""
    from deepspeech_audio_features.interpret.masks.pointing_game import load_masks
    from deepspeech_audio_features.speech.mfcc import audio_file_to_mfccs

    rng = np.random.default_rng(0)
    for utterance in result.utterances:
        masks = load_masks(result.out, utterance["path"])
        x = audio_file_to_mfccs(utterance["path"], model.upper_frequency_limit)
        first, stop = utterance["word_frames"]
        logits = model.compiled_forward("layer_6")
        want = logits(x[None], np.array([len(x)], np.int32))["layer_6"].numpy()[0, first:stop].argmax(-1)
        for key, mask in masks.items():  # every mask keeps the word's classes
            got = logits((mask * x)[None], np.array([len(x)], np.int32))["layer_6"].numpy()[0, first:stop].argmax(-1)
            np.testing.assert_array_equal(got, want, err_msg=key)
            assert not mask[min(len(x), stop + 9):].any(), key  # nothing where the word cannot see
        ours = masks["ours.time-frequency"]
        score = pointing_score(ours, utterance["interval"])
        reachable = min(len(x), stop + 9)
        random_shares = []
        for _ in range(200):  # the same number of ones, uniformly over the reachable entries
            flat = np.zeros(reachable * 26, np.uint8)
            flat[rng.permutation(reachable * 26)[:int(ours.sum())]] = 1
            random_mask = np.zeros_like(ours)
            random_mask[:reachable] = flat.reshape(reachable, 26)
            random_shares.append(pointing_score(random_mask, utterance["interval"]).share_inside)
        assert score.share_inside > np.quantile(random_shares, 0.95), (utterance["word"], score, np.mean(random_shares))
        assert np.mean(random_shares) == pytest.approx(score.chance_reachable, abs=0.03)


def test_pointing_game_end_to_end(model, game):  # noqa: F811
    from deepspeech_audio_features.interpret.masks.pointing_game import pointing_game

    result = game
    assert result.skipped == [] and [u["word"] for u in result.utterances] == ["proves"]  # the middle word
    assert {(r["method"], r["variant"]) for r in result.table} == {
        (m, v) for m in ("ours", "random", "saliency") for v in ("time-frequency", "time")}
    check_masks_point_at_the_word(model, result)
    row = next(r for r in result.rows if r["method"] == "ours")
    assert row["frame_agreement"] == 1.0
    # resumed: read back, not recomputed (same rows, the masks' files untouched)
    run = Path(result.out)
    stamp = (run / "utterances").stat().st_mtime_ns
    again = pointing_game(model, [EXAMPLES], run, OPTIONS, max_utterances=1)
    assert again.rows == result.rows and (run / "utterances").stat().st_mtime_ns == stamp
    with pytest.raises(RunConflictError, match="steps"):
        pointing_game(model, [EXAMPLES], run, OPTIONS, steps=41)
    with pytest.raises(RunConflictError, match="model"):
        pointing_game(DeepSpeech(random_weights(24, seed=4)), [EXAMPLES], run, OPTIONS)


@pytest.mark.slow
def test_pointing_game_on_every_example(model, game):  # noqa: F811
    """The same claim on all three examples; the run grows from the one utterance it holds."""
    from deepspeech_audio_features.interpret.masks.pointing_game import pointing_game

    result = pointing_game(model, [EXAMPLES], game.out, OPTIONS)
    assert [u["word"] for u in result.utterances] == ["proves", "sufficient", "halt"]
    assert result.rows[:len(game.rows)] == game.rows
    check_masks_point_at_the_word(model, result)


def test_study_table_and_figure(game, capsys, tmp_path):
    import matplotlib.pyplot as plt

    from deepspeech_audio_features.app.study import pointing_figure, show_pointing_game

    show_pointing_game(game)
    text = capsys.readouterr().out
    assert "ours       time-frequency" in text and "1 utterances" in text and "example-1: 'proves'" in text
    fig = pointing_figure(game, 0, upper_frequency_limit=8000.0)
    assert len(fig.axes) >= 3 and "'proves'" in fig.axes[0].get_title()
    fig.savefig(tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 10_000
    plt.close(fig)


def test_align_examples_rewrites_the_shipped_textgrids(tmp_path):
    """The examples' TextGrids are the engines' own timings (eSpeak's events, flite's durations) for
    exactly the shipped audio."""
    from conftest import require_flite

    require_flite()
    from deepspeech_audio_features.infra.errors import AudioError
    from deepspeech_audio_features.speech.audio import write_wav
    from deepspeech_audio_features.synth.corpus import align_examples

    for name in ("example-1", "example-2", "example-3"):
        shutil.copy(asset_path("audio", f"{name}.wav"), tmp_path / f"{name}.wav")
    for path in align_examples(tmp_path):
        assert path.read_text() == asset_path("audio", path.name).read_text()
    samples, _ = sf.read(tmp_path / "example-2.wav", dtype="float32")
    write_wav(tmp_path / "example-2.wav", samples * 0.5)  # another level: not the audio that plan renders
    with pytest.raises(AudioError, match="example-2.wav: not the audio example 2 renders to"):
        align_examples(tmp_path)


def test_cli_pointing_game_runs_and_prints_json(model, tmp_path, monkeypatch, capsys):  # noqa: F811
    from deepspeech_audio_features.app.cli import main
    from deepspeech_audio_features.speech.checkpoints import save_checkpoint

    monkeypatch.chdir(tmp_path)
    save_checkpoint(model, tmp_path / "ckpt")
    args = ["pointing-game", "--checkpoint", "ckpt", "--out", "run", "--dataset", str(EXAMPLES), "--no-examples",
            "--max-utterances", "1", "--methods", "saliency", "--variants", "time", "--steps", "10"]
    assert main(args + ["--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    (row,) = printed["table"]
    assert row["method"] == "saliency" and row["n"] == 1 and 0 <= row["share_inside"] <= 1
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "saliency   time" in text and "1 utterances" in text
    assert main(args + ["--methods", "dance"]) == 2
    assert "methods" in capsys.readouterr().err


def test_study_quick_setting_scores_one_example(model, tmp_path):  # noqa: F811
    from deepspeech_audio_features.app.study import StudySettings, ensure_pointing_game

    result = ensure_pointing_game(model, StudySettings(runs=tmp_path, quick=True))
    assert len(result.utterances) == 1 and {r["method"] for r in result.table} == {"ours", "saliency"}
    assert (tmp_path / "pointing" / "summary.json").exists()
