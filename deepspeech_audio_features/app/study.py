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
from typing import TYPE_CHECKING

import numpy as np

from ..infra.atomic import load_json
from ..infra.resources import asset_path
from ..infra.runfolder import snapshot_steps
from ..speech.datasets import read_dataset

if TYPE_CHECKING:
    from ..interpret.masks.options import MaskOptions

__all__ = ["StudySettings", "ensure_corpus", "visualization_config", "ensure_visualization", "ensure_search",
           "speech_scale", "real_speech_scale", "example_figure", "final_inputs_log_mel",
           "run_objectives", "neuron_title", "learned_inputs_grid", "layer_animation", "layer_curves",
           "final_input", "examples_grid", "ensure_masks", "mask_result_animation", "show_mask_summary",
           "show_muted_audio", "ensure_dissection", "show_dissection", "ensure_probes", "probe_figure",
           "best_detectors", "frame_snippet", "frame_examples_figure", "show_frame_examples", "learned_input_phones",
           "show_learned_input_phones",
           "ensure_fill_masks", "fill_comparison", "fill_figure", "show_fill_comparison",
           "show_engine_examples",
           "ensure_pointing_game", "show_pointing_game", "pointing_figure",
           "ensure_neuron_inputs", "neuron_inputs_grid", "ensure_atlas", "show_atlas"]

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

    def mask_options(self, options: MaskOptions) -> MaskOptions:
        """The mask experiment's :class:`MaskOptions`, made smaller in the quick setting.

        60 relaxed steps and one round of 50 swap moves: with 20 steps (the visualizations' quick
        value) the relaxed mask is far from sparse, and pruning it took 28 of 46 s per second of
        audio on the first example (60 steps, 50 moves: 20 s per second; 2-core AMD EPYC VM).
        """
        return options.replace(steps=60, snapshot_every=5, swap_moves=50) if self.quick else options

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
    options = settings.mask_options(experiment.options)
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
                                   model=model, by=by, fill=result.fill_values)
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
    """Network dissection in time of all six layers over the corpus's test split (held-out
    voices), resumed or loaded from ``runs/dissection`` (a run with other settings, e.g. of an
    older format, is recomputed: it is a cache). Also keeps every neuron's time-localized
    examples and histograms (``<layer>_examples.npz``)."""
    from ..interpret.dissection import dissect_dataset
    from ..speech.model import LAYERS

    ensure_corpus(settings)
    # all six layers: the logits too, so that every neuron the visualizations optimize has examples
    return dissect_dataset(model, settings.corpus / "test.csv", settings.runs / "dissection", layers=LAYERS,
                           max_utterances=None if settings.quick else max_utterances, progress=False, overwrite=True)


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


# ---------------------------------------------------------------------------- time-localized neuron examples
def best_detectors(dissection, layer: str, n: int = 3) -> list[int]:
    """The ``n`` neurons of ``layer`` with the highest dissection IoU (its best phone detectors)."""
    return [int(j) for j in np.argsort(-dissection.layers[layer].best_iou, kind="stable")[:n]]


def frame_snippet(example) -> tuple[np.ndarray, int]:
    """The audio of an example's trace window (``±W`` frames around the peak): ``(samples, 16000)``."""
    from ..speech.audio import load_audio

    samples, rate = load_audio(example.path)
    half = (example.window + 0.5) * 0.02
    start, end = max(0, int((example.time - half) * rate)), int((example.time + half) * rate)
    return samples[start:end], rate


