"""The study's sections as functions, so the notebook's cells are short calls.

Each ``ensure_*`` function loads an experiment's saved outputs when they are complete
and runs the experiment (through the same package calls as the command line, which
resume) when they are not. :class:`StudySettings` says where outputs live and whether
to use the "quick" setting (few steps, short inputs, one example, a tiny corpus) that
the notebook test uses.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..infra.atomic import load_json
from ..infra.resources import asset_path
from ..infra.runfolder import snapshot_steps
from ..speech.datasets import read_dataset

__all__ = ["StudySettings", "ensure_corpus", "visualization_config", "ensure_visualization", "ensure_search",
           "speech_scale", "real_speech_scale", "example_figure", "final_inputs_log_mel",
           "run_objectives", "neuron_title", "learned_inputs_grid", "layer_animation", "layer_curves",
           "final_input", "examples_grid", "ensure_masks", "mask_result_animation", "show_mask_summary",
           "show_muted_audio", "ensure_dissection", "show_dissection", "ensure_probes", "probe_figure",
           "ensure_neuron_inputs", "neuron_inputs_grid"]

LAYER_TITLES = {"layer_1": "Layer 1", "layer_2": "Layer 2", "layer_3": "Layer 3", "rnn_output": "RNN output",
                "layer_5": "Layer 5", "layer_6": "Layer 6"}


@dataclass
class StudySettings:
    """Where the study's outputs go and how big its experiments are.

    Read from the environment by :meth:`from_env`: ``DAF_QUICK=1`` for the quick setting,
    ``DAF_RUNS`` for the run folder (default ``runs/`` in the current folder; the corpus
    goes to ``data/corpus/`` there), ``DAF_CHECKPOINT`` for a model
    other than the embedded one.
    """
    runs: Path = Path("runs")
    quick: bool = False
    checkpoint: str | None = None
    corpus: Path = Path("data") / "corpus"
    examples: Path = field(default_factory=lambda: asset_path("audio"))
    overrides: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "StudySettings":
        quick = os.environ.get("DAF_QUICK", "") == "1"
        runs = Path(os.environ.get("DAF_RUNS", "runs/quick" if quick else "runs"))
        settings = cls(runs=runs, quick=quick, checkpoint=os.environ.get("DAF_CHECKPOINT") or None)
        if quick:
            settings.corpus = runs / "corpus"
            settings.overrides = {"steps": 20, "frames": 30, "snapshot_every": 5}
        return settings

    def example_paths(self) -> list[tuple[str, str]]:
        """``[(wav path, transcript)]`` of the examples (only the first in the quick setting)."""
        rows = [(u.path, u.transcript) for u in read_dataset(self.examples / "transcripts.csv")]
        return rows[:1] if self.quick else rows


def ensure_corpus(settings: StudySettings) -> Path:
    """The synthesized corpus the experiments search: 15,000 utterances (24 when quick)."""
    from ..synth.corpus import synthesize_corpus

    if not (settings.corpus / "train.csv").exists() or not (settings.corpus / "corpus.json").exists() \
            or load_json(settings.corpus / "corpus.json").get("status") != "complete":
        synthesize_corpus(settings.corpus, 24 if settings.quick else 15000, seed=0,
                          dev_fraction=0.25 if settings.quick else 0.05,
                          test_fraction=0.25 if settings.quick else 0.05, progress=True)
    corpus_json = load_json(settings.corpus / "corpus.json")
    if "alignments" not in corpus_json:  # a corpus synthesized before alignments existed: add them
        from ..synth.corpus import align_corpus

        align_corpus(settings.corpus, progress=True)
    return settings.corpus


def visualization_config(name: str, settings: StudySettings) -> dict:
    """An experiment's configuration, adjusted to the settings (quick, corpus).

    The quick setting's ``overrides`` are :class:`VisualizationOptions` fields (checked
    here, so a typo fails at once).
    """
    from .experiments import load_experiment, visualization_options

    config = dict(load_experiment(name))
    config.update(settings.overrides)
    visualization_options(config)  # a bad override fails here, naming the option
    neurons = config.get("neurons")
    if isinstance(neurons, dict) and "rule" in neurons:
        neurons = dict(neurons)
        neurons["dataset"] = str(settings.corpus / "dev.csv")
        if settings.quick:
            neurons["max_utterances"] = 8
        config["neurons"] = neurons
    return config


def ensure_visualization(name: str, model, settings: StudySettings) -> Path:
    """Run (or resume, or just load) a feature-visualization experiment; returns its folder."""
    from .experiments import run_visualization_experiment

    ensure_corpus(settings)
    out = settings.runs / name
    run_visualization_experiment(visualization_config(name, settings), model, out)
    return out


def ensure_search(model, settings: StudySettings, objectives_from: str = "run_train_inputs_experiment") -> Path:
    """Score every training utterance for the visualization objectives; returns the folder."""
    from .experiments import experiment_objectives, load_experiment, run_search_dataset_experiment

    ensure_corpus(settings)
    objectives, _, _ = experiment_objectives(model, visualization_config(objectives_from, settings), False)
    out = settings.runs / load_experiment("run_search_dataset_experiment")["name"]
    run_search_dataset_experiment(model, settings.corpus / "train.csv", out, objectives=objectives)
    return out


# ---------------------------------------------------------------------------- reading runs back
def run_objectives(run: str | os.PathLike) -> list[dict]:
    """The objectives of a visualization run, from its ``config.json``."""
    return load_json(Path(run) / "config.json")["objectives"]


def neuron_title(objective: dict) -> str:
    layer = objective["layer"]
    return f"{LAYER_TITLES.get(layer, layer)}\nneurons {', '.join(str(n) for n in objective['neurons'])}"


def speech_scale(run: str | os.PathLike):
    """The colour scale of every MFCC picture: z-scores against the real-speech statistics
    a visualization run recorded (its neuron-selection sample of the dev set), so a learned
    input and a recording are coloured alike."""
    from .plots import MfccScale

    stats = load_json(Path(run) / "config.json").get("stats")
    if not stats:
        raise ValueError(f"{run}: config.json holds no MFCC statistics")
    return MfccScale.from_stats(stats, source="real speech")


def real_speech_scale(model, settings: StudySettings):
    """The same scale computed before any run exists: the statistics of the dev-set sample
    the visualization experiment draws (same utterances, same seed)."""
    from ..interpret.featurevis import load_dataset_mfccs, mfcc_stats
    from .plots import MfccScale

    ensure_corpus(settings)
    neurons = visualization_config("run_train_inputs_experiment", settings)["neurons"]
    data, _ = load_dataset_mfccs(neurons["dataset"], neurons.get("max_utterances", 256), neurons.get("seed", 0),
                                 model.upper_frequency_limit)
    stats = mfcc_stats(data)
    return MfccScale.from_stats(stats, source="real speech")


def example_figure(x: np.ndarray, title: str, scale, upper_frequency_limit: float = 8000.0):
    """An utterance's MFCCs ``[T, 26]`` (z-scores) above the log-mel spectrogram they imply."""
    import matplotlib.pyplot as plt

    from .plots import plot_log_mel, plot_mfccs

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True, layout="constrained")
    plot_mfccs(x, f"MFCCs of {title}", ax=top, scale=scale)
    plot_log_mel(x, ax=bottom, upper_frequency_limit=upper_frequency_limit)
    return fig


