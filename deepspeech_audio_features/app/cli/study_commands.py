"""Commands of the study's experiments: all of them, feature visualization, dataset search,
importance masks (one file or a dataset) and muting."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ...infra.errors import ParameterError
from .common import add_command, cluster_of, load_model_of, with_cluster, with_model


def cmd_experiments(args) -> int:
    from ...speech.checkpoints import load_model
    from ..study import (
        StudySettings,
        ensure_atlas,
        ensure_corpus,
        ensure_dissection,
        ensure_fill_masks,
        ensure_masks,
        ensure_pointing_game,
        ensure_probes,
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
    print(f"dissection: {ensure_dissection(model, settings).out}")
    ensure_probes(model, settings)
    print(f"probes: {settings.runs / 'probes'}")
    print(f"pointing game: {len(ensure_pointing_game(model, settings).utterances)} utterances")
    print(f"masks with other fills: {', '.join(ensure_fill_masks(model, settings, example=0))}")
    print(f"neuron atlas: {ensure_atlas(model, settings)}")
    return 0


def _objectives_from_args(specs, lam_default: float = 0.0):
    """``layer:n1,n2[:lambda]`` strings -> Objectives."""
    from ...interpret.featurevis import Objective

    objectives = []
    for spec in specs or []:
        parts = spec.split(":")
        try:
            if len(parts) not in (2, 3):
                raise ValueError("expected layer:n1,n2[:lambda]")
            lam = float(parts[2]) if len(parts) == 3 else lam_default
            neurons = tuple(int(n) for n in parts[1].split(","))
        except ValueError as err:
            raise ParameterError(f"--objective {spec!r}: expected LAYER:N1,N2[:LAMBDA] with integer neurons and a "
                                 f"number lambda ({err})") from None
        try:
            objectives.append(Objective(parts[0], neurons, lam=lam))
        except ParameterError as err:
            raise ParameterError(f"--objective {spec!r}: {err}") from None
    return objectives


def _span(flag: str, text: str, allow_single: bool) -> tuple[int, int | None]:
    """``START:END`` (or ``N`` when ``allow_single``) as integers; ParameterError naming ``flag``."""
    parts = text.split(":")
    try:
        if len(parts) > 2 or (len(parts) == 1 and not allow_single):
            raise ValueError
        values = [int(p) for p in parts]
    except ValueError:
        raise ParameterError(f"{flag} {text!r}: expected {'N or N:M' if allow_single else 'START:END'} "
                             "(integers)") from None
    if any(v < 0 for v in values) or (len(values) == 2 and values[1] < values[0] + (0 if allow_single else 1)):
        raise ParameterError(f"{flag} {text!r}: expected 0 <= {'N <= M' if allow_single else 'START < END'}")
    return values[0], values[1] if len(values) == 2 else None


def cmd_visualize(args) -> int:
    import numpy as np

    from ...interpret.featurevis import (
        VisualizationOptions,
        load_dataset_mfccs,
        maximize_activation,
        mfcc_stats,
    )
    from ..experiments import (
        load_experiment,
        run_visualization_experiment,
        visualization_options,
        visualization_pieces,
    )

    pieces = {k: v for k, v in (("jitter", args.jitter), ("param", args.param)) if v is not None}
    model = load_model_of(args)
    if args.objective:
        if not args.out:
            raise ParameterError("--objective needs --out")
        stats = mfcc_stats(load_dataset_mfccs(args.stats_dataset)[0]) if args.stats_dataset else None
        param, transform = visualization_pieces(pieces, stats)
        results = [maximize_activation(model, _objectives_from_args(args.objective), VisualizationOptions.from_args(args),
                                       param=param, transform=transform, stats=stats, out=args.out,
                                       overwrite=args.overwrite)]
    else:
        experiments = args.experiment or ["run_train_inputs_experiment", "run_train_inputs_experiment_more_noise"]
        if args.out and len(experiments) > 1:
            raise ParameterError("--out needs exactly one --experiment")
        results = []
        for name in experiments:
            config = load_experiment(name)
            options = VisualizationOptions.from_args(args, visualization_options(config))
            results.append(run_visualization_experiment(config, model, args.out, options=options,
                                                        overwrite=args.overwrite, **pieces))
    for result in results:
        if args.json:
            print(json.dumps({"out": result.out, "steps": result.steps,
                              "activation": {k: np.asarray(v).round(4).tolist() for k, v in result.activation.items()},
                              "total_variation": {k: np.asarray(v).round(4).tolist()
                                                  for k, v in result.total_variation.items()}}, indent=2))
        else:
            print(f"{result.out}: {result.steps} steps")
            print(f"  {'objective':<28}{'mean activation':>16}{'TV per element':>16}")
            for name in result.inputs:
                print(f"  {name:<28}{float(np.mean(result.activation[name])):>16.3f}"
                      f"{float(np.mean(result.total_variation[name])):>16.3f}")
    if args.plot:
        from ..plots import plot_grid

        cells = [[(np.asarray(x).reshape(-1, np.shape(x)[-1]), name) for name, x in r.inputs.items()] for r in results]
        _save_figure(plot_grid(cells, title="Learned inputs (z-scores over all of them)"), args.plot)
    return 0


def _neuron_list(text: str | None) -> list[int] | None:
    """``--neurons`` as indices: ``3,17,40`` or ``0:64`` (end excluded) or both mixed; None for all."""
    if text is None:
        return None
    chosen: list[int] = []
    for part in text.split(","):
        try:
            if ":" in part:
                start, end = (int(v) for v in part.split(":"))
                chosen.extend(range(start, end))
            else:
                chosen.append(int(part))
        except ValueError:
            raise ParameterError(f"--neurons: expected indices like 3,17 or a range 0:64, got {text!r}") from None
    return chosen


def cmd_visualize_neurons(args) -> int:
    import numpy as np

    from ...interpret.featurevis.neurons import visualize_neurons
    from ...interpret.featurevis.options import ATLAS_BATCH_SIZE, ATLAS_OPTIONS, VisualizationOptions
    from ...speech.model import LAYERS

    layers = list(LAYERS) if args.layers == ["all"] else args.layers
    for layer in layers:
        if layer not in LAYERS:
            raise ParameterError(f"layer: unknown layer {layer!r}; layers are {', '.join(LAYERS)} or all")
    neurons = _neuron_list(args.neurons)
    options = VisualizationOptions.from_args(args, ATLAS_OPTIONS)
    batch_size = args.batch_size if args.batch_size is not None else ATLAS_BATCH_SIZE
    model = load_model_of(args)
    summaries = []
    with cluster_of(args) as (scheduler, threads):
        for layer in layers:
            result = visualize_neurons(model, layer, args.out, neurons, options, batch_size=batch_size,
                                       scheduler=scheduler, shards=args.shards, worker_threads=threads,
                                       overwrite=args.overwrite, progress=not args.no_progress)
            session = result.report["this_session"]
            summaries.append({"layer": layer, "folder": str(Path(args.out) / layer), "neurons": len(result.neurons),
                              "batches": result.report["batches"], "computed_batches": session["batches"],
                              "recomputed_batches": result.report["recomputed_batches"],
                              "seconds": session["seconds"],
                              "objective_steps_per_second": session["objective_steps_per_second"],
                              "mean_activation": round(float(np.mean(result.activation)), 4),
                              "zero_activation": int(np.sum(result.activation == 0)),
                              "steps": options.steps, "frames": options.frames, "batch_size": batch_size})
    if args.json:
        print(json.dumps(summaries, indent=2))
        return 0
    print(f"{args.out}: {options.steps} steps, T = {options.frames} frames, {batch_size} neurons per batch")
    print(f"  {'layer':<12}{'neurons':>8}{'batches':>9}{'computed':>10}{'seconds':>10}{'obj-steps/s':>13}"
          f"{'mean act.':>11}{'at zero':>9}")
    for s in summaries:
        rate = s["objective_steps_per_second"]
        print(f"  {s['layer']:<12}{s['neurons']:>8}{s['batches']:>9}{s['computed_batches']:>10}{s['seconds']:>10.1f}"
              f"{rate if rate is not None else '-':>13}{s['mean_activation']:>11.3f}{s['zero_activation']:>9}")
    for s in summaries:
        for problem in s["recomputed_batches"]:
            print(f"recomputed: {problem}", file=sys.stderr)
    return 0


def _save_figure(fig, path) -> None:
    """Write a figure atomically and say where."""
    import matplotlib.pyplot as plt

    from ...infra.atomic import atomic_write

    suffix = Path(path).suffix.lstrip(".") or "png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=suffix, dpi=100, bbox_inches="tight"))
    plt.close(fig)
    print(f"figure: {path}")


def cmd_search(args) -> int:
    from ...interpret.dataset_search import (
        get_bottom_examples,
        get_top_examples,
        search_dataset,
    )
    from ...interpret.search_options import SearchOptions
    from ..experiments import load_experiment, run_search_dataset_experiment, search_options

    model = load_model_of(args)
    with cluster_of(args) as (scheduler, threads):
        if args.objective:
            if not (args.out and args.dataset):
                raise ParameterError("--objective needs --out and --dataset")
            options = SearchOptions.from_args(args).replace(worker_threads=threads)
            result = search_dataset(model, args.dataset, _objectives_from_args(args.objective), args.out, options,
                                    scheduler=scheduler, overwrite=args.overwrite)
        else:
            base = search_options(load_experiment("run_search_dataset_experiment"))
            options = SearchOptions.from_args(args, base).replace(worker_threads=threads)
            result = run_search_dataset_experiment(model, args.dataset, args.out, scheduler=scheduler, options=options,
                                                   overwrite=args.overwrite)
    top, bottom = get_top_examples(args.top, result.out), get_bottom_examples(args.top, result.out)
    if args.json:
        print(json.dumps({"out": result.out, "report": result.report,
                          "top": {k: [list(e) for e in v] for k, v in top.items()},
                          "bottom": {k: [list(e) for e in v] for k, v in bottom.items()}}, indent=2))
    else:
        _print_examples(result.out, top, bottom)
    if args.plot:
        _plot_examples(top, args.plot, model)
    for reason in result.skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    if result.report.get("scored", 0) == 0:
        print(f"error: {result.out}: no utterance could be scored ({len(result.skipped)} skipped)", file=sys.stderr)
        return 2
    return 0


def _print_examples(out, top: dict, bottom: dict) -> None:
    """A table per objective (its layer and neuron ids): the top and bottom utterances."""
    from ...infra.atomic import load_json

    neurons = {o["name"]: f"{o['layer']} neurons {', '.join(map(str, o['neurons']))}"
               for o in load_json(Path(out) / "index.json")["objectives"]}
    print(f"{out}")
    for name in top:
        print(f"  {neurons.get(name, name)}")
        for label, examples in (("top", top[name]), ("bottom", bottom[name])):
            for rank, example in enumerate(examples, 1):
                print(f"    {label} {rank}  {example.activation:>9.3f}  {example.path}")


def _plot_examples(top: dict, path, model) -> None:
    from ...speech.mfcc import audio_file_to_mfccs
    from ..plots import plot_grid

    names = list(top)
    rows = max(len(v) for v in top.values())
    cells = [[(audio_file_to_mfccs(top[n][i].path, model.upper_frequency_limit),
               f"{Path(top[n][i].path).name}\nactivation {top[n][i].activation:.3f}") if i < len(top[n]) else None
              for n in names] for i in range(rows)]
    _save_figure(plot_grid(cells, names, title="Top examples"), path)


def cmd_mask(args) -> int:
    from ...infra.errors import AudioError
    from ...infra.resources import example_audio
    from ...infra.runfolder import run_name
    from ...interpret.masks.mute import mute_unimportant_audio
    from ...interpret.masks.options import MaskOptions
    from ..experiments import DEFAULT_EXPERIMENT, load_mask_experiment, run_mask_experiment

    model = load_model_of(args)
    experiment = load_mask_experiment(args.experiment or DEFAULT_EXPERIMENT)
    options = MaskOptions.from_args(args, experiment.options)
    out = Path(args.out) if args.out else experiment.out
    paths = list(args.audio or experiment.audio or example_audio())
    runs, skipped = [], 0
    for path in paths:  # a bad file is reported and skipped; the others still run
        try:
            if args.word is not None or args.frames:
                runs.append((path, _mask_part(model, path, args, options, out)))
            else:
                results = run_mask_experiment([path], model, out, experiment, options, overwrite=args.overwrite,
                                              progress=not args.no_progress)
                runs.append((path, results[run_name(path)]))
        except AudioError as err:
            print(f"skipped: {err}", file=sys.stderr)
            skipped += 1
    if skipped:
        print(f"{skipped} of {len(paths)} file(s) skipped", file=sys.stderr)
    if not runs:
        return 2  # nothing usable was given
    for i, (path, result) in enumerate(runs):
        if args.json:
            print(json.dumps({"run": str(result.run_dir), **result.summary()}, default=str))
        else:
            minimal = "yes" if result.one_minimal else "no"
            checked = {True: ", checked", False: ", check failed", None: ""}[result.one_minimal_checked]
            print(f"{result.run_dir}: {int(result.mask.sum())} ones ({result.zero_fraction:.3f} zeros), "
                  f"frame agreement {result.frame_agreement:.3f}, 1-minimal {minimal}{checked}, "
                  f"{result.seconds:.1f} s\n  greedy transcription of X and of M * X: {result.text_original!r}, "
                  f"{result.text_masked!r}")
        if args.plot:
            from ...speech.mfcc import audio_file_to_mfccs
            from ..plots import plot_mfccs

            target = Path(args.plot) if len(runs) == 1 else Path(args.plot).with_stem(f"{Path(args.plot).stem}-{i}")
            x = audio_file_to_mfccs(path, model.upper_frequency_limit)
            _save_figure(plot_mfccs(x, f"{Path(path).name}: MFCCs the mask keeps (black: removed)", mask=result.mask),
                         target)
        if args.mute:
            muted = mute_unimportant_audio(path, result.run_dir, experiment.mute_thresholds, model=model)
            print(json.dumps({"muted": [str(p) for p in muted.paths], "muted_fractions": muted.muted_fractions,
                              "transcriptions": muted.transcriptions,
                              "original_transcription": muted.original_transcription}))
    return 0 if all(result.frame_agreement == 1.0 for _, result in runs) else 1


def _mask_part(model, path, args, options, out: Path):
    """The mask of ``path`` that keeps only ``--frames START:END`` or ``--word N[:M]``."""
    from ...infra.runfolder import run_name
    from ...interpret.masks.importance import importance_mask
    from ...interpret.masks.problem import word_frames
    from ...speech.inference import transcribe_detailed
    from ...speech.mfcc import audio_file_to_mfccs

    x = audio_file_to_mfccs(path, model.upper_frequency_limit)
    if args.frames:
        start, end = _span("--frames", args.frames, allow_single=False)
        if end > len(x):
            raise ParameterError(f"--frames {args.frames}: {path} has {len(x)} frames")
        frames, suffix = (start, end), f"frames-{start}-{end}"
    else:
        first, last = _span("--word", args.word, allow_single=True)
        frames = word_frames(transcribe_detailed(x, model, beam_width=1), first, last, len(x))
        suffix = f"word-{args.word.replace(':', '-')}"
    return importance_mask(model, x, options, preserve_frames=frames, run_dir=out / f"{run_name(path)}-{suffix}",
                           overwrite=args.overwrite, progress=not args.no_progress)


def cmd_mask_dataset(args) -> int:
    from ...interpret.masks.batch import mask_dataset
    from ...interpret.masks.options import MaskOptions
    from ..experiments import DEFAULT_EXPERIMENT, load_mask_experiment

    options = MaskOptions.from_args(args, load_mask_experiment(args.experiment or DEFAULT_EXPERIMENT).options)
    model = load_model_of(args)
    with cluster_of(args) as (scheduler, threads):
        result = mask_dataset(args.dataset, model, args.out, options, max_utterances=args.max_utterances,
                              scheduler=scheduler, shards=args.shards, worker_threads=threads,
                              progress=not args.no_progress, overwrite=args.overwrite)
    report = {k: v for k, v in result.report.items() if k != "results"}
    print(json.dumps({"out": result.out, **report}, indent=2))
    for reason in result.skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    for reason in result.report["failed"]:
        print(f"failed: {reason}", file=sys.stderr)
    if result.report["masked"] == 0:
        print(f"error: {result.out}: no utterance could be masked ({len(result.skipped)} skipped)", file=sys.stderr)
        return 2
    return 0 if result.report["all_frames_agree"] and not result.report["failed"] else 1


def cmd_mute(args) -> int:
    from ...interpret.masks.mute import mute_unimportant_audio

    muted = mute_unimportant_audio(args.audio, args.mask, tuple(args.thresholds), args.out, load_model_of(args),
                                   beam_width=args.beam_width)
    print(json.dumps({"audio": str(args.audio), "thresholds": list(muted.thresholds),
                      "muted": [str(p) for p in muted.paths], "muted_fractions": muted.muted_fractions,
                      "transcriptions": muted.transcriptions, "original_transcription": muted.original_transcription,
                      "figure": str(muted.figure_path)}, indent=2))
    return 0


def _add_experiments(sub) -> None:
    p = with_model(add_command(sub, "experiments", "run (or resume) all of the study's experiments into runs/", """
