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
    FileFormatError,
    ParameterError,
    audio_file_to_mfccs,
    beam_search_decode,
    context_windows,
    greedy_decode,
    load_audio,
    load_model,
    mfccs,
    mfccs_to_audio,
    read_dataset,
    save_checkpoint,
    text_to_labels,
)

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
    # arrays given to NumPy helpers
    ("context-windows-1d", lambda d: context_windows(np.zeros(26)), ParameterError, "[T, 26]"),
    # alignments, dissection and probes
    ("textgrid-not-a-textgrid", lambda d: _alignments().read_textgrid(csv_file(d, "hello", name="x.TextGrid")),
     FileFormatError, "x.TextGrid: not a readable TextGrid"),
    ("textgrid-missing", lambda d: _alignments().read_textgrid(d / "nope.TextGrid"), FileFormatError, "no such TextGrid"),
    ("phone-unknown-label", lambda d: _phones().fold_phone("xx"), FileFormatError, "'xx' is not ARPAbet"),
    ("dissection-quantile-1", lambda d: _dissection().DissectionOptions(quantile=1.0), ParameterError, "quantile"),
    ("probe-steps-0", lambda d: _probes().ProbeOptions(steps=0), ParameterError, "steps"),
    ("align-no-recipe", lambda d: _corpus().align_corpus(d, progress=False), DatasetError, "corpus.json"),
]


def _alignments():
    from deepspeech_audio_features.speech import alignments

    return alignments


def _phones():
    from deepspeech_audio_features.speech import phones

    return phones


def _dissection():
    from deepspeech_audio_features.interpret import dissection

    return dissection


def _probes():
    from deepspeech_audio_features.interpret import probes

    return probes


def _corpus():
    from deepspeech_audio_features.synth import corpus

    return corpus


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