def learned_inputs_grid(run: str | os.PathLike, rows: int = 4, title: str = "Learned inputs", scale=None):
    """Grid of learned inputs: rows = snapshots (last first), columns = layers; one colour
    scale (default: :func:`speech_scale`)."""
    from ..interpret.featurevis import load_snapshots
    from .plots import plot_grid

    objectives = run_objectives(run)
    columns = [load_snapshots(Path(run) / (o.get("name") or o["layer"])) for o in objectives]
    n = len(columns[0]["steps"])
    picks = sorted({int(round(i)) for i in np.linspace(n - 1, 0, min(rows, n))}, reverse=True)
    cells = [[(c["input_var"][i], f"step {c['steps'][i]}\nactivation {float(np.mean(c['activation'][i])):.3f}")
              for c in columns] for i in picks]
    return plot_grid(cells, [neuron_title(o) for o in objectives], title=title, scale=scale or speech_scale(run))


def final_inputs_log_mel(runs: dict[str, str | os.PathLike], upper_frequency_limit: float = 8000.0):
    """The log-mel spectrograms the final learned inputs imply: rows = runs, columns = layers."""
    import matplotlib.pyplot as plt

    from .plots import plot_log_mel

    runs = {label: Path(run) for label, run in runs.items()}
    objectives = {label: run_objectives(run) for label, run in runs.items()}
    cols = max(len(o) for o in objectives.values())
    fig, axes = plt.subplots(len(runs), cols, figsize=(2.6 * cols, 2.2 * len(runs) + 0.6), squeeze=False,
                             layout="constrained")
    # Each panel spans its own top 60 dB: learned inputs differ in level by orders of magnitude
    # (layer 1's are far louder than speech), and the spectral shape is what is compared here.
    for r, (label, run) in enumerate(runs.items()):
        for c, objective in enumerate(objectives[label]):
            plot_log_mel(final_input(run, objective), title=f"{label}\n{neuron_title(objective)}", ax=axes[r][c],
                         upper_frequency_limit=upper_frequency_limit)
            if c:
                axes[r][c].set_ylabel("")
    fig.suptitle("Log-mel spectrograms implied by the final learned inputs (each panel: its own top 60 dB)")
    return fig


