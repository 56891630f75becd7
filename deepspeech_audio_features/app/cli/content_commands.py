"""Commands that link neurons and layers to what is being said: dissection and layer probes."""
from __future__ import annotations

import json

from .common import add_command, load_model_of, with_model


def _layers(text: str | None, default):
    return default if not text else [name.strip() for name in text.split(",") if name.strip()]


def cmd_dissect(args) -> int:
    from ...interpret.dissection import DissectionOptions, dissect_dataset
    from ...speech.model import LAYERS

    model = load_model_of(args)
    options = DissectionOptions.from_args(args)
    result = dissect_dataset(model, args.dataset, args.out, _layers(args.layers, LAYERS[:5]), options)
    top = {}
    for layer, d in result.layers.items():
        order = d.best_iou.argsort()[::-1][:args.top]
        from ...speech.phones import PHONE_CLASSES

        top[layer] = [{"neuron": int(j), "phone": PHONE_CLASSES[d.best_class[j]], "iou": round(float(d.best_iou[j]), 4),
                       "selectivity": round(float(d.selectivity[j]), 3),
                       "preferred": [PHONE_CLASSES[c] for c in d.preferred[j]]} for j in order]
    print(json.dumps({"out": result.out, "summary": result.summary, "report": result.report["this_session"],
                      "skipped": len(result.report["skipped"]), "top_neurons": top}, indent=2))
    return 0


def _add_dissect(sub) -> None:
    from ...interpret.dissection import DissectionOptions

    p = with_model(add_command(sub, "dissect", "network dissection in time: each neuron's mean activation per phone, "
                                               "selectivity and IoU with the phones' frames (resumable)", """
dissect --dataset data/corpus/test.csv --out runs/dissect-test --max-utterances 300
dissect --dataset data/corpus/dev.csv --out runs/dissect-dev --layers layer_3,rnn_output --quantile 0.01"""))
    p.add_argument("--dataset", required=True, help="DeepSpeech CSV whose utterances have TextGrids (a textgrid column "
                                                    "or <wav stem>.TextGrid beside each wav; see the align command)")
    p.add_argument("--out", required=True, help="run folder; re-running resumes")
    p.add_argument("--layers", help="comma-separated layers (default: layer_1,layer_2,layer_3,rnn_output,layer_5)")
    p.add_argument("--top", type=int, default=5, help="neurons to print per layer, best IoU first (default: 5)")
    DissectionOptions.add_arguments(p)
    p.set_defaults(func=cmd_dissect)


def register(sub) -> None:
    """Add this module's commands to the sub-command parsers ``sub``."""
    _add_dissect(sub)
