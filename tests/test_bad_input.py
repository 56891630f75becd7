"""Bad input, adversarially: one row per case, the error type it must raise and a fragment of
its one-line message (librosa style). Every row would pass silently or with a traceback if
the check it names were missing."""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from deepspeech_audio_features import (
    EMBEDDED_MODEL_DIR,
    Alphabet,
    AudioError,
    CheckpointError,
    DAFError,
    DatasetError,
    EngineError,
    FileFormatError,
    Objective,
    ParameterError,
    RunConflictError,
    audio_file_to_mfccs,
    beam_search_decode,
    context_windows,
    get_top_examples,
    greedy_decode,
    importance_mask,
    load_audio,
    load_mask,
    load_model,
    load_search,
    load_snapshots,
    mask_dataset,
    maximize_activation,
    mfccs,
    mfccs_to_audio,
    read_dataset,
    save_checkpoint,
    text_to_labels,
    transcribe_detailed,
    word_frames,
)
from deepspeech_audio_features.infra.atomic import load_array, load_json
from deepspeech_audio_features.infra.runfolder import RunFolder
from deepspeech_audio_features.interpret.masks.engine import repair
from deepspeech_audio_features.interpret.masks.mute import muted_samples
from deepspeech_audio_features.interpret.masks.problem import MaskProblem
from deepspeech_audio_features.speech.audio import file_num_frames
from deepspeech_audio_features.synth.options import TrainConfig

RATE = 16000


# ----------------------------------------------------------------------------- inputs
def wav(folder: Path, name: str, samples, rate: int = RATE, subtype: str = "PCM_16") -> Path:
    path = folder / name
    sf.write(path, np.asarray(samples, np.float32), rate, subtype=subtype)
    return path


