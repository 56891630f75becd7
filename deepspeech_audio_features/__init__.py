"""Look inside DeepSpeech speech recognizers: exact features, layer outputs, transcription,
feature visualization, dataset search and importance masks.

The public API is listed in ``__all__`` so a notebook can ``from deepspeech_audio_features
import *``. Names are loaded from their modules on first use (PEP 562), so importing a
TensorFlow-free module such as ``deepspeech_audio_features.corpus`` or ``.plots`` does not
start TensorFlow.
"""
from __future__ import annotations

import importlib
import os as _os

# TensorFlow's C++ start-up chatter hides real messages; keep warnings and errors.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_EXPORTS = {
    "alphabet": ["ALPHABET", "BLANK_INDEX", "NUM_CLASSES", "labels_to_text", "normalize_text", "text_to_labels"],
    "audio": ["SAMPLE_RATE", "AudioError", "load_audio", "write_wav"],
    "checkpoints": ["EMBEDDED_MODEL_DIR", "CheckpointError", "load_model", "read_checkpoint", "resolve_checkpoint",
                    "save_checkpoint"],
    "datasets": ["Utterance", "read_dataset"],
    "decoding": ["Transcription", "WordTiming", "beam_search_decode", "greedy_decode"],
    "features": ["audio_file_to_mfccs", "context_windows", "mfccs", "mfccs_to_audio", "num_frames"],
    "augmentation": ["VoicePerturbation", "add_echo", "equalizer_offset", "frequency_warp_matrix"],
    "inference": ["do_single_file_inference", "transcribe", "transcribe_detailed"],
    "model": ["LAYERS", "DeepSpeech", "official_shapes", "random_weights"],
    "visualization": ["MfccStats", "Objective", "TimeJitter", "VisualizationResult", "load_snapshots",
                      "maximize_activation", "mfcc_stats", "run_train_inputs_experiment",
                      "run_train_inputs_experiment_more_noise", "select_neurons", "total_variation"],
    "dataset_search": ["Example", "SearchResult", "get_bottom_examples", "get_top_examples", "load_search",
                       "run_search_dataset_experiment", "search_dataset"],
    "masks": ["BaselineResult", "MaskResult", "MutedAudio", "check_one_minimal", "deletion_curve",
              "greedy_occlusion_mask", "importance_mask", "load_mask", "load_mask_snapshots",
              "mute_unimportant_audio", "muted_samples", "random_mask_baseline", "run_mask_experiment",
              "saliency_mask", "word_frames"],
    "batch_masks": ["MaskDatasetResult", "mask_dataset"],
    "cluster": ["balanced_shards", "worker_model"],
    "plots": ["mask_animation", "plot_curves", "plot_grid", "plot_mfccs", "plot_waveforms", "write_animation"],
    "language_model": ["write_arpa"],
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
