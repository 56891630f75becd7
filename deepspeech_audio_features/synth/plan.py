"""Corpus planning: every utterance's text, voice and augmentation, drawn before any audio.

Held-out design: train, dev and test use pairwise disjoint sets of ``!v`` voice variants
(:func:`split_voice_variants`) and pairwise disjoint sets of transcripts; the base accents
(en-us, en-029, ...) and the vocabulary are shared by all splits.

Determinism: utterance ``index`` draws everything from
``numpy.random.default_rng([seed, tag, index])``, so a plan depends only on its arguments.

No TensorFlow here.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from ..infra.errors import ParameterError
from .text import build_vocabulary, make_text, pick, word_cdf
from .voices import list_english_voices, list_voice_variants

__all__ = ["DEV_VARIANT_FRACTION", "SPLITS", "TEST_VARIANT_FRACTION", "UtteranceSpec", "plan_corpus",
           "plan_held_out_first", "split_sizes", "split_voice_variants"]

SPLITS = ("train", "dev", "test")


@dataclasses.dataclass(frozen=True)
class UtteranceSpec:
    """Everything needed to render one utterance; drawn from ``(seed, index)`` before dispatch.

    Units: ``rate`` words/min; ``pitch``, ``pitch_range`` eSpeak 0-100; ``word_gap`` 10 ms;
    ``speed`` factor (>1 faster); ``peak_db`` dBFS of the speech peak; ``snr_db`` dB
    (``noise`` is ``"none"``, ``"white"`` or ``"pink"``); ``pad_start``/``pad_end`` seconds.
    """

    index: int
    split: str
    wav: str  # relative to the corpus folder
    transcript: str
    voice: str
    rate: int
    pitch: int
    pitch_range: int
    word_gap: int
    speed: float
    peak_db: float
    noise: str
    snr_db: float | None
    pad_start: float
    pad_end: float
    seed: int


# Tags separate the random streams of (seed, index) used for different purposes (7003: voices.py).
_TAG_SPLIT_VOICES, _TAG_UTTERANCE = 7001, 7002
#: Share of the voice variants held out for test and for dev (each at least one).
TEST_VARIANT_FRACTION, DEV_VARIANT_FRACTION = 0.12, 0.08


def split_voice_variants(variants: Sequence[str], seed: int) -> dict[str, list[str]]:
    """Partition the ``!v`` variants into disjoint train/dev/test sets (seeded shuffle)."""
    variants = sorted(variants)
    if len(variants) < 3:
        raise ParameterError(f"variants: need at least 3 voice variants to hold some out, found {len(variants)}")
    order = np.random.default_rng([seed, _TAG_SPLIT_VOICES]).permutation(len(variants))
    shuffled = [variants[i] for i in order]
    n_test = max(1, round(TEST_VARIANT_FRACTION * len(variants)))
    n_dev = max(1, round(DEV_VARIANT_FRACTION * len(variants)))
    return {
        "test": sorted(shuffled[:n_test]),
        "dev": sorted(shuffled[n_test:n_test + n_dev]),
        "train": sorted(shuffled[n_test + n_dev:]),
    }


def split_sizes(n: int, dev_fraction: float, test_fraction: float) -> dict[str, int]:
    """Utterances per split: ``{"train", "dev", "test"}``; dev and test get at least one if their fraction is > 0."""
    if not (0 <= dev_fraction < 1 and 0 <= test_fraction < 1):
        raise ParameterError("dev_fraction and test_fraction must be in [0, 1)")
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    n_dev = max(1, round(n * dev_fraction)) if dev_fraction > 0 else 0
    n_train = n - n_test - n_dev
    if n_train < 1:
        raise ParameterError(f"n_utterances: {n} utterances leave none for train with dev={n_dev}, test={n_test}")
    return {"train": n_train, "dev": n_dev, "test": n_test}


@dataclasses.dataclass(frozen=True)
class _Sources:
    """What every utterance of one plan draws from."""

    seed: int
    vocab: Sequence[str]
    cdf: np.ndarray  # word_cdf(len(vocab))
    base_voices: list[str]
    variants: dict[str, list[str]]  # per split
    width: int  # digits of the wav file names


def _draw_utterance(sources: _Sources, index: int, split: str, avoid: set[str]) -> UtteranceSpec:
    """Utterance ``index`` of ``split``, with a transcript not in ``avoid`` (redrawn until so)."""
    rng = np.random.default_rng([sources.seed, _TAG_UTTERANCE, index])
    text = make_text(rng, sources.vocab, sources.cdf)
    while text in avoid:
        text = make_text(rng, sources.vocab, sources.cdf)
    noisy = rng.random() >= 0.25
    return UtteranceSpec(
        index=index,
        split=split,
        wav=f"wav/{index:0{sources.width}d}.wav",
        transcript=text,
        voice=f"{pick(rng, sources.base_voices)}+{pick(rng, sources.variants[split])}",
        rate=int(rng.integers(135, 226)),
        pitch=int(rng.integers(20, 81)),
        pitch_range=int(rng.integers(20, 91)),
        word_gap=int(rng.integers(1, 6)) if rng.random() < 0.3 else 0,
        speed=round(float(rng.uniform(0.9, 1.1)), 4),
        peak_db=round(float(rng.uniform(-18.0, -1.0)), 2),
        noise=str(rng.choice(["white", "pink"])) if noisy else "none",
        snr_db=round(float(rng.uniform(10.0, 40.0)), 2) if noisy else None,
        pad_start=round(float(rng.uniform(0.05, 0.35)), 3),
        pad_end=round(float(rng.uniform(0.05, 0.35)), 3),
        seed=int(rng.integers(1, 2**31 - 1)),
    )


def plan_corpus(n_utterances: int, seed: int = 0, dev_fraction: float = 0.05, test_fraction: float = 0.05,
                vocab: Sequence[str] | None = None, base_voices: Sequence[str] | None = None,
                variants: Sequence[str] | None = None, mixed_variants: Sequence[str] = (),
                extra_train: int = 0) -> list[UtteranceSpec]:
    """Draw every utterance's text, voice and augmentation; no audio is made.

    Indices ``[0, n_train)`` are train, then dev, then test. Test transcripts are drawn
    first, then dev transcripts (redrawn while equal to a test one), then train
    transcripts (redrawn while equal to a dev or test one), so the three splits share
    no sentence. Each split draws its voice variant from its own disjoint set
    (:func:`split_voice_variants`); the base English voices are shared. ``mixed_variants``
    (from :func:`~.voices.mix_voice_variants`) join the train set only; dev and test, every
    transcript and every other draw stay exactly as without them. ``extra_train`` more
    train utterances follow at indices ``n_utterances, ...``, each with a sentence that
    occurs nowhere else; the first ``n_utterances`` are exactly those of a plan without them.
    """
    if n_utterances < 1:
        raise ParameterError(f"n_utterances: must be >= 1, got {n_utterances}")
    vocab = build_vocabulary() if vocab is None else vocab
    split_variants = split_voice_variants(variants or list_voice_variants(), seed)
    split_variants["train"] = split_variants["train"] + list(mixed_variants)
    sources = _Sources(seed, vocab, word_cdf(len(vocab)), list(base_voices or list_english_voices()), split_variants,
                       width=max(6, len(str(n_utterances + extra_train - 1))))
    sizes = split_sizes(n_utterances, dev_fraction, test_fraction)
    starts = {"train": 0, "dev": sizes["train"], "test": sizes["train"] + sizes["dev"]}
    held_out: set[str] = set()
    specs: dict[int, UtteranceSpec] = {}
    for split in ("test", "dev", "train"):  # held-out texts first, so train can avoid them
        drawn = [_draw_utterance(sources, index, split, held_out)
                 for index in range(starts[split], starts[split] + sizes[split])]
        specs.update((spec.index, spec) for spec in drawn)
        held_out |= {spec.transcript for spec in drawn}
    for index in range(n_utterances, n_utterances + extra_train):  # new sentences only
        specs[index] = _draw_utterance(sources, index, "train", held_out)
        held_out.add(specs[index].transcript)
    return [specs[i] for i in range(n_utterances + extra_train)]


def plan_held_out_first(draw: Callable[[int, str, set[str]], object], n_utterances: int, dev_fraction: float,
                        test_fraction: float, first_index: int, train_texts: set[str] = frozenset(),
                        held_out_texts: set[str] = frozenset()) -> list:
    """An engine's utterances at indices ``first_index, ...`` (train, then dev, then test), drawn held-out first.

    ``draw(index, split, avoid)`` returns a spec whose ``transcript`` is not in ``avoid``.
    Test and dev sentences avoid ``train_texts`` and ``held_out_texts`` (the engines planned
    before: their train and their dev/test sentences) and each other; train sentences avoid
    every held-out sentence of every engine. So no dev or test sentence of any engine is
    ever trained on, and an engine's dev and test sets share no sentence with another's.
    """
    sizes = split_sizes(n_utterances, dev_fraction, test_fraction)
    starts = {"train": first_index, "dev": first_index + sizes["train"],
              "test": first_index + sizes["train"] + sizes["dev"]}
    avoid = set(train_texts) | set(held_out_texts)
    specs: dict[int, object] = {}
    for split in ("test", "dev"):
        for index in range(starts[split], starts[split] + sizes[split]):
            specs[index] = draw(index, split, avoid)
            avoid.add(specs[index].transcript)
    held_out = set(held_out_texts) | {s.transcript for s in specs.values()}
    for index in range(starts["train"], starts["train"] + sizes["train"]):
        specs[index] = draw(index, "train", held_out)
    return [specs[i] for i in sorted(specs)]
