"""Commands that link neurons and layers to what is being said: dissection and layer probes."""
from __future__ import annotations

import json

from .common import add_command, load_model_of, with_model


def _layers(text: str | None, default):
    return default if not text else [name.strip() for name in text.split(",") if name.strip()]


def cmd_dissect(args) -> int:
    from ...interpret.dissection import DissectionOptions, dissect_dataset
    from ...speech.model import LAYERS
    from ...speech.phones import PHONE_CLASSES
    from .common import cluster_of

    model = load_model_of(args)
    with cluster_of(args) as (scheduler, threads):
        options = DissectionOptions.from_args(args).replace(shards=args.shards, worker_threads=threads)
        result = dissect_dataset(model, args.dataset, args.out, _layers(args.layers, LAYERS[:5]), options,
                                 scheduler=scheduler, overwrite=args.overwrite, progress=not args.no_progress)
    top = {}
    for layer, d in result.layers.items():
        order = d.best_iou.argsort()[::-1][:args.top]
        top[layer] = [{"neuron": int(j), "phone": PHONE_CLASSES[d.best_class[j]], "iou": round(float(d.best_iou[j]), 4),
                       "selectivity": round(float(d.selectivity[j]), 3),
                       "preferred": [PHONE_CLASSES[c] for c in d.preferred[j]]} for j in order]
    print(json.dumps({"out": result.out, "summary": result.summary, "report": result.report["this_session"],
                      "unaligned": result.report["unaligned"], "skipped": len(result.report["skipped"]),
                      "top_neurons": top}, indent=2))
    return 0


def _add_dissect(sub) -> None:
    from ...interpret.content_options import DissectionOptions
    from .common import with_cluster

    p = with_model(add_command(sub, "dissect", "network dissection in time: each neuron's mean activation per phone, "
                                               "selectivity and IoU with the phones' frames, and its top/bottom "
                                               "frames and activation histogram (resumable)", """
dissect --dataset data/corpus/test.csv --out runs/dissect-test --max-utterances 300
dissect --dataset data/corpus/dev.csv --out runs/dissect-dev --layers layer_3,rnn_output --quantile 0.01
dissect --dataset data/corpus/test.csv --out runs/dissect-test --top-k 16 --window 50 --workers 2"""))
    p.add_argument("--dataset", required=True, help="DeepSpeech CSV; utterances with TextGrids (a textgrid column "
                                                    "or <wav stem>.TextGrid beside each wav; see the align command) "
                                                    "give the phone statistics, all of them the examples")
    p.add_argument("--out", required=True, help="run folder; re-running resumes")
    p.add_argument("--layers", help="comma-separated layers (default: layer_1,layer_2,layer_3,rnn_output,layer_5)")
    p.add_argument("--top", type=int, default=5, help="neurons to print per layer, best IoU first (default: 5)")
    p.add_argument("--overwrite", action="store_true", help="clear a run folder written with other settings")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    DissectionOptions.add_arguments(p, exclude=("shards", "worker_threads"))  # --shards: with_cluster
    with_cluster(p)
    p.set_defaults(func=cmd_dissect)


def cmd_neuron_examples(args) -> int:
    import numpy as np

    from ...infra.errors import ParameterError
    from ...interpret.frame_examples import load_frame_examples

    examples = load_frame_examples(args.run, args.layer)
    if args.neurons:
        try:
            neurons = [int(n) for n in args.neurons.split(",") if n.strip()]
        except ValueError:
            raise ParameterError(f"--neurons: expected comma-separated integers, got {args.neurons!r}") from None
    else:  # the layer's best phone detectors
        from ...interpret.dissection import load_dissection

        neurons = [int(j) for j in np.argsort(-load_dissection(args.run)[args.layer].best_iou, kind="stable")[:3]]
    sides = ["top", "bottom"] if args.which == "both" else [args.which]
    if args.k is not None and args.k < 1:
        raise ParameterError(f"--k: expected at least 1, got {args.k}")
    rows = [e.summary(args.context) for n in neurons for side in sides for e in examples.examples(n, side)[:args.k]]
    if args.json:
        print(json.dumps({"run": str(args.run), "layer": args.layer, "window": examples.window, "examples": rows},
                         indent=2))
        return 0
    from pathlib import Path

    for n in neurons:
        for side in sides:
            print(f"{args.layer} neuron {n}, {side} frames:")
            print(f"  {'#':>2}  {'file':<28}{'time s':>7}{'activation':>11}  {'word':<22}phones (±{args.context:g} s)")
            for row in (r for r in rows if r["neuron"] == n and r["which"] == side):
                print(f"  {row['rank']:>2}  {Path(row['path']).name:<28}{row['time']:>7.2f}{row['activation']:>11.4f}  "
                      f"{row['words'] or '-':<22}{row['phones'] or '-'}")
    return 0