def layer_animation(run: str | os.PathLike, objective: dict, out: str | os.PathLike, every: int = 1,
                    scale=None) -> Path:
    """mp4 of one layer's learned input as the optimization progresses (z-scores against
    :func:`speech_scale`; the step is shown in the corner)."""
    from ..interpret.featurevis import load_snapshots
    from .plots import Z_RANGE, mfcc_cmap, write_animation

    scale = scale or speech_scale(run)
    snaps = load_snapshots(Path(run) / (objective.get("name") or objective["layer"]))
    frames = [scale(x) for x in snaps["input_var"][::every]]
    steps = [int(s) for s in snaps["steps"][::every]]
    title = neuron_title(objective).replace("\n", ": ")
    return write_animation(out, [frames], titles=[f"learned input, {title}"], cmaps=[mfcc_cmap()],
                           ranges=[(-Z_RANGE, Z_RANGE)], labels=[f"step {s} / {steps[-1]}" for s in steps],
                           colorbar_labels=[scale.label], hold_last=10)


def layer_curves(run: str | os.PathLike, objective: dict, ax=None):
    """Activation and total variation per element over the optimization steps."""
    from ..interpret.featurevis import load_snapshots
    from .plots import plot_curves

    snaps = load_snapshots(Path(run) / (objective.get("name") or objective["layer"]))
    return plot_curves(snaps["steps"], {"activation": snaps["activation"],
                                        "total variation per element": snaps["total_var_loss"]},
                       title=LAYER_TITLES.get(objective["layer"], objective["layer"]), ax=ax)


def final_input(run: str | os.PathLike, objective: dict) -> np.ndarray:
    """The last snapshot of an objective's learned input ``[T, 26]``."""
    folder = Path(run) / (objective.get("name") or objective["layer"])
    step = snapshot_steps(folder, "input_var")[-1]
    return np.load(folder / f"input_var_{step}.npy", allow_pickle=False)


def examples_grid(search: str | os.PathLike, run: str | os.PathLike, n: int = 4, top: bool = True,
                  upper_frequency_limit: float = 8000.0, scale=None):
    """Grid of the dataset's top (or bottom) examples per layer, MFCCs with activations."""
    from ..interpret.dataset_search import get_bottom_examples, get_top_examples
    from ..speech.mfcc import audio_file_to_mfccs
    from .plots import plot_grid

    objectives = run_objectives(run)
    ranked = (get_top_examples if top else get_bottom_examples)(n, search)
    names = [o.get("name") or o["layer"] for o in objectives]
    cells = [[(audio_file_to_mfccs(ranked[name][i].path, upper_frequency_limit),
               f"{Path(ranked[name][i].path).name}\nactivation {ranked[name][i].activation:.3f}")
              if i < len(ranked[name]) else None for name in names] for i in range(n)]
    return plot_grid(cells, [neuron_title(o) for o in objectives],
                     title=f"{'Top' if top else 'Bottom'} training-set examples", scale=scale or speech_scale(run))