experiments
DAF_QUICK=1 DAF_RUNS=/tmp/quick python -m deepspeech_audio_features experiments   (small and fast)"""))
    p.set_defaults(func=cmd_experiments)


def _add_visualize(sub) -> None:
    from ...interpret.featurevis.options import VisualizationOptions

    p = with_model(add_command(sub, "visualize", "feature visualization: learn inputs that excite neurons (resumable)", """
visualize
visualize --experiment run_train_inputs_experiment --steps 300
visualize --objective layer_3:4,17:1.0 --objective layer_6:9 --out runs/my-vis --jitter 3"""))
    p.add_argument("--experiment", action="append",
                   help="packaged experiment name or JSON path (repeatable; default: the study's two)")
    p.add_argument("--objective", action="append",
                   help="ad-hoc objective LAYER:N1,N2[:LAMBDA]; layers layer_1, layer_2, layer_3, rnn_output, "
                        "layer_5, layer_6; neurons from 0 (repeatable; needs --out)")
    p.add_argument("--out", help="run folder (default: runs/<experiment name>); re-running resumes")
    VisualizationOptions.add_arguments(p)
    p.add_argument("--jitter", type=int, help="max random time shift in frames, a TimeJitter transform (default: 0, none)")
    p.add_argument("--param", choices=["direct", "scaled"],
                   help="parameterization: X itself, or scaled by the data's statistics (default: direct)")
    p.add_argument("--stats-dataset", help="CSV or folder for MFCC statistics (ad-hoc objectives)")
    _add_output_flags(p, "the final learned inputs")
    p.add_argument("--overwrite", action="store_true", help="clear a run folder written with other settings")
    p.set_defaults(func=cmd_visualize)


def _add_visualize_neurons(sub) -> None:
    from ...interpret.featurevis.options import ATLAS_BATCH_SIZE, ATLAS_OPTIONS, VisualizationOptions

    p = with_model(add_command(sub, "visualize-neurons", "feature visualization of every neuron of a layer, one input "
                                                         "per neuron (the atlas's; resumable, optionally on Dask)", """
