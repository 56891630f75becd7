"""The study's experiments: configurations in ``assets/experiments/*.json`` (one loader
for all of them) and the functions that run each one into a run folder."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..infra.atomic import load_json
from ..infra.errors import FileFormatError, ParameterError
from ..infra.resources import asset_path, example_audio
from ..infra.runfolder import run_name
from ..interpret.dataset_search import SearchOptions, SearchResult, search_dataset
from ..interpret.featurevis import (
    DirectParam,
    MfccStats,
    Objective,
    ScaledParam,
    TimeJitter,
    VisualizationOptions,
    VisualizationResult,
    load_dataset_mfccs,
    maximize_activation,
    mfcc_stats,
    select_neurons,
)
from ..interpret.masks.importance import DEFAULT_RUN_DIR, MaskResult, importance_mask
from ..speech.mfcc import audio_file_to_mfccs
from ..speech.model import LAYERS, DeepSpeech


def load_experiment(name_or_path: str | os.PathLike) -> dict:
    """An experiment configuration: a JSON path, or the name of one that ships with the
    package (``assets/experiments/<name>.json``).

    Raises:
        ParameterError: no such file or packaged experiment.
        FileFormatError: the file is not a JSON object.
    """
    path = Path(name_or_path)
    if not path.exists():
        path = asset_path("experiments") / f"{name_or_path}.json"
    if not path.exists():
        names = ", ".join(sorted(p.stem for p in asset_path("experiments").glob("*.json")))
        raise ParameterError(f"{name_or_path}: no such experiment (a JSON file, or one of: {names})")
    config = load_json(path)
    if not isinstance(config, dict):
        raise FileFormatError(f"{path}: an experiment must be a JSON object")
    return config


def experiment_objectives(model: DeepSpeech, config: dict, progress: bool = True
                          ) -> tuple[list[Objective], MfccStats | None, dict]:
    """Objectives of an experiment config, choosing neurons by its rule when needed.

    ``config["neurons"]`` is either ``{layer: [neurons]}`` or a rule
    ``{"rule": "most_variable", "count": 3, "dataset": CSV, "max_utterances": 256,
    "seed": 0}`` (see :func:`select_neurons`). Also returns the MFCC statistics of that
    dataset sample (for clamping and scaling) and a record of the choice for config.json.
    """
    layers = config.get("layers", list(LAYERS))
    spec = config["neurons"]
    stats, record = None, {}
    needs_data = isinstance(spec, dict) and "rule" in spec
    dataset = (spec.get("dataset") if needs_data else None) or config.get("stats_dataset")
    if dataset:
        limit = (spec if needs_data else config).get("max_utterances", 256)
        data, paths = load_dataset_mfccs(dataset, limit, (spec if needs_data else config).get("seed", 0),
                                         model.upper_frequency_limit)
        stats = mfcc_stats(data)
        record["data"] = {"dataset": str(dataset), "utterances": len(data)}
    if needs_data:
        if spec["rule"] != "most_variable":
            raise ParameterError(f"neurons: unknown neuron rule {spec['rule']!r}")
        chosen = select_neurons(model, data, layers, spec.get("count", 3))
        record["neuron_rule"] = dict(spec)
    else:
        chosen = {layer: list(spec[layer]) for layer in layers}
    record["neurons"] = chosen
    objectives = [Objective(layer, tuple(chosen[layer]), lam=float(config.get("lam", 0.0)),
                            negative=bool(config.get("negative", False)),
                            n_inputs=int(config.get("n_inputs", 1)), diversity=float(config.get("diversity", 0.0)))
                  for layer in layers]
    return objectives, stats, record


#: Keys of a visualization experiment that are not :class:`VisualizationOptions` fields.
VISUALIZATION_KEYS = ("name", "description", "checkpoint", "layers", "neurons", "lam", "negative", "n_inputs",
                      "diversity", "stats_dataset", "max_utterances", "param", "jitter")


def visualization_options(config: dict) -> VisualizationOptions:
    """The :class:`VisualizationOptions` of an experiment config (unknown keys are errors)."""
    return VisualizationOptions.from_dict(config, source=str(config.get("name", "experiment")),
                                          ignore=VISUALIZATION_KEYS)


def visualization_pieces(config: dict, stats: MfccStats | None):
    """The config's ``"param"`` and ``"jitter"`` as the objects :func:`maximize_activation`
    takes: ``(parameterization factory, transform or None)``. The one place they are mapped.

    ``"param"``: ``"direct"`` (default) -> :class:`DirectParam`, ``"scaled"`` ->
    ``ScaledParam.spec(stats)``; ``"jitter"``: n > 0 -> ``TimeJitter(n)``, 0 -> None.
    """
    kind = config.get("param", "direct")
    if kind == "direct":
        param = DirectParam
    elif kind == "scaled":
        if stats is None:
            raise ParameterError("param: 'scaled' needs MFCC statistics (a neuron rule's dataset or stats_dataset)")
        param = ScaledParam.spec(stats)
    else:
        raise ParameterError(f"param: must be direct or scaled; got {kind!r}")
    jitter = config.get("jitter", 0)
    return param, (TimeJitter(jitter) if jitter else None)


def run_visualization_experiment(config: dict | str, model: DeepSpeech | None = None,
                                 out: str | os.PathLike | None = None, progress: bool = True,
                                 options: VisualizationOptions | None = None, **overrides) -> VisualizationResult:
    """Run a feature-visualization experiment config (see ``experiments/*.json``).

    ``overrides`` replace config keys (``steps``, ``frames``, ``learning_rate``,
    ``jitter``, ...; None values are ignored). ``options``, when given, replaces the
    config's options (e.g. built on :func:`visualization_options` from the command
    line), still with the overrides that are options applied. The output folder
    defaults to ``runs/<config name>``; re-running resumes.
    """
    from ..speech.checkpoints import load_model

    config = dict(load_experiment(config) if isinstance(config, (str, os.PathLike)) else config)
    given = {k: v for k, v in overrides.items() if v is not None}
    config.update(given)
    options = visualization_options(config) if options is None else \
        options.replace(**{k: v for k, v in given.items() if k not in VISUALIZATION_KEYS})
    model = model if model is not None else load_model(config.get("checkpoint"))
    objectives, stats, record = experiment_objectives(model, config, progress)
    param, transform = visualization_pieces(config, stats)
    return maximize_activation(model, objectives, options, param=param, transform=transform, stats=stats,
                               out=out or Path("runs") / config["name"], progress=progress,
                               extra_config={"experiment": config["name"], **record})


def run_train_inputs_experiment(model: DeepSpeech | None = None, out: str | os.PathLike | None = None,
                                **overrides) -> VisualizationResult:
    """The study's experiment: one input per layer, three neurons each, the larger lambda.

    Settings in ``experiments/run_train_inputs_experiment.json``; snapshots in
    ``runs/run_train_inputs_experiment/<layer>/``.
    """
    return run_visualization_experiment("run_train_inputs_experiment", model, out, **overrides)


def run_train_inputs_experiment_more_noise(model: DeepSpeech | None = None, out: str | os.PathLike | None = None,
                                           **overrides) -> VisualizationResult:
    """As :func:`run_train_inputs_experiment` with the smaller lambda (noisier inputs).

    Settings in ``experiments/run_train_inputs_experiment_more_noise.json``.
    """
    return run_visualization_experiment("run_train_inputs_experiment_more_noise", model, out, **overrides)


#: The experiment configuration :func:`run_mask_experiment` reads by default.
DEFAULT_EXPERIMENT = "mask"


_OPTION_KEYS = ("variant", "steps", "learning_rate", "init_logit", "kappa", "lam", "tau", "straight_through",
                "eval_every", "tol", "max_prune_passes", "snapshot_every")


def load_mask_experiment(name_or_path: str | os.PathLike = DEFAULT_EXPERIMENT) -> dict:
    """A mask experiment configuration (see :func:`load_experiment`): ``audio`` paths,
    ``out`` folder, ``mute_thresholds`` and :func:`importance_mask` options."""
    config = load_experiment(name_or_path)
    for key in ("lam", "tau"):
        if key in config:
            config[key] = tuple(config[key])
    return config


def run_mask_experiment(paths: Sequence[str | os.PathLike] | None = None, model: DeepSpeech | None = None,
                        out: str | os.PathLike | None = None, experiment: str | os.PathLike | None = None,
                        **kwargs) -> dict[str, MaskResult]:
    """The study's experiment: an importance mask for each audio file.

    Defaults come from ``experiment`` (default: the packaged ``mask``):
    its ``audio`` files (else the packaged examples), ``out`` folder (else
    ``run_mask_experiment``) and :func:`importance_mask` options; ``kwargs`` override
    them. Writes ``<out>/<run_name(path)>/<i>.npy`` and ``result.json`` per file;
    re-running resumes. Returns ``{run name: MaskResult}``.
    """
    config = load_mask_experiment(experiment if experiment is not None else DEFAULT_EXPERIMENT)
    if model is None:
        from ..speech.checkpoints import load_model
        model = load_model()
    if paths is None:
        paths = config.get("audio") or example_audio()
    paths = list(paths)
    if not paths:
        raise ParameterError("no audio files given")
    out = Path(out if out is not None else config.get("out", DEFAULT_RUN_DIR))
    options = {k: config[k] for k in _OPTION_KEYS if k in config}
    options.update(kwargs)
    results = {}
    for path in paths:
        name = run_name(path)
        x = audio_file_to_mfccs(path, model.upper_frequency_limit)
        results[name] = importance_mask(model, x, run_dir=out / name, **options)
    return results


#: Keys of the search experiment that are not :class:`SearchOptions` fields.
SEARCH_KEYS = ("name", "description", "checkpoint", "dataset", "objectives_from")


def search_options(config: dict) -> SearchOptions:
    """The :class:`SearchOptions` of a search experiment config (unknown keys are errors)."""
    return SearchOptions.from_dict(config, source=str(config.get("name", "experiment")), ignore=SEARCH_KEYS)


def run_search_dataset_experiment(model: DeepSpeech | None = None, dataset: str | os.PathLike | None = None,
                                  out: str | os.PathLike | None = None, progress: bool = True,
                                  scheduler=None, options: SearchOptions | None = None, *,
                                  objectives: Sequence[Objective] | None = None, **overrides) -> SearchResult:
    """The study's dataset search on the synthesized training corpus.

    Settings in ``experiments/run_search_dataset_experiment.json``: the dataset, the
    :class:`SearchOptions` and the visualization experiment whose objectives (layers and
    neurons, chosen by its rule) are searched for, so the top examples of a layer sit
    beside its learned inputs. ``objectives`` replaces those; ``options`` replaces the
    config's options; ``overrides`` replace config keys or options (``batch_size=32``,
    ``shards=8``; None values are ignored); ``scheduler``: as in :func:`search_dataset`.
    """
    from ..speech.checkpoints import load_model

    config = dict(load_experiment("run_search_dataset_experiment"))
    given = {k: v for k, v in overrides.items() if v is not None}
    config.update(given)
    options = search_options(config) if options is None else \
        options.replace(**{k: v for k, v in given.items() if k not in SEARCH_KEYS})
    model = model if model is not None else load_model(config.get("checkpoint"))
    if objectives is None:
        objectives, _, _ = experiment_objectives(model, load_experiment(config["objectives_from"]), progress)
    return search_dataset(model, dataset or config["dataset"], objectives, out or Path("runs") / config["name"],
                          options, progress=progress, scheduler=scheduler)
