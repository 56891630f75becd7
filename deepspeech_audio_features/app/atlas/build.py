"""Build a neuron atlas end to end: the dataset pass (dissection with time-localized examples
and histograms), feature visualization of the chosen neurons, optionally the layer probes,
then the site (:func:`~.site.render_site`).

Run folder (one atlas per folder; resumed exactly or refused, see
:class:`~...infra.runfolder.RunFolder`)::

    <out>/atlas.json          identity: model, dataset, layers, neurons per layer, options
    <out>/dissection/         dissect_dataset's run (per layer: statistics, <layer>_examples.npz)
    <out>/inputs/<layer>/     visualize_neurons's batches (batch-NNNN.npz)
    <out>/probes/result.json  the probe table, when the probes were run here
    <out>/scale.json          the MFCC colour scale (real-speech statistics of the dataset)
    <out>/site/               the static site: open site/index.html
    <out>/report.json         seconds per stage (over every session of the build, and of the
                              last session), site size, bytes per neuron

Every stage resumes: the dissection from its last saved batch, feature visualization from
its last finished batch, the site from the media already written.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ...infra.atomic import load_json
from ...infra.errors import DAFError, DatasetError, FileFormatError, ParameterError
from ...infra.runfolder import RunFolder
from ...speech.model import LAYERS, DeepSpeech
from .data import LayerPage, NeuronCard, choose_neurons, example_of
from .options import AtlasOptions, SiteOptions
from .site import SiteReport, render_site

__all__ = ["AtlasOptions", "AtlasResult", "build_atlas", "probe_accuracy"]

ATLAS_FORMAT = 1
#: Utterances of the dataset whose MFCC statistics colour the pictures.
SCALE_UTTERANCES = 64


@dataclasses.dataclass
class AtlasResult:
    """:func:`build_atlas`'s result: the site's index, what it holds and what it took.

    Attributes:
        out: the run folder.
        index: ``<out>/site/index.html``.
        site: the render's :class:`~.site.SiteReport` (bytes per neuron, ...).
        seconds: wall seconds per stage of this call (``dissection``, ``visualization``,
            ``probes``, ``site``).
        neurons: neurons shown per layer.
        widths: units per layer.
    """

    out: Path
    index: Path
    site: SiteReport
    seconds: dict[str, float]
    neurons: dict[str, int]
    widths: dict[str, int]


def probe_accuracy(result: dict, layer: str, target: str = "phone") -> float | None:
    """A layer's probe accuracy on held-out data from a probe table (``ProbeResult`` as a
    dict): the ``test`` split if there is one, else the first split other than ``train``."""
    rows = result.get("table", {}).get(target, {}).get(layer)
    if not rows:
        return None
    split = "test" if "test" in rows else next((k for k in rows if k != "train"), None)
    return float(rows[split]) if split else None


def _load_probes(probes: str | os.PathLike) -> dict:
    path = Path(probes)
    path = path / "result.json" if path.is_dir() else path
    if not path.exists():
        raise FileFormatError(f"{probes}: no probe result (expected a probe run folder or its result.json)")
    result = load_json(path)
    if not isinstance(result, dict) or "table" not in result:
        raise FileFormatError(f"{path}: not a probe result (no table)")
    return result


def _run_probes(model: DeepSpeech, run: RunFolder, train, dataset, layers: Sequence[str], progress: bool) -> dict:
    """The phone and character probes (trained on ``train``, scored on the atlas's dataset),
    kept in ``probes/result.json``."""
    from ...interpret.probes import probe_layers

    if run.exists("probes", "result.json"):
        return load_json(run.file("probes", "result.json"))
    result = dataclasses.asdict(probe_layers(model, train, {"test": dataset}, [*layers]))
    from ...infra.atomic import save_json

    save_json(run.file("probes", "result.json"), result)
    return result


def _scale(run: RunFolder, dataset, model: DeepSpeech):
    from ..plots import MfccScale

    if not run.exists("scale.json"):
        from ...interpret.featurevis import load_dataset_mfccs, mfcc_stats

        data, _ = load_dataset_mfccs(dataset, SCALE_UTTERANCES, 0, model.upper_frequency_limit)
        run.save_json("scale.json", mfcc_stats(data).to_json())
    return MfccScale.from_stats(run.load_json("scale.json"), source="real speech")


def _examples(examples, neuron: int, which: str, shown: int) -> list:
    """The first ``shown`` examples of one side (fewer when the dataset has fewer frames)."""
    available = int((getattr(examples, f"{which}_utterance")[neuron] >= 0).sum())
    return [example_of(examples.example(neuron, which, r)) for r in range(min(shown, available))]


def _layer_page(layer: str, dissection, examples, inputs, chosen: np.ndarray, accuracy: float | None,
                iou_threshold: float, shown: int) -> LayerPage:
    """Cards of the ``chosen`` neurons from the dissection, its examples and the learned inputs."""
    position = {int(n): i for i, n in enumerate(inputs.neurons)} if inputs is not None else {}
    cards = []
    for j in chosen:
        j = int(j)
        learned, activation = None, None
        if j in position:
            learned = np.asarray(inputs.inputs[position[j]])
            activation = float(inputs.activation[position[j]])
        top, bottom = (_examples(examples, j, "top", shown), _examples(examples, j, "bottom", shown)) \
            if examples is not None else ([], [])
        cards.append(NeuronCard(layer, j, dissection.mean[j], dissection.iou[j], float(dissection.selectivity[j]),
                                float(dissection.threshold[j]), learned, activation,
                                examples.histogram_counts[j] if examples is not None else None,
                                examples.histogram_edges if examples is not None else None, top, bottom))
    return LayerPage(layer, len(dissection.selectivity), cards, dissection.selectivity,
                     int((dissection.best_iou > iou_threshold).sum()), accuracy)


def build_atlas(model: DeepSpeech, dataset: str | os.PathLike, out: str | os.PathLike, layers: Sequence[str] = LAYERS,
                options: AtlasOptions | None = None, *, site_options: SiteOptions | None = None,
                dissection_options=None, visualization_options=None, probes: str | os.PathLike | None = None,
                probe_train: str | os.PathLike | None = None, scheduler=None, overwrite: bool = False,
                progress: bool = True, **overrides) -> AtlasResult:
    """Build (or resume) the neuron atlas of ``layers`` of ``model`` on an aligned dataset.

    Args:
        dataset: a DeepSpeech CSV whose utterances have TextGrids (the dataset pass and examples).
        out: the run folder (see the module docstring); the site is ``<out>/site/``.
        layers: among :data:`~...speech.model.LAYERS` (default: all six).
        options: :class:`AtlasOptions`; ``overrides`` replace single fields.
        site_options: :class:`~.site.SiteOptions` of the pages and media.
        dissection_options: ``DissectionOptions`` of the dataset pass (its ``max_utterances``
            is :attr:`AtlasOptions.max_utterances`).
        visualization_options: the feature-visualization options of ``visualize_neurons``
            (default: its atlas settings, ``ATLAS_OPTIONS``: 500 steps, 100 frames).
        probes: an existing probe run (folder or ``result.json``) whose phone accuracy the
            index shows; or ``probe_train``: an aligned CSV to train the probes on here
            (scored on ``dataset``). Neither: no probe column.
        scheduler: a Dask scheduler for the feature visualization (None: in-process).
        overwrite: clear ``out`` when it holds another atlas instead of refusing it.
    Raises:
        DatasetError: ``dataset`` does not exist; ParameterError: a bad layer or option;
        RunConflictError: ``out`` holds another model's (or settings') atlas.
    """
    options = AtlasOptions.resolve(options, overrides)
    site_options = SiteOptions.resolve(site_options, {})
    layers = list(layers)
    if not layers or any(layer not in LAYERS for layer in layers) or len(set(layers)) != len(layers):
        raise ParameterError(f"layers: expected distinct layers among {', '.join(LAYERS)}; got {layers}")
    if not Path(dataset).exists():
        raise DatasetError(f"{dataset}: no such dataset (a DeepSpeech CSV with TextGrids)")
    if probes is not None and probe_train is not None:
        raise ParameterError("probes: give an existing probe run or a training set for new probes, not both")
    if probe_train is not None and not Path(probe_train).exists():
        raise DatasetError(f"{probe_train}: no such probe training set (a DeepSpeech CSV with TextGrids)")
    probe_table = _load_probes(probes) if probes is not None else None  # a bad probe file fails before the long passes
    from ...interpret.content_options import DissectionOptions
    from ...interpret.featurevis.options import ATLAS_BATCH_SIZE, ATLAS_OPTIONS, VisualizationOptions

    visualization_options = VisualizationOptions.resolve(visualization_options or ATLAS_OPTIONS, {})
    dissection_options = (dissection_options or DissectionOptions()).replace(max_utterances=options.max_utterances,
                                                                             frame_examples=True)
    # how the work is spread does not change the result: not part of the atlas's identity
    dissection_identity = {k: v for k, v in dissection_options.to_dict().items()
                           if k not in ("checkpoint_every", "shards", "worker_threads")}
    identity = {"format": ATLAS_FORMAT, "dataset": str(dataset), "layers": layers, "options": options.to_dict(),
                "site": site_options.to_dict(), "dissection": dissection_identity,
                "visualization": visualization_options.to_dict(),
                "probes": str(probes) if probes is not None else None,
                "probe_train": str(probe_train) if probe_train is not None else None,
                "model": {"fingerprint": model.fingerprint(), "n_hidden": model.n_hidden,
                          "name": model.metadata.get("name")}}
    run = RunFolder(out, identity, record="atlas.json", overwrite=overwrite, kind="neuron atlas").open()
    seconds: dict[str, float] = {}
    from ...interpret.dissection import dissect_dataset
    from ...interpret.featurevis import visualize_neurons
    from ...interpret.frame_examples import load_frame_examples

    start = time.perf_counter()
    dissection = dissect_dataset(model, dataset, run.file("dissection"), layers, dissection_options, progress=progress,
                                 scheduler=scheduler)
    seconds["dissection"] = time.perf_counter() - start

    start = time.perf_counter()
    chosen, inputs = {}, {}
    for layer in layers:
        chosen[layer] = choose_neurons(dissection.layers[layer].selectivity, options.neurons_per_layer)
        inputs[layer] = visualize_neurons(model, layer, run.file("inputs"), [int(n) for n in chosen[layer]],
                                          visualization_options, batch_size=options.visualization_batch_size or ATLAS_BATCH_SIZE,
                                          scheduler=scheduler, progress=progress)
    seconds["visualization"] = time.perf_counter() - start

    start = time.perf_counter()
    if probe_train is not None:
        probe_table = _run_probes(model, run, probe_train, dataset, layers, progress)
    seconds["probes"] = time.perf_counter() - start

    start = time.perf_counter()
    pages = [_layer_page(layer, dissection.layers[layer], load_frame_examples(run.file("dissection"), layer),
                         inputs[layer], chosen[layer], probe_accuracy(probe_table, layer) if probe_table else None,
                         dissection_options.iou_threshold, site_options.examples_shown) for layer in layers]
    site = render_site(pages, run.file("site"), _scale(run, dataset, model), title="Neuron atlas",
                       model_name=str(model.metadata.get("name") or f"n_hidden {model.n_hidden}"),
                       dataset=str(dataset), upper_frequency_limit=model.upper_frequency_limit, options=site_options,
                       progress=progress)
    seconds["site"] = time.perf_counter() - start
    neurons = {layer: len(chosen[layer]) for layer in layers}
    # a resumed build's own seconds are only what it redid: the report adds them to the earlier sessions'
    earlier_seconds, earlier_sessions = _earlier_sessions(run)
    total = {k: v + earlier_seconds.get(k, 0.0) for k, v in seconds.items()}
    run.save_json("report.json", {"seconds": {k: round(v, 2) for k, v in total.items()},
                                  "seconds_this_session": {k: round(v, 2) for k, v in seconds.items()},
                                  "sessions": earlier_sessions + 1, "neurons": neurons,
                                  "site_bytes": site.total_bytes, "bytes_per_neuron": round(site.bytes_per_neuron),
                                  "media_bytes_per_neuron": round(site.media_bytes_per_neuron),
                                  "media_written": site.media_written,
                                  "dissection_skipped": len(dissection.report["skipped"])})
    return AtlasResult(run.path, site.index, site, seconds, neurons, {p.layer: p.width for p in pages})


def _earlier_sessions(run: RunFolder) -> tuple[dict[str, float], int]:
    """``(seconds per stage, sessions)`` of the build's earlier sessions; ``({}, 0)`` when there is
    no report or it is unreadable (the report is a record, not an input: it never stops a build)."""
    if not run.exists("report.json"):
        return {}, 0
    try:
        report = run.load_json("report.json")
    except DAFError:
        return {}, 0
    if not isinstance(report, dict):
        return {}, 0
    seconds = report.get("seconds") if isinstance(report.get("seconds"), dict) else {}
    seconds = {k: float(v) for k, v in seconds.items() if isinstance(v, (int, float)) and math.isfinite(v) and v >= 0}
    sessions = report.get("sessions", 1)  # a report from before sessions were counted: one session
    return seconds, sessions if isinstance(sessions, int) and sessions >= 0 else 1