visualize-neurons layer_3 --out runs/atlas
visualize-neurons all --out runs/atlas --json
visualize-neurons rnn_output --neurons 0:64 --steps 200 --out runs/atlas-small
visualize-neurons layer_5 --checkpoint /shared/deepspeech-0.9.3-checkpoint --out /shared/atlas --scheduler tcp://HOST:8786"""))
    p.add_argument("layers", nargs="+", help="layer_1, layer_2, layer_3, rnn_output, layer_5, layer_6, or all")
    p.add_argument("--out", default="runs/atlas", help="atlas folder; each layer's run is OUT/LAYER (default: runs/atlas)")
    p.add_argument("--neurons", help="only these neurons: 3,17,40 or 0:64 (end excluded) (default: all of each layer)")
    p.add_argument("--batch-size", type=int, help=f"neurons per batched optimization (default: {ATLAS_BATCH_SIZE})")
    VisualizationOptions.add_arguments(p, exclude=("snapshot_every", "clamp"))
    p.add_argument("--overwrite", action="store_true", help="clear a layer folder written with other settings")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="machine-readable JSON instead of the summary")
    with_cluster(p)
    p.description = (f"{p.description}. Defaults for the atlas: {ATLAS_OPTIONS.steps} steps, T = {ATLAS_OPTIONS.frames} "
                     f"frames, batches of {ATLAS_BATCH_SIZE} (see benchmarks/atlas.py).")
    p.set_defaults(func=cmd_visualize_neurons)


