"""The options of making the embedded model, with their defaults written once.

:class:`CorpusOptions` (``corpus`` command, :func:`~.corpus.synthesize_corpus`) and
:class:`TrainConfig` (``train`` command, :func:`~.training.train`). The command line
builds both from these classes (:meth:`Options.add_arguments` / :meth:`Options.from_args`).
The defaults are the embedded model's recipe (``make corpus``, ``make train`` and
``deepspeech_audio_features/assets/models/README.md``), except what the Makefile sets per run.

This module imports neither TensorFlow nor eSpeak, so the command line's parser stays cheap.
"""
from __future__ import annotations

import dataclasses

from ..infra.errors import ParameterError
from ..infra.options import Options, check_int, check_range, option
from .augmentation import VoicePerturbation

__all__ = ["CorpusOptions", "TrainConfig"]


@dataclasses.dataclass(frozen=True)
class CorpusOptions(Options):
    """What a corpus is made of (with the eSpeak version, it fixes every byte of it)."""

    n_utterances: int = option(15000, "utterances over all splits (train, dev, test)")
    seed: int = option(0, "random seed: fixes every text, voice and sound")
    dev_fraction: float = option(0.05, "share of the utterances for dev")
    test_fraction: float = option(0.05, "share of the utterances for test")
    mixed_voices: int = option(0, "add this many train voices recombined from the train voice variants")
    extra_train: int = option(0, "add this many train utterances with new sentences (dev and test unchanged)")
    engines: str = option("espeak", "synthesis engines (espeak, flite, piper, kokoro) and their shares of --utterances, "
                                    "e.g. espeak:0.5,flite:0.5, or their counts, e.g. espeak:900,kokoro:100 "
                                    "(extra and mixed voices are eSpeak's)")
    flite_test_voices: str = option("slt", "flite voices heard only in the test split (comma-separated)")
    kokoro_test_voices: str = option("jf_tebukuro", "Kokoro voices heard only in the test split (comma-separated)")

    def engine_shares(self) -> dict[str, float]:
        """``{engine: share or count}`` from :attr:`engines` (``"espeak"`` -> ``{"espeak": 1.0}``), in the given order.

        Either every value is a share in (0, 1] and they add up to 1, or every value is a
        whole number of utterances and they add up to :attr:`n_utterances`.
        """
        from .engines import ENGINES  # here: the command line's parser stays cheap

        shares: dict[str, float] = {}
        for item in str(self.engines).split(","):
            name, _, share = item.strip().partition(":")
            if name not in ENGINES:
                raise ParameterError(f"engines: unknown synthesis engine {name!r} (known: {', '.join(ENGINES)})")
            try:
                value = float(share) if share else 1.0
            except ValueError:
                raise ParameterError(f"engines: share {share!r} of {name} is not a number") from None
            if not 0 < value < float("inf") or name in shares:
                raise ParameterError(f"engines: {name} appears twice or has a share that is not positive: "
                                     f"{self.engines!r}")
            shares[name] = value
        if any(v > 1 for v in shares.values()):  # counts
            if any(v != int(v) for v in shares.values()) or sum(shares.values()) != self.n_utterances:
                raise ParameterError(f"engines: counts must be whole numbers adding up to --utterances "
                                     f"({self.n_utterances}), got {self.engines!r}")
        elif abs(sum(shares.values()) - 1.0) > 1e-6:
            raise ParameterError(f"engines: shares must add up to 1, got {sum(shares.values()):g} in {self.engines!r}")
        return shares

    def engine_counts(self) -> dict[str, int]:
        """Utterances per engine out of :attr:`n_utterances` (shares rounded; the last engine takes the remainder)."""
        shares = self.engine_shares()
        if any(v > 1 for v in shares.values()):
            return {name: int(count) for name, count in shares.items()}
        counts, left = {}, self.n_utterances
        for k, (name, share) in enumerate(shares.items()):
            counts[name] = left if k == len(shares) - 1 else min(left, round(self.n_utterances * share))
            left -= counts[name]
        return counts

    def validate(self) -> None:
        check_int("n_utterances", self.n_utterances, 1)
        check_int("seed", self.seed, 0)
        check_range("dev_fraction", self.dev_fraction, 0, 1, high_open=True)
        check_range("test_fraction", self.test_fraction, 0, 1, high_open=True)
        check_int("mixed_voices", self.mixed_voices, 0)
        check_int("extra_train", self.extra_train, 0)
        counts = self.engine_counts()
        if "espeak" not in counts and (self.mixed_voices or self.extra_train):
            raise ParameterError("engines: mixed_voices and extra_train add eSpeak utterances; include espeak")
        for name, count in counts.items():
            if len(counts) > 1 and count < 3:
                raise ParameterError(f"engines: {name} gets {count} of {self.n_utterances} utterances; "
                                     "each engine needs at least 3 (train, dev, test)")
        from .flite import flite_split_voices

        flite_split_voices(self.test_voices("flite"))
        from .neural import neural_split_voices

        neural_split_voices("kokoro", self.test_voices("kokoro"))

    def test_voices(self, engine: str) -> list[str]:
        """The voices of ``engine`` (``"flite"`` or ``"kokoro"``) heard only in the test split."""
        value = self.flite_test_voices if engine == "flite" else self.kokoro_test_voices
        return [v.strip() for v in str(value).split(",") if v.strip()]


