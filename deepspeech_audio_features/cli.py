"""Command line: ``python -m deepspeech_audio_features <command> ...``.

Every experiment runs headless from here and writes the files the notebook reads.
Nothing imports this module.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _model(args):
    from .checkpoints import load_model

    return load_model(args.checkpoint)


def cmd_transcribe(args) -> int:
    from .audio import AudioError
    from .inference import transcribe_detailed

    model = _model(args)
    failures = 0
    for path in args.audio:
        try:
            result = transcribe_detailed(path, model, beam_width=1 if args.greedy else args.beam_width,
                                         lm=None if args.no_lm else (args.lm or "model"))
        except AudioError as err:
            print(f"skipped: {err}", file=sys.stderr)
            failures += 1
            continue
        if args.json:
            print(json.dumps({"path": str(path), "text": result.text,
                              "words": [[w.word, w.start_frame, w.end_frame] for w in result.words]}))
        else:
            print(f"{path}\t{result.text}")
    return 1 if failures == len(args.audio) else 0


def cmd_corpus(args) -> int:
    from .corpus import synthesize_corpus

    summary = synthesize_corpus(args.out, args.utterances, seed=args.seed, workers=args.workers)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_examples(args) -> int:
    from .corpus import synthesize_examples

    for path, text in synthesize_examples(args.out, seed=args.seed):
        print(f"{path}\t{text}")
    return 0


def cmd_lm(args) -> int:
    from .datasets import read_dataset
    from .language_model import write_arpa

    sentences = [u.transcript for u in read_dataset(args.csv) if u.transcript]
    path = write_arpa(sentences, args.out)
    print(f"{path}: word bigram model from {len(sentences)} transcripts")
    return 0


def cmd_train(args) -> int:
    from .training import TrainConfig, train

    config = TrainConfig(train=args.train, dev=args.dev, out=args.out, n_hidden=args.n_hidden,
                         batch_size=args.batch_size, learning_rate=args.learning_rate, dropout=args.dropout,
                         epochs=args.epochs, patience=args.patience, max_minutes=args.max_minutes,
                         seed=args.seed, init_checkpoint=args.init_checkpoint)
    print(json.dumps(train(config), indent=2))
    return 0


def cmd_evaluate(args) -> int:
    from functools import partial

    from tqdm.auto import tqdm

    from .decoding import beam_search_decode, greedy_decode
    from .inference import model_language_model
    from .training import batched_probabilities, error_rates, load_features

    model = _model(args)
    data = load_features(args.csv, progress=True,
                         upper_frequency_limit=model.metadata.get("upper_frequency_limit", 8000.0))
    probs = batched_probabilities(model, data.mfccs)
    results = {"utterances": len(data), "skipped": data.skipped}
    greedy = [greedy_decode(p).text for p in probs]
    results["greedy"] = error_rates(data.transcripts, greedy)
    if args.beam_width > 1:
        lm = None if args.no_lm else (args.lm or model_language_model(model))
        decode = partial(beam_search_decode, beam_width=args.beam_width, lm=lm)
        beams = [decode(p).text for p in tqdm(probs, desc="beam search")]
        results[f"beam{args.beam_width}" + ("+lm" if lm else "")] = error_rates(data.transcripts, beams)
    print(json.dumps(results, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deepspeech_audio_features",
                                     description="Look inside DeepSpeech speech recognizers.")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_model(p):
        p.add_argument("--checkpoint", help="checkpoint directory or prefix (default: the embedded model)")
        return p

    p = with_model(sub.add_parser("transcribe", help="transcribe audio files"))
    p.add_argument("audio", nargs="+", type=Path)
    p.add_argument("--beam-width", type=int, default=100)
    p.add_argument("--greedy", action="store_true", help="greedy decoding instead of beam search")
    p.add_argument("--lm", help="KenLM file (default: the model's own LM, if it ships one)")
    p.add_argument("--no-lm", action="store_true")
    p.add_argument("--json", action="store_true", help="one JSON line per file, with word timings")
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("corpus", help="synthesize a DeepSpeech-format speech corpus with eSpeak NG")
    p.add_argument("--out", required=True)
    p.add_argument("--utterances", type=int, default=15000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(func=cmd_corpus)

    p = sub.add_parser("examples", help="synthesize the example utterances of audio/")
    p.add_argument("--out", default="audio")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_examples)

    p = sub.add_parser("lm", help="write a word bigram language model (ARPA) from CSV transcripts")
    p.add_argument("--csv", required=True, help="DeepSpeech CSV(s), comma-separated")
    p.add_argument("--out", required=True, help="ARPA file to write")
    p.set_defaults(func=cmd_lm)

    p = sub.add_parser("train", help="train or fine-tune a DeepSpeech model with CTC (resumable)")
    p.add_argument("--train", required=True, help="DeepSpeech CSV")
    p.add_argument("--dev", required=True, help="DeepSpeech CSV")
    p.add_argument("--out", required=True, help="run folder; re-running resumes")
    p.add_argument("--n-hidden", type=int, default=384)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--dropout", type=float, default=0.05)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--patience", type=int, default=4)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init-checkpoint", help="fine-tune from this checkpoint")
    p.set_defaults(func=cmd_train)

    p = with_model(sub.add_parser("evaluate", help="CER and WER on a DeepSpeech CSV"))
    p.add_argument("--csv", required=True)
    p.add_argument("--beam-width", type=int, default=100)
    p.add_argument("--lm")
    p.add_argument("--no-lm", action="store_true")
    p.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .audio import AudioError
    from .checkpoints import CheckpointError

    try:
        return args.func(args)
    except (AudioError, CheckpointError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