def frame_examples_figure(out: str | os.PathLike, layer: str, neurons, n: int = 4):
    """One row per neuron, one column per top example: the neuron's activation around the
    peak frame (time 0) with the aligned phones shaded and labelled, the word at the peak above."""
    import matplotlib.pyplot as plt

    from ..interpret.frame_examples import load_frame_examples

    examples = load_frame_examples(out, layer)
    neurons = list(neurons)
    fig, axes = plt.subplots(len(neurons), n, figsize=(2.6 * n, 1.9 * len(neurons)), squeeze=False,
                             layout="constrained", sharex=True)
    for row, neuron in enumerate(neurons):
        for col, example in enumerate(examples.examples(neuron, "top")[:n]):
            ax = axes[row][col]
            times = example.trace_times - example.time
            for k, (start, end, phone) in enumerate(example.phones):
                ax.axvspan(start - example.time, end - example.time, color=f"C{k % 2 + 7}", alpha=0.15, lw=0)
                middle = (max(start, example.time + times[0]) + min(end, example.time + times[-1])) / 2
                ax.text(middle - example.time, 1.0, phone, transform=ax.get_xaxis_transform(), ha="center",
                        va="top", fontsize=7)
            ax.plot(times, example.trace, color="C0", lw=1.2)
            ax.axvline(0, color="k", lw=0.6, ls=":")
            ax.set_title(f"#{neuron}: \"{example.word_at_peak() or '-'}\" ({example.value:.2f})", fontsize=8)
            ax.tick_params(labelsize=7)
            if col == 0:
                ax.set_ylabel("activation", fontsize=7)
            if row == len(neurons) - 1:
                ax.set_xlabel("s from the peak", fontsize=7)
        for col in range(len(examples.examples(neuron, "top")[:n]), n):
            axes[row][col].axis("off")
    fig.suptitle(f"{LAYER_TITLES.get(layer, layer)}: the frames that excite each neuron most, with their phones",
                 fontsize=9)
    return fig


def show_frame_examples(out: str | os.PathLike, layer: str, neurons, n: int = 3, audio: bool = True) -> None:
    """Per neuron, its top ``n`` time-localized examples: file, time, activation, the words and
    phones at the peak, and (``audio``) the snippet around the peak as a player."""
    from IPython.display import Audio, display

    from ..interpret.frame_examples import load_frame_examples

    examples = load_frame_examples(out, layer)
    for neuron in neurons:
        print(f"{LAYER_TITLES.get(layer, layer)}, neuron {neuron}:")
        for example in examples.examples(neuron, "top")[:n]:
            row = example.summary()
            print(f"  {Path(row['path']).name:<26} {row['time']:6.2f} s  {row['activation']:8.3f}   "
                  f"words: {row['words'] or '-':<24} phones: {row['phones'] or '-'}")
            if audio:
                samples, rate = frame_snippet(example)
                display(Audio(samples, rate=rate))


def learned_input_phones(out: str | os.PathLike, run: str | os.PathLike, n: int | None = None) -> list[dict]:
    """For each neuron a visualization run optimized (its objectives' neuron sets): the phones
    at that neuron's top frames over the dissection's dataset.

    Returns:
        one dict per neuron: ``layer``, ``neuron``, ``phones`` (at the top frames, strongest
        first; ``None`` for a frame without alignment), ``most_common`` (phone, count), and
        ``words``; objectives of a layer the dissection did not cover are left out.
    """
    from collections import Counter

    from ..infra.errors import ParameterError
    from ..interpret.frame_examples import load_frame_examples

    rows = []
    for objective in run_objectives(run):
        try:
            examples = load_frame_examples(out, objective["layer"])
        except ParameterError:
            continue
        for neuron in objective["neurons"]:
            top = examples.examples(int(neuron), "top")[:n]
            phones = [e.phone_at_peak() for e in top]
            counted = Counter(p for p in phones if p)
            rows.append({"layer": objective["layer"], "neuron": int(neuron), "phones": phones,
                         "most_common": counted.most_common(1)[0] if counted else None,
                         "words": [e.word_at_peak() for e in top]})
    return rows


def show_learned_input_phones(out: str | os.PathLike, run: str | os.PathLike, n: int | None = None) -> None:
    """:func:`learned_input_phones` as a table."""
    print(f"{'layer':<12}{'neuron':>7}   {'most common':<14}phones at the top frames (strongest first)")
    for row in learned_input_phones(out, run, n):
        common = f"{row['most_common'][0]} x{row['most_common'][1]}" if row["most_common"] else "-"
        print(f"{row['layer']:<12}{row['neuron']:>7}   {common:<14}{' '.join(p or '?' for p in row['phones'])}")


