"""Command line: ``python -m deepspeech_audio_features <command> ...``.

Every experiment runs headless from here and writes the files the notebook reads.
Nothing imports this module.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path


def _model(args):
    from ..speech.checkpoints import load_model

    return load_model(args.checkpoint)


def cmd_transcribe(args) -> int:
    from ..infra.errors import AudioError
    from ..speech.inference import transcribe_detailed

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
    if failures:
        print(f"{failures} of {len(args.audio)} file(s) skipped", file=sys.stderr)
    return 2 if failures == len(args.audio) else 0  # 2: nothing usable was given


def cmd_corpus(args) -> int:
    from ..synth.corpus import synthesize_corpus

    summary = synthesize_corpus(args.out, args.utterances, seed=args.seed, workers=args.workers,
                                mixed_voices=args.mixed_voices, extra_train=args.extra_train)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_examples(args) -> int:
    from ..synth.corpus import synthesize_examples

    for path, text in synthesize_examples(args.out, seed=args.seed):
        print(f"{path}\t{text}")
    return 0


def cmd_lm(args) -> int:
    from ..speech.datasets import read_dataset
    from ..speech.language_model import write_arpa

    sentences = [u.transcript for u in read_dataset(args.csv) if u.transcript]
    path = write_arpa(sentences, args.out)
    print(f"{path}: word bigram model from {len(sentences)} transcripts")
    return 0


def cmd_experiments(args) -> int:
    from ..speech.checkpoints import load_model
    from .study import (
        StudySettings,
        ensure_corpus,
        ensure_masks,
        ensure_search,
        ensure_visualization,
    )

    settings = StudySettings.from_env()
    model = load_model(args.checkpoint or settings.checkpoint)
    print(f"corpus: {ensure_corpus(settings)}")
    for name in ("run_train_inputs_experiment_more_noise", "run_train_inputs_experiment"):
        print(f"feature visualization: {ensure_visualization(name, model, settings)}")
    print(f"dataset search: {ensure_search(model, settings)}")
    for path, result in ensure_masks(model, settings).items():
        print(f"importance mask: {path}: zero fraction {result.zero_fraction:.3f}, "
              f"frame agreement {result.frame_agreement:.3f}, 1-minimal {result.one_minimal}")
    return 0


def cmd_export_model(args) -> int:
    from ..speech.checkpoints import load_model, read_metadata, save_checkpoint
    from ..speech.datasets import read_dataset
    from ..speech.language_model import write_arpa

    model = load_model(args.source)
    metadata = {k: v for k, v in read_metadata(args.source).items() if k != "checkpoint"}
    metadata["name"] = args.name or Path(args.to).name
    if args.lm_csv:
        sentences = [u.transcript for u in read_dataset(args.lm_csv) if u.transcript]
        write_arpa(sentences, Path(args.to) / "lm.arpa")
        metadata["lm"] = "lm.arpa"
        metadata["lm_recipe"] = {"source": args.lm_csv, "sentences": len(sentences),
                                 "kind": "word bigram, interpolated absolute discounting (D=0.75)"}
    model.metadata = metadata
    prefix = save_checkpoint(model, args.to, step=int(metadata.get("global_step", 0)))
    print(f"{prefix}: n_hidden {model.n_hidden}" + (", with lm.arpa" if args.lm_csv else ""))
    return 0


def cmd_train(args) -> int:
    from ..synth.training import TrainConfig, train

    config = TrainConfig(train=args.train, dev=args.dev, out=args.out, n_hidden=args.n_hidden,
                         batch_size=args.batch_size, learning_rate=args.learning_rate, dropout=args.dropout,
                         epochs=args.epochs, patience=args.patience, lr_decay=args.lr_decay,
                         max_minutes=args.max_minutes, frequency_warp=args.frequency_warp,
                         equalizer_db=args.equalizer_db, echo_probability=args.echo_probability,
                         features_cache=args.features_cache,
                         seed=args.seed, init_checkpoint=args.init_checkpoint)
    print(json.dumps(train(config), indent=2))
    return 0


def cmd_evaluate(args) -> int:
    from functools import partial

    from tqdm.auto import tqdm

    from ..speech.batching import batched_probabilities
    from ..speech.decoding import beam_search_decode, greedy_decode
    from ..speech.inference import model_language_model
    from ..synth.training import error_rates, load_features

    model = _model(args)
    data = load_features(args.csv, progress=True,
                         upper_frequency_limit=model.upper_frequency_limit)
    if not len(data):
        first = f"; first: {data.skipped[0]}" if data.skipped else ""
        print(f"error: {args.csv}: no readable utterances ({len(data.skipped)} skipped{first})", file=sys.stderr)
        return 2
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


def _objectives_from_args(specs, lam_default: float = 0.0):
    """``layer:n1,n2[:lambda]`` strings -> Objectives."""
    from ..interpret.featurevis.render import Objective

    objectives = []
    for spec in specs or []:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            raise SystemExit(f"error: --objective {spec!r}: expected layer:n1,n2[:lambda]")
        lam = float(parts[2]) if len(parts) == 3 else lam_default
        objectives.append(Objective(parts[0], tuple(int(n) for n in parts[1].split(",")), lam=lam))
    return objectives


def cmd_visualize(args) -> int:
    import numpy as np

    from ..interpret.featurevis.render import (
        load_dataset_mfccs,
        maximize_activation,
        mfcc_stats,
    )
    from .experiments import load_experiment, run_visualization_experiment

    options = {"steps": args.steps, "frames": args.frames, "learning_rate": args.learning_rate,
               "seed": args.seed, "jitter": args.jitter, "snapshot_every": args.snapshot_every,
               "init": args.init, "clamp": True if args.clamp else None}
    model = _model(args)
    if args.objective:
        if not args.out:
            raise SystemExit("error: --objective needs --out")
        stats = mfcc_stats(load_dataset_mfccs(args.stats_dataset)[0]) if args.stats_dataset else None
        chosen = {k: v for k, v in options.items() if v is not None and k != "steps"}
        result = maximize_activation(model, _objectives_from_args(args.objective), args.steps or 500, args.out,
                                     stats=stats, **chosen)
        results = [result]
    else:
        experiments = args.experiment or ["run_train_inputs_experiment", "run_train_inputs_experiment_more_noise"]
        if args.out and len(experiments) > 1:
            raise SystemExit("error: --out needs exactly one --experiment")
        results = [run_visualization_experiment(load_experiment(name), model, args.out, **options)
                   for name in experiments]
    for result in results:
        print(json.dumps({"out": result.out, "steps": result.steps,
                          "activation": {k: np.asarray(v).round(4).tolist() for k, v in result.activation.items()},
                          "total_variation": {k: np.asarray(v).round(4).tolist()
                                              for k, v in result.total_variation.items()}}, indent=2))
    return 0


@contextlib.contextmanager
def _cluster(args):
    """(scheduler, threads per worker) from --scheduler ADDRESS or --workers N (a LocalCluster)."""
    if args.scheduler and args.workers:
        raise SystemExit("error: give --scheduler or --workers, not both")
    if args.scheduler:
        yield args.scheduler, None
    elif args.workers:
        from distributed import Client, LocalCluster

        threads = max(1, (os.cpu_count() or 1) // args.workers)
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            yield client, threads
    else:
        yield None, None


def with_cluster(p):
    p.add_argument("--scheduler", help="run on a Dask cluster: its scheduler's address, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--workers", type=int, help="run on a local Dask cluster of this many worker processes")
    p.add_argument("--shards", type=int, help="shards of work (default: 4 per worker)")
    return p


def cmd_search(args) -> int:
    from ..interpret.dataset_search import (
        get_bottom_examples,
        get_top_examples,
        search_dataset,
    )
    from .experiments import run_search_dataset_experiment

    model = _model(args)
    with _cluster(args) as (scheduler, threads):
        cluster = {"scheduler": scheduler, "shards": args.shards, "worker_threads": threads}
        if args.objective:
            if not (args.out and args.dataset):
                raise SystemExit("error: --objective needs --out and --dataset")
            result = search_dataset(model, args.dataset, _objectives_from_args(args.objective), args.out,
                                    args.batch_size or 128, args.max_utterances, **cluster)
        else:
            result = run_search_dataset_experiment(model, args.dataset, args.out, batch_size=args.batch_size,
                                                   max_utterances=args.max_utterances, **cluster)
    top, bottom = get_top_examples(args.top, result.out), get_bottom_examples(args.top, result.out)
    print(json.dumps({"out": result.out, "report": result.report,
                      "top": {k: [list(e) for e in v] for k, v in top.items()},
                      "bottom": {k: [list(e) for e in v] for k, v in bottom.items()}}, indent=2))
    return 0


def cmd_mask(args) -> int:
    from ..infra.runfolder import run_name
    from ..interpret.masks.importance import (
        DEFAULT_THRESHOLDS,
        importance_mask,
        mute_unimportant_audio,
        word_frames,
    )
    from .experiments import (
        DEFAULT_EXPERIMENT,
        load_mask_experiment,
        run_mask_experiment,
    )

    model = _model(args)
    experiment = args.experiment or (DEFAULT_EXPERIMENT if Path(DEFAULT_EXPERIMENT).exists() else None)
    config = load_mask_experiment(experiment) if experiment else {}
    options = {k: v for k, v in {"variant": args.variant, "steps": args.steps, "max_prune_passes": args.max_prune_passes,
                                 "snapshot_every": args.snapshot_every}.items() if v is not None}
    options.update(progress=not args.no_progress, overwrite=args.overwrite)
    out = Path(args.out or config.get("out") or "runs/run_mask_experiment")
    if args.word is not None or args.frames:
        from ..speech.inference import transcribe_detailed
        from ..speech.mfcc import audio_file_to_mfccs
        from .experiments import _OPTION_KEYS

        options = {**{k: config[k] for k in _OPTION_KEYS if k in config}, **options}
        results = {}
        for path in args.audio or config.get("audio", []):
            x = audio_file_to_mfccs(path, model.upper_frequency_limit)
            if args.frames:
                start, end = (int(v) for v in args.frames.split(":"))
                frames, suffix = (start, end), f"frames-{start}-{end}"
            else:
                first, _, last = args.word.partition(":")
                frames = word_frames(transcribe_detailed(x, model, beam_width=1), int(first),
                                     int(last) if last else None, len(x))
                suffix = f"word-{args.word.replace(':', '-')}"
            results[run_name(path) + "-" + suffix] = importance_mask(
                model, x, preserve_frames=frames, run_dir=out / (run_name(path) + "-" + suffix), **options)
    else:
        results = run_mask_experiment(args.audio or None, model, out, experiment=experiment, **options)
    for name, result in results.items():
        print(json.dumps({"run": str(result.run_dir), **result.summary()}, default=str))
        if args.mute:
            audio = next(p for p in (args.audio or config.get("audio", [])) if run_name(p) in name)
            muted = mute_unimportant_audio(audio, result.run_dir, tuple(config.get("mute_thresholds", DEFAULT_THRESHOLDS)),
                                           model=model)
            print(json.dumps({"muted": [str(p) for p in muted.paths], "muted_fractions": muted.muted_fractions,
                              "transcriptions": muted.transcriptions,
                              "original_transcription": muted.original_transcription}))
    return 0 if all(r.frame_agreement == 1.0 for r in results.values()) else 1


def cmd_mask_dataset(args) -> int:
    from ..interpret.masks.batch import MASK_OPTIONS, mask_dataset
    from .experiments import DEFAULT_EXPERIMENT, load_mask_experiment

    experiment = args.experiment or (DEFAULT_EXPERIMENT if Path(DEFAULT_EXPERIMENT).exists() else None)
    config = load_mask_experiment(experiment) if experiment else {}
    options = {k: config[k] for k in MASK_OPTIONS if k in config}
    options.update({k: v for k, v in {"variant": args.variant, "steps": args.steps,
                                      "max_prune_passes": args.max_prune_passes,
                                      "max_seconds": args.max_seconds}.items() if v is not None})
    model = _model(args)
    with _cluster(args) as (scheduler, threads):
        result = mask_dataset(args.dataset, model, args.out, max_utterances=args.max_utterances,
                              scheduler=scheduler, shards=args.shards, worker_threads=threads,
                              progress=not args.no_progress, **options)
    report = {k: v for k, v in result.report.items() if k != "results"}
    print(json.dumps({"out": result.out, **report}, indent=2))
    return 0 if result.report["all_frames_agree"] else 1


def cmd_mute(args) -> int:
    from ..interpret.masks.importance import mute_unimportant_audio

    muted = mute_unimportant_audio(args.audio, args.mask, tuple(args.thresholds), args.out, _model(args),
                                   beam_width=args.beam_width)
    print(json.dumps({"audio": str(args.audio), "thresholds": list(muted.thresholds),
                      "muted": [str(p) for p in muted.paths], "muted_fractions": muted.muted_fractions,
                      "transcriptions": muted.transcriptions, "original_transcription": muted.original_transcription,
                      "figure": str(muted.figure_path)}, indent=2))
    return 0


def cmd_inspect(args) -> int:
    from ..speech.checkpoints import load_model

    model = load_model(args.model)
    meta = model.metadata
    print(f"file: {args.model}\nformat: {meta.get('format', 'checkpoint')}")
    print(f"n_hidden: {model.n_hidden}  classes: {model.n_classes}  forget_bias: {model.forget_bias}")
    for name, value in model.official_weights().items():
        print(f"  {name}: {tuple(value.shape)}")
    labels = model.alphabet.labels
    print(f"alphabet: {len(labels)} labels + blank: {json.dumps(list(labels), ensure_ascii=False)}")
    for key in ("sample_rate", "feature_win_len", "feature_win_step", "upper_frequency_limit", "beam_width", "n_steps",
                "graph_version"):
        if key in meta:
            print(f"{key}: {meta[key]}")
    quantization = meta.get("quantization")
    if not quantization:
        print("quantization: none (float32 weights)")
    else:
        print(f"quantization: {quantization['scheme']}")
        for name, facts in quantization.get("layers", {}).items():
            print(f"  {name}: max weight error {facts['weight_error_bound']:.3g}, "
                  f"relative RMS {facts['relative_weight_error_rms']:.2%}")
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
    p.add_argument("--mixed-voices", type=int, default=0,
                   help="add this many train voices recombined from the train voice variants")
    p.add_argument("--extra-train", type=int, default=0,
                   help="add this many train utterances with new sentences (dev and test unchanged)")
    p.set_defaults(func=cmd_corpus)

    p = with_model(sub.add_parser(
        "experiments", help="run (or resume) all of the study's experiments into runs/ (DAF_QUICK=1: small)"))
    p.set_defaults(func=cmd_experiments)

    p = sub.add_parser("export-model", help="copy a trained checkpoint (e.g. <run>/best) into a model folder")
    p.add_argument("source", help="checkpoint directory or prefix")
    p.add_argument("--to", required=True, help="model folder, e.g. checkpoints/synth-en")
    p.add_argument("--name")
    p.add_argument("--lm-csv", help="also write lm.arpa from these CSV transcripts (training text)")
    p.set_defaults(func=cmd_export_model)

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
    p.add_argument("--patience", type=int, default=4, help="epochs without a better dev CER before stopping")
    p.add_argument("--lr-decay", type=float, default=0.5, help="learning-rate factor after such an epoch")
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init-checkpoint", help="fine-tune from this checkpoint")
    p.add_argument("--features-cache", help="folder of cached MFCCs to use and fill (default: OUT/features)")
    p.add_argument("--frequency-warp", type=float, default=0.0,
                   help="vocal tract length perturbation: frequency factors drawn from 1 +- this per utterance")
    p.add_argument("--equalizer-db", type=float, default=0.0,
                   help="random equalizer per utterance: gains at 5 points across the band within +- this (dB)")
    p.add_argument("--echo-probability", type=float, default=0.0,
                   help="share of training utterances given a 20-80 ms echo")
    p.set_defaults(func=cmd_train)

    p = with_model(sub.add_parser("evaluate", help="CER and WER on a DeepSpeech CSV"))
    p.add_argument("--csv", required=True)
    p.add_argument("--beam-width", type=int, default=100)
    p.add_argument("--lm")
    p.add_argument("--no-lm", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = with_model(sub.add_parser("visualize", help="feature visualization: learn inputs that excite neurons "
                                                    "(resumable)"))
    p.add_argument("--experiment", action="append",
                   help="experiment name in experiments/ or JSON path (repeatable; default: the study's two)")
    p.add_argument("--objective", action="append",
                   help="ad-hoc objective layer:n1,n2[:lambda] (repeatable; needs --out)")
    p.add_argument("--out", help="run folder (default: runs/<experiment name>); re-running resumes")
    p.add_argument("--steps", type=int)
    p.add_argument("--frames", type=int, help="input length T in 20 ms frames")
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--jitter", type=int, help="max random time shift in frames")
    p.add_argument("--snapshot-every", type=int)
    p.add_argument("--init", choices=["noise", "zeros", "mean"])
    p.add_argument("--clamp", action="store_true", help="clip each coefficient to the data's range")
    p.add_argument("--stats-dataset", help="CSV or folder for MFCC statistics (ad-hoc objectives)")
    p.set_defaults(func=cmd_visualize)

    p = with_model(sub.add_parser("search", help="dataset examples: utterances that most and least activate "
                                                 "neurons (resumable)"))
    p.add_argument("--dataset", help="DeepSpeech CSV or audio folder (default: the experiment's)")
    p.add_argument("--objective", action="append", help="ad-hoc objective layer:n1,n2 (needs --out, --dataset)")
    p.add_argument("--out", help="run folder (default: runs/run_search_dataset_experiment)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-utterances", type=int)
    p.add_argument("--top", type=int, default=4, help="examples to print per objective")
    with_cluster(p)
    p.set_defaults(func=cmd_search)

    p = with_model(sub.add_parser("mask-dataset", help="importance masks for every utterance of a dataset "
                                                       "(resumable, optionally on a Dask cluster)"))
    p.add_argument("dataset", help="DeepSpeech CSV or audio folder")
    p.add_argument("--out", default="runs/mask_dataset", help="run folder")
    p.add_argument("--experiment", help="experiment JSON for the mask options (default: experiments/mask.json)")
    p.add_argument("--max-utterances", type=int)
    p.add_argument("--variant", choices=["time-frequency", "time"])
    p.add_argument("--steps", type=int)
    p.add_argument("--max-prune-passes", type=int)
    p.add_argument("--max-seconds", type=float, help="pruning time budget per utterance")
    p.add_argument("--no-progress", action="store_true")
    with_cluster(p)
    p.set_defaults(func=cmd_mask_dataset)

    p = with_model(sub.add_parser("mask", help="importance masks: the sparsest binary MFCC mask that keeps every "
                                               "frame's class (resumable)"))
    p.add_argument("audio", nargs="*", type=Path, help="audio files (default: the experiment's, else audio/*.wav)")
    p.add_argument("--experiment", help="experiment JSON (default: experiments/mask.json when present)")
    p.add_argument("--out", help="folder of run folders (default: run_mask_experiment)")
    p.add_argument("--variant", choices=["time-frequency", "time"])
    p.add_argument("--word", help="explain word N (or words N:M) of the greedy transcription only")
    p.add_argument("--frames", help="explain frames START:END only")
    p.add_argument("--steps", type=int)
    p.add_argument("--max-prune-passes", type=int)
    p.add_argument("--snapshot-every", type=int)
    p.add_argument("--overwrite", action="store_true", help="discard run folders written with another config")
    p.add_argument("--mute", action="store_true", help="then mute the unimportant audio (mute_thresholds)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_mask)

    p = with_model(sub.add_parser("mute", help="mute time windows whose mask mean is under thresholds; "
                                               "transcribe again"))
    p.add_argument("audio", type=Path)
    p.add_argument("mask", type=Path, help="mask .npy or a mask run folder (its final mask)")
    p.add_argument("--thresholds", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    p.add_argument("--out", help="folder for the muted WAVs and the figure")
    p.add_argument("--beam-width", type=int, default=1, help="1 = greedy (default)")
    p.set_defaults(func=cmd_mute)

    p = sub.add_parser("inspect", help="what a model file holds: format, layer shapes, alphabet, features, quantization")
    p.add_argument("model", help="checkpoint folder or prefix, .pb, .pbmm, .tflite, or Coqui STT checkpoint folder")
    p.set_defaults(func=cmd_inspect)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..infra.errors import DAFError

    try:
        return args.func(args)
    except (DAFError, FileNotFoundError) as err:  # the package's own errors: one line, exit 2
        print(f"error: {err}", file=sys.stderr)
        return 2