# ---------------------------------------------------------------------------- importance masks
def ensure_masks(model, settings: StudySettings) -> dict[str, object]:
    """Importance masks of the examples (resumed or loaded when saved), with baselines.

    Returns ``{audio path: MaskResult}``; each result gains ``baselines``, a list of
    dicts (method, zero fraction, frame agreement, seconds) for the same input, saved as
    ``baselines.json`` beside the mask so a re-run does not recompute them.
    """
    from ..infra.atomic import save_json
    from ..infra.runfolder import run_name
    from ..interpret.masks.baselines import greedy_occlusion_mask, random_mask_baseline, saliency_mask
    from ..interpret.masks.importance import importance_mask
    from ..speech.mfcc import audio_file_to_mfccs
    from .experiments import load_mask_experiment

    experiment = load_mask_experiment()
    options = experiment.options
    if settings.quick:
        options = options.replace(steps=20, snapshot_every=5)
    results = {}
    for path, _ in settings.example_paths():
        x = audio_file_to_mfccs(path, model.upper_frequency_limit)
        run_dir = settings.runs / experiment.name / run_name(path)
        result = importance_mask(model, x, options, run_dir=run_dir)
        baselines_path = run_dir / "baselines.json"
        if baselines_path.exists():
            baselines = load_json(baselines_path)
        else:
            methods = [("random", lambda: random_mask_baseline(model, x, result.zero_fraction, seed=0)),
                       ("saliency", lambda: saliency_mask(model, x))]
            if not settings.quick:  # backward selection costs ~20 s per second of audio
                methods.append(("greedy occlusion", lambda: greedy_occlusion_mask(model, x)))
            baselines = []
            for method, run in methods:
                b = run()
                baselines.append({"method": method, "zero_fraction": b.zero_fraction,
                                  "frame_agreement": b.frame_agreement, "seconds": b.seconds})
            save_json(baselines_path, baselines)
        result.baselines, result.mfccs = baselines, x  # for the summary and the animation
        results[path] = result
    return results


def mask_result_animation(result, out: str | os.PathLike, max_frames: int = 60, scale=None) -> Path:
    """mp4 of a mask's snapshots (thinned to ``max_frames``) beside the masked MFCCs.

    ``result`` comes from :func:`ensure_masks` (it carries the MFCCs ``[T, 26]``).
    """
    from ..interpret.masks.store import load_mask_snapshots
    from .plots import mask_animation

    masks = load_mask_snapshots(result.run_dir)
    keep = np.unique(np.linspace(0, len(masks) - 1, min(max_frames, len(masks))).round().astype(int))
    x = result.mfccs
    labels = [f"snapshot {i} / {len(masks) - 1}" for i in keep]
    return mask_animation(out, [masks[i] for i in keep], x, title=Path(result.run_dir).name, scale=scale,
                          labels=labels)


def show_mask_summary(result) -> None:
    """Print the final mask's figures beside the baselines' (same input, same exact check)."""
    rows = [("ours", result.zero_fraction, result.frame_agreement, result.seconds)]
    rows += [(b["method"], b["zero_fraction"], b["frame_agreement"], b["seconds"]) for b in result.baselines]
    print(f"{Path(result.run_dir).name}: 1-minimal {result.one_minimal} "
          f"(independently checked: {result.one_minimal_checked})")
    print(f"  {'method':<18}{'zero fraction':>14}{'frame agreement':>17}{'seconds':>9}")
    for method, zeros, agreement, seconds in rows:
        print(f"  {method:<18}{zeros:>14.3f}{agreement:>17.3f}{seconds:>9.1f}")
    print(f"  transcription of X (greedy):     {result.text_original!r}")
    print(f"  transcription of M * X (greedy): {result.text_masked!r}")


def show_muted_audio(path: str, result, model, settings: StudySettings,
                     thresholds: tuple[float, ...] = (0.25, 0.5, 0.75), by: str = "rank") -> None:
    """Mute the least important frames (by default the 25 / 50 / 75 % with the lowest mask
    mean; ``by="threshold"`` for the study's absolute thresholds 0.1 / 0.2 / 0.3), show the
    waveforms, players and greedy transcriptions."""
    import matplotlib.pyplot as plt
    from IPython.display import Audio, display

    from ..interpret.masks.mute import mute_unimportant_audio

    muted = mute_unimportant_audio(path, result.mask, thresholds, out_dir=Path(result.run_dir) / f"muted-{by}",
                                   model=model, by=by)
    display(muted.figure)
    plt.close("all")
    print(f"{Path(path).name}, original (greedy): {muted.original_transcription!r}")
    display(Audio(path))
    for threshold, wav, fraction, text in zip(muted.thresholds, muted.paths, muted.muted_fractions,
                                              muted.transcriptions):
        rule = f"least important {threshold:.0%} of frames" if by == "rank" else f"mask mean < {threshold:.1f}"
        print(f"{rule}: {fraction:.0%} of the audio muted -> (greedy) {text!r}")
        display(Audio(str(wav)))


# ---------------------------------------------------------------------------- what neurons encode
def ensure_dissection(model, settings: StudySettings, max_utterances: int = 300):
    """Network dissection in time of layers 1-5 over the corpus's test split (held-out
    voices), resumed or loaded from ``runs/dissection``."""
    from ..interpret.dissection import dissect_dataset

    ensure_corpus(settings)
    return dissect_dataset(model, settings.corpus / "test.csv", settings.runs / "dissection",
                           max_utterances=None if settings.quick else max_utterances, progress=False)