# ---------------------------------------------------------------------------- what "masked" means: the fill
def ensure_fill_masks(model, settings: StudySettings, example: int = 0,
                      fills: tuple[str, ...] = ("zeros", "silence", "mean")) -> dict[str, object]:
    """Importance masks of one example with each fill (what a masked entry becomes).

    ``"zeros"`` is the study's mask (``<runs>/run_mask_experiment/<example>``, resumed or
    read back); the other fills run the same experiment options with ``fill`` changed, in
    ``<runs>/mask_fills/<example>-<fill>`` (about as long as the study's mask each: 20-60 s
    for an example on the embedded model on 2 shared cores). Returns ``{fill: MaskResult}``,
    each with ``mfccs`` ``[T, 26]`` attached.
    """
    from ..infra.runfolder import run_name
    from ..interpret.masks.importance import importance_mask
    from ..speech.mfcc import audio_file_to_mfccs
    from .experiments import load_mask_experiment

    experiment = load_mask_experiment()
    options = settings.mask_options(experiment.options)
    path = settings.example_paths()[example][0]
    x = audio_file_to_mfccs(path, model.upper_frequency_limit)
    results = {}
    for fill in fills:
        run_dir = (settings.runs / experiment.name / run_name(path) if fill == options.fill
                   else settings.runs / "mask_fills" / f"{run_name(path)}-{fill}")
        result = importance_mask(model, x, options.replace(fill=fill), run_dir=run_dir)
        result.mfccs, result.audio_path = x, path
        results[fill] = result
    return results


def fill_comparison(model, results: dict[str, object], settings: StudySettings,
                    shares: tuple[float, ...] = (0.25, 0.5, 0.75)) -> list[dict]:
    """Per fill: its c0, the mask's ones and zero fraction, how much of it the study's
    (zeros) mask shares, and the greedy transcriptions after muting the least important
    ``shares`` of the frames, in the audio (digital silence) and in the features (the fill).

    Writes the muted WAVs to ``<runs>/mask_fills/<example>-<fill>-muted``.
    """
    from ..infra.runfolder import run_name
    from ..interpret.masks.mute import mute_unimportant_audio

    reference = results.get("zeros")
    rows = []
    for fill, result in results.items():
        path = result.audio_path
        muted = mute_unimportant_audio(path, result.mask, shares, by="rank", model=model, fill=result.fill_values,
                                       out_dir=settings.runs / "mask_fills" / f"{run_name(path)}-{fill}-muted")
        ones = result.mask.astype(bool)
        row = {"fill": fill, "c0 of the fill": float(result.fill_values[0]), "ones": int(ones.sum()),
               "zero fraction": result.zero_fraction, "frame agreement": result.frame_agreement,
               "1-minimal": result.one_minimal}
        if reference is not None:
            ref = reference.mask.astype(bool)
            row["ones shared with zeros' mask"] = float((ones & ref).sum() / max(ones.sum(), 1))
            frame_means = result.mask.mean(axis=1)
            row["frame ranking vs zeros' (Spearman)"] = float(np.corrcoef(
                np.argsort(np.argsort(frame_means, kind="stable")),
                np.argsort(np.argsort(reference.mask.mean(axis=1), kind="stable")))[0, 1])
        row["original"] = muted.original_transcription
        for share, text, feature_text in zip(shares, muted.transcriptions, muted.feature_transcriptions):
            row[f"audio muted {share:.0%}"] = text
            row[f"features filled {share:.0%}"] = feature_text
        rows.append(row)
    return rows


