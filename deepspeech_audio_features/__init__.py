"""Look inside DeepSpeech speech recognizers: exact features, layer outputs, transcription,
feature visualization, dataset search and importance masks.

The public API is listed in ``__all__`` so a notebook can ``from deepspeech_audio_features
import *``. Names are loaded from their modules on first use (PEP 562), so importing a
TensorFlow-free module such as ``deepspeech_audio_features.synth.corpus`` or ``.app.plots`` does not
start TensorFlow.
"""
from __future__ import annotations

import importlib
import os as _os

# TensorFlow's C++ start-up chatter hides real messages; keep warnings and errors, and run
# its import with file descriptor 2 silenced (infra/quiet.py says why and what is kept).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if _os.environ.get("DAF_VERBOSE_IMPORTS") != "1":
    from .infra.quiet import quiet_import_of as _quiet_import_of

    _quiet_import_of("tensorflow")

_EXPORTS = {
    "infra.cluster": ["balanced_shards"],
    "infra.errors": ["AudioError", "CheckpointError", "DAFError", "DatasetError", "ESpeakError", "EngineError",
                     "FileFormatError", "ParameterError", "RunConflictError"],
    "infra.resources": ["example_audio"],
    "infra.runfolder": ["RunFolder"],
    "infra.threads": ["set_tensorflow_threads"],
    "speech.alphabet": ["ALPHABET", "Alphabet", "BLANK_INDEX", "NUM_CLASSES", "labels_to_text", "normalize_text",
                        "text_to_labels"],
    "speech.alignments": ["Alignment", "Alignments", "frame_char_labels", "frame_phone_labels", "frame_word_labels",
                          "read_alignments", "read_textgrid", "write_textgrid"],
    "speech.audio": ["load_audio", "write_wav"],
    "speech.checkpoints": ["EMBEDDED_MODEL_DIR", "load_model", "read_checkpoint", "resolve_checkpoint",
                           "save_checkpoint"],
    "speech.datasets": ["Utterance", "read_dataset"],
    "speech.formats": ["detect_format"],
    "speech.decoding": ["Transcription", "WordTiming", "beam_search_decode", "greedy_decode"],
    "speech.frames": ["SAMPLE_RATE", "context_windows", "num_frames"],
    "speech.inference": ["do_single_file_inference", "transcribe", "transcribe_detailed"],
    "speech.inverse": ["mfccs_to_audio"],
    "speech.language_model": ["write_arpa"],
    "speech.mfcc": ["audio_file_to_mfccs", "mfccs"],
    "speech.model": ["DeepSpeech", "LAYERS", "official_shapes", "random_weights"],
    "speech.phones": ["PHONE_CLASSES", "fold_phone"],
    "interpret.dataset_search": ["Example", "SearchResult", "get_bottom_examples", "get_top_examples", "load_search",
                                 "search_dataset"],
    "interpret.search_options": ["SearchOptions"],
    "interpret.probes": ["ProbeOptions", "ProbeResult", "probe_layers"],
    "interpret.dissection": ["DissectionOptions", "DissectionResult", "LayerDissection", "dissect_dataset",
                             "load_dissection"],
    "interpret.frame_examples": ["FrameExample", "FrameExamples", "load_frame_examples"],
    "interpret.distributed": ["worker_model"],
    "interpret.featurevis": ["DirectParam", "MfccStats", "Objective", "ScaledParam", "TimeJitter", "VisualizationOptions",
                             "VisualizationResult", "load_snapshots", "maximize_activation", "mfcc_stats", "select_neurons",
                             "total_variation", "NeuronInputs", "load_neuron_inputs", "visualize_neurons"],
    "interpret.masks.batch": ["MaskDatasetResult", "mask_dataset"],
    "interpret.masks.baselines": ["BaselineResult", "deletion_curve", "greedy_occlusion_mask", "random_mask_baseline",
                                  "saliency_mask"],
    "interpret.masks.fill": ["apply_mask", "fill_values"],
    "interpret.masks.importance": ["MaskResult", "importance_mask"],
    "interpret.masks.mute": ["MutedAudio", "frames_by_rank", "mute_unimportant_audio", "muted_samples"],
    "interpret.masks.options": ["MaskOptions"],
    "interpret.masks.pointing": ["PointingOptions", "PointingScore", "pointing_score"],
    "interpret.masks.pointing_game": ["PointingResult", "pointing_game"],
    "interpret.masks.problem": ["check_one_minimal", "word_frames"],
    "interpret.masks.store": ["load_mask", "load_mask_fill", "load_mask_snapshots"],
    "interpret.optim": ["Adam"],
    "synth.augmentation": ["VoicePerturbation", "add_echo", "equalizer_offset", "frequency_mask", "frequency_warp_matrix",
                           "time_mask"],
    "app.experiments": ["run_mask_experiment", "run_search_dataset_experiment", "run_train_inputs_experiment",
                        "run_train_inputs_experiment_more_noise"],
    "app.atlas.build": ["AtlasResult", "build_atlas"],
    "app.atlas": ["AtlasOptions", "LayerPage", "NeuronCard", "SiteOptions", "render_site"],
    "app.plots": ["mask_animation", "plot_curves", "plot_grid", "plot_mfccs", "plot_waveforms", "write_animation"],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = [name for names in _EXPORTS.values() for name in names]


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