def show_dissection(result) -> None:
    """Per layer: neurons, phone detectors (IoU above the threshold), medians, and the best detector."""
    from ..speech.phones import PHONE_CLASSES

    print(f"{'layer':<12}{'neurons':>8}{'detectors':>10}{'median best IoU':>17}{'median selectivity':>20}"
          f"   best detector")
    for layer, d in result.layers.items():
        s = result.summary[layer]
        j = int(np.argmax(d.best_iou))
        common = ", ".join(f"{phone} {n}" for phone, n in list(s["detector_classes"].items())[:3])
        print(f"{layer:<12}{s['neurons']:>8}{s['detectors']:>10}{s['median_best_iou']:>17.3f}"
              f"{s['median_selectivity']:>20.2f}   #{j}: {PHONE_CLASSES[d.best_class[j]]} "
              f"(IoU {d.best_iou[j]:.3f}); detectors of {common or 'none'}")


def ensure_probes(model, settings: StudySettings):
    """Linear phone and character probes per layer (trained on training voices, scored on the
    held-out voices of dev and test); the table is kept in ``runs/probes/result.json``."""
    from ..infra.runfolder import RunFolder
    from ..interpret.content_options import ProbeOptions
    from ..interpret.probes import ProbeResult, probe_layers

    ensure_corpus(settings)
    options = ProbeOptions(max_utterances=None, max_frames=None, steps=100) if settings.quick else ProbeOptions()
    splits = {"dev": settings.corpus / "dev.csv", "test": settings.corpus / "test.csv"}
    folder = RunFolder(settings.runs / "probes", {"model": model.fingerprint(), "options": options.to_dict(),
                                                  "train": str(settings.corpus / "train.csv")}, kind="probe run").open()
    if folder.exists("result.json"):
        return ProbeResult(**folder.load_json("result.json"))
    result = probe_layers(model, settings.corpus / "train.csv", splits, options=options)
    folder.save_json("result.json", dataclasses.asdict(result))
    return result


def probe_figure(result, split: str = "test"):
    """Probe accuracy by input (MFCC baselines, then the layers), phone and character, with chance."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
    for target, rows in result.table.items():
        names = list(rows)
        line, = ax.plot(names, [rows[n][split] for n in names], marker="o", label=f"{target} probe")
        ax.axhline(result.chance[target][split], ls=":", color=line.get_color(), label=f"{target} chance")
    ax.set_ylabel(f"accuracy ({split}: held-out voices)")
    ax.set_xlabel("input of the linear probe")
    ax.set_title("What a linear classifier reads from each layer, frame by frame")
    ax.legend(fontsize=8)
    return fig


def ensure_neuron_inputs(model, settings: StudySettings, per_layer: int = 8) -> dict:
    """The first ``per_layer`` neurons of every layer visualized one input per neuron
    (:func:`~deepspeech_audio_features.interpret.featurevis.neurons.visualize_neurons`, the
    atlas's settings; the quick setting's steps and T), in ``runs/atlas``; resumable.

    Returns:
        ``{layer: NeuronInputs}``.
    """
    from ..interpret.featurevis.neurons import visualize_neurons
    from ..interpret.featurevis.objectives import layer_width
    from ..interpret.featurevis.options import ATLAS_BATCH_SIZE, ATLAS_OPTIONS
    from ..speech.model import LAYERS

    options = ATLAS_OPTIONS.replace(**{k: v for k, v in settings.overrides.items() if k in ("steps", "frames")})
    return {layer: visualize_neurons(model, layer, settings.runs / "atlas",
                                     list(range(min(per_layer, layer_width(model, layer)))), options,
                                     batch_size=ATLAS_BATCH_SIZE, progress=False)
            for layer in LAYERS}


def neuron_inputs_grid(results: dict, columns: int = 4, scale=None):
    """Learned inputs of :func:`ensure_neuron_inputs`: a row per layer, its first ``columns``
    neurons, each captioned with its mean activation; one colour scale (default: pooled)."""
    from .plots import plot_grid

    cells = [[(r.inputs[i], f"{LAYER_TITLES[layer]} #{int(r.neurons[i])}\nactivation {float(r.activation[i]):.2f}")
              for i in range(min(columns, len(r.neurons)))] for layer, r in results.items()]
    return plot_grid(cells, title="One learned input per neuron (the atlas's)", scale=scale)
