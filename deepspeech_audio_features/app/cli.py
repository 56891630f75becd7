"""Command line: ``python -m deepspeech_audio_features <command> ...``.

Every experiment runs headless from here and writes the files the notebook reads.
Nothing imports this module.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
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
    from ..synth.options import CorpusOptions

    options = CorpusOptions.from_args(args)
    summary = synthesize_corpus(args.out, workers=args.workers, **options.to_dict())
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
    from ..synth.training import train

    print(json.dumps(train(train_config_from_args(args)), indent=2))
    return 0


def train_config_from_args(args: argparse.Namespace):
    """The :class:`~.synth.options.TrainConfig` of a parsed ``train`` command line."""
    from ..synth.options import TrainConfig

    return TrainConfig.from_args(args, base=TrainConfig(train=args.train, dev=args.dev, out=args.out))


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
    from ..interpret.featurevis import Objective

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

    from ..interpret.featurevis import (
        VisualizationOptions,
        load_dataset_mfccs,
        maximize_activation,
        mfcc_stats,
    )
    from .experiments import (
        load_experiment,
        run_visualization_experiment,
        visualization_options,
        visualization_pieces,
    )

    pieces = {k: v for k, v in (("jitter", args.jitter), ("param", args.param)) if v is not None}
    model = _model(args)
    if args.objective:
        if not args.out:
            raise SystemExit("error: --objective needs --out")
        stats = mfcc_stats(load_dataset_mfccs(args.stats_dataset)[0]) if args.stats_dataset else None
        param, transform = visualization_pieces(pieces, stats)
        results = [maximize_activation(model, _objectives_from_args(args.objective), VisualizationOptions.from_args(args),
                                       param=param, transform=transform, stats=stats, out=args.out)]
    else:
        experiments = args.experiment or ["run_train_inputs_experiment", "run_train_inputs_experiment_more_noise"]
        if args.out and len(experiments) > 1:
            raise SystemExit("error: --out needs exactly one --experiment")
        results = []
        for name in experiments:
            config = load_experiment(name)
            options = VisualizationOptions.from_args(args, visualization_options(config))
            results.append(run_visualization_experiment(config, model, args.out, options=options, **pieces))
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
    from ..interpret.search_options import SearchOptions
    from .experiments import load_experiment, run_search_dataset_experiment, search_options

    model = _model(args)
    with _cluster(args) as (scheduler, threads):
        if args.objective:
            if not (args.out and args.dataset):
                raise SystemExit("error: --objective needs --out and --dataset")
            options = SearchOptions.from_args(args).replace(worker_threads=threads)
            result = search_dataset(model, args.dataset, _objectives_from_args(args.objective), args.out, options,
                                    scheduler=scheduler)
        else:
            base = search_options(load_experiment("run_search_dataset_experiment"))
            options = SearchOptions.from_args(args, base).replace(worker_threads=threads)
            result = run_search_dataset_experiment(model, args.dataset, args.out, scheduler=scheduler, options=options)
    top, bottom = get_top_examples(args.top, result.out), get_bottom_examples(args.top, result.out)
    print(json.dumps({"out": result.out, "report": result.report,
                      "top": {k: [list(e) for e in v] for k, v in top.items()},
                      "bottom": {k: [list(e) for e in v] for k, v in bottom.items()}}, indent=2))
    return 0


def cmd_mask(args) -> int:
    from ..infra.resources import example_audio
    from ..infra.runfolder import run_name
    from ..interpret.masks.mute import mute_unimportant_audio
    from ..interpret.masks.options import MaskOptions
    from .experiments import DEFAULT_EXPERIMENT, load_mask_experiment, run_mask_experiment

    model = _model(args)
    experiment = load_mask_experiment(args.experiment or DEFAULT_EXPERIMENT)
    options = MaskOptions.from_args(args, experiment.options)
    out = Path(args.out) if args.out else experiment.out
    paths = list(args.audio or experiment.audio or example_audio())
    if args.word is not None or args.frames:
        runs = [(path, _mask_part(model, path, args, options, out)) for path in paths]
    else:
        results = run_mask_experiment(paths, model, out, experiment, options, overwrite=args.overwrite,
                                      progress=not args.no_progress)
        runs = [(path, results[run_name(path)]) for path in paths]
    for path, result in runs:
        print(json.dumps({"run": str(result.run_dir), **result.summary()}, default=str))
        if args.mute:
            muted = mute_unimportant_audio(path, result.run_dir, experiment.mute_thresholds, model=model)
            print(json.dumps({"muted": [str(p) for p in muted.paths], "muted_fractions": muted.muted_fractions,
                              "transcriptions": muted.transcriptions,
                              "original_transcription": muted.original_transcription}))
    return 0 if all(result.frame_agreement == 1.0 for _, result in runs) else 1


def _mask_part(model, path, args, options, out: Path):
    """The mask of ``path`` that keeps only ``--frames START:END`` or ``--word N[:M]``."""
    from ..infra.runfolder import run_name
    from ..interpret.masks.importance import importance_mask
    from ..interpret.masks.problem import word_frames
    from ..speech.inference import transcribe_detailed
    from ..speech.mfcc import audio_file_to_mfccs

    x = audio_file_to_mfccs(path, model.upper_frequency_limit)
    if args.frames:
        start, end = (int(v) for v in args.frames.split(":"))
        frames, suffix = (start, end), f"frames-{start}-{end}"
    else:
        first, _, last = args.word.partition(":")
        frames = word_frames(transcribe_detailed(x, model, beam_width=1), int(first), int(last) if last else None,
                             len(x))
        suffix = f"word-{args.word.replace(':', '-')}"
    return importance_mask(model, x, options, preserve_frames=frames, run_dir=out / f"{run_name(path)}-{suffix}",
                           overwrite=args.overwrite, progress=not args.no_progress)


def cmd_mask_dataset(args) -> int:
    from ..interpret.masks.batch import mask_dataset
    from ..interpret.masks.options import MaskOptions
    from .experiments import DEFAULT_EXPERIMENT, load_mask_experiment

    options = MaskOptions.from_args(args, load_mask_experiment(args.experiment or DEFAULT_EXPERIMENT).options)
    model = _model(args)
    with _cluster(args) as (scheduler, threads):
        result = mask_dataset(args.dataset, model, args.out, options, max_utterances=args.max_utterances,
                              scheduler=scheduler, shards=args.shards, worker_threads=threads,
                              progress=not args.no_progress)
    report = {k: v for k, v in result.report.items() if k != "results"}
    print(json.dumps({"out": result.out, **report}, indent=2))
    return 0 if result.report["all_frames_agree"] else 1


def cmd_mute(args) -> int:
    from ..interpret.masks.mute import mute_unimportant_audio

    muted = mute_unimportant_audio(args.audio, args.mask, tuple(args.thresholds), args.out, _model(args),
                                   beam_width=args.beam_width)
    print(json.dumps({"audio": str(args.audio), "thresholds": list(muted.thresholds),
                      "muted": [str(p) for p in muted.paths], "muted_fractions": muted.muted_fractions,
                      "transcriptions": muted.transcriptions, "original_transcription": muted.original_transcription,
                      "figure": str(muted.figure_path)}, indent=2))
    return 0


def _add_options(parser: argparse.ArgumentParser, options: type, flags: dict[str, str] | None = None) -> None:
    """An Options class's fields as ``--field-name`` flags; ``flags`` names some otherwise
    (e.g. ``{"n_utterances": "--utterances"}``). Each flag defaults to None ("not given")."""
    flags = flags or {}
    options.add_arguments(parser, exclude=tuple(flags))
    for field in dataclasses.fields(options):
        if field.name in flags:
            parser.add_argument(flags[field.name], dest=field.name, type=type(field.default), default=None,
                                help=f"{field.metadata['help']} (default: {field.default})")


def build_parser() -> argparse.ArgumentParser:
    from ..interpret.featurevis.options import VisualizationOptions
    from ..interpret.masks.options import MaskOptions
    from ..interpret.search_options import SearchOptions
    from ..synth.options import CorpusOptions, TrainConfig

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
    p.add_argument("--workers", type=int, default=None, help="synthesis processes (default: the CPUs available)")
    _add_options(p, CorpusOptions, flags={"n_utterances": "--utterances"})
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
    _add_options(p, TrainConfig)
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
    VisualizationOptions.add_arguments(p)
    p.add_argument("--jitter", type=int, help="max random time shift in frames (a TimeJitter transform; default 0: none)")
    p.add_argument("--param", choices=["direct", "scaled"],
                   help="parameterization: X itself, or scaled by the data's statistics (default: direct)")
    p.add_argument("--stats-dataset", help="CSV or folder for MFCC statistics (ad-hoc objectives)")
    p.set_defaults(func=cmd_visualize)

    p = with_model(sub.add_parser("search", help="dataset examples: utterances that most and least activate "
                                                 "neurons (resumable)"))
    p.add_argument("--dataset", help="DeepSpeech CSV or audio folder (default: the experiment's)")
    p.add_argument("--objective", action="append", help="ad-hoc objective layer:n1,n2 (needs --out, --dataset)")
    p.add_argument("--out", help="run folder (default: runs/run_search_dataset_experiment)")
    SearchOptions.add_arguments(p, exclude=("shards", "worker_threads"))  # --shards: with_cluster
    p.add_argument("--top", type=int, default=4, help="examples to print per objective")
    with_cluster(p)
    p.set_defaults(func=cmd_search)

    p = with_model(sub.add_parser("mask-dataset", help="importance masks for every utterance of a dataset "
                                                       "(resumable, optionally on a Dask cluster)"))
    p.add_argument("dataset", help="DeepSpeech CSV or audio folder")
    p.add_argument("--out", default="runs/mask_dataset", help="run folder")
    p.add_argument("--experiment", help="experiment JSON for the mask options (default: experiments/mask.json)")
    p.add_argument("--max-utterances", type=int)
    MaskOptions.add_arguments(p)  # every option; unset flags keep the experiment's values
    p.add_argument("--no-progress", action="store_true")
    with_cluster(p)
    p.set_defaults(func=cmd_mask_dataset)

    p = with_model(sub.add_parser("mask", help="importance masks: the sparsest binary MFCC mask that keeps every "
                                               "frame's class (resumable)"))
    p.add_argument("audio", nargs="*", type=Path, help="audio files (default: the experiment's, else audio/*.wav)")
    p.add_argument("--experiment", help="experiment JSON (default: experiments/mask.json when present)")
    p.add_argument("--out", help="folder of run folders (default: run_mask_experiment)")
    p.add_argument("--word", help="explain word N (or words N:M) of the greedy transcription only")
    p.add_argument("--frames", help="explain frames START:END only")
    MaskOptions.add_arguments(p)  # every option; unset flags keep the experiment's values
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..infra.errors import DAFError

    try:
        return args.func(args)
    except (DAFError, FileNotFoundError) as err:  # the package's own errors: one line, exit 2
        print(f"error: {err}", file=sys.stderr)
        return 2
