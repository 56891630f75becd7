"""The neuron atlas command: dataset pass, feature visualization, probes and the static site."""
from __future__ import annotations

from .common import add_command, add_options, cluster_of, load_model_of, with_cluster, with_model


def _layer_list(values) -> list[str] | None:
    """``--layers a b`` or ``--layers a,b``."""
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def cmd_atlas(args) -> int:
    from ...speech.model import LAYERS
    from ..atlas.build import build_atlas
    from ..atlas.options import AtlasOptions, SiteOptions

    model = load_model_of(args)
    from ...interpret.content_options import DissectionOptions

    dissection = DissectionOptions().replace(**{k: getattr(args, k) for k in ("quantile", "top_k", "window",
                                                                              "histogram_bins")
                                                if getattr(args, k) is not None})
    from ...interpret.featurevis.options import ATLAS_OPTIONS

    visualization = ATLAS_OPTIONS.replace(**{k: getattr(args, k) for k in ("steps", "frames", "learning_rate")
                                                      if getattr(args, k) is not None})
    with cluster_of(args) as (scheduler, _):
        result = build_atlas(model, args.dataset, args.out, _layer_list(args.layers) or LAYERS,
                             AtlasOptions.from_args(args), site_options=SiteOptions.from_args(args),
                             visualization_options=visualization, dissection_options=dissection,
                             probes=args.probes, probe_train=args.probe_train, scheduler=scheduler,
                             overwrite=args.overwrite, progress=not args.no_progress)
    site = result.site
    units = sum(result.widths.values())
    print(f"atlas: {result.index}")
    print(f"  neurons shown: {site.neurons} of {units} " + ", ".join(f"{k} {v}" for k, v in result.neurons.items()))
    print(f"  site: {site.total_bytes / 1e6:.1f} MB, {site.bytes_per_neuron / 1e3:.1f} kB per neuron "
          f"({site.media_bytes_per_neuron / 1e3:.1f} kB of media)")
    if site.neurons < units:
        print(f"  all {units} units at this rate: about {site.bytes_per_neuron * units / 1e6:.0f} MB")
    print("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items()))
    return 0


def _add_atlas(sub) -> None:
    from ..atlas.options import AtlasOptions, SiteOptions

    p = with_cluster(with_model(add_command(
        sub, "atlas", "the neuron atlas: every neuron's learned input, sonification, phone selectivity and top "
                      "and bottom dataset moments, as a static site (open OUT/site/index.html; resumable)", """
atlas --dataset data/corpus/test.csv --out runs/atlas
atlas --dataset data/corpus/test.csv --out runs/atlas-small --neurons-per-layer 24 --max-utterances 300 --probes runs/probes
atlas --dataset data/corpus/test.csv --out runs/atlas-l3 --layers layer_3 rnn_output --probe-train data/corpus/train.csv
atlas --dataset /data/librispeech/dev-aligned.csv --checkpoint deepspeech-0.9.3-checkpoint --out /shared/atlas --scheduler tcp://HOST:8786""")))
    p.add_argument("--dataset", required=True, help="DeepSpeech CSV whose utterances have TextGrids (the dataset pass)")
    p.add_argument("--out", required=True, help="run folder; the site is OUT/site/index.html; re-running resumes")
    p.add_argument("--layers", nargs="+", help="layers (default: all six: layer_1 layer_2 layer_3 rnn_output layer_5 layer_6)")
    p.add_argument("--probes", help="an existing probe run (folder or result.json; e.g. runs/probes) for the index's "
                                    "probe accuracy")
    p.add_argument("--probe-train", help="train the layer probes here on this aligned CSV (scored on --dataset)")
    p.add_argument("--overwrite", action="store_true", help="clear OUT when it holds another atlas")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--steps", type=int, help="feature visualization: Adam updates per neuron (default: 500)")
    p.add_argument("--frames", type=int, help="feature visualization: learned input length in 20 ms frames (default: 100)")
    p.add_argument("--learning-rate", type=float, help="feature visualization: Adam's step size (default: 0.3)")
    p.add_argument("--quantile", type=float, help="dissection: top share of frames that counts as firing (default: 0.005)")
    p.add_argument("--top-k", type=int, help="dissection: top and bottom examples kept per neuron (default: 8)")
    p.add_argument("--window", type=int, help="dissection: frames on each side of an example's peak (default: 25)")
    p.add_argument("--histogram-bins", type=int, help="dissection: bins of each activation histogram (default: 40)")
    add_options(p, AtlasOptions)
    add_options(p, SiteOptions)
    p.set_defaults(func=cmd_atlas)


def register(sub) -> None:
    """Add this module's commands to the sub-command parsers ``sub``."""
    _add_atlas(sub)
