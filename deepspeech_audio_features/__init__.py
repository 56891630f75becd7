"""Look inside DeepSpeech speech recognizers: exact features, layer outputs, transcription.

The public API, re-exported here so a notebook can ``from deepspeech_audio_features import *``.
"""
import os as _os

# TensorFlow's C++ start-up chatter hides real messages; keep warnings and errors.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .alphabet import ALPHABET, BLANK_INDEX, NUM_CLASSES, labels_to_text, normalize_text, text_to_labels
from .audio import SAMPLE_RATE, AudioError, load_audio, write_wav
from .checkpoints import (EMBEDDED_MODEL_DIR, CheckpointError, load_model, read_checkpoint,
                          resolve_checkpoint, save_checkpoint)
from .datasets import Utterance, read_dataset
from .decoding import Transcription, WordTiming, beam_search_decode, greedy_decode
from .features import audio_file_to_mfccs, context_windows, mfccs, num_frames
from .inference import do_single_file_inference, transcribe, transcribe_detailed
from .model import LAYERS, DeepSpeech, official_shapes, random_weights
from .features import mfccs_to_audio
from .visualization import (MfccStats, Objective, TimeJitter, VisualizationResult, load_snapshots, maximize_activation,
                            mfcc_stats, run_train_inputs_experiment, run_train_inputs_experiment_more_noise,
                            select_neurons, total_variation)
from .dataset_search import (Example, SearchResult, get_bottom_examples, get_top_examples, load_search,
                             run_search_dataset_experiment, search_dataset)

from .masks import (BaselineResult, MaskResult, MutedAudio, check_one_minimal, deletion_curve, greedy_occlusion_mask,
                    importance_mask, load_mask, load_mask_snapshots, mute_unimportant_audio, muted_samples,
                    random_mask_baseline, run_mask_experiment, saliency_mask, word_frames)

__all__ = [
    "ALPHABET", "BLANK_INDEX", "NUM_CLASSES", "labels_to_text", "normalize_text", "text_to_labels",
    "SAMPLE_RATE", "AudioError", "load_audio", "write_wav",
    "EMBEDDED_MODEL_DIR", "CheckpointError", "load_model", "read_checkpoint", "resolve_checkpoint",
    "save_checkpoint",
    "Utterance", "read_dataset",
    "Transcription", "WordTiming", "beam_search_decode", "greedy_decode",
    "audio_file_to_mfccs", "context_windows", "mfccs", "num_frames",
    "do_single_file_inference", "transcribe", "transcribe_detailed",
    "LAYERS", "DeepSpeech", "official_shapes", "random_weights",
]
__all__ += [
    "mfccs_to_audio",
    "MfccStats", "Objective", "TimeJitter", "VisualizationResult", "load_snapshots", "maximize_activation",
    "mfcc_stats", "run_train_inputs_experiment", "run_train_inputs_experiment_more_noise", "select_neurons",
    "total_variation",
    "Example", "SearchResult", "get_bottom_examples", "get_top_examples", "load_search",
    "run_search_dataset_experiment", "search_dataset",
]
__all__ += [
    "BaselineResult", "MaskResult", "MutedAudio", "check_one_minimal", "deletion_curve", "greedy_occlusion_mask",
    "importance_mask", "load_mask", "load_mask_snapshots", "mute_unimportant_audio", "muted_samples",
    "random_mask_baseline", "run_mask_experiment", "saliency_mask", "word_frames",
]
