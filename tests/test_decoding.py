import numpy as np
import pytest

from deepspeech_audio_features import (
    ALPHABET,
    BLANK_INDEX,
    beam_search_decode,
    greedy_decode,
    text_to_labels,
)


def path_probs(symbols, floor=1e-4):
    """Probabilities [T, 29] whose best path is ``symbols`` (a string; '_' = blank)."""
    probs = np.full((len(symbols), 29), floor)
    for t, ch in enumerate(symbols):
        probs[t, BLANK_INDEX if ch == "_" else ALPHABET.index(ch)] = 1.0
    return probs / probs.sum(1, keepdims=True)


def test_alphabet_is_the_release_one():
    assert ALPHABET[0] == " " and ALPHABET[1:27] == "abcdefghijklmnopqrstuvwxyz" and ALPHABET[27] == "'"
    assert BLANK_INDEX == 28
    np.testing.assert_array_equal(text_to_labels("a b'"), [1, 0, 2, 27])


def test_greedy_merges_repeats_drops_blanks_and_times_words():
    result = greedy_decode(path_probs("__hh_e_ll_lo__  _wwo_rld'_s__"))
    assert result.text == "hello world's"
    assert [(w.word, w.start_frame, w.end_frame) for w in result.words] == [("hello", 2, 12), ("world's", 17, 27)]
    assert result.words[1].start_time == pytest.approx(0.34)


def test_beam_search_agrees_with_greedy_on_a_clear_path():
    probs = path_probs("__c_a_t__ _s_a_t__")
    result = beam_search_decode(probs, beam_width=16)
    assert result.text == greedy_decode(probs).text == "cat sat"
    assert [w.word for w in result.words] == ["cat", "sat"]


def test_beam_search_sums_paths_where_greedy_cannot():
    # Every frame's argmax is blank, yet 'a' is more likely than nothing in total.
    probs = np.full((3, 29), 1e-6)
    probs[:, BLANK_INDEX], probs[:, 1] = 0.45, 0.4
    probs /= probs.sum(1, keepdims=True)
    assert greedy_decode(probs).text == ""
    assert beam_search_decode(probs, beam_width=32).text == "a"


def test_kenlm_language_model_changes_the_choice(tmp_path):
    pytest.importorskip("kenlm")
    arpa = tmp_path / "lm.arpa"
    arpa.write_text("\\data\\\nngram 1=4\nngram 2=1\n\n\\1-grams:\n-1.0\t<s>\t0\n-1.0\t</s>\t0\n"
                    "-0.3\tcat\t0\n-5.0\t<unk>\t0\n\n\\2-grams:\n-0.1\t<s> cat\n\n\\end\\\n")
    probs = path_probs("_k_a_t__")
    c, k = ALPHABET.index("c"), ALPHABET.index("k")
    probs[1, c], probs[1, k] = 0.45, 0.55  # acoustics slightly prefer "kat"
    probs /= probs.sum(1, keepdims=True)
    assert beam_search_decode(probs, beam_width=32).text == "kat"
    assert beam_search_decode(probs, beam_width=32, lm=str(arpa)).text == "cat"
