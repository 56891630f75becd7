"""The study's experiments: configurations in ``assets/experiments/*.json`` (one loader
for all of them) and the functions that run each one into a run folder."""
from __future__ import annotations

import os
from dataclasses import dataclass
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
from ..interpret.masks.mute import DEFAULT_THRESHOLDS
from ..interpret.masks.options import MaskOptions
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
                                 options: VisualizationOptions | None = None, overwrite: bool = False,
                                 **overrides) -> VisualizationResult:
    """Run a feature-visualization experiment config (see ``experiments/*.json``).

    ``overrides`` replace config keys (``steps``, ``frames``, ``learning_rate``,
    ``jitter``, ...; None values are ignored). ``options``, when given, replaces the
    config's options (e.g. built on :func:`visualization_options` from the command
    line), still with the overrides that are options applied. The output folder
    defaults to ``runs/<config name>``; re-running resumes (``overwrite``: a folder holding
    a run with other settings is cleared instead of refused).
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
                               out=out or Path("runs") / config["name"], progress=progress, overwrite=overwrite,
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
#: Keys of a mask experiment's JSON besides its :class:`MaskOptions`.
MASK_EXPERIMENT_KEYS = ("name", "description", "out", "audio", "mute_thresholds")


@dataclass(frozen=True)
class MaskExperiment:
    """A mask experiment (``assets/experiments/mask.json``): what to mask, where, and how.

    Attributes:
        name: the experiment's name.
        options: the :func:`importance_mask` settings.
        out: the folder of run folders, one per audio file.
        audio: the audio files (empty: the packaged examples).
        mute_thresholds: per-frame mask-mean thresholds for muting.
    """
    name: str
    options: MaskOptions
    out: Path = Path(DEFAULT_RUN_DIR)
    audio: tuple[str, ...] = ()
    mute_thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS


def load_mask_experiment(name_or_path: str | os.PathLike = DEFAULT_EXPERIMENT) -> MaskExperiment:
    """A mask experiment (see :func:`load_experiment`): ``audio`` paths, ``out`` folder,
    ``mute_thresholds`` and :class:`MaskOptions`.

    Raises:
        ParameterError: no such experiment, an unknown key (named) or a bad value.
    """
    config = load_experiment(name_or_path)
    source = str(name_or_path) if Path(name_or_path).exists() else f"experiments/{name_or_path}.json"
    options = MaskOptions.from_dict(config, source=source, ignore=MASK_EXPERIMENT_KEYS)
    audio, thresholds = config.get("audio") or [], config.get("mute_thresholds", DEFAULT_THRESHOLDS)
    if not isinstance(audio, list) or not all(isinstance(p, str) for p in audio):
        raise ParameterError(f"{source}: audio: expected a list of paths, got {audio!r}")
    if not isinstance(thresholds, (list, tuple)) or not all(isinstance(t, (int, float)) for t in thresholds):
        raise ParameterError(f"{source}: mute_thresholds: expected a list of numbers, got {thresholds!r}")
    return MaskExperiment(name=str(config.get("name", Path(name_or_path).stem)), options=options,
                          out=Path(config.get("out") or DEFAULT_RUN_DIR), audio=tuple(audio),
                          mute_thresholds=tuple(float(t) for t in thresholds))


def run_mask_experiment(paths: Sequence[str | os.PathLike] | None = None, model: DeepSpeech | None = None,
                        out: str | os.PathLike | None = None,
                        experiment: str | os.PathLike | MaskExperiment | None = None,
                        options: MaskOptions | None = None, *, overwrite: bool = False, progress: bool = False,
                        **overrides) -> dict[str, MaskResult]:
    """The study's experiment: an importance mask for each audio file.

    Defaults come from ``experiment`` (default: the packaged ``mask``): its ``audio``
    files (else the packaged examples), ``out`` folder and options; ``options`` replaces
    the experiment's, ``overrides`` (:class:`MaskOptions` fields) replace single ones.
    Writes ``<out>/<run_name(path)>/<i>.npy`` and ``result.json`` per file; re-running
    resumes. Returns ``{run name: MaskResult}``.
    """
    if not isinstance(experiment, MaskExperiment):
        experiment = load_mask_experiment(experiment if experiment is not None else DEFAULT_EXPERIMENT)
    options = (options if options is not None else experiment.options).replace(**overrides)
    if model is None:
        from ..speech.checkpoints import load_model
        model = load_model()
    paths = list(paths if paths is not None else experiment.audio or example_audio())
    if not paths:
        raise ParameterError("no audio files given")
    out = Path(out if out is not None else experiment.out)
    results = {}
    for path in paths:
        name = run_name(path)
        x = audio_file_to_mfccs(path, model.upper_frequency_limit)
        results[name] = importance_mask(model, x, options, run_dir=out / name, overwrite=overwrite, progress=progress)
    return results


#: Keys of the search experiment that are not :class:`SearchOptions` fields.
SEARCH_KEYS = ("name", "description", "checkpoint", "dataset", "objectives_from")


def search_options(config: dict) -> SearchOptions:
    """The :class:`SearchOptions` of a search experiment config (unknown keys are errors)."""
    return SearchOptions.from_dict(config, source=str(config.get("name", "experiment")), ignore=SEARCH_KEYS)


def run_search_dataset_experiment(model: DeepSpeech | None = None, dataset: str | os.PathLike | None = None,
                                  out: str | os.PathLike | None = None, progress: bool = True,
                                  scheduler=None, options: SearchOptions | None = None, *,
                                  objectives: Sequence[Objective] | None = None, overwrite: bool = False,
                                  **overrides) -> SearchResult:
    """The study's dataset search on the synthesized training corpus.

    Settings in ``experiments/run_search_dataset_experiment.json``: the dataset, the
    :class:`SearchOptions` and the visualization experiment whose objectives (layers and
    neurons, chosen by its rule) are searched for, so the top examples of a layer sit
    beside its learned inputs. ``objectives`` replaces those; ``options`` replaces the
    config's options; ``overrides`` replace config keys or options (``batch_size=32``,
    ``shards=8``; None values are ignored); ``scheduler`` and ``overwrite``: as in
    :func:`search_dataset`.
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
                          options, progress=progress, scheduler=scheduler, overwrite=overwrite)