def tone(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def truncated_wav(folder: Path) -> Path:
    path = wav(folder, "full.wav", tone(2.0))
    data = path.read_bytes()
    (folder / "cut.wav").write_bytes(data[:44 + 2 * 8000])  # header says 2 s, 0.5 s left
    return folder / "cut.wav"


def csv_file(folder: Path, text: str, encoding: str = "utf-8", name: str = "data.csv") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def model_copy(folder: Path) -> Path:
    """A copy of the embedded model's folder that a row may damage."""
    target = folder / "model"
    shutil.copytree(EMBEDDED_MODEL_DIR, target)
    return target


def damaged_data(folder: Path, keep: float) -> Path:
    target = model_copy(folder)
    data = next(target.glob("*.data-*"))
    data.write_bytes(data.read_bytes()[:int(data.stat().st_size * keep)])
    return target


def _plot_mfccs():
    from deepspeech_audio_features.app.plots import plot_mfccs

    return plot_mfccs


def with_metadata(folder: Path, metadata) -> Path:
    target = model_copy(folder)
    path = target / "deepspeech_audio_features.json"
    path.write_text(metadata if isinstance(metadata, str) else json.dumps(metadata))
    return target


def changed_metadata(folder: Path, **changes) -> Path:
    meta = json.loads((EMBEDDED_MODEL_DIR / "deepspeech_audio_features.json").read_text())
    meta.update(changes)
    return with_metadata(folder, meta)


def nan_weights(folder: Path) -> Path:
    model = load_model()
    weights = model.official_weights()
    weights["layer_2/bias"][3] = np.nan
    weights["layer_6/weights"][0, 0] = np.inf
    from deepspeech_audio_features import DeepSpeech

    broken = DeepSpeech.__new__(DeepSpeech)  # bypass the constructor's checks to write a bad file
    broken.official_weights = lambda: weights
    broken.metadata, broken.n_hidden, broken.forget_bias = dict(model.metadata), model.n_hidden, 0.0
    save_checkpoint(broken, folder / "nan")
    return folder / "nan"


def other_index(folder: Path) -> Path:
    """The .index of one model beside the .data of another (same names and shapes)."""
    target = model_copy(folder)
    model = load_model(target)
    other = folder / "other"
    weights = {k: v + 1 for k, v in model.official_weights().items()}
    from deepspeech_audio_features import DeepSpeech

    save_checkpoint(DeepSpeech(weights, metadata=dict(model.metadata)), other)
    index = next(target.glob("*.index"))
    shutil.copy(next(other.glob("*.index")), index)
    data = next(target.glob("*.data-*"))
    data.write_bytes(data.read_bytes()[: data.stat().st_size - 1000] + bytes(1000))
    return target


# ------------------------------------------------------------------------------ model files
@lru_cache(maxsize=None)
def _graph_bytes(fused: bool = True, **options) -> bytes:
    """A tiny DeepSpeech export (n_hidden 8): the frozen .pb bytes, or the .tflite bytes."""
    from model_files import deepspeech_graph

    graph, tflite = deepspeech_graph(confident_weights(8), fused=fused, **options)
    return graph.SerializeToString() if fused else tflite


def model_file(folder: Path, name: str, data: bytes) -> Path:
    (folder / name).write_bytes(data)
    return folder / name


def pbmm_file(folder: Path, damage=lambda data: data) -> Path:
    """A .pbmm of the tiny export (min conversion size 100 bytes, so it has regions), then damaged."""
    from tensorflow.core.framework import graph_pb2

    from deepspeech_audio_features.speech.formats.memmapped import write_memmapped

    write_memmapped(graph_pb2.GraphDef.FromString(_graph_bytes()), folder / "m.pbmm", min_conversion_bytes=100)
    return model_file(folder, "m.pbmm", damage((folder / "m.pbmm").read_bytes()))


def pbmm_directory_offset(data: bytes, offset: int) -> bytes:
    return data[:-8] + struct.pack("<Q", offset)


def pbmm_without_region(data: bytes, keep) -> bytes:
    """Rewrite the directory keeping only the elements ``keep`` accepts."""
    from deepspeech_audio_features.speech.formats.memmapped import parse_directory, serialize_directory

    (offset,) = struct.unpack("<Q", data[-8:])
    elements = [e for e in parse_directory(data[offset:-8]) if keep(e[0])]
    return data[:offset] + serialize_directory(elements) + data[-8:]


def coqui(folder: Path, flags=None, alphabet_text=None, remove_alphabet=False, absl=False, flags_text=None) -> Path:
    from model_files import coqui_folder

    from deepspeech_audio_features import Alphabet

    target = coqui_folder(folder / "coqui", confident_weights(8), Alphabet(tuple(" abcdefghijklmnopqrstuvwxyz'")),
                          flags=flags, absl_flags=absl)
    if alphabet_text is not None:
        (target / "alphabet.txt").write_text(alphabet_text)
    if remove_alphabet:
        (target / "alphabet.txt").unlink()
    if flags_text is not None:
        (target / "flags.txt").write_text(flags_text)
    return target


def two_models(folder: Path) -> Path:
    model_file(folder, "a.pb", _graph_bytes())
    model_file(folder, "b.pbmm", b"")
    return folder


def confident_weights(n_hidden):
    from model_files import confident_weights as weights

    return weights(n_hidden)


def foreign_pb() -> bytes:
    from model_files import foreign_graph

    return foreign_graph().SerializeToString()


def foreign_tflite() -> bytes:
    from model_files import foreign_tflite as build

    return build()


# ------------------------------------------------------------------------------ experiments
@lru_cache(maxsize=None)
def tiny():
    """A small random network (n_hidden 32): rows that need a model stay fast."""
    from deepspeech_audio_features import DeepSpeech
    from deepspeech_audio_features.speech.model import random_weights

    return DeepSpeech(random_weights(32))


@lru_cache(maxsize=None)
def tiny_checkpoint() -> str:
    """``tiny()`` saved once per test session, for command-line rows."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="daf-tiny-")) / "tiny"
    save_checkpoint(tiny(), folder)
    return str(folder)


def cli(*argv):
    """Run a command in-process up to its handler (the CLI prints a DAFError in one line and exits 2)."""
    from deepspeech_audio_features.app.cli import build_parser

    args = build_parser().parse_args([str(a) for a in argv])
    return args.func(args)


def cli_model(*argv):
    return cli(*argv, "--checkpoint", tiny_checkpoint())


def layer1(*neurons, **kwargs):
    from deepspeech_audio_features import Objective

    return Objective("layer_1", neurons or (0,), **kwargs)


def visualize(d: Path, **options):
    from deepspeech_audio_features import maximize_activation

    settings = {"steps": 2, "frames": 12, "progress": False, **options}
    return maximize_activation(tiny(), [layer1(0, 1)], out=d / "vis", **settings)


def visualized(d: Path, damage) -> Path:
    """A finished two-step visualization run, then ``damage(run folder)``."""
    visualize(d)
    damage(d / "vis")
    return d


def truncate(path: Path, keep: float = 0.5) -> None:
    path.write_bytes(path.read_bytes()[:int(path.stat().st_size * keep)])


def dataset(d: Path, n: int = 3, name: str = "data.csv") -> Path:
    rows = [wav(d, f"u{i}.wav", tone(0.4 + 0.1 * i)).name for i in range(n)]
    return csv_file(d, "wav_filename,transcript\n" + "".join(f"{r},hello\n" for r in rows), name=name)


def search(d: Path, csv: Path | None = None, objectives=None, out: str = "search", **options):
    from deepspeech_audio_features import search_dataset

    return search_dataset(tiny(), csv or dataset(d), objectives or [layer1(0, 1)], d / out, progress=False, **options)


def searched(d: Path, damage) -> Path:
    """A finished search of three utterances in batches of one, then ``damage(d)``."""
    search(d, batch_size=1)
    damage(d)
    return d / "search"


def mask_run(d: Path, **options):
    from deepspeech_audio_features import importance_mask

    x = np.random.default_rng(0).normal(0, 5, (12, 26)).astype(np.float32)
    settings = {"steps": 4, "snapshot_every": 2, "max_prune_passes": 1, **options}
    return importance_mask(tiny(), x, run_dir=d / "mask", **settings)


def masked(d: Path, damage) -> Path:
    """A finished small mask run, then ``damage(run folder)``; returns the folder."""
    mask_run(d)
    damage(d / "mask")
    return d


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj))


def edit_result(folder: Path, **changes) -> None:
    info = json.loads((folder / "result.json").read_text())
    write_json(folder / "result.json", {**info, **changes})


def mute(d: Path, mask, **kwargs):
    from deepspeech_audio_features import mute_unimportant_audio

    return mute_unimportant_audio(wav(d, "a.wav", tone(0.5)), mask, out_dir=d / "muted", model=tiny(), **kwargs)


def symlink_loop(d: Path) -> Path:
    (d / "loop.wav").symlink_to(d / "loop.wav")
    return d / "loop.wav"


def mask_file(d: Path, array) -> Path:
    np.save(d / "m.npy", np.asarray(array))
    return d / "m.npy"


def train_config(**changes):
    from deepspeech_audio_features.synth.options import TrainConfig

    return TrainConfig(**{"train": "a.csv", "dev": "b.csv", "out": "runs/t", **changes})


def corpus_options(**changes):
    from deepspeech_audio_features.synth.options import CorpusOptions

    return CorpusOptions(**changes)


FRAMES_HALF_SECOND = 24  # frames of tone(0.5): (8000 - 512) // 320 + 1
NAN = float("nan")


# ------------------------------------------------------------------------------ rows
# (id, call(tmp_path), error type, message fragment)
ROWS = [
    # audio files
    ("audio-missing", lambda d: load_audio(d / "nope.wav"), AudioError, "no such file"),
    ("audio-directory", lambda d: load_audio(d), AudioError, "is a directory"),
    ("audio-empty-file", lambda d: load_audio(csv_file(d, "", name="e.wav")), AudioError, "unreadable"),
    ("audio-text-file", lambda d: load_audio(csv_file(d, "hello", name="t.wav")), AudioError, "unreadable"),
    ("audio-random-flac", lambda d: load_audio(csv_file(d, "x" * 999, name="r.flac")), AudioError, "unreadable"),
    ("audio-zero-samples", lambda d: load_audio(wav(d, "z.wav", [])), AudioError, "zero samples"),
    ("audio-too-short", lambda d: load_audio(wav(d, "s.wav", tone(0.01))), AudioError, "shorter than one 32 ms"),
    ("audio-nan", lambda d: load_audio(wav(d, "n.wav", np.r_[tone(), np.nan], subtype="FLOAT")), AudioError,
     "NaN or Inf"),
    ("audio-inf", lambda d: load_audio(wav(d, "i.wav", np.r_[tone(), np.inf], subtype="FLOAT")), AudioError,
     "NaN or Inf"),
    ("audio-truncated", lambda d: load_audio(truncated_wav(d)), AudioError, "truncated"),
    ("audio-header-only", lambda d: load_audio(csv_file(d, "RIFF\x24\x00\x00\x00WAVEfmt ", name="h.wav")),
     AudioError, "unreadable"),
    ("mfccs-file-missing", lambda d: audio_file_to_mfccs(d / "gone.flac"), AudioError, "no such file"),
    # waveforms and MFCC settings
    ("mfccs-2d", lambda d: mfccs(np.zeros((2, 1000))), ParameterError, "1-D waveform"),
    ("mfccs-short", lambda d: mfccs(np.zeros(100)), ParameterError, "at least 512"),
    ("mfccs-nan", lambda d: mfccs(np.r_[tone(), np.nan]), ParameterError, "NaN"),
    ("mfccs-rate", lambda d: mfccs(tone(), 8000), ParameterError, "16000 Hz"),
    ("mfccs-limit-high", lambda d: mfccs(tone(), upper_frequency_limit=20000), ParameterError,
     "upper_frequency_limit"),
    ("mfccs-limit-zero", lambda d: mfccs(tone(), upper_frequency_limit=0), ParameterError, "upper_frequency_limit"),
    ("mfccs-limit-text", lambda d: mfccs(tone(), upper_frequency_limit="8000"), ParameterError,
     "upper_frequency_limit"),
    # the network
    ("model-13-coefficients", lambda d: load_model().layer_outputs(np.zeros((20, 13))), ParameterError, "[T, 26]"),
    ("model-4d", lambda d: load_model().layer_outputs(np.zeros((1, 2, 20, 26))), ParameterError, "[T, 26]"),
    ("model-no-frames", lambda d: load_model().layer_outputs(np.zeros((0, 26))), ParameterError, "no frames"),
    ("model-nan", lambda d: load_model().probabilities(np.full((20, 26), np.nan)), ParameterError, "NaN"),
    ("model-inf", lambda d: load_model().logits(np.r_[np.zeros((5, 26)), np.full((1, 26), np.inf)]), ParameterError,
     "NaN or Inf"),
    ("model-unknown-layer", lambda d: load_model().layer_outputs(np.zeros((20, 26)), ["layer_9"]), ParameterError,
     "unknown layer"),
    ("model-forward-layer", lambda d: load_model().forward(np.zeros((1, 20, 26)), up_to="lstm"), ParameterError,
     "unknown layer"),
    # decoding and text
    ("greedy-28-classes", lambda d: greedy_decode(np.full((10, 28), 1 / 28)), ParameterError, "[T, 29]"),
    ("greedy-nan", lambda d: greedy_decode(np.full((10, 29), np.nan)), ParameterError, "NaN"),
    ("beam-negative", lambda d: beam_search_decode(-np.ones((10, 29))), ParameterError, "negative"),
    ("greedy-inf", lambda d: greedy_decode(np.full((10, 29), np.inf)), ParameterError, "NaN or Inf"),
    ("beam-width-zero", lambda d: beam_search_decode(np.full((10, 29), 1 / 29), beam_width=0), ParameterError,
     "beam_width"),
    ("beam-width-float", lambda d: beam_search_decode(np.full((10, 29), 1 / 29), beam_width=2.5), ParameterError,
     "beam_width"),
    ("beam-lm-missing", lambda d: beam_search_decode(np.full((10, 29), 1 / 29), lm=str(d / "lm.arpa")),
     ParameterError, "no such language model"),
    ("labels-outside-alphabet", lambda d: text_to_labels("café"), ParameterError, "outside the alphabet"),
    ("labels-digits", lambda d: text_to_labels("route 66"), ParameterError, "outside the alphabet"),
    # MFCC inversion
    ("invert-13", lambda d: mfccs_to_audio(np.zeros((10, 13))), ParameterError, "[T, 26]"),
    ("invert-nan", lambda d: mfccs_to_audio(np.full((10, 26), np.nan)), ParameterError, "NaN"),
    ("invert-empty", lambda d: mfccs_to_audio(np.zeros((0, 26))), ParameterError, "no frames"),
    ("invert-iterations", lambda d: mfccs_to_audio(np.zeros((10, 26)), iterations=-1), ParameterError,
     "iterations"),
    ("invert-oversample", lambda d: mfccs_to_audio(np.zeros((10, 26)), oversample=0), ParameterError, "oversample"),
    # datasets
    ("csv-missing", lambda d: read_dataset(d / "none.csv"), DatasetError, "no such dataset"),
    ("csv-no-columns", lambda d: read_dataset(csv_file(d, "path,text\na.wav,hi\n")), DatasetError,
     "wav_filename and transcript"),
    ("csv-empty-file", lambda d: read_dataset(csv_file(d, "")), DatasetError, "not a DeepSpeech CSV"),
    ("csv-header-only", lambda d: read_dataset(csv_file(d, "wav_filename,wav_filesize,transcript\n")), DatasetError,
     "no rows"),
    ("csv-latin-1", lambda d: read_dataset(csv_file(d, "wav_filename,transcript\ncaf\u00e9.wav,caf\u00e9\n", "latin-1")),
     DatasetError, "not UTF-8"),
    ("csv-empty-filename", lambda d: read_dataset(csv_file(d, "wav_filename,transcript\n,hello\n")), DatasetError,
     "line 2"),
    ("csv-nul-byte", lambda d: read_dataset(csv_file(d, "wav_filename,transcript\na.wav,h\x00i\n")), DatasetError,
     "NUL byte"),
    # checkpoints
    ("checkpoint-missing", lambda d: load_model(d / "no-model"), CheckpointError, "no such checkpoint"),
    ("checkpoint-empty-folder", lambda d: load_model(d), CheckpointError, "0 *.index files"),
    ("checkpoint-truncated-data", lambda d: load_model(damaged_data(d, 0.5)), CheckpointError, "unreadable"),
    ("checkpoint-empty-data", lambda d: load_model(damaged_data(d, 0.0)), CheckpointError, "unreadable"),
    ("checkpoint-missing-data", lambda d: [p.unlink() for p in model_copy(d).glob("*.data-*")] and
     load_model(d / "model"), CheckpointError, "unreadable"),
    ("checkpoint-truncated-index", lambda d: [p.write_bytes(p.read_bytes()[:50]) for p in model_copy(d).glob("*.index")]
     and load_model(d / "model"), CheckpointError, "unreadable"),
    ("checkpoint-index-of-another-model", lambda d: load_model(other_index(d)), CheckpointError, "unreadable"),
    ("checkpoint-nan-weights", lambda d: load_model(nan_weights(d)), CheckpointError,
     "NaN or Inf in layer_2/bias, layer_6/weights"),
    ("metadata-invalid-json", lambda d: load_model(with_metadata(d, "{'name': 1")), CheckpointError, "invalid JSON"),
    ("metadata-a-list", lambda d: load_model(with_metadata(d, [1, 2])), CheckpointError, "expected a JSON object"),
    ("metadata-alphabet-number", lambda d: load_model(changed_metadata(d, alphabet=29)), CheckpointError,
     "alphabet must be str"),
    ("metadata-other-alphabet", lambda d: load_model(changed_metadata(d, alphabet=" abc")), CheckpointError,
     "alphabet"),
    ("metadata-limit-text", lambda d: load_model(changed_metadata(d, upper_frequency_limit="8000")), CheckpointError,
     "upper_frequency_limit must be"),
    ("metadata-limit-range", lambda d: load_model(changed_metadata(d, upper_frequency_limit=22050)), CheckpointError,
     "(0, 8000]"),
    ("metadata-limit-bool", lambda d: load_model(changed_metadata(d, upper_frequency_limit=True)), CheckpointError,
     "upper_frequency_limit must be"),
    ("metadata-lm-escapes", lambda d: load_model(changed_metadata(d, lm="../../etc/passwd")), CheckpointError,
     "lm must be a file name"),
    ("metadata-n-hidden-text", lambda d: load_model(changed_metadata(d, n_hidden="384")), CheckpointError,
     "n_hidden must be int"),
    ("metadata-forget-bias-text", lambda d: load_model(changed_metadata(d, forget_bias="0")), CheckpointError,
     "forget_bias must be"),
    # exported models: .pb, .pbmm, .tflite, Coqui STT folders (speech/formats/)
    ("pb-empty", lambda d: load_model(model_file(d, "m.pb", b"")), CheckpointError, "m.pb: a GraphDef with no nodes"),
    ("pb-random-bytes", lambda d: load_model(model_file(d, "m.pb", bytes(range(256)) * 4)), CheckpointError,
     "not a TensorFlow GraphDef"),
    ("pb-truncated", lambda d: load_model(model_file(d, "m.pb", _graph_bytes()[:len(_graph_bytes()) // 2])),
     CheckpointError, "m.pb: not a TensorFlow GraphDef"),
    ("pb-another-network", lambda d: load_model(model_file(d, "m.pb", foreign_pb())), CheckpointError,
     "a graph of another network"),
    ("pb-other-sample-rate", lambda d: load_model(model_file(d, "m.pb", _graph_bytes(sample_rate=8000))),
     CheckpointError, "sample_rate is 8000"),
    ("pb-alphabet-truncated", lambda d: load_model(model_file(d, "m.pb", _graph_bytes(
        serialized_alphabet=b"\x1c\x00\x00\x00\x01\x00 "))), CheckpointError, "metadata_alphabet: truncated"),
    ("pb-alphabet-too-small", lambda d: load_model(model_file(d, "m.pb", _graph_bytes(
        serialized_alphabet=b"\x01\x00\x00\x00\x01\x00a"))), CheckpointError, "layer_6 has 29 outputs"),
    ("pbmm-truncated", lambda d: load_model(pbmm_file(d, lambda b: b[:len(b) // 2])), CheckpointError,
     "m.pbmm: directory offset"),
    ("pbmm-empty", lambda d: load_model(model_file(d, "m.pbmm", b"")), CheckpointError, "too short"),
    ("pbmm-directory-offset-into-a-region", lambda d: load_model(pbmm_file(d, lambda b: pbmm_directory_offset(b, 70))),
     CheckpointError, "broken memmapped directory"),
    ("pbmm-region-missing", lambda d: load_model(pbmm_file(d, lambda b: pbmm_without_region(b, lambda n: "layer_1" not in n))),
     CheckpointError, "which the directory lacks"),
    ("pbmm-no-graph", lambda d: load_model(pbmm_file(d, lambda b: pbmm_without_region(b, lambda n: not n.endswith("."))))
     , CheckpointError, "no memmapped_package://. region"),
    ("tflite-random-bytes", lambda d: load_model(model_file(d, "m.tflite", b"\0" * 64)), CheckpointError,
     "not a TensorFlow Lite file"),
    ("tflite-truncated", lambda d: load_model(model_file(d, "m.tflite", _graph_bytes(fused=False)[:3000])),
     CheckpointError, "truncated or malformed"),
    ("tflite-another-network", lambda d: load_model(model_file(d, "m.tflite", foreign_tflite())), CheckpointError,
     "expected DeepSpeech's chain of 6 FULLY_CONNECTED"),
    ("model-folder-two-files", lambda d: load_model(two_models(d)), CheckpointError, "2 model files"),
    ("coqui-no-alphabet", lambda d: load_model(coqui(d, remove_alphabet=True)), CheckpointError, "no alphabet.txt"),
    ("coqui-alphabet-empty-line", lambda d: load_model(coqui(d, alphabet_text="a\n\nb\n")), CheckpointError,
     "line 2 is empty"),
    ("coqui-alphabet-duplicates", lambda d: load_model(coqui(d, alphabet_text="a\nb\na\n")), CheckpointError,
     "duplicates"),
    ("coqui-alphabet-size", lambda d: load_model(coqui(d, alphabet_text="a\nb\n")), CheckpointError,
     "layer_6 has 29 outputs but the alphabet has 2 labels"),
    ("coqui-flags-not-json", lambda d: load_model(coqui(d, flags_text="{n_hidden: 8")), CheckpointError,
     "flags.txt: invalid JSON"),
    ("coqui-flags-neither", lambda d: load_model(coqui(d, flags_text="n_hidden 8")), CheckpointError,
     "neither JSON nor --name=value"),
    ("coqui-n-hidden-mismatch", lambda d: load_model(coqui(d, flags={"n_hidden": 2048})), CheckpointError,
     "n_hidden 2048 but the checkpoint has 8"),
    ("coqui-bytes-output-mode", lambda d: load_model(coqui(d, flags={"bytes_output_mode": True}, absl=True)),
     CheckpointError, "bytes_output_mode"),
    ("coqui-sample-rate-text", lambda d: load_model(coqui(d, flags={"audio_sample_rate": "16k"})), CheckpointError,
     "audio_sample_rate must be a number"),
    ("coqui-other-window", lambda d: load_model(coqui(d, flags={"feature_win_len": 25})), CheckpointError,
     "feature_win_len is 25"),
    ("greedy-alphabet-columns", lambda d: greedy_decode(np.full((4, 29), 1 / 29), Alphabet.parse("a\nb\n")),
     ParameterError, "[T, 3] (2 labels + blank)"),
    ("plot-nan-mfccs", lambda d: _plot_mfccs()(np.full((10, 26), np.nan)), ParameterError, "NaN or Inf"),
    # arrays given to NumPy helpers
    ("context-windows-1d", lambda d: context_windows(np.zeros(26)), ParameterError, "[T, 26]"),
    # alignments, dissection and probes
    ("textgrid-not-a-textgrid", lambda d: _alignments().read_textgrid(csv_file(d, "hello", name="x.TextGrid")),
     FileFormatError, "x.TextGrid: not a readable TextGrid"),
    ("textgrid-missing", lambda d: _alignments().read_textgrid(d / "nope.TextGrid"), FileFormatError, "no such TextGrid"),
    ("phone-unknown-label", lambda d: _phones().fold_phone("xx"), FileFormatError, "'xx' is not ARPAbet"),
    ("dissection-quantile-1", lambda d: _dissection().DissectionOptions(quantile=1.0), ParameterError, "quantile"),
    ("dissection-top-k-0", lambda d: _dissection().DissectionOptions(top_k=0), ParameterError, "top_k: must be >= 1"),
    ("dissection-window-negative", lambda d: _dissection().DissectionOptions(window=-1), ParameterError,
     "window: must be >= 0"),
    ("dissection-bins-0", lambda d: _dissection().DissectionOptions(histogram_bins=0), ParameterError,
     "histogram_bins"),
    ("dissection-missing-dataset", lambda d: _dissection().dissect_dataset(tiny(), d / "none.csv", d / "out",
                                                                           progress=False),
     DatasetError, "none.csv: no such dataset"),
    ("dissection-no-readable-audio",
     lambda d: _dissection().dissect_dataset(tiny(), csv_file(d, "wav_filename,transcript\nempty.wav,x\n"), d / "out",
                                             progress=False) if (d / "empty.wav").write_bytes(b"") == 0 else None,
     DatasetError, "no utterance with readable audio"),
    ("frame-examples-no-run", lambda d: _dissection().load_frame_examples(d, "layer_1"), ParameterError,
     "holds no dissection run"),
    ("frame-examples-accumulator-k-0",
     lambda d: _frame_examples().FrameExampleAccumulator(2, 0, 1, np.array([0.0, 1.0]), 8), ParameterError, "top_k"),
    ("frame-examples-accumulator-window-negative",
     lambda d: _frame_examples().FrameExampleAccumulator(2, 1, -1, np.array([0.0, 1.0]), 8), ParameterError, "window"),
    ("probe-steps-0", lambda d: _probes().ProbeOptions(steps=0), ParameterError, "steps"),
    ("align-no-recipe", lambda d: _corpus().align_corpus(d, progress=False), DatasetError, "corpus.json"),
    # the neuron atlas
    ("atlas-missing-dataset", lambda d: cli_model("atlas", "--dataset", d / "none.csv", "--out", d / "atlas"),
     DatasetError, "none.csv: no such dataset"),
    ("atlas-missing-checkpoint", lambda d: cli("atlas", "--dataset", dataset(d), "--out", d / "atlas", "--checkpoint",
                                               d / "no-model"), CheckpointError, "no such checkpoint"),
    ("atlas-unreadable-checkpoint", lambda d: cli("atlas", "--dataset", dataset(d), "--out", d / "atlas",
                                                  "--checkpoint", damaged_data(d, 0.5)), CheckpointError, "unreadable"),
    ("atlas-unknown-layer", lambda d: cli_model("atlas", "--dataset", dataset(d), "--out", d / "a", "--layers", "layer_9"),
     ParameterError, "layers: expected distinct layers"),
    ("atlas-neurons-per-layer-0", lambda d: cli_model("atlas", "--dataset", dataset(d), "--out", d / "a",
                                                      "--neurons-per-layer", "0"), ParameterError, "neurons_per_layer"),
    ("atlas-audio-quality-2", lambda d: _atlas().SiteOptions(audio_quality=2.0), ParameterError, "audio_quality"),
    ("atlas-probes-and-probe-train", lambda d: cli_model("atlas", "--dataset", dataset(d), "--out", d / "a", "--probes",
                                                         d, "--probe-train", dataset(d)), ParameterError, "not both"),
    ("atlas-probes-missing", lambda d: cli_model("atlas", "--dataset", dataset(d), "--out", d / "a", "--probes",
                                                 d / "no-probes"), FileFormatError, "no probe result"),
    ("atlas-probes-not-a-table", lambda d: cli_model("atlas", "--dataset", dataset(d), "--out", d / "a", "--probes",
                                                     csv_file(d, "{}", name="result.json")), FileFormatError, "no table"),
    ("atlas-other-models-folder", lambda d: cli_model("atlas", "--dataset", dataset(d), "--out", foreign_atlas(d)),
     RunConflictError, "holds a neuron atlas with other settings"),
    ("atlas-card-past-width", lambda d: _atlas().render_site([_atlas().LayerPage("layer_1", 2, [atlas_card(5)], [0.0, 1.0])],
                                                            d / "site", _speech_scale(), progress=False),
     ParameterError, "does not fit a layer of width 2"),
    ("atlas-card-mean-shape", lambda d: _atlas().NeuronCard("layer_1", 0, np.zeros(5), np.zeros(39), 0.0),
     ParameterError, "mean and iou must be [39]"),
    ("atlas-histogram-edges", lambda d: _atlas_media().histogram_svg(np.ones(4), np.arange(4)), ParameterError,
     "edges [B+1]"),
    ("atlas-snippet-unreadable", lambda d: _atlas_media().audio_snippet(csv_file(d, "x", name="a.wav"), 0, 10),
     AudioError, "a.wav: cannot read the audio"),
    ("atlas-picture-nan", lambda d: _atlas_media().mfcc_picture(np.full((4, 26), np.nan), _speech_scale(), d / "x.webp"),
     ParameterError, "NaN or Inf"),
    # --- feature visualization: options, objectives, run folders
    ("vis-steps-negative", lambda d: visualize(d, steps=-1), ParameterError, "steps: must be >= 0"),
    ("vis-snapshot-every-zero", lambda d: visualize(d, snapshot_every=0), ParameterError, "snapshot_every"),
    ("vis-learning-rate-nan", lambda d: visualize(d, learning_rate=NAN), ParameterError, "learning_rate"),
    ("vis-frames-zero", lambda d: visualize(d, frames=0), ParameterError, "frames: must be >= 1"),
    ("vis-steps-float", lambda d: visualize(d, steps=2.5), ParameterError, "steps: expected an integer"),
    ("vis-beta1-one", lambda d: visualize(d, beta1=1.0), ParameterError, "beta1"),
    ("vis-init-std-negative", lambda d: visualize(d, init_std=-1.0), ParameterError, "init_std"),
    ("vis-init-missing-file", lambda d: visualize(d, init=str(d / "none.wav")), ParameterError, "init: must be one of"),
    ("vis-clamp-without-stats", lambda d: visualize(d, clamp=True), ParameterError, "clamp: needs MFCC statistics"),
    ("vis-unknown-option", lambda d: visualize(d, stepz=3), ParameterError, "unknown option(s) stepz"),
    ("vis-transform-a-string", lambda d: visualize(d, transform="jitter"), ParameterError, "transform: expected a"),
    ("vis-options-a-dict", lambda d: visualize(d, options={"steps": 3}), ParameterError,
     "options: expected VisualizationOptions"),
    ("objective-name-escapes", lambda d: layer1(name="../../escape"), ParameterError, "plain folder name"),
    ("objective-name-absolute", lambda d: layer1(name=str(d / "abs")), ParameterError, "plain folder name"),
    ("objective-name-dotdot", lambda d: layer1(name=".."), ParameterError, "plain folder name"),
    ("objective-lambda-nan", lambda d: layer1(lam=NAN), ParameterError, "lam: objective layer_1"),
    ("objective-lambda-negative", lambda d: layer1(lam=-1.0), ParameterError, "lam: objective layer_1"),
    ("objective-diversity-inf", lambda d: layer1(diversity=float("inf")), ParameterError, "diversity"),
    ("objective-neuron-fraction", lambda d: layer1(1.5), ParameterError, "integer indices"),
    ("objective-neuron-negative", lambda d: layer1(-1), ParameterError, "indices >= 0"),
    ("objective-neuron-text", lambda d: layer1("3"), ParameterError, "integer indices"),
    ("objective-n-inputs-zero", lambda d: layer1(n_inputs=0), ParameterError, "n_inputs"),
    ("objective-unknown-layer", lambda d: Objective("layer_9", (1,)),
     ParameterError, "unknown layer 'layer_9'"),
    ("objective-neuron-past-width", lambda d: maximize_activation(tiny(), [layer1(32)], steps=1, frames=12, progress=False),
     ParameterError, "neuron 32 out of range"),
    ("objective-duplicate-names", lambda d: maximize_activation(
        tiny(), [layer1(0), layer1(1)], steps=1, frames=12, progress=False), ParameterError, "names must be unique"),
    ("vis-run-other-settings", lambda d: visualized(d, lambda f: None) and visualize(d, learning_rate=0.1),
     RunConflictError, "other settings (learning_rate)"),
    ("vis-run-config-deleted", lambda d: visualized(d, lambda f: (f / "config.json").unlink()) and visualize(d),
     RunConflictError, "holds files but no config.json"),
    ("vis-run-config-truncated", lambda d: visualized(d, lambda f: truncate(f / "config.json")) and visualize(d),
     RunConflictError, "unreadable config.json"),
    ("vis-state-truncated", lambda d: visualized(d, lambda f: truncate(f / "state.npz")) and visualize(d, steps=4),
     FileFormatError, "state.npz: unreadable or truncated"),
    ("vis-state-other-rows", lambda d: visualized(d, lambda f: np.savez(f / "state.npz", step=1, variable=np.zeros((3, 12, 26)),
                                                                        m=np.zeros((3, 12, 26)), v=np.zeros((3, 12, 26))))
     and visualize(d, steps=4), FileFormatError, "not this run's optimizer state"),
    ("vis-state-nan", lambda d: visualized(d, lambda f: np.savez(f / "state.npz", step=1, variable=np.full((1, 12, 26), np.nan),
                                                                 m=np.zeros((1, 12, 26)), v=np.zeros((1, 12, 26))))
     and visualize(d, steps=4), FileFormatError, "NaN or Inf"),
    ("vis-snapshot-truncated", lambda d: load_snapshots(
        visualized(d, lambda f: truncate(f / "layer_1" / "input_var_2.npy")) / "vis" / "layer_1"), FileFormatError,
     "input_var_2.npy: not a readable .npy"),
    # --- dataset search: options, dataset contents, run folders
    ("search-batch-size-zero", lambda d: search(d, batch_size=0), ParameterError, "batch_size: must be >= 1"),
    ("search-batch-size-float", lambda d: search(d, batch_size=2.5), ParameterError, "batch_size: expected an integer"),
    ("search-max-utterances-zero", lambda d: search(d, max_utterances=0), ParameterError, "max_utterances"),
    ("search-dataset-missing", lambda d: search(d, csv=d / "none.csv"), DatasetError, "no such dataset"),
    ("search-neuron-past-logits", lambda d: search(d, objectives=[Objective(
        "layer_6", (29,))]), ParameterError, "neuron 29 out of range"),
    ("search-rows-added", lambda d: searched(d, lambda d: dataset(d, 4)) and search(d, d / "data.csv", batch_size=1),
     RunConflictError, "other settings (dataset_digest)"),
    ("search-audio-replaced", lambda d: searched(d, lambda d: wav(d, "u1.wav", tone(2.0)))
     and search(d, d / "data.csv", batch_size=1), RunConflictError, "dataset_digest"),
    ("search-other-batch-size", lambda d: searched(d, lambda d: None) and search(d, batch_size=2), RunConflictError,
     "other settings (batch_size)"),
    ("search-index-deleted-other-batch-size", lambda d: searched(d, lambda d: (d / "search" / "index.json").unlink())
     and search(d, batch_size=2), RunConflictError, "holds files but no index.json"),
    ("search-index-truncated", lambda d: searched(d, lambda d: truncate(d / "search" / "index.json"))
     and search(d, batch_size=1), RunConflictError, "unreadable index.json"),
    ("search-index-a-list", lambda d: searched(d, lambda d: write_json(d / "search" / "index.json", []))
     and search(d, batch_size=1), RunConflictError, "index.json is not an object"),
    ("search-load-truncated-batch", lambda d: load_search(
        searched(d, lambda d: truncate(d / "search" / "batch_0.npz"))), FileFormatError, "batch_0.npz: unreadable"),
    ("search-load-batch-of-another-search", lambda d: load_search(
        searched(d, lambda d: search(d, out="other", batch_size=1, objectives=[layer1(2)]) and shutil.copy(
            d / "other" / "batch_1.npz", d / "search" / "batch_1.npz"))), FileFormatError, "tag differs"),
    ("search-load-no-search", lambda d: get_top_examples(3, d), ParameterError,
     "holds no search"),
    # --- importance masks: inputs, options, frame spans, run folders
    ("mask-mfccs-13", lambda d: importance_mask(tiny(), np.zeros((12, 13))),
     ParameterError, "[T, 26]"),
    ("mask-mfccs-nan", lambda d: importance_mask(
        tiny(), np.r_[np.zeros((11, 26)), np.full((1, 26), np.nan)]), ParameterError,
     "mfccs: NaN or Inf in 1 frame(s), the first at frame 11"),
    ("saliency-mfccs-inf", lambda d: _baselines().saliency_mask(tiny(), np.r_[np.zeros((5, 26)), np.full((1, 26), np.inf)]),
     ParameterError, "mfccs: NaN or Inf in 1 frame(s), the first at frame 5"),
    ("occlusion-mfccs-nan", lambda d: _baselines().greedy_occlusion_mask(tiny(), np.full((6, 26), np.nan)),
     ParameterError, "mfccs: NaN or Inf in 6 frame(s)"),
    ("random-mask-mfccs-text", lambda d: _baselines().random_mask_baseline(tiny(), "x.wav", 0.5),
     ParameterError, "mfccs: expected an array shaped [T, 26], got str"),
    ("write-wav-nan", lambda d: _api().write_wav(d / "n.wav", np.r_[tone(0.1), np.nan]), ParameterError,
     "samples: NaN or Inf in the waveform"),
    ("write-wav-3d", lambda d: _api().write_wav(d / "s.wav", np.zeros((4, 4, 2))), ParameterError,
     "samples: expected a 1-D waveform [N], got shape (4, 4, 2)"),
    ("load-dissection-of-an-empty-folder", lambda d: _api().load_dissection(d), ParameterError, "holds no dissection"),
    ("load-dissection-index-without-layers", lambda d: (write_json(d / "index.json", {"layers": 3}),
                                                        _api().load_dissection(d)), FileFormatError, "no list of layers"),
    ("frequency-warp-zero", lambda d: _api().frequency_warp_matrix(0.0), ParameterError, "alpha: must be > 0"),
    ("layer-1-from-13-coefficients", lambda d: tiny().layer_1_from_mfccs(_tf().zeros((1, 10, 13))), ParameterError,
     "x: expected MFCCs shaped [B, T, 26], got (1, 10, 13)"),
    ("normalize-text-of-a-number", lambda d: _api().normalize_text(5), ParameterError, "text: expected a string, got int"),
    ("mfcc-stats-of-nothing", lambda d: _api().mfcc_stats([]), ParameterError, "no frames"),
    ("mfcc-stats-13-coefficients", lambda d: _api().mfcc_stats([np.zeros((4, 26)), np.zeros((4, 13))]), ParameterError,
     "mfccs[1]: expected an array shaped [T, 26], got (4, 13)"),
    ("mfcc-stats-nan", lambda d: _api().mfcc_stats([np.full((4, 26), np.nan)]), ParameterError, "mfccs[0]: NaN"),
    ("apply-mask-of-another-length", lambda d: _api().apply_mask(np.zeros((10, 26)), np.ones((9, 26))), ParameterError,
     "a mask shaped (9, 26) does not fit MFCCs shaped (10, 26)"),
    ("apply-mask-wider-than-the-input", lambda d: _api().apply_mask(np.zeros((10, 1)), np.ones((10, 26))),
     ParameterError, "does not fit MFCCs shaped (10, 1)"),
    ("apply-mask-fill-of-13", lambda d: _api().apply_mask(np.zeros((10, 26)), np.ones((10, 26)), np.ones(13)),
     ParameterError, "fill must be 26 numbers"),
    ("equalizer-of-text", lambda d: _api().equalizer_offset("x"), ParameterError, "gains_db: expected numbers"),
    ("equalizer-of-one-gain", lambda d: _api().equalizer_offset([3.0]), ParameterError, "at least 2 finite numbers"),
    ("deletion-curve-scores-of-another-shape", lambda d: _api().deletion_curve(tiny(), np.zeros((8, 26)), np.ones((3, 3))),
     ParameterError, "scores: expected finite numbers shaped (8, 26)"),
    ("deletion-curve-fraction-above-one", lambda d: _api().deletion_curve(tiny(), np.zeros((8, 26)), np.ones((8, 26)),
                                                                          fractions=[0.5, 1.5]), ParameterError, "fractions"),
    ("one-minimal-check-mask-of-another-shape", lambda d: _api().check_one_minimal(tiny(), np.zeros((8, 26)), np.ones((3, 3))),
     ParameterError, "mask: shaped (3, 3), but the MFCCs are (8, 26)"),
    ("layer-outputs-of-text", lambda d: tiny().layer_outputs("abc"), ParameterError,
     "mfccs: expected numbers shaped [T, 26] or [B, T, 26], got str"),
    ("plot-mask-of-another-shape", lambda d: _plots().plot_mfccs(np.zeros((8, 26)), mask=np.ones((3, 3))),
     ParameterError, "mask: shaped (3, 3), but the MFCCs are (8, 26)"),
    ("transcribe-model-and-audio-swapped", lambda d: transcribe_detailed(tiny(), np.zeros((12, 26), np.float32)),
     ParameterError, "model: expected a DeepSpeech model"),
    ("transcribe-audio-a-number", lambda d: transcribe_detailed(5, tiny()), ParameterError,
     "audio: expected an audio file's path or MFCCs [T, 26], got int"),
    ("mask-frames-reversed", lambda d: mask_run(d, preserve_frames=(10, 5)), ParameterError, "span 10:5"),
    ("mask-frames-past-end", lambda d: mask_run(d, preserve_frames=(0, 99)), ParameterError, "span 0:99"),
    ("mask-frames-no-index", lambda d: mask_run(d, preserve_frames=np.array([], int)), ParameterError,
     "selects no frame"),
    ("mask-frames-index-past-end", lambda d: mask_run(d, preserve_frames=[3, 40]), ParameterError, "[0, 12)"),
    ("mask-frames-fraction", lambda d: mask_run(d, preserve_frames=[1.5, 2.0]), ParameterError, "1-D frame indices"),
    ("mask-frames-bool-length", lambda d: mask_run(d, preserve_frames=np.ones(5, bool)), ParameterError, "expected (12,)"),
    ("mask-steps-negative", lambda d: mask_run(d, steps=-1), ParameterError, "steps: must be >= 0"),
    ("mask-steps-fraction", lambda d: mask_run(d, steps=2.5), ParameterError, "steps: expected an integer"),
    ("mask-lam-nan", lambda d: mask_run(d, lam=(NAN, 1.0)), ParameterError, "lam"),
    ("mask-tau-zero", lambda d: mask_run(d, tau=(1.0, 0.0)), ParameterError, "tau: must be > 0"),
    ("mask-variant-unknown", lambda d: mask_run(d, variant="frequency"), ParameterError, "variant: must be one of"),
    ("mask-straight-through-two", lambda d: mask_run(d, straight_through=2.0), ParameterError, "straight_through"),
    ("mask-options-a-string", lambda d: mask_run(d, options="fast"), ParameterError, "options: expected MaskOptions"),
    ("mask-fill-unknown", lambda d: mask_run(d, fill="noise"), ParameterError, "fill: must be one of"),
    ("mask-fill-mean-no-file", lambda d: mask_run(d, fill="mean"), ParameterError, "fill_file: fill 'mean' needs"),
    ("mask-fill-file-without-mean", lambda d: mask_run(d, fill_file="mean.json"), ParameterError,
     "fill_file: only used with fill 'mean'"),
    ("mask-fill-file-short", lambda d: write_json(d / "m.json", {"mean": [1.0]})
     or mask_run(d, fill="mean", fill_file=str(d / "m.json")), FileFormatError, "m.json: a fill needs 26"),
    ("mask-fill-file-missing", lambda d: mask_run(d, fill="mean", fill_file=str(d / "none.npy")), FileFormatError,
     "none.npy: no such fill file"),
    ("mask-run-other-fill", lambda d: masked(d, lambda f: None) and mask_run(d, fill="silence"), RunConflictError,
     "other settings (fill, fill_values)"),
    ("mask-run-other-settings", lambda d: masked(d, lambda f: None) and mask_run(d, steps=6), RunConflictError,
     "other settings (steps)"),
    ("mask-result-truncated", lambda d: masked(d, lambda f: truncate(f / "result.json")) and mask_run(d),
     FileFormatError, "result.json: not valid JSON"),
    ("mask-result-a-list", lambda d: masked(d, lambda f: write_json(f / "result.json", [])) and mask_run(d),
     FileFormatError, "not a mask result"),
    ("mask-result-escapes", lambda d: masked(d, lambda f: edit_result(f, final_snapshot="../../etc/passwd"))
     and mask_run(d), FileFormatError, "final_snapshot '../../etc/passwd' is not one of"),
    ("frame-examples-truncated", lambda d: _truncated_examples(d), FileFormatError, "_examples.npz: unreadable"),
    ("load-mask-missing-file", lambda d: load_mask(d / "none.npy"), ParameterError, "none.npy: no such mask file"),
    ("load-mask-empty-folder", lambda d: load_mask(d), FileFormatError, "no mask snapshots"),
    ("mask-final-snapshot-truncated", lambda d: load_mask(
        masked(d, lambda f: truncate(f / json.loads((f / "result.json").read_text())["final_snapshot"])) / "mask"),
     FileFormatError, "not a readable .npy"),
    ("mask-state-truncated", lambda d: masked(d, lambda f: ((f / "result.json").unlink(), np.savez(f / "state.npz", a=1),
                                                            truncate(f / "state.npz"))) and mask_run(d),
     FileFormatError, "state.npz: unreadable or truncated"),
    ("mask-state-missing-arrays", lambda d: masked(d, lambda f: ((f / "result.json").unlink(),
                                                                 np.savez(f / "state.npz", step=1))) and mask_run(d),
     FileFormatError, "not a mask run's state (lacks"),
    ("mask-state-swap-tried-other-size", lambda d: masked(d, lambda f: ((f / "result.json").unlink(), np.savez(
        f / "state.npz", **{**dict(np.load(f / "state.npz")), "swapped": True, "swap_tried_units": np.zeros(3, bool)})))
     and mask_run(d), FileFormatError, "needs swap_tried_units"),
    ("mask-repair-method-unknown", lambda d: repair(
        MaskProblem(tiny(), np.ones((12, 26), np.float32), np.ones(12, bool), "time", 1e-3, 8192),
        np.zeros(12, bool), np.zeros(12), method="Greedy"), ParameterError, "method: must be one of greedy, prefix"),
    ("mask-word-out-of-range", lambda d: word_frames(
        transcribe_detailed(np.zeros((12, 26), np.float32), tiny(), beam_width=1), 99),
     ParameterError, "out of range"),
    ("mask-dataset-max-utterances-zero", lambda d: mask_dataset(
        dataset(d), tiny(), d / "md", max_utterances=0, progress=False), ParameterError, "max_utterances"),
    ("mask-dataset-rows-changed", lambda d: mask_dataset(csv_file(d, "wav_filename,transcript\nnone.wav,a\n"), tiny(),
                                                         d / "md", progress=False) and mask_dataset(
        csv_file(d, "wav_filename,transcript\nnone.wav,a\nnone2.wav,b\n"), tiny(), d / "md", progress=False),
     RunConflictError, "dataset_digest"),
    # --- muting
    ("mute-audio-an-array", lambda d: __import__("deepspeech_audio_features").mute_unimportant_audio(
        tone(0.5), np.ones((FRAMES_HALF_SECOND, 26)), out_dir=d / "muted", model=tiny()),
     ParameterError, "path: expected the audio file the mask was computed for, got ndarray"),
    ("mute-mask-13-columns", lambda d: mute(d, np.ones((FRAMES_HALF_SECOND, 13))), ParameterError, "[T, 26]"),
    ("mute-mask-nan", lambda d: mute(d, np.full((FRAMES_HALF_SECOND, 26), np.nan)), ParameterError, "NaN"),
    ("mute-mask-not-binary", lambda d: mute(d, np.full((FRAMES_HALF_SECOND, 26), 0.5)), ParameterError, "binary"),
    ("mute-mask-other-length", lambda d: mute(d, np.ones((10, 26))), ParameterError, "has 10 frames"),
    ("mute-threshold-negative", lambda d: mute(d, np.ones((FRAMES_HALF_SECOND, 26)), thresholds=(-1,)), ParameterError,
     "thresholds: must be >= 0"),
    ("mute-threshold-two", lambda d: mute(d, np.ones((FRAMES_HALF_SECOND, 26)), thresholds=(2,)), ParameterError,
     "thresholds: must be <= 1"),
    ("mute-thresholds-empty", lambda d: mute(d, np.ones((FRAMES_HALF_SECOND, 26)), thresholds=()), ParameterError,
     "non-empty"),
    ("mute-beam-width-zero", lambda d: mute(d, np.ones((FRAMES_HALF_SECOND, 26)), beam_width=0), ParameterError,
     "beam_width"),
    ("mute-mask-file-truncated", lambda d: mute(d, truncate(mask_file(d, np.ones((FRAMES_HALF_SECOND, 26)))) or d / "m.npy"),
     FileFormatError, "not a readable .npy"),
    ("muted-samples-threshold-nan", lambda d: muted_samples(np.ones((24, 26)), 8000, NAN),
     ParameterError, "threshold"),
    # --- audio paths and datasets that batch jobs must skip, not die on
    ("audio-symlink-loop", lambda d: load_audio(symlink_loop(d)), AudioError, "a symlink loop"),
    ("audio-header-of-missing-file", lambda d: file_num_frames(d / "none.wav"), AudioError, "no such file"),
    ("audio-header-of-symlink-loop", lambda d: file_num_frames(symlink_loop(d)), AudioError, "a symlink loop"),
    # --- run folders and the files in them
    ("runfolder-name-escapes", lambda d: RunFolder(d, {}).file("..", "x.npy"), RunConflictError, "must stay inside"),
    ("npy-truncated", lambda d: load_array(
        truncate(mask_file(d, np.ones((50, 26)))) or d / "m.npy"), FileFormatError, "not a readable .npy"),
    ("json-truncated", lambda d: load_json(
        csv_file(d, '{"a": [1, 2', name="r.json")), FileFormatError, "not valid JSON"),
    # --- training and corpus options
    ("train-learning-rate-nan", lambda d: train_config(learning_rate=NAN), ParameterError, "learning_rate"),
    ("train-n-hidden-fraction", lambda d: train_config(n_hidden=1.5), ParameterError, "n_hidden: expected an integer"),
    ("train-batch-size-zero", lambda d: train_config(batch_size=0), ParameterError, "batch_size"),
    ("train-dropout-one", lambda d: train_config(dropout=1.0), ParameterError, "dropout"),
    ("train-no-train-csv", lambda d: train_config(train=""), ParameterError, "train: expected a path"),
    ("train-unknown-key", lambda d: TrainConfig
     .from_dict({"train": "a", "dev": "b", "out": "c", "epoch": 3}), ParameterError, "unknown option(s) epoch"),
    ("corpus-utterances-fraction", lambda d: corpus_options(n_utterances=2.5), ParameterError, "n_utterances"),
    ("corpus-dev-fraction-one", lambda d: corpus_options(dev_fraction=1.0), ParameterError, "dev_fraction"),
    ("corpus-seed-negative", lambda d: corpus_options(seed=-1), ParameterError, "seed"),
    ("corpus-mixed-voices-negative", lambda d: corpus_options(mixed_voices=-2), ParameterError, "mixed_voices"),
    # --- synthesis engines and waveform augmentation
    ("corpus-engine-unknown", lambda d: corpus_options(engines="espeak:0.5,festival:0.5"), ParameterError,
     "unknown synthesis engine 'festival'"),
    ("corpus-engine-shares-sum", lambda d: corpus_options(engines="espeak:0.5,flite:0.4"), ParameterError,
     "add up to 1"),
    ("corpus-engine-share-text", lambda d: corpus_options(engines="espeak:half"), ParameterError, "share 'half'"),
    ("corpus-flite-test-voice-unknown", lambda d: corpus_options(flite_test_voices="bdl"), ParameterError,
     "no English voice 'bdl'"),
    ("corpus-flite-every-voice-held-out", lambda d: corpus_options(flite_test_voices="kal,kal16,awb,rms,slt"),
     ParameterError, "train on at least one"),
    ("waveform-snr-nan", lambda d: _waveform().add_noise_at_snr(tone(), NAN, "white", np.random.default_rng(0)),
     ParameterError, "snr_db"),
    ("waveform-noise-color", lambda d: _waveform().add_noise_at_snr(tone(), 10.0, "brown", np.random.default_rng(0)),
     ParameterError, "'brown'"),
    ("waveform-rt60-zero", lambda d: _waveform().room_impulse_response(0.0, np.random.default_rng(0)),
     ParameterError, "rt60"),
    ("waveform-tract-inf", lambda d: _waveform().change_tract_length(tone(), RATE, float("inf")), ParameterError,
     "tract_factor"),
    ("flite-voice-unknown", lambda d: _engines().flite_synthesize("hello", "bdl"), ParameterError, "'bdl'"),
    ("flite-missing", lambda d: _without_programs(d, lambda: _engines().flite_synthesize("hello", "kal")),
     EngineError, "apt-get install -y flite"),
    ("cli-corpus-flite-missing", lambda d: _without_programs(d, lambda: cli(
        "corpus", "--out", d / "c", "--utterances", "9", "--engines", "espeak:0.5,flite:0.5")),
     EngineError, "synthesis engine 'flite' is not installed"),
    # --- command-line options (run in-process up to the handler)
    ("cli-objective-unknown-layer", lambda d: cli_model("visualize", "--objective", "layer_9:1", "--out", d / "v"),
     ParameterError, "--objective 'layer_9:1'"),
    ("cli-objective-neuron-text", lambda d: cli_model("visualize", "--objective", "layer_1:abc", "--out", d / "v"),
     ParameterError, "--objective 'layer_1:abc'"),
    ("cli-objective-lambda-text", lambda d: cli_model("visualize", "--objective", "layer_1:1:x", "--out", d / "v"),
     ParameterError, "--objective 'layer_1:1:x'"),
    ("cli-objective-no-neurons", lambda d: cli_model("visualize", "--objective", "layer_1", "--out", d / "v"),
     ParameterError, "LAYER:N1,N2"),
    ("cli-objective-lambda-nan", lambda d: cli_model("visualize", "--objective", "layer_1:1:nan", "--out", d / "v"),
     ParameterError, "lam"),
    ("cli-objective-without-out", lambda d: cli_model("visualize", "--objective", "layer_1:1"), ParameterError,
     "--objective needs --out"),
    ("cli-visualize-steps-negative", lambda d: cli_model("visualize", "--objective", "layer_1:1", "--out", d / "v",
                                                         "--steps", "-1"), ParameterError, "steps"),
    ("cli-visualize-snapshot-every-zero", lambda d: cli_model("visualize", "--objective", "layer_1:1", "--out", d / "v",
                                                              "--snapshot-every", "0"), ParameterError, "snapshot_every"),
    ("cli-search-batch-size-zero", lambda d: cli_model("search", "--dataset", dataset(d), "--out", d / "s", "--objective",
                                                       "layer_1:1", "--batch-size", "0"), ParameterError, "batch_size"),
    ("cli-search-objective-needs-dataset", lambda d: cli_model("search", "--objective", "layer_1:1", "--out", d / "s"),
     ParameterError, "needs --out and --dataset"),
    ("cli-search-scheduler-and-workers", lambda d: cli_model("search", "--scheduler", "tcp://x:1", "--workers", "2"),
     ParameterError, "not both"),
    ("cli-mask-frames-reversed", lambda d: cli_model("mask", wav(d, "a.wav", tone(0.5)), "--frames", "50:10", "--out", d),
     ParameterError, "--frames '50:10'"),
    ("cli-mask-frames-text", lambda d: cli_model("mask", wav(d, "a.wav", tone(0.5)), "--frames", "a:b", "--out", d),
     ParameterError, "--frames 'a:b'"),
    ("cli-mask-frames-past-end", lambda d: cli_model("mask", wav(d, "a.wav", tone(0.5)), "--frames", "0:999", "--out", d),
     ParameterError, "has 24 frames"),
    ("cli-mask-word-99", lambda d: cli_model("mask", wav(d, "a.wav", tone(0.5)), "--word", "99", "--out", d),
     ParameterError, "out of range"),
    ("cli-mask-word-text", lambda d: cli_model("mask", wav(d, "a.wav", tone(0.5)), "--word", "first", "--out", d),
     ParameterError, "--word 'first'"),
    ("cli-mask-steps-negative", lambda d: cli_model("mask", wav(d, "a.wav", tone(0.5)), "--steps", "-1", "--out", d),
     ParameterError, "steps"),
    ("cli-mask-lam-nan", lambda d: cli_model("mask", wav(d, "a.wav", tone(0.5)), "--lam", "nan", "1", "--out", d),
     ParameterError, "lam"),
    ("cli-mute-threshold-two", lambda d: cli_model("mute", wav(d, "a.wav", tone(0.5)),
                                                   mask_file(d, np.ones((FRAMES_HALF_SECOND, 26))), "--thresholds", "2"),
     ParameterError, "thresholds: must be <= 1"),
    ("cli-mute-mask-13", lambda d: cli_model("mute", wav(d, "a.wav", tone(0.5)),
                                             mask_file(d, np.ones((FRAMES_HALF_SECOND, 13)))), ParameterError, "[T, 26]"),
    ("cli-mask-dataset-max-utterances-zero", lambda d: cli_model("mask-dataset", dataset(d), "--out", d / "md",
                                                                 "--max-utterances", "0"), ParameterError,
     "max_utterances"),
    ("cli-transcribe-beam-width-negative", lambda d: cli_model("transcribe", wav(d, "a.wav", tone(0.5)), "--beam-width", "-1",
                                                           "--no-lm"), ParameterError, "beam_width: must be >= 0"),
    ("cli-evaluate-missing-csv", lambda d: cli_model("evaluate", "--csv", d / "none.csv"), DatasetError,
     "no such dataset"),
    ("cli-train-learning-rate-nan", lambda d: cli("train", "--train", "a.csv", "--dev", "b.csv", "--out", d / "t",
                                                  "--learning-rate", "nan"), ParameterError, "learning_rate"),
    ("cli-corpus-utterances-zero", lambda d: cli("corpus", "--out", d / "c", "--utterances", "0"), ParameterError,
     "n_utterances"),
    ("pointing-interval-outside-audio", lambda d: _pointing().pointing_score(np.ones((40, 26)), (2.0, 2.5)),
     ParameterError, "lies outside the input's audio"),
    ("pointing-interval-before-audio", lambda d: _pointing().pointing_score(np.ones((40, 26)), (-0.5, -0.1)),
     ParameterError, "lies outside the input's audio"),
    ("pointing-interval-empty", lambda d: _pointing().pointing_score(np.ones((40, 26)), (0.3, 0.3)), ParameterError,
     "is empty"),
    ("pointing-interval-reversed", lambda d: _pointing().pointing_score(np.ones((40, 26)), (0.5, 0.3)), ParameterError,
     "is empty"),
    ("pointing-interval-between-centres", lambda d: _pointing().pointing_score(np.ones((40, 26)), (0.217, 0.235)),
     ParameterError, "holds no frame centre"),
    ("pointing-interval-nan", lambda d: _pointing().pointing_score(np.ones((40, 26)), (float("nan"), 0.5)),
     ParameterError, "start must be a finite number"),
    ("pointing-interval-one-number", lambda d: _pointing().pointing_score(np.ones((40, 26)), (0.3,)), ParameterError,
     "expected (start, end)"),
    ("pointing-mask-13-columns", lambda d: _pointing().pointing_score(np.ones((40, 13)), (0.3, 0.5)), ParameterError,
     "[T, 26] or time-only [T]"),
    ("pointing-mask-3d", lambda d: _pointing().pointing_score(np.ones((2, 40, 26)), (0.3, 0.5)), ParameterError,
     "shaped (2, 40, 26)"),
    ("pointing-mask-no-frames", lambda d: _pointing().pointing_score(np.ones((0, 26)), (0.3, 0.5)), ParameterError,
     "shaped (0, 26)"),
    ("pointing-mask-text", lambda d: _pointing().pointing_score(np.array(["1"] * 40), (0.3, 0.5)), ParameterError,
     "[T, 26] or time-only [T]"),
    ("pointing-mask-nan", lambda d: _pointing().pointing_score(np.where(np.eye(40, 26) > 0, np.nan, 1.0), (0.3, 0.5)),
     ParameterError, "NaN or Inf"),
    ("pointing-mask-negative", lambda d: _pointing().pointing_score(-np.ones(40), (0.3, 0.5)), ParameterError,
     "negative"),
    ("pointing-context-negative", lambda d: _pointing().pointing_score(np.ones(40), (0.3, 0.5), context=-1),
     ParameterError, "context"),
    ("pointing-word-rule", lambda d: _pointing().choose_word([(0.0, 1.0, "a")], "first"), ParameterError, "word_rule"),
    ("pointing-no-words", lambda d: _pointing().choose_word([], "longest"), ParameterError, "no word"),
    ("pointing-options-method", lambda d: _pointing().PointingOptions(methods=("dance",)), ParameterError, "methods"),
    ("pointing-options-no-variant", lambda d: _pointing().PointingOptions(variants=()), ParameterError, "variants"),
    ("pointing-game-max-utterances-zero", lambda d: _pointing_game().pointing_game(tiny(), [dataset(d)], d / "p",
                                                                                   max_utterances=0),
     ParameterError, "max_utterances"),
    ("pointing-game-no-dataset", lambda d: _pointing_game().pointing_game(tiny(), [d / "none.csv"], d / "p"),
     DatasetError, "no such dataset"),
    ("cli-pointing-game-per-dataset-zero", lambda d: cli_model("pointing-game", "--out", d / "p", "--dataset", dataset(d),
                                                               "--per-dataset", "0"), ParameterError, "per_dataset"),
    ("cli-pointing-game-steps-negative", lambda d: cli_model("pointing-game", "--out", d / "p", "--dataset", dataset(d),
                                                             "--steps", "-1"), ParameterError, "steps"),
    # ------------------------------------------------------------ every neuron of a layer
    ("neurons-unknown-layer", lambda d: _neurons().visualize_neurons(tiny(), "layer_7", d, progress=False),
     ParameterError, "layer: unknown layer 'layer_7'"),
    ("neurons-out-of-range", lambda d: _neurons().visualize_neurons(tiny(), "layer_6", d, neurons=[0, 29], progress=False),
     ParameterError, "neurons: 29 out of range, layer_6 has 29 outputs"),
    ("neurons-negative", lambda d: _neurons().visualize_neurons(tiny(), "layer_2", d, neurons=[-1], progress=False),
     ParameterError, "neurons: -1 out of range"),
    ("neurons-not-integers", lambda d: _neurons().visualize_neurons(tiny(), "layer_2", d, neurons=[0.5], progress=False),
     ParameterError, "integer indices"),
    ("neurons-duplicate", lambda d: _neurons().visualize_neurons(tiny(), "layer_2", d, neurons=[3, 3], progress=False),
     ParameterError, "duplicate"),
    ("neurons-empty-list", lambda d: _neurons().visualize_neurons(tiny(), "layer_2", d, neurons=[], progress=False),
     ParameterError, "neurons: empty list"),
    ("neurons-batch-size-zero", lambda d: _neurons().visualize_neurons(tiny(), "layer_2", d, batch_size=0, progress=False),
     ParameterError, "batch_size: must be >= 1"),
    ("neurons-batch-size-float", lambda d: _neurons().visualize_neurons(tiny(), "layer_2", d, batch_size=2.5, progress=False),
     ParameterError, "batch_size: expected an integer"),
    ("neurons-clamp-without-stats", lambda d: _neurons().visualize_neurons(tiny(), "layer_2", d, progress=False,
                                                                          options=_vis_options(clamp=True)),
     ParameterError, "need MFCC statistics"),
    ("cli-neurons-unknown-layer", lambda d: cli_model("visualize-neurons", "layer_9", "--out", d), ParameterError,
     "unknown layer 'layer_9'"),
    ("cli-neurons-bad-list", lambda d: cli_model("visualize-neurons", "layer_1", "--neurons", "0:x", "--out", d),
     ParameterError, "--neurons: expected indices like 3,17"),
    ("cli-neurons-batch-size-zero", lambda d: cli_model("visualize-neurons", "layer_1", "--batch-size", "0", "--out", d),
     ParameterError, "batch_size: must be >= 1"),
    ("neurons-load-no-run", lambda d: _neurons().load_neuron_inputs(d, "layer_2"), FileFormatError,
     "no neuron visualization here"),
    ("neurons-load-unknown-layer", lambda d: _neurons().load_neuron_inputs(d, "rnn"), ParameterError,
     "unknown layer 'rnn'"),
    ("neurons-load-incomplete", lambda d: _neurons_cut(d) and _neurons().load_neuron_inputs(d, "layer_1"),
     FileFormatError, "incomplete neuron visualization, 1 of 2 batches missing (batch-0001.npz)"),
    ("neurons-load-damaged-batch", lambda d: _neurons_cut(d, truncate) and _neurons().load_neuron_inputs(d, "layer_1"),
     FileFormatError, "batch-0001.npz: unreadable or truncated"),
]


def _pointing():
    from deepspeech_audio_features.interpret.masks import pointing

    return pointing


def _pointing_game():
    from deepspeech_audio_features.interpret.masks import pointing_game

    return pointing_game


def _neurons():
    from deepspeech_audio_features.interpret.featurevis import neurons

    return neurons


def _vis_options(**fields):
    from deepspeech_audio_features import VisualizationOptions

    return VisualizationOptions(**fields)


def _neurons_cut(folder: Path, damage=lambda path: path.unlink()) -> bool:
    """A finished two-batch neuron run of layer_1 whose second batch file is then damaged."""
    from deepspeech_audio_features import VisualizationOptions

    _neurons().visualize_neurons(tiny(), "layer_1", folder, neurons=[0, 1, 2], batch_size=2, progress=False,
                                 options=VisualizationOptions(steps=1, frames=12))
    damage(folder / "layer_1" / "batch-0001.npz")
    return True


def _alignments():
    from deepspeech_audio_features.speech import alignments

    return alignments


def _phones():
    from deepspeech_audio_features.speech import phones

    return phones


def _dissection():
    from deepspeech_audio_features.interpret import dissection

    return dissection


def _frame_examples():
    from deepspeech_audio_features.interpret import frame_examples

    return frame_examples


def _probes():
    from deepspeech_audio_features.interpret import probes

    return probes


def _atlas():
    from deepspeech_audio_features.app import atlas

    return atlas


def _atlas_media():
    from deepspeech_audio_features.app.atlas import media

    return media


def _speech_scale():
    from deepspeech_audio_features.app.plots import MfccScale

    return MfccScale(np.zeros(26), np.ones(26))


def atlas_card(neuron: int):
    return _atlas().NeuronCard("layer_1", neuron, np.zeros(39), np.zeros(39), 0.0)


def foreign_atlas(d: Path) -> Path:
    """An atlas folder whose record names another model."""
    out = d / "atlas"
    out.mkdir()
    (out / "atlas.json").write_text(json.dumps({"format": 1, "model": {"fingerprint": "another model"}}))
    return out


def _corpus():
    from deepspeech_audio_features.synth import corpus

    return corpus


def _tf():
    import tensorflow

    return tensorflow


def _api():
    import deepspeech_audio_features

    return deepspeech_audio_features


def _plots():
    from deepspeech_audio_features.app import plots

    return plots


def _baselines():
    from deepspeech_audio_features.interpret.masks import baselines

    return baselines


def _waveform():
    from deepspeech_audio_features.synth import waveform

    return waveform


def _engines():
    from deepspeech_audio_features.synth import engines

    return engines


def _without_programs(folder: Path, call):
    """``call()`` with a PATH that holds no program (as on a machine without flite)."""
    import os

    empty = folder / "empty-path"
    empty.mkdir(exist_ok=True)
    saved = os.environ["PATH"]
    os.environ["PATH"] = str(empty)
    try:
        return call()
    finally:
        os.environ["PATH"] = saved


@pytest.mark.parametrize("call, error, fragment", [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_bad_input_raises_one_clear_error(tmp_path, call, error, fragment):
    with pytest.raises(error) as caught:
        call(tmp_path)
    message = str(caught.value)
    assert isinstance(caught.value, DAFError)
    assert fragment in message, message
    assert "\n" not in message and len(message) < 400, message  # one line


def test_row_ids_are_unique():
    assert len({row[0] for row in ROWS}) == len(ROWS)


def test_a_bom_is_not_part_of_the_first_column(tmp_path):
    path = wav(tmp_path, "a.wav", tone())
    rows = read_dataset(csv_file(tmp_path, f"\ufeffwav_filename,transcript\n{path.name},hello\n"))
    assert rows[0].path == str(path) and rows[0].transcript == "hello"


def test_the_cli_prints_one_line_and_exits_2(tmp_path):
    """Any of the package's errors: one line on stderr, exit code 2, no traceback."""
    csv = csv_file(tmp_path, "wav_filename,transcript\n", name="empty.csv")
    for argv in (["transcribe", str(tmp_path / "missing.wav")], ["evaluate", "--csv", str(csv)],
                 ["transcribe", str(truncated_wav(tmp_path)), "--checkpoint", str(tmp_path / "none")]):
        out = subprocess.run([sys.executable, "-m", "deepspeech_audio_features", *argv], capture_output=True,
                             text=True)
        assert out.returncode == 2, (argv, out.stderr[-500:])
        lines = [line for line in out.stderr.splitlines() if line.startswith(("error:", "skipped:"))]
        assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr[-500:]


# ------------------------------------------------------------------------------ batch jobs go on
def run_cli(*argv) -> int:
    from deepspeech_audio_features.app.cli import main

    return main([str(a) for a in argv])


def test_mask_skips_a_bad_file_and_reaches_the_good_one(tmp_path, capsys):
    good = wav(tmp_path, "good.wav", tone(0.5))
    code = run_cli("mask", tmp_path / "bad.wav", good, "--checkpoint", tiny_checkpoint(), "--out", tmp_path / "runs",
                   "--steps", "4", "--snapshot-every", "2", "--max-prune-passes", "1", "--no-progress")
    err = capsys.readouterr().err
    assert code == 0, err
    assert "skipped: " in err and "bad.wav: no such file" in err
    assert len(list((tmp_path / "runs").glob("*good.wav/result.json"))) == 1


def test_mask_of_only_bad_files_exits_2(tmp_path, capsys):
    assert run_cli("mask", symlink_loop(tmp_path), "--checkpoint", tiny_checkpoint(), "--out", tmp_path / "runs") == 2
    assert "a symlink loop" in capsys.readouterr().err


def test_search_over_unreadable_files_exits_2(tmp_path, capsys):
    csv = csv_file(tmp_path, "wav_filename,transcript\nnone.wav,a\nnothing.wav,b\n")
    code = run_cli("search", "--dataset", csv, "--out", tmp_path / "s", "--objective", "layer_1:1",
                   "--checkpoint", tiny_checkpoint())
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("skipped: ") == 2 and "none.wav: no such file" in err and "no utterance could be scored" in err


def test_a_symlink_loop_row_is_skipped_and_the_others_scored(tmp_path):
    symlink_loop(tmp_path)
    wav(tmp_path, "good.wav", tone(0.5))
    csv = csv_file(tmp_path, "wav_filename,transcript\nloop.wav,a\ngood.wav,b\n")
    assert len(read_dataset(csv)) == 2  # listing the dataset does not fail
    result = search(tmp_path, csv)
    assert result.report["scored"] == 1
    assert any("a symlink loop" in reason for reason in result.skipped)


def test_evaluate_skips_transcripts_outside_the_alphabet(tmp_path, capsys):
    wav(tmp_path, "a.wav", tone(1.0))
    wav(tmp_path, "b.wav", tone(1.0))
    csv = csv_file(tmp_path, "wav_filename,transcript\na.wav,café\nb.wav,hello\n")
    assert run_cli("evaluate", "--csv", csv, "--checkpoint", tiny_checkpoint(), "--beam-width", "1") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["utterances"] == 1
    assert len(report["skipped"]) == 1 and "outside the alphabet: 'é'" in report["skipped"][0]


def test_mask_dataset_names_a_damaged_run_and_goes_on(tmp_path):
    csv = dataset(tmp_path, 2)
    options = {"steps": 4, "snapshot_every": 2, "max_prune_passes": 1}
    first = mask_dataset(csv, tiny(), tmp_path / "md", progress=False, **options)
    assert first.report["masked"] == 2 and first.report["failed"] == []
    name = sorted(first.results)[0]
    truncate(tmp_path / "md" / name / "result.json")
    again = mask_dataset(csv, tiny(), tmp_path / "md", progress=False, **options)
    assert again.report["masked"] == 1
    assert len(again.report["failed"]) == 1 and "result.json: not valid JSON" in again.report["failed"][0]


# ------------------------------------------------------------------------------ run folders: recompute or refuse
def test_a_damaged_or_foreign_batch_file_is_recomputed_and_named(tmp_path):
    reference = search(tmp_path, batch_size=1)
    search(tmp_path, tmp_path / "data.csv", out="other", batch_size=1, objectives=[layer1(5)])
    truncate(tmp_path / "search" / "batch_0.npz")
    shutil.copy(tmp_path / "other" / "batch_2.npz", tmp_path / "search" / "batch_2.npz")  # same name, another search
    again = search(tmp_path, tmp_path / "data.csv", batch_size=1)
    recomputed = again.report["recomputed_batches"]
    assert len(recomputed) == 2 and "batch_0.npz: unreadable" in recomputed[0] and "tag differs" in recomputed[1]
    assert again.report["this_session"]["batches"] == 2
    np.testing.assert_array_equal(again.activations, reference.activations)  # bitwise: the same scores


def test_overwrite_starts_over_in_every_experiment(tmp_path):
    visualize(tmp_path)
    assert visualize(tmp_path, learning_rate=0.1, overwrite=True).config["learning_rate"] == 0.1
    search(tmp_path, batch_size=1)
    assert search(tmp_path, tmp_path / "data.csv", batch_size=2, overwrite=True).report["batches"] == 2  # 3 utterances
    assert json.loads((tmp_path / "search" / "index.json").read_text())["batch_size"] == 2
    csv = csv_file(tmp_path, "wav_filename,transcript\nnone.wav,a\n", name="bad.csv")
    mask_dataset(csv, tiny(), tmp_path / "md", progress=False)
    assert mask_dataset(csv, tiny(), tmp_path / "md", progress=False, steps=3, overwrite=True).report["masked"] == 0
    assert json.loads((tmp_path / "md" / "index.json").read_text())["options"]["steps"] == 3


# ------------------------------------------------------------------------------ atomic writes
def test_save_checkpoint_switches_the_pair_with_the_index_file(tmp_path):
    from deepspeech_audio_features import DeepSpeech
    from deepspeech_audio_features.speech.model import random_weights

    first = save_checkpoint(tiny(), tmp_path / "ckpt")
    second_model = DeepSpeech(random_weights(32, seed=1))
    second = save_checkpoint(second_model, tmp_path / "ckpt")  # the same step: never written over the named pair
    assert Path(second).name == Path(first).name + "_1"
    assert [p.name for p in (tmp_path / "ckpt").glob("*.index")] == [Path(second).name + ".index"]  # old pair gone
    np.testing.assert_array_equal(load_model(tmp_path / "ckpt").official_weights()["layer_1/weights"],
                                  second_model.official_weights()["layer_1/weights"])
    assert Path(save_checkpoint(tiny(), tmp_path / "ckpt")).name == Path(first).name


def test_append_line_and_replace_folder(tmp_path):
    from deepspeech_audio_features.infra.atomic import append_line, replace_folder

    (tmp_path / "log.jsonl").write_text('{"epoch": 1}')  # a last line without its newline
    append_line(tmp_path / "log.jsonl", '{"epoch": 2}')
    assert (tmp_path / "log.jsonl").read_text() == '{"epoch": 1}\n{"epoch": 2}\n'
    for name, text in (("old", "a"), ("new", "b")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "f.txt").write_text(text)
    (tmp_path / ".old.old").mkdir()  # left by an interrupted earlier call
    replace_folder(tmp_path / "new", tmp_path / "old")
    assert (tmp_path / "old" / "f.txt").read_text() == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl", "old"]


def test_pointing_game_skips_bad_utterances_and_scores_the_good_one(tmp_path):
    """No TextGrid, a word interval past the end of its audio: skipped with the reason; the
    aligned example is scored."""
    from deepspeech_audio_features.infra.resources import asset_path
    from deepspeech_audio_features.interpret.masks.pointing_game import pointing_game
    from deepspeech_audio_features.speech.alignments import Interval, write_textgrid

    shutil.copy(asset_path("audio", "example-1.wav"), tmp_path / "good.wav")
    shutil.copy(asset_path("audio", "example-1.TextGrid"), tmp_path / "good.TextGrid")
    wav(tmp_path, "late.wav", tone(1.0))
    write_textgrid(tmp_path / "late.TextGrid", 5.0, [Interval(3.0, 4.0, "late")], [Interval(3.0, 4.0, "l")])
    wav(tmp_path, "unaligned.wav", tone(1.0))
    csv = csv_file(tmp_path, "wav_filename,transcript\ngood.wav,experience proves this\nlate.wav,late\n"
                             "unaligned.wav,a\n")
    result = pointing_game(tiny(), [csv], tmp_path / "run", methods=("saliency",), variants=("time",))
    assert [u["word"] for u in result.utterances] == ["experience"]
    assert len(result.skipped) == 2
    assert "late.wav: word interval: [3.000, 4.000) s lies outside the input's audio" in result.skipped[0]
    assert "unaligned.TextGrid: no such TextGrid" in result.skipped[1]
    again = pointing_game(tiny(), [csv], tmp_path / "run", methods=("saliency",), variants=("time",))
    assert again.skipped == result.skipped and again.rows == result.rows  # the good one read back, the bad named again


def _truncated_examples(d):
    """A finished dissection whose examples file was cut short (a disk full, a copy interrupted)."""
    from deepspeech_audio_features import DeepSpeech, random_weights
    from deepspeech_audio_features.interpret.dissection import dissect_dataset
    from deepspeech_audio_features.interpret.frame_examples import load_frame_examples

    dissect_dataset(DeepSpeech(random_weights(8, seed=1)), dataset(d), d / "dis", layers=["layer_2"], progress=False)
    path = d / "dis" / "layer_2_examples.npz"
    path.write_bytes(path.read_bytes()[:1000])
    return load_frame_examples(d / "dis", "layer_2")
