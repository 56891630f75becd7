"""A word bigram language model written as an ARPA file that KenLM reads.

KenLM's Python module only queries models, so the project estimates its own from
training transcripts: interpolated absolute discounting (discount ``D``), written in
ARPA's backoff form so that KenLM's score is exactly

    p(w | v) = max(c(v, w) - D, 0) / c(v) + D * n(v) / c(v) * p(w)     (seen history v)
    p(w)     = (c(w) + k) / (N + k V')                                  (add-k unigram)

with ``n(v)`` the number of distinct words after ``v``; ``<s>`` / ``</s>`` mark the
sentence edges and ``<unk>`` takes one add-k share. No TensorFlow here.
"""
from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path
from typing import Iterable

from ..infra.atomic import atomic_write

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


def estimate_bigram_lm(sentences: Iterable[str], discount: float = 0.75,
                       add_k: float = 0.1) -> tuple[dict[str, float], dict[tuple[str, str], float], dict[str, float]]:
    """Estimate the model; returns log10 unigram probs, log10 bigram probs, log10 backoffs."""
    unigrams: Counter = Counter()
    bigrams: Counter = Counter()
    for sentence in sentences:
        words = [BOS] + sentence.split() + [EOS]
        unigrams.update(words[1:])  # <s> is never predicted
        bigrams.update(zip(words[:-1], words[1:]))
    total = sum(unigrams.values())
    vocab = list(unigrams) + [UNK]
    denominator = total + add_k * len(vocab)
    p1 = {w: (unigrams.get(w, 0) + add_k) / denominator for w in vocab}
    history_count: Counter = Counter()
    followers: dict[str, list[str]] = {}
    for (v, w), c in bigrams.items():
        history_count[v] += c
        followers.setdefault(v, []).append(w)
    log_p2, log_bow = {}, {}
    for v, words in followers.items():
        cv = history_count[v]
        lam = discount * len(words) / cv
        seen_p2 = 0.0
        seen_p1 = 0.0
        for w in words:
            p = max(bigrams[(v, w)] - discount, 0) / cv + lam * p1[w]
            log_p2[(v, w)] = math.log10(p)
            seen_p2 += p
            seen_p1 += p1[w]
        # Backoff weight makes the unseen continuations share the mass left over.
        log_bow[v] = math.log10(max(1.0 - seen_p2, 1e-12) / max(1.0 - seen_p1, 1e-12))
    log_p1 = {w: math.log10(p) for w, p in p1.items()}
    return log_p1, log_p2, log_bow


def write_arpa(sentences: Iterable[str], path: str | os.PathLike, discount: float = 0.75,
               add_k: float = 0.1) -> Path:
    """Estimate a bigram model from ``sentences`` (space-separated words) and write ARPA atomically."""
    log_p1, log_p2, log_bow = estimate_bigram_lm(sentences, discount, add_k)
    lines = ["\\data\\", f"ngram 1={len(log_p1) + 1}", f"ngram 2={len(log_p2)}", "", "\\1-grams:"]
    lines.append(f"-99\t{BOS}\t{log_bow.get(BOS, 0.0):.6f}")
    for w in sorted(log_p1):
        lines.append(f"{log_p1[w]:.6f}\t{w}" + (f"\t{log_bow[w]:.6f}" if w in log_bow else ""))
    lines += ["", "\\2-grams:"]
    lines += [f"{p:.6f}\t{v} {w}" for (v, w), p in sorted(log_p2.items())]
    lines += ["", "\\end\\", ""]
    return atomic_write(path, lambda tmp: Path(tmp).write_text("\n".join(lines)))