def _add_search(sub) -> None:
    from ...interpret.search_options import SearchOptions

    p = with_model(add_command(sub, "search", "dataset examples: the utterances that most and least activate neurons "
                                              "(resumable)", """
search
search --dataset data/corpus/train.csv --top 8
search --dataset /data/librispeech/train.csv --out runs/ls-search --objective layer_5:12,40 --workers 8"""))
    p.add_argument("--dataset", help="DeepSpeech CSV or audio folder (default: the experiment's)")
    p.add_argument("--objective", action="append",
                   help="ad-hoc objective LAYER:N1,N2 (neurons from 0; repeatable; needs --out and --dataset)")
    p.add_argument("--out", help="run folder (default: runs/run_search_dataset_experiment)")
    SearchOptions.add_arguments(p, exclude=("shards", "worker_threads"))  # --shards: with_cluster
    p.add_argument("--top", type=int, default=4, help="examples to print per objective (default: 4)")
    _add_output_flags(p, "the top examples' MFCCs")
    p.add_argument("--overwrite", action="store_true", help="clear a run folder written with other settings")
    with_cluster(p)
    p.set_defaults(func=cmd_search)


def _add_mask(sub) -> None:
    from ...interpret.masks.options import MaskOptions

    p = with_model(add_command(sub, "mask", "importance masks: a sparse, 1-minimal binary MFCC mask that keeps every frame's "
                                            "class (resumable)", """
mask
mask clip.wav --variant time --steps 200
mask clip.wav --word 1 --mute            (word 1 is the second word: words count from 0)
mask clip.wav --frames 20:60"""))
    p.add_argument("audio", nargs="*", type=Path, help="audio files (default: the experiment's, else the examples)")
    p.add_argument("--experiment", help="experiment name or JSON for the mask options (default: the packaged mask)")
    p.add_argument("--out", help="folder of run folders (default: runs/run_mask_experiment)")
    p.add_argument("--word", help="explain word N (or words N:M) of the greedy transcription only; counts from 0")
    p.add_argument("--frames", help="explain frames START:END only (20 ms frames, END excluded)")
    MaskOptions.add_arguments(p)  # every option; unset flags keep the experiment's values
    p.add_argument("--overwrite", action="store_true", help="discard run folders written with another config")
    p.add_argument("--mute", action="store_true", help="then mute the unimportant audio (the experiment's thresholds)")
    _add_output_flags(p, "the MFCCs each mask keeps (FILE-<i> for several files)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_mask, default_threads="small-model")  # 1 TensorFlow thread for small models (infra.threads)


def _add_mask_dataset(sub) -> None:
    from ...interpret.masks.options import MaskOptions

    p = with_model(add_command(sub, "mask-dataset", "importance masks for every utterance of a dataset (resumable, "
                                                    "optionally on a Dask cluster)", """
mask-dataset data/corpus/dev.csv --max-utterances 20
mask-dataset /data/librispeech/dev-clean.csv --out /shared/runs/masks --scheduler tcp://HOST:8786"""))
    p.add_argument("dataset", help="DeepSpeech CSV or audio folder")
    p.add_argument("--out", default="runs/mask_dataset", help="run folder (default: runs/mask_dataset)")
    p.add_argument("--experiment", help="experiment name or JSON for the mask options (default: the packaged mask)")
    p.add_argument("--max-utterances", type=int, help="only the first N utterances (default: all)")
    MaskOptions.add_arguments(p)  # every option; unset flags keep the experiment's values
    p.add_argument("--overwrite", action="store_true", help="clear a run folder written with other settings")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    with_cluster(p)
    p.set_defaults(func=cmd_mask_dataset, default_threads="small-model")  # in-process runs; workers: --workers


def _add_mute(sub) -> None:
    p = with_model(add_command(sub, "mute", "mute the time windows whose mask mean is under thresholds; transcribe "
                                            "again", """
mute clip.wav runs/run_mask_experiment/clip.wav --thresholds 0.1 0.2"""))
    p.add_argument("audio", type=Path, help="the audio file the mask was made for")
    p.add_argument("mask", type=Path, help="mask .npy or a mask run folder (its final mask)")
    p.add_argument("--thresholds", type=float, nargs="+", default=[0.1, 0.2, 0.3],
                   help="mute frames whose mask mean is below each (default: 0.1 0.2 0.3)")
    p.add_argument("--out", help="folder for the muted WAVs and the figure (default: beside the mask)")
    p.add_argument("--beam-width", type=int, default=1, help="decoder beam width; 1 = greedy (default: 1)")
    p.set_defaults(func=cmd_mute)


def _add_output_flags(p, what: str) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable JSON instead of the summary")
    p.add_argument("--plot", metavar="FILE", help=f"also write a figure of {what} (.png, .pdf or .svg)")


def register(sub) -> None:
    """Add this module's commands to the sub-command parsers ``sub``."""
    _add_experiments(sub)
    _add_visualize(sub)
    _add_visualize_neurons(sub)
    _add_search(sub)
    _add_mask(sub)
    _add_mask_dataset(sub)
    _add_mute(sub)