def fill_figure(results: dict[str, object]):
    """One row per fill: the masked MFCCs (masked entries in the masked colour) and the per-frame
    mask mean, which ranks frames for muting."""
    import matplotlib.pyplot as plt

    from ..interpret.masks.fill import MEAN_FILE, load_fill_file
    from ..speech.checkpoints import EMBEDDED_MODEL_DIR
    from .plots import MfccScale, mfcc_image

    info = load_json(EMBEDDED_MODEL_DIR / MEAN_FILE)
    scale = MfccScale(np.asarray(load_fill_file(EMBEDDED_MODEL_DIR / MEAN_FILE), np.float64),
                      np.asarray(info["std"], np.float64), "training corpus")
    fig, axes = plt.subplots(len(results), 2, figsize=(11, 2.2 * len(results)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 1.2]}, layout="constrained")
    for (fill, result), (left, right) in zip(results.items(), axes):
        mfcc_image(left, result.mfccs, scale, mask=result.mask)
        left.set_title(f"fill {fill}: {int(result.mask.sum())} ones ({result.zero_fraction:.1%} zeros)", fontsize=9)
        left.set_ylabel("MFCC", fontsize=8)
        right.plot(np.arange(len(result.mask)) * 0.02, result.mask.mean(axis=1), lw=0.8)
        right.set_ylim(0, max(0.05, float(result.mask.mean(axis=1).max()) * 1.1))
        right.set_title("per-frame mask mean", fontsize=9)
    axes[-1, 0].set_xlabel("time (s)")
    axes[-1, 1].set_xlabel("time (s)")
    return fig


def show_fill_comparison(rows: list[dict]) -> None:
    """Print :func:`fill_comparison`'s rows: the numbers side by side, then the transcriptions per fill."""
    numbers = [key for key, value in rows[0].items() if not isinstance(value, str)]
    print(f"{'':38s}" + "".join(f"{row['fill']:>12s}" for row in rows))
    for key in numbers:
        cells = "".join(f"{row.get(key, float('nan')):>12.3f}" if isinstance(row.get(key), float)
                        else f"{str(row.get(key)):>12s}" for row in rows)
        print(f"{key:38s}{cells}")
    print(f"\ngreedy transcriptions (original: {rows[0]['original']!r})")
    for row in rows:
        print(f"fill {row['fill']}:")
        for key, value in row.items():
            if key.startswith(("audio muted", "features filled")):
                print(f"  {key:22s} {value!r}")
def show_engine_examples(model, settings: StudySettings, text: str = "the weather was cold and the children stayed "
                         "inside", voices: tuple[str, ...] = ("kal16", "awb", "rms", "slt")) -> list[tuple[str, str]]:
    """One sentence spoken by flite's voices (clean: each voice's own pitch and tempo), transcribed.

    flite's voices were built from recordings of people; the embedded model was trained on kal, kal16,
    awb and rms (other sentences), not on slt (held out).
    Writes ``runs/engine-examples/<voice>.wav`` and prints the greedy and beam + LM transcripts.
    Without flite (``make engines``) it says so and returns ``[]``.

    Returns:
        ``[(wav path, voice)]``.
    """
    from ..speech.audio import write_wav
    from ..speech.frames import SAMPLE_RATE
    from ..speech.inference import transcribe
    from ..synth.engines import engine_available
    from ..synth.flite import FliteSpec, render_flite_aligned

    if not engine_available("flite"):
        print("flite is not installed (make engines, or apt-get install -y flite): no flite examples")
        return []
    written = []
    for i, voice in enumerate(voices):
        spec = FliteSpec(index=i, split="test", wav=f"{voice}.wav", transcript=text, voice=voice, duration_stretch=1.0,
                         f0_mean=None, f0_stddev=None, tract_factor=1.0, rt60=None, peak_db=-3.0, noise="none",
                         snr_db=None, pad_start=0.3, pad_end=0.3, seed=i)
        audio, _ = render_flite_aligned(spec)
        path = str(write_wav(settings.runs / "engine-examples" / spec.wav, audio, SAMPLE_RATE))
        print(f"flite {voice:<6} beam + LM: {transcribe(path, model)!r}; greedy: {transcribe(path, model, beam_width=1)!r}")
        written.append((path, voice))
    return written


