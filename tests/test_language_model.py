import math

import pytest

from deepspeech_audio_features.speech.language_model import write_arpa

SENTENCES = ["the cat sat", "the cat ran", "a dog sat", "the dog ran home"]


def reference_log10(sentence, discount=0.75, add_k=0.1):
    """Direct evaluation of the interpolated absolute-discount bigram formula."""
    toks = [["<s>"] + s.split() + ["</s>"] for s in SENTENCES]
    uni = {}
    bi = {}
    for t in toks:
        for w in t[1:]:
            uni[w] = uni.get(w, 0) + 1
        for v, w in zip(t[:-1], t[1:]):
            bi[(v, w)] = bi.get((v, w), 0) + 1
    vocab = len(uni) + 1
    total = sum(uni.values())

    def p1(w):
        return (uni.get(w, 0) + add_k) / (total + add_k * vocab)

    def p2(v, w):
        cv = sum(c for (a, _), c in bi.items() if a == v)
        if cv == 0:
            return p1(w)
        n = sum(1 for (a, _) in bi if a == v)
        return max(bi.get((v, w), 0) - discount, 0) / cv + discount * n / cv * p1(w)

    words = ["<s>"] + sentence.split() + ["</s>"]
    return sum(math.log10(p2(v, w)) for v, w in zip(words[:-1], words[1:]))


@pytest.mark.parametrize("sentence", ["the cat sat", "a cat ran home", "dog the", "home home"])
def test_kenlm_scores_equal_the_formula(tmp_path, sentence):
    kenlm = pytest.importorskip("kenlm")
    path = write_arpa(SENTENCES, tmp_path / "lm.arpa")
    model = kenlm.Model(str(path))
    assert model.score(sentence, bos=True, eos=True) == pytest.approx(reference_log10(sentence), abs=1e-4)


def test_seen_sentence_beats_shuffled(tmp_path):
    kenlm = pytest.importorskip("kenlm")
    model = kenlm.Model(str(write_arpa(SENTENCES, tmp_path / "lm.arpa")))
    assert model.score("the cat sat") > model.score("sat cat the") + 1