@dataclasses.dataclass(frozen=True)
class TrainConfig(Options):
    """Hyperparameters and paths of one training run (stored in the checkpoint metadata).

    ``train``, ``dev`` and ``out`` have no default; every other field's default is the
    embedded model's first training stage (its ``n_hidden`` is 384).
    """

    train: str  # DeepSpeech CSV
    dev: str  # DeepSpeech CSV
    out: str  # run folder; re-running resumes
    n_hidden: int = option(384, "width of the hidden layers (the embedded model's: 384)")
    batch_size: int = option(32, "utterances per batch (length-bucketed)")
    learning_rate: float = option(1e-3, "Adam's learning rate")
    dropout: float = option(0.05, "dropout rate after layers 1, 2, 3 and 5")
    clip_norm: float = option(5.0, "gradients are clipped to this global norm")
    epochs: int = option(30, "epochs at most")
    patience: int = option(4, "epochs without a better dev CER before stopping")
    lr_decay: float = option(0.5, "learning-rate factor after such an epoch")
    # Voice perturbations of the training MFCCs (augmentation.VoicePerturbation); 0 = off.
    frequency_warp: float = option(
        0.0, "vocal tract length perturbation: frequency factors drawn from 1 +- this per utterance")
    equalizer_db: float = option(
        0.0, "random equalizer per utterance: gains at 5 points across the band within +- this (dB)")
    echo_probability: float = option(0.0, "share of training utterances given a 20-80 ms echo")
    frequency_masks: int = option(0, "SpecAugment frequency masks per utterance (0: none)")
    frequency_mask_bands: int = option(8, "mel bands (of 40) per frequency mask at most")
    time_masks: int = option(0, "SpecAugment time masks per utterance (0: none)")
    time_mask_frames: int = option(15, "frames (20 ms) per time mask at most (and a fifth of the utterance)")
    max_minutes: float | None = option(None, "training time budget over all sessions of the run (none: no budget)")
    seed: int = option(0, "random seed of the initial weights, batches, dropout and perturbations")
    init_checkpoint: str | None = option(None, "fine-tune from this checkpoint")
    features_cache: str | None = option(
        None, "folder of cached MFCCs to use and fill; runs may share one (default: OUT/features)")
    save_every_minutes: float = option(5.0, "save the state for resuming this often (minutes)")

    def perturbation(self) -> VoicePerturbation:
        """The MFCC perturbations these settings ask for (all off by default)."""
        return VoicePerturbation(self.frequency_warp, self.equalizer_db, self.echo_probability, self.frequency_masks,
                                 self.frequency_mask_bands, self.time_masks, self.time_mask_frames)

    def validate(self) -> None:
        for name in ("train", "dev", "out"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ParameterError(f"{name}: expected a path, got {getattr(self, name)!r}")
        for name in ("n_hidden", "batch_size", "epochs", "patience"):
            check_int(name, getattr(self, name), 1)
        check_range("learning_rate", self.learning_rate, 0, low_open=True)
        check_range("dropout", self.dropout, 0, 1, high_open=True)
        check_range("clip_norm", self.clip_norm, 0, low_open=True)
        check_range("lr_decay", self.lr_decay, 0, 1, low_open=True)
        self.perturbation()  # checks the perturbation fields, named as here
        if self.max_minutes is not None:
            check_range("max_minutes", self.max_minutes, 0, low_open=True)
        check_int("seed", self.seed, 0)
        check_range("save_every_minutes", self.save_every_minutes, 0, low_open=True)