# ---------------------------------------------------------------------------- masks against the words
def ensure_pointing_game(model, settings: StudySettings, held_out: int = 20):
    """The pointing game (:mod:`~..interpret.masks.pointing_game`) on the examples and the
    first ``held_out`` utterances of the corpus's test split, resumed from ``runs/pointing``.

    Our method, random and saliency in both variants (a few minutes on 2 cores); greedy
    occlusion is left out here because it is slow (the ``pointing-game`` command runs it).
    The quick setting scores one example with time-only masks of our method (20 steps) and saliency.
    """
    from ..interpret.masks.pointing import PointingOptions
    from ..interpret.masks.pointing_game import pointing_game

    datasets = [settings.examples / "transcripts.csv"]
    if settings.quick:
        options = PointingOptions(methods=("ours", "saliency"), variants=("time",), steps=20)
        return pointing_game(model, datasets, settings.runs / "pointing", options, max_utterances=1)
    ensure_corpus(settings)
    return pointing_game(model, datasets + [settings.corpus / "test.csv"], settings.runs / "pointing",
                         PointingOptions(methods=("ours", "random", "saliency")), per_dataset=held_out)


def show_pointing_game(result) -> None:
    """Print the pointing game's table (method x variant) and the words it was played on."""
    from ..interpret.masks.pointing import format_table

    print(format_table(result.table))
    words = ", ".join(f"{Path(u['path']).stem}: {u['word']!r}" for u in result.utterances[:6])
    rule = load_json(Path(result.out) / "config.json")["word_rule"]
    print(f"{len(result.utterances)} utterances, one word each (the {rule}); e.g. {words}"
          + (f"; skipped {len(result.skipped)}" if result.skipped else ""))


def pointing_figure(result, index: int = 0, method: str = "ours", variant: str = "time-frequency",
                    upper_frequency_limit: float = 8000.0, scale=None):
    """One utterance of a pointing-game run: its log-mel spectrogram, ``method``'s word-span
    mask over the MFCCs, and every method's ones per frame, with the word's frames shaded
    dark and the context window (+-9 frames) light.

    Frames are drawn as the images draw them (frame ``t`` over ``[0.02 t, 0.02 t + 0.02)`` s);
    the dashed lines are the word's aligned interval from its TextGrid.
    """
    import matplotlib.pyplot as plt

    from ..interpret.masks.pointing_game import load_masks
    from ..speech.mfcc import audio_file_to_mfccs
    from .plots import FRAME_SECONDS, plot_log_mel, plot_mfccs

    utterance = result.utterances[index]
    masks = load_masks(result.out, utterance["path"])
    x = audio_file_to_mfccs(utterance["path"], upper_frequency_limit)
    first, stop = utterance["word_frames"]
    row = next(r for r in result.rows if r["path"] == utterance["path"] and r["method"] == method
               and r["variant"] == variant)
    span_first, span_stop = row["span_frames"]
    fig, axes = plt.subplots(3, 1, figsize=(9, 7.5), sharex=True, layout="constrained")
    plot_log_mel(x, f"{Path(utterance['path']).name}: the word {utterance['word']!r}", axes[0],
                 upper_frequency_limit=upper_frequency_limit, colorbar=False)
    plot_mfccs(x, f"{method}, {variant}: {int(masks[f'{method}.{variant}'].sum())} ones keep the word's classes "
                  "(black: removed)",
               axes[1], colorbar=False, scale=scale, mask=masks[f"{method}.{variant}"])
    for key, mask in masks.items():
        if key.endswith("." + variant):
            per_frame = mask.sum(axis=1) / max(1, mask.sum())
            axes[2].step(np.arange(len(x)) * FRAME_SECONDS, per_frame, where="post", label=key.split(".")[0])
    axes[2].set_ylabel("share of the\nmask's ones", fontsize=9)
    axes[2].legend(fontsize=8, ncol=4, loc="upper right")
    axes[2].axvspan(span_first * FRAME_SECONDS, span_stop * FRAME_SECONDS, color="gold", alpha=0.2, lw=0)
    axes[2].axvspan(first * FRAME_SECONDS, stop * FRAME_SECONDS, color="gold", alpha=0.45, lw=0)
    for ax in axes:
        for frame, style in ((first, "-"), (stop, "-"), (span_first, ":"), (span_stop, ":")):
            ax.axvline(frame * FRAME_SECONDS, color="gold", ls=style, lw=1.5)
        for t in utterance["interval"]:
            ax.axvline(t, color="k", ls="--", lw=0.8)
    for ax in axes[:2]:
        ax.set_xlabel("")
    axes[2].set_xlabel("time (s); gold: the word's frames (solid) and +-9 frames of context (dotted); "
                       "dashed: its aligned interval", fontsize=9)
    inside = {r["method"]: r["share_inside"] for r in result.rows
              if r["path"] == utterance["path"] and r["variant"] == variant}
    axes[2].set_title("ones inside the word \u00b1 9 frames: " + ", ".join(f"{m} {100 * v:.0f}%" for m, v in inside.items())
                      + f" (chance {100 * row['chance_reachable']:.0f}%)", fontsize=10)
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


