"""Commands that make the embedded model: synthesize a corpus or the examples, train."""
from __future__ import annotations

import argparse
import json

from .common import add_command, add_options


def cmd_corpus(args) -> int:
    from ...synth.corpus import synthesize_corpus
    from ...synth.options import CorpusOptions

    options = CorpusOptions.from_args(args)
    summary = synthesize_corpus(args.out, workers=args.workers, reuse_from=args.reuse_from, **options.to_dict())
    print(json.dumps(summary, indent=2))
    return 0


def cmd_align(args) -> int:
    from ...synth.corpus import align_corpus

    print(json.dumps(align_corpus(args.corpus, workers=args.workers), indent=2))
    return 0


def cmd_examples(args) -> int:
    from ...synth.corpus import synthesize_examples

    for path, text in synthesize_examples(args.out, seed=args.seed):
        print(f"{path}\t{text}")
    return 0


def cmd_train(args) -> int:
    from ...synth.training import train

    print(json.dumps(train(train_config_from_args(args)), indent=2))
    return 0


def train_config_from_args(args: argparse.Namespace):
    """The :class:`~.synth.options.TrainConfig` of a parsed ``train`` command line."""
    from ...synth.options import TrainConfig

    return TrainConfig.from_args(args, base=TrainConfig(train=args.train, dev=args.dev, out=args.out))


def _add_corpus(sub) -> None:
    from ...synth.options import CorpusOptions

    p = add_command(sub, "corpus", "synthesize a DeepSpeech-format speech corpus with eSpeak NG (and flite, Piper, Kokoro)", """
corpus --out data/corpus --utterances 15000 --seed 0
corpus --out data/corpus-big --utterances 15000 --seed 0 --extra-train 30000
corpus --out data/corpus-multi --utterances 30000 --extra-train 30000 --engines espeak:.5,flite:.5 --reuse-from data/corpus-big
""")
    p.add_argument("--out", required=True, help="corpus folder to write (train/dev/test CSVs and WAVs)")
    p.add_argument("--reuse-from", default=None,
                   help="a corpus folder whose identical utterances are linked instead of synthesized")
    p.add_argument("--workers", type=int, default=None, help="synthesis processes (default: the CPUs available)")
    add_options(p, CorpusOptions, flags={"n_utterances": "--utterances"})
    p.set_defaults(func=cmd_corpus)


def _add_align(sub) -> None:
    p = add_command(sub, "align", "add word and phone TextGrids to a corpus synthesized without them (wavs untouched)",
                    """
align --corpus data/corpus
align --corpus data/corpus --workers 2""")
    p.add_argument("--corpus", required=True, help="a corpus folder made by the corpus command (with its corpus.json)")
    p.add_argument("--workers", type=int, default=None, help="synthesis processes (default: the CPUs available)")
    p.set_defaults(func=cmd_align)


def _add_examples(sub) -> None:
    p = add_command(sub, "examples", "synthesize the example utterances (held-out voices)", """
examples --out my-examples""")
    p.add_argument("--out", default="audio", help="folder to write (default: audio)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.set_defaults(func=cmd_examples)


def _add_train(sub) -> None:
    from ...synth.options import TrainConfig

    p = add_command(sub, "train", "train or fine-tune a DeepSpeech model with CTC (resumable)", """
train --train data/corpus/train.csv --dev data/corpus/dev.csv --out runs/train --max-minutes 100
train --train big/train.csv --dev data/corpus/dev.csv --out runs/ft --init-checkpoint runs/train/best --learning-rate 5e-4""")
    p.add_argument("--train", required=True, help="DeepSpeech CSV of training utterances")
    p.add_argument("--dev", required=True, help="DeepSpeech CSV of development utterances")
    p.add_argument("--out", required=True, help="run folder; re-running resumes")
    add_options(p, TrainConfig)
    p.set_defaults(func=cmd_train)


def register(sub) -> None:
    """Add this module's commands to the sub-command parsers ``sub``."""
    _add_corpus(sub)
    _add_align(sub)
    _add_examples(sub)
    _add_train(sub)