def _add_neuron_examples(sub) -> None:
    p = add_command(sub, "neuron-examples", "a dissection run's time-localized examples of neurons: file, time, "
                                            "activation, and the words and phones at the peak", """
neuron-examples --run runs/dissect-test --layer layer_2 --neurons 3,17
neuron-examples --run runs/dissect-test --layer rnn_output --which bottom --k 3 --json
neuron-examples --run runs/dissect-test --layer layer_3""")
    p.add_argument("--run", required=True, help="a dissect run folder (with frame examples)")
    p.add_argument("--layer", required=True, help="one of the run's layers")
    p.add_argument("--neurons", help="comma-separated neuron indices (default: the layer's 3 best phone detectors)")
    p.add_argument("--which", choices=("top", "bottom", "both"), default="both", help="which end (default: both)")
    p.add_argument("--k", type=int, help="examples per neuron and end (default: all the run kept)")
    p.add_argument("--context", type=float, default=0.1, help="seconds either side of the peak whose words and phones "
                                                              "are listed (default: 0.1)")
    p.add_argument("--json", action="store_true", help="machine-readable JSON instead of the table")
    p.set_defaults(func=cmd_neuron_examples)


def cmd_probe(args) -> int:
    from ...infra.atomic import save_json
    from ...interpret.probes import INPUTS, ProbeOptions, probe_layers
    from ...speech.model import LAYERS

    model = load_model_of(args)
    evaluation = dict(item.split("=", 1) if "=" in item else (item, item) for item in args.eval)
    result = probe_layers(model, args.train, evaluation, _layers(args.inputs, INPUTS + LAYERS[:5]),
                          ProbeOptions.from_args(args))
    summary = {"table": result.table, "chance": result.chance, "frames": result.frames,
               "seconds": round(result.seconds, 1), "skipped": result.skipped}
    if args.out:
        save_json(args.out, summary)
    for target, rows in result.table.items():
        names = list(next(iter(rows.values())))
        print(f"{target} probe accuracy (chance: " + ", ".join(f"{k} {v:.3f}" for k, v in result.chance[target].items())
              + ")")
        print(f"  {'input':<14}" + "".join(f"{n:>9}" for n in names))
        for name, row in rows.items():
            print(f"  {name:<14}" + "".join(f"{row[n]:>9.3f}" for n in names))
    print(f"frames: {result.frames}; {result.seconds:.1f} s; skipped: {len(result.skipped)}")
    return 0


def _add_probe(sub) -> None:
    from ...interpret.content_options import ProbeOptions

    p = with_model(add_command(sub, "probe", "layer probes: a linear frame-level phone and character classifier per "
                                             "layer and on the MFCC input", """
probe --train data/corpus/train.csv --eval dev=data/corpus/dev.csv --eval test=data/corpus/test.csv
probe --train data/corpus/train.csv --eval data/corpus/test.csv --inputs mfcc_context,layer_2,rnn_output --out probes.json"""))
    p.add_argument("--train", required=True, help="aligned DeepSpeech CSV to train the probes on (training voices)")
    p.add_argument("--eval", action="append", required=True,
                   help="[NAME=]aligned CSV to score on (held-out voices and sentences); repeatable")
    p.add_argument("--inputs", help="comma-separated: mfcc, mfcc_context and layers (default: those and layer_1..layer_5)")
    p.add_argument("--out", help="also write the table as JSON to this file")
    ProbeOptions.add_arguments(p)
    p.set_defaults(func=cmd_probe)


def register(sub) -> None:
    """Add this module's commands to the sub-command parsers ``sub``."""
    _add_dissect(sub)
    _add_neuron_examples(sub)
    _add_probe(sub)