# ---------------------------------------------------------------------------- the neuron atlas
def ensure_atlas(model, settings: StudySettings, neurons_per_layer: int = 24, max_utterances: int = 300) -> Path:
    """The small neuron atlas of ``make main``, built or resumed in ``runs/atlas``; returns
    its ``site/index.html``.

    ``neurons_per_layer`` units of each of the six layers (spread over the selectivity
    ranking), the dataset pass over the first ``max_utterances`` of the corpus's test split
    (held-out voices, as :func:`ensure_dissection`), feature visualization with the default
    options (500 steps, 100 frames), and the probe accuracies of :func:`ensure_probes`. The
    quick setting: 3 units per layer, 20 steps of 30 frames.
    """
    from ..interpret.featurevis.options import VisualizationOptions
    from .atlas.build import build_atlas

    ensure_corpus(settings)
    ensure_probes(model, settings)
    visualization = VisualizationOptions(steps=20, frames=30) if settings.quick else VisualizationOptions()
    result = build_atlas(model, settings.corpus / "test.csv", settings.runs / "atlas",
                         neurons_per_layer=3 if settings.quick else neurons_per_layer,
                         max_utterances=None if settings.quick else max_utterances,
                         visualization_options=visualization, probes=settings.runs / "probes", progress=False)
    return result.index


def show_atlas(index: str | os.PathLike) -> None:
    """A link to an atlas site (relative to the current folder, so it works in the exported
    notebook beside ``runs/``) and its summary: units shown per layer, probe accuracy, share of
    selective units, size."""
    from IPython.display import HTML, display

    index = Path(index)
    site = load_json(index.parent / "site.json")
    report = load_json(index.parent.parent / "report.json")
    link = os.path.relpath(index, Path.cwd())
    rows = "".join(f"<tr><td>{s['layer']}</td><td>{s['shown']} of {s['width']}</td>"
                   f"<td>{'–' if s['probe_accuracy'] is None else format(s['probe_accuracy'], '.3f')}</td>"
                   f"<td>{100 * s['selective_share']:.1f} %</td></tr>" for s in site["layers"])
    display(HTML(f'<p>Open the neuron atlas: <a href="{link}" target="_blank">{link}</a> '
                 f"({site['neurons']} neurons, {report['site_bytes'] / 1e6:.1f} MB, "
                 f"{report['bytes_per_neuron'] / 1e3:.0f} kB per neuron)</p>"
                 f"<table><tr><th>layer</th><th>units shown</th><th>phone probe accuracy</th>"
                 f"<th>selective units</th></tr>{rows}</table>"))
