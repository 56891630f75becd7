"""A synthesized English speech corpus in DeepSpeech's CSV format, made with eSpeak NG.

The corpus trains (and tests) a small DeepSpeech-architecture recognizer without any
downloaded speech data. Everything comes from installed packages. The steps, one module each:

* :mod:`.espeak`: libespeak-ng and its data from the ``espeakng-loader`` wheel, driven
  through ``ctypes`` (:class:`~.espeak.ESpeakSynthesizer`); no system package;
* :mod:`.voices`: speakers are the English voices (accents) in ``espeak-ng-data/lang/gmw``
  combined with the voice variants in ``espeak-ng-data/voices/!v`` (``"en-us+m3"``),
  optionally with more variants recombined from the train ones;
* :mod:`.text`: the ~20k most frequent English words of ``wordfreq``, simple template
  sentences and numbers spelled out by ``num2words``; only the 28 alphabet symbols;
* :mod:`.plan`: every utterance's text, voice, prosody (rate, pitch, pitch range, word
  gap) and augmentation drawn from ``(seed, index)``, with held-out voices and sentences;
* :mod:`.render` and :mod:`.noise`: speed perturbation (0.9-1.1 by resampling), random
  level, white or pink noise at 10-40 dB SNR (a quarter of the utterances stay clean),
  silence padding;
* :mod:`.phonemes`: word and phone alignments from eSpeak's events, eSpeak's mnemonics
  mapped to TIMIT's ARPAbet, written as a Praat TextGrid beside each wav;
* :mod:`.engines`, :mod:`.flite` and :mod:`.waveform`: other synthesis engines (CMU flite,
  Debian's ``flite`` package) with their own voices, tempo, F0, vocal tract length, rooms
  and noise, mixed in by ``CorpusOptions.engines`` (per-engine splits ``<split>-<engine>.csv``);
* :mod:`.workers`: rendering in parallel processes;
* this module: the corpus folder (wavs, TextGrids, CSVs, ``corpus.json``), adding
  TextGrids to a corpus made without them (:func:`align_corpus`), and the example utterances.

Determinism: every utterance is drawn in the parent before dispatch and synthesized in a
freshly forked copy of an initialized worker, so the corpus is byte-identical for a seed,
whatever the number of workers.

No TensorFlow here.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Iterable

import soundfile as sf

from ..infra.atomic import atomic_write
from ..infra.errors import DatasetError
from ..speech.alphabet import ALPHABET
from ..speech.audio import write_wav
from ..speech.frames import SAMPLE_RATE
from .engines import check_engine, flite_version
from .espeak import ESpeakSynthesizer
from .flite import FLITE_RANGES, FliteSpec, flite_split_voices, plan_flite
from .neural import NEURAL_ENGINES, NEURAL_RANGES, NeuralSpec, neural_split_voices, neural_versions, plan_neural
from .options import CorpusOptions
from .plan import SPLITS, UtteranceSpec, plan_corpus, split_voice_variants
from .render import render_utterance_aligned, textgrid_path
from .text import build_vocabulary
from .voices import (
    VARIANT_GROUPS,
    espeak_data_with_variants,
    list_english_voices,
    list_voice_variants,
    mix_voice_variants,
)
from .workers import default_workers, render_in_workers

__all__ = [
    "CORPUS_VERSION",
    "CSV_HEADER",
    "CorpusOptions",
    "EXAMPLE_TEXTS",
    "align_corpus",
    "align_examples",
    "read_corpus_csv",
    "read_speakers",
    "synthesize_corpus",
    "synthesize_examples",
]

#: Bump when the recipe changes, so a re-run never reuses wavs made by another recipe.
CORPUS_VERSION = 1
CSV_HEADER = ("wav_filename", "wav_filesize", "transcript")
#: Header of ``utterances.csv``: who speaks each utterance of a corpus.
UTTERANCES_HEADER = ("wav_filename", "split", "engine", "voice")


_DEFAULTS = CorpusOptions()


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------
def _valid_wav(path: Path) -> int | None:
    """Frame count of a usable 16 kHz mono PCM_16 wav, else None.

    A wav cut short (a copy or a disk that stopped mid-file) keeps its header, and libsndfile
    then reports the samples that remain as if the file were whole: its RIFF size must match
    the file's length.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE" or \
                int.from_bytes(head[4:8], "little") + 8 != path.stat().st_size:
            return None
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError):
        return None
    if info.samplerate != SAMPLE_RATE or info.channels != 1 or info.subtype != "PCM_16" or info.frames <= 0:
        return None
    return int(info.frames)


def _write_json(path: Path, obj: dict) -> None:
    text = json.dumps(obj, indent=2, sort_keys=False) + "\n"  # in the recipe's own order, for a reader
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _write_csv(path: Path, rows: list[tuple[str, int, str]]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(CSV_HEADER)
            writer.writerows(rows)

    atomic_write(path, write)


# ---------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _CorpusPlan:
    """A corpus's plan and the voices it uses."""

    specs: list[UtteranceSpec | FliteSpec | NeuralSpec]
    split_variants: dict[str, list[str]]  # the installed variants of each split
    mixed: dict[str, str]  # mixed voice name -> variant file text (train only)
    base_voices: list[str]
    vocabulary_size: int
    data_path: Path | None  # espeak-ng-data with the mixed voices; None: the installed one
    espeak_version: str
    engine_counts: dict[str, int]  # utterances per engine (eSpeak's without extra_train)
    other_voices: dict[str, dict[str, list[str]]]  # engine other than eSpeak -> its voices per split
    other_versions: str = ""  # versions of the engines other than eSpeak ("" with eSpeak alone)

    @property
    def multi_engine(self) -> bool:
        return list(self.engine_counts) != ["espeak"]

    @property
    def digest(self) -> str:
        """SHA-256 of the recipe version, the engines' versions and every spec."""
        return _plan_digest(self.specs, self.espeak_version, self.other_versions)


def _plan_digest(specs: Iterable[UtteranceSpec | FliteSpec | NeuralSpec], espeak_version: str, other_versions: str = "") -> str:
    # other_versions is "" for an eSpeak-only corpus: its digest is the one recorded before flite existed
    h = hashlib.sha256(f"{CORPUS_VERSION}|{espeak_version}|{other_versions}".encode())
    for spec in specs:
        h.update(json.dumps(dataclasses.asdict(spec), sort_keys=True).encode())
    return h.hexdigest()


def _make_plan(out: Path, options: CorpusOptions, write_voices: bool = True) -> _CorpusPlan:
    """Plan the corpus; writes ``out/espeak-ng-data`` when it has mixed voices (and ``write_voices``).

    The eSpeak utterances (indices from 0) are exactly those of an eSpeak-only corpus of
    their count; the other engines' follow, each avoiding the held-out sentences of those
    before it (:func:`~.flite.plan_flite`).

    Raises:
        EngineError: an engine of ``options.engines`` is not installed.
    """
    counts = options.engine_counts()
    for engine in counts:
        check_engine(engine)
    synth = ESpeakSynthesizer()  # phonemes for the vocabulary only; the workers speak
    vocab = build_vocabulary()
    base_voices = list_english_voices(synth.data_path)
    variants = list_voice_variants(synth.data_path)
    split_variants = split_voice_variants(variants, options.seed)
    mixed = mix_voice_variants(split_variants["train"], options.mixed_voices, options.seed, synth.data_path)
    data_path = (espeak_data_with_variants(out / "espeak-ng-data", mixed, synth.data_path)
                 if mixed and write_voices else None)
    specs: list[UtteranceSpec | FliteSpec | NeuralSpec] = []
    if "espeak" in counts:
        specs += plan_corpus(counts["espeak"], options.seed, options.dev_fraction, options.test_fraction, vocab,
                             base_voices, variants, list(mixed), options.extra_train)
    width = max(6, len(str(options.n_utterances + options.extra_train - 1)))
    other_voices: dict[str, dict[str, list[str]]] = {}
    versions = []
    for engine in counts:  # the other engines in the order given, each avoiding the sentences before it
        if engine == "espeak":
            continue
        train_texts = {s.transcript for s in specs if s.split == "train"}
        held_out_texts = {s.transcript for s in specs if s.split != "train"}
        test_voices = options.test_voices(engine) if engine in ("flite", "kokoro") else []
        if engine == "flite":
            other_voices[engine] = flite_split_voices(test_voices)
            specs += plan_flite(counts[engine], options.seed, options.dev_fraction, options.test_fraction, vocab,
                                len(specs), test_voices, train_texts, held_out_texts, width=width)
            versions.append(f"flite {flite_version()}")
        else:
            other_voices[engine] = neural_split_voices(engine, test_voices)
            specs += plan_neural(engine, counts[engine], options.seed, options.dev_fraction, options.test_fraction,
                                 vocab, len(specs), test_voices, train_texts, held_out_texts, width=width)
    neural = [e for e in counts if e in NEURAL_ENGINES]
    if neural:
        versions.append(neural_versions(neural))
    return _CorpusPlan(specs, split_variants, mixed, base_voices, len(vocab), data_path, synth.version, counts,
                       other_voices, "; ".join(versions))


def _recipe_start(options: CorpusOptions, plan: _CorpusPlan, digest: str) -> dict:
    """``corpus.json`` before any wav is written: what is being made."""
    return {
        "format": "DeepSpeech CSV (wav_filename,wav_filesize,transcript), 16 kHz 16-bit mono WAV",
        "corpus_version": CORPUS_VERSION,
        "status": "incomplete",
        "seed": options.seed,
        "n_utterances": options.n_utterances,
        "extra_train": options.extra_train,
        "dev_fraction": options.dev_fraction,
        "test_fraction": options.test_fraction,
        "espeak_ng_version": plan.espeak_version,
        "vocabulary_size": plan.vocabulary_size,
        "plan_sha256": digest,
        **({"engines_option": options.engines, "engine_versions": plan.other_versions,
            "flite_test_voices": options.flite_test_voices,
            **({"kokoro_test_voices": options.kokoro_test_voices} if "kokoro" in plan.engine_counts else {})}
           if plan.multi_engine else {}),
    }


def _recipe_splits(plan: _CorpusPlan, counts: dict[str, int], hours: dict[str, float]) -> dict:
    """``corpus.json``'s ``splits``: files, sizes and voices of each split."""
    return {
        split: {
            "csv": f"{split}.csv",
            "utterances": counts[split],
            "hours": round(hours[split], 4),
            "voice_variants": plan.split_variants[split] + (list(plan.mixed) if split == "train" else []),
            "base_voices": plan.base_voices,
        }
        for split in SPLITS
    }


def _recipe_ranges(plan: _CorpusPlan) -> dict:
    """``corpus.json``'s description of the text, augmentation and mixed voices (the ranges plan and voices draw from)."""
    return {
        "text": {"source": "wordfreq top words (en), templates, num2words numbers",
                 "mix": {"word_sequence": 0.60, "template": 0.25, "numbers": 0.15}, "words": [2, 10]},
        "augmentation": {"speed": [0.9, 1.1], "peak_dbfs": [-18.0, -1.0], "clean_fraction": 0.25,
                         "noise": ["white", "pink"], "snr_db": [10.0, 40.0], "pad_seconds": [0.05, 0.35],
                         "rate_wpm": [135, 225], "pitch": [20, 80], "pitch_range": [20, 90],
                         "word_gap_10ms": {"probability": 0.3, "range": [1, 5]}},
        "mixed_voices": {"count": len(plan.mixed), "donors": "the train split's voice variants",
                         "formant_scale": [0.92, 1.08], "per_formant_scale": [0.96, 1.04],
                         "groups": {g: list(k) for g, k in VARIANT_GROUPS.items()}},
    }


def _engine_of(spec: UtteranceSpec | FliteSpec | NeuralSpec) -> str:
    return getattr(spec, "engine", "espeak")


def _recipe_engines(plan: _CorpusPlan, tally: _Tally) -> dict:
    """``corpus.json``'s ``engines`` (multi-engine corpora): per engine its CSVs, counts, voices and ranges."""
    engines = {}
    for engine, share in plan.engine_counts.items():
        specs = [s for s in plan.specs if _engine_of(s) == engine and s.index in tally.frames]
        entry: dict = {"utterances_planned": share,
                       "splits": {split: {"csv": f"{split}-{engine}.csv",
                                          "utterances": sum(1 for s in specs if s.split == split),
                                          "hours": round(sum(tally.frames[s.index] for s in specs if s.split == split)
                                                         / SAMPLE_RATE / 3600.0, 4)}
                                  for split in SPLITS}}
        if engine != "espeak":
            voices = plan.other_voices[engine]
            entry["voices"] = voices
            entry["held_out_voices"] = [v for v in voices["test"] if v not in voices["train"]]
            entry["ranges"] = FLITE_RANGES if engine == "flite" else NEURAL_RANGES
        else:
            entry["voices"] = {split: plan.split_variants[split] + (list(plan.mixed) if split == "train" else [])
                               for split in SPLITS}
        engines[engine] = entry
    return engines


def _recipe_alignments(tally: _Tally) -> dict:
    """``corpus.json``'s description of the TextGrids."""
    return {"format": "Praat TextGrid <wav stem>.TextGrid beside each wav; interval tiers 'words' (the transcript's "
                      "words), 'phones' (TIMIT ARPAbet labels, 'pau' for pauses, folded to 39 classes when read) "
                      "and 'espeak' (eSpeak's mnemonics); times in seconds of the wav",
            "source": "eSpeak NG word and phoneme events (espeakINITIALIZE_PHONEME_EVENTS); flite's phone end times "
                      "(-psdur); Piper's and Kokoro's predicted durations per IPA symbol; each through the engine's "
                      "speed or tract-length resampling and the padding",
            "unknown_espeak_phonemes_this_run": dict(sorted(tally.unknown.items()))}


def _recorded_digest(recipe_path: Path) -> str | None:
    """The ``plan_sha256`` of an existing ``corpus.json`` (None if absent or unreadable)."""
    if not recipe_path.exists():
        return None
    try:
        return json.loads(recipe_path.read_text(encoding="utf-8")).get("plan_sha256")
    except (OSError, ValueError):
        return None


@dataclasses.dataclass
class _Tally:
    """Per utterance index: frames and file bytes of its wav, or why it failed."""

    frames: dict[int, int] = dataclasses.field(default_factory=dict)
    sizes: dict[int, int] = dataclasses.field(default_factory=dict)
    failures: dict[int, str] = dataclasses.field(default_factory=dict)
    unknown: dict[str, int] = dataclasses.field(default_factory=dict)  # eSpeak mnemonics the phone table lacks

    def done(self, index: int, size: int, frames: int, unknown: dict[str, int] | None = None) -> None:
        self.frames[index], self.sizes[index] = frames, size
        for name, n in (unknown or {}).items():
            self.unknown[name] = self.unknown.get(name, 0) + n


def _keep_valid_wavs(out: Path, specs: list[UtteranceSpec], tally: _Tally) -> None:
    """Count the wavs already written (and readable) as done."""
    for spec in specs:
        n = _valid_wav(out / spec.wav)
        if n is not None:
            tally.done(spec.index, (out / spec.wav).stat().st_size, n)


def _render_missing(out: Path, plan: _CorpusPlan, tally: _Tally, workers: int | None, progress: bool,
                    todo: list[UtteranceSpec] | None = None, task: str = "render") -> int:
    """Render every planned utterance not done yet (or align ``todo``); returns how many were to do."""
    if todo is None:
        todo = [spec for spec in plan.specs if spec.index not in tally.frames]
    bar = None
    if progress:
        from ..infra.progress import progress_bar

        bar = progress_bar(total=len(plan.specs), initial=len(plan.specs) - len(todo), unit="utt",
                           desc="synthesizing" if task == "render" else "aligning", dynamic_ncols=True)
    if todo:
        def done(index: int, size: int, n: int, unknown: dict[str, int]) -> None:
            tally.done(index, size, n, unknown)
            if bar is not None:
                bar.update(1)

        def failed(index: int, error: str) -> None:
            tally.failures[index] = error
            if bar is not None:
                bar.update(1)

        n_workers = max(1, min(workers or default_workers(), len(todo)))
        render_in_workers(todo, out, n_workers, done, failed, plan.data_path, task)
    if bar is not None:
        bar.close()
    if tally.failures:  # once, as a count per reason; each utterance is listed in corpus.json
        reasons: dict[str, int] = {}
        for error in tally.failures.values():
            reason = error.split(" for ")[0]
            reasons[reason] = reasons.get(reason, 0) + 1
        summary = "; ".join(f"{n} x {reason}" for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
        print(f"{len(tally.failures)} of {len(todo)} utterance(s) skipped ({summary}); listed in {out / 'corpus.json'}",
              file=sys.stderr)
    return len(todo)


def _write_split_csvs(out: Path, specs: list[UtteranceSpec | FliteSpec | NeuralSpec], tally: _Tally,
                      multi_engine: bool = False) -> tuple[dict[str, int], dict[str, float]]:
    """``train.csv``, ``dev.csv``, ``test.csv`` of the written utterances; returns ``(counts, hours)`` per split.

    Also ``utterances.csv`` (``wav_filename,split,engine,voice`` of every written utterance,
    what ``evaluate --corpus`` groups by) and, for several engines, ``<split>-<engine>.csv``.
    """
    written = [s for s in specs if s.index in tally.sizes]

    def write_meta(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(UTTERANCES_HEADER)
            writer.writerows((s.wav, s.split, _engine_of(s), s.voice) for s in written)

    atomic_write(out / "utterances.csv", write_meta)
    if multi_engine:
        for engine in dict.fromkeys(_engine_of(s) for s in specs):
            for split in SPLITS:
                _write_csv(out / f"{split}-{engine}.csv", [(s.wav, tally.sizes[s.index], s.transcript) for s in written
                                                           if s.split == split and _engine_of(s) == engine])
    counts: dict[str, int] = {}
    hours: dict[str, float] = {}
    for split in SPLITS:
        rows = [(s.wav, tally.sizes[s.index], s.transcript) for s in specs if s.split == split and s.index in tally.sizes]
        _write_csv(out / f"{split}.csv", rows)
        counts[split] = len(rows)
        hours[split] = sum(tally.frames[s.index] for s in specs
                           if s.split == split and s.index in tally.frames) / SAMPLE_RATE / 3600.0
    return counts, hours


def synthesize_corpus(out_dir: str | os.PathLike, n_utterances: int, seed: int = _DEFAULTS.seed,
                      dev_fraction: float = _DEFAULTS.dev_fraction, test_fraction: float = _DEFAULTS.test_fraction,
                      workers: int | None = None, progress: bool = True, mixed_voices: int = _DEFAULTS.mixed_voices,
                      extra_train: int = _DEFAULTS.extra_train, engines: str = _DEFAULTS.engines,
                      flite_test_voices: str = _DEFAULTS.flite_test_voices,
                      kokoro_test_voices: str = _DEFAULTS.kokoro_test_voices,
                      reuse_from: str | os.PathLike | None = None) -> dict:
    """Write a DeepSpeech-format corpus of ``n_utterances`` synthesized utterances to ``out_dir``.

    Layout: ``out_dir/wav/000000.wav`` ... (16 kHz, 16-bit PCM, mono), ``train.csv``,
    ``dev.csv``, ``test.csv`` with header ``wav_filename,wav_filesize,transcript``
    (``wav_filename`` relative to ``out_dir``; ``wav_filesize`` in bytes) and
    ``corpus.json`` (the recipe: seed, counts, voices and hours per split, eSpeak
    version, augmentation ranges).

    Held out: train, dev and test each use their own voice variants (disjoint sets,
    about 80/8/12% of ``voices/!v``) and their own sentences (no transcript occurs in
    two splits). Accents and vocabulary are shared.

    Deterministic for ``(n_utterances, seed, dev_fraction, test_fraction)`` and the
    eSpeak version, whatever ``workers`` is. Resumable: when ``corpus.json`` records
    the same plan, wavs already written (and readable) are kept; any other plan
    re-synthesizes every file. Files are written atomically.

    Args:
        out_dir: the corpus folder (created).
        n_utterances: total utterances over all splits.
        seed: the random seed.
        dev_fraction, test_fraction: shares of ``n_utterances`` (each >= 1 utterance if > 0).
        workers: synthesis processes (default: the CPUs available). Synthesis always runs
            in worker processes (plain interpreters started with ``subprocess``, which
            import the synth modules only), one eSpeak instance each.
        progress: show a tqdm progress bar.
        mixed_voices: this many more train voices, recombined from the train variants
            (:func:`~.voices.mix_voice_variants`), written to ``out_dir/espeak-ng-data``.
            Dev, test and every transcript stay as without them.
        extra_train: this many more train utterances with new sentences (see
            :func:`~.plan.plan_corpus`); dev and test stay as without them.
        engines: the engines and their shares of ``n_utterances`` (``"espeak"``,
            ``"espeak:0.5,flite:0.3,piper:0.05,kokoro:0.15"``); see :class:`~.options.CorpusOptions`.
            With several, the eSpeak utterances are those of an eSpeak-only corpus of their
            count, the others follow in the order given (flite :mod:`.flite`, piper and kokoro
            :mod:`.neural`), no dev or test sentence of any engine is
            trained on, and ``<split>-<engine>.csv`` and ``corpus.json``'s ``engines`` are added.
        flite_test_voices: flite voices heard only in the test split.
        kokoro_test_voices: Kokoro voices heard only in the test split (Piper's one voice is in every split).
        reuse_from: another corpus folder (complete, made by this code): every utterance whose
            spec equals one of its own at the same index is hard-linked (or copied) from it
            instead of synthesized, e.g. the eSpeak part of a multi-engine corpus from the
            eSpeak-only corpus of the same seed and counts. The result is byte-identical.

    Returns:
        ``{"out_dir", "utterances": {split: count}, "hours": {split: hours},
        "synthesized": n, "reused": n, "failed": n, "seconds": wall time}``.

    Raises:
        ParameterError: a bad count, fraction or engine (the message names it).
        EngineError: an engine is not installed (the message names its package).
    """
    options = CorpusOptions(n_utterances=n_utterances, seed=seed, dev_fraction=dev_fraction,
                            test_fraction=test_fraction, mixed_voices=mixed_voices, extra_train=extra_train,
                            engines=engines, flite_test_voices=flite_test_voices,
                            kokoro_test_voices=kokoro_test_voices)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    plan = _make_plan(out, options)
    digest = plan.digest
    recipe_path = out / "corpus.json"
    reuse = _recorded_digest(recipe_path) == digest
    recipe = _recipe_start(options, plan, digest)
    _write_json(recipe_path, recipe)  # marks the plan before any wav, so a resume can trust the wavs

    tally = _Tally()
    if reuse:
        _keep_valid_wavs(out, plan.specs, tally)
    n_reused = len(tally.frames)
    n_copied = _reuse_from(Path(reuse_from), out, plan, tally) if reuse_from else 0
    unaligned = [spec for spec in plan.specs if spec.index in tally.frames and not textgrid_path(out, spec).exists()]
    if unaligned:  # wavs of a run made before TextGrids existed
        _render_missing(out, plan, tally, workers, progress, unaligned, task="align")
    n_todo = _render_missing(out, plan, tally, workers, progress)
    counts, hours = _write_split_csvs(out, plan.specs, tally, plan.multi_engine)
    seconds = time.perf_counter() - t0

    n_synthesized = n_todo - len(tally.failures)
    recipe.update({
        "status": "complete",
        "sample_rate": SAMPLE_RATE,
        "alphabet": ALPHABET,
        "held_out": "train, dev and test use pairwise disjoint voice variants and pairwise disjoint "
                    "transcripts; base English voices and the vocabulary are shared",
        "splits": _recipe_splits(plan, counts, hours),
        **_recipe_ranges(plan),
        "synthesized": n_synthesized,
        "reused": n_reused,
        **({"copied_from": {"corpus": str(reuse_from), "utterances": n_copied}} if reuse_from else {}),
        "failed": {str(i): tally.failures[i] for i in sorted(tally.failures)},
        "seconds": round(seconds, 2),
        "alignments": _recipe_alignments(tally),
        **({"engines": _recipe_engines(plan, tally)} if plan.multi_engine else {}),
    })
    _write_json(recipe_path, recipe)
    return {"out_dir": str(out), "utterances": counts, "hours": hours, "synthesized": n_synthesized,
            "reused": n_reused, "copied": n_copied, "failed": len(tally.failures), "seconds": seconds}


def _options_of_recipe(recipe: dict) -> CorpusOptions:
    """The options a complete ``corpus.json`` was made with."""
    return CorpusOptions(n_utterances=recipe["n_utterances"], seed=recipe["seed"],
                         dev_fraction=recipe["dev_fraction"], test_fraction=recipe["test_fraction"],
                         mixed_voices=recipe.get("mixed_voices", {}).get("count", 0),
                         extra_train=recipe.get("extra_train", 0),
                         engines=recipe.get("engines_option", "espeak"),
                         flite_test_voices=recipe.get("flite_test_voices", _DEFAULTS.flite_test_voices),
                         kokoro_test_voices=recipe.get("kokoro_test_voices", _DEFAULTS.kokoro_test_voices))


def _complete_recipe(folder: Path) -> dict:
    path = folder / "corpus.json"
    try:
        recipe = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: no readable corpus recipe ({err})") from None
    if recipe.get("status") != "complete":
        raise DatasetError(f"{path}: corpus is not complete; run the corpus command to finish it")
    return recipe


def _link_or_copy(source: Path, target: Path) -> None:
    """``target`` becomes a hard link to ``source`` (a copy across file systems), atomically."""
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _reuse_from(source: Path, out: Path, plan: _CorpusPlan, tally: _Tally) -> int:
    """Take the wavs and TextGrids of ``source`` whose utterance is the same as ours (same index, same spec).

    ``source``'s plan is made again from its ``corpus.json`` and must have the recorded digest
    (so its wavs are what that plan makes with this eSpeak); an utterance is taken only if
    its spec equals ours field for field and its wav and TextGrid are there. Returns how many.
    """
    source = Path(source)
    recipe = _complete_recipe(source)
    theirs = _make_plan(source, _options_of_recipe(recipe), write_voices=False)
    if theirs.digest != recipe.get("plan_sha256"):
        raise DatasetError(f"{source / 'corpus.json'}: its plan_sha256 is not the plan this code makes from its "
                           "recipe (another recipe or eSpeak version); its wavs cannot be reused")
    by_index = {spec.index: spec for spec in theirs.specs}
    taken = 0
    for spec in plan.specs:
        if spec.index in tally.frames or by_index.get(spec.index) != spec:
            continue
        wav, grid = source / spec.wav, textgrid_path(source, spec)
        frames = _valid_wav(wav)
        if frames is None or not grid.exists():
            continue
        (out / spec.wav).parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(wav, out / spec.wav)
        _link_or_copy(grid, textgrid_path(out, spec))
        tally.done(spec.index, (out / spec.wav).stat().st_size, frames)
        taken += 1
    return taken


def align_corpus(out_dir: str | os.PathLike, workers: int | None = None, progress: bool = True) -> dict:
    """Add the TextGrids to a corpus synthesized without them, leaving its wavs and CSVs alone.

    The plan is made again from ``corpus.json`` (seed, counts, fractions) and must have
    the recorded ``plan_sha256``; every utterance with a wav and no TextGrid is
    synthesized again (eSpeak is deterministic for a plan) to get its events, and its
    rendered length is checked against the wav's (:func:`~.render.align_to_file`).
    Utterances that fail are skipped and listed; re-running does only the missing ones.

    Returns:
        ``{"out_dir", "aligned", "already", "failed": {index: reason}, "unknown_espeak_phonemes", "seconds"}``.
    Raises:
        DatasetError: no complete ``corpus.json``, or one whose plan this code does not make.
    """
    out = Path(out_dir)
    recipe_path = out / "corpus.json"
    try:
        recipe = json.loads(recipe_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DatasetError(f"{recipe_path}: no readable corpus recipe ({err})") from None
    if recipe.get("status") != "complete":
        raise DatasetError(f"{recipe_path}: corpus is not complete; run the corpus command to finish it")
    t0 = time.perf_counter()
    plan = _make_plan(out, _options_of_recipe(recipe))
    if plan.digest != recipe.get("plan_sha256"):
        raise DatasetError(f"{recipe_path}: its plan_sha256 is not the plan this code makes from its seed and counts "
                           "(another recipe or eSpeak version); synthesize it again instead")
    todo = [spec for spec in plan.specs if (out / spec.wav).exists() and not textgrid_path(out, spec).exists()]
    tally = _Tally()
    _render_missing(out, plan, tally, workers, progress, todo, task="align")
    recipe["alignments"] = _recipe_alignments(tally)
    _write_json(recipe_path, recipe)
    return {"out_dir": str(out), "aligned": len(tally.frames), "already": len(plan.specs) - len(todo),
            "failed": {str(i): tally.failures[i] for i in sorted(tally.failures)},
            "unknown_espeak_phonemes": tally.unknown, "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------
def read_speakers(corpus_dir: str | os.PathLike) -> dict[str, dict[str, str | bool]]:
    """Who speaks each utterance of a corpus, from its ``utterances.csv`` and ``corpus.json``.

    Returns:
        ``{absolute wav path: {"split", "engine", "voice", "held_out"}}``; ``voice`` is flite's
        voice or eSpeak's voice variant (``"en-us+m3"`` -> ``"m3"``); ``held_out`` is True for a
        voice no train utterance of the corpus uses.
    Raises:
        DatasetError: no ``utterances.csv`` (a corpus made before it existed: synthesize it
            again, which reuses every wav) or a malformed one.
    """
    folder = Path(corpus_dir).resolve()
    path = folder / "utterances.csv"
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as err:
        raise DatasetError(f"{path}: cannot read who speaks the corpus ({err}); run the corpus command on "
                           f"{folder} again to write it") from None
    if rows and set(UTTERANCES_HEADER) - set(rows[0]):
        raise DatasetError(f"{path}: header lacks {sorted(set(UTTERANCES_HEADER) - set(rows[0]))}")
    speakers = {}
    for row in rows:
        voice = row["voice"].split("+", 1)[-1] if row["engine"] == "espeak" else row["voice"]
        speakers[str((folder / row["wav_filename"]).resolve())] = {"split": row["split"], "engine": row["engine"],
                                                                   "voice": voice}
    trained = {(v["engine"], v["voice"]) for v in speakers.values() if v["split"] == "train"}
    for v in speakers.values():
        v["held_out"] = (v["engine"], v["voice"]) not in trained
    return speakers


def read_corpus_csv(path: str | os.PathLike) -> tuple[list[tuple[str, str]], list[str]]:
    """Read a DeepSpeech CSV; returns ``(rows, problems)``.

    ``rows`` are ``(absolute_wav_path, transcript)`` in file order, with relative
    ``wav_filename`` values resolved against the CSV's folder. Rows whose file is
    missing, or whose transcript holds a symbol outside the alphabet, are skipped and
    described in ``problems`` (``"train.csv line 7: missing file /.../x.wav"``); a
    ``wav_filesize`` that differs from the file's size is reported but the row is kept.

    Raises:
        DatasetError: the header lacks ``wav_filename`` or ``transcript``.
    """
    path = Path(path)
    base = path.resolve().parent
    allowed = set(ALPHABET)
    rows: list[tuple[str, str]] = []
    problems: list[str] = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        if "wav_filename" not in fields or "transcript" not in fields:
            raise DatasetError(f"{path}: header {fields} lacks wav_filename/transcript")
        for row in reader:
            where = f"{path.name} line {reader.line_num}"
            wav = (base / row["wav_filename"]).resolve()
            transcript = row["transcript"] or ""
            if not wav.is_file():
                problems.append(f"{where}: missing file {wav}")
                continue
            if not set(transcript) <= allowed:
                problems.append(f"{where}: transcript {transcript!r} has symbols outside the alphabet")
                continue
            size = row.get("wav_filesize")
            if size not in (None, "") and str(size).isdigit() and int(size) != wav.stat().st_size:
                problems.append(f"{where}: wav_filesize {size} but {wav} has {wav.stat().st_size} bytes")
            rows.append((str(wav), transcript))
    return rows, problems


# ---------------------------------------------------------------------------
# The example utterances in audio/
# ---------------------------------------------------------------------------
#: The study's three LibriSpeech clips said these; our examples say the same words, each in a voice the
#: embedded model never heard, from more than one engine: ``(name, text, engine, voice)`` where ``voice`` is
#: an eSpeak base voice (given a held-out voice variant) or a flite voice held out of training.
EXAMPLE_TEXTS = (
    ("example-1", "experience proves this", "espeak", "en-us"),
    ("example-2", "your power is sufficient i said", "flite", "slt"),
    ("example-3", "why should one halt on the way", "espeak", "en-029"),
)


def _example_specs(seed: int) -> list[UtteranceSpec | FliteSpec | NeuralSpec]:
    """The plans of the three examples, clean, each a voice held out of the training split of the
    corpus made with ``seed``: eSpeak base voices with a test voice variant, and flite's default
    held-out voice."""
    test_variants = split_voice_variants(list_voice_variants(), seed)["test"]
    flite_voices = flite_split_voices(_DEFAULTS.test_voices("flite"))
    held_out_flite = set(flite_voices["test"]) - set(flite_voices["train"])
    specs: list[UtteranceSpec | FliteSpec | NeuralSpec] = []
    for i, (name, text, engine, voice) in enumerate(EXAMPLE_TEXTS):
        if engine == "flite":
            if voice not in held_out_flite:
                raise ValueError(f"example {name}: flite voice {voice!r} is not held out ({sorted(held_out_flite)})")
            specs.append(FliteSpec(index=i, split="test", wav=f"{name}.wav", transcript=text, voice=voice,
                                   duration_stretch=1.0, f0_mean=None, f0_stddev=None, tract_factor=1.0, rt60=None,
                                   peak_db=-3.0, noise="none", snr_db=None, pad_start=0.3, pad_end=0.3,
                                   seed=seed * 1000 + i))
        else:
            specs.append(UtteranceSpec(index=i, split="test", wav=f"{name}.wav", transcript=text,
                                       voice=f"{voice}+{test_variants[i % len(test_variants)]}", rate=160, pitch=50,
                                       pitch_range=50, word_gap=0, speed=1.0, peak_db=-3.0, noise="none",
                                       snr_db=None, pad_start=0.3, pad_end=0.3, seed=seed * 1000 + i))
    return specs


def _render_examples(seed: int) -> list[tuple[UtteranceSpec | FliteSpec | NeuralSpec, object, object]]:
    """``[(spec, float32 audio, alignment)]`` of the three examples, rendered in order."""
    from .flite import render_flite_aligned

    return [(spec, *(render_flite_aligned(spec) if isinstance(spec, FliteSpec) else render_utterance_aligned(spec)))
            for spec in _example_specs(seed)]


def _render_examples_fresh(seed: int) -> list[tuple[UtteranceSpec, object, object]]:
    """:func:`_render_examples` in a new process: libespeak-ng keeps state between utterances
    of a process (a second render of an example after other text can differ by a few
    samples), so the examples are always made from a freshly initialized library."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_render_examples, (seed,))


def synthesize_examples(out_dir: str | os.PathLike = "audio", seed: int = 0) -> list[tuple[str, str]]:
    """Write the three example utterances, their TextGrids and ``transcripts.csv`` (DeepSpeech CSV) into ``out_dir``.

    Each is a voice held out of the training split of the corpus made with the same ``seed``
    (:data:`EXAMPLE_TEXTS`: two eSpeak voices with held-out voice variants, flite's held-out
    voice ``slt``), clean (no noise), so the examples are speakers the embedded model never
    heard. Deterministic: rendered in order in a fresh process. The TextGrids come from the
    engines' own timings (eSpeak's events, flite's phone durations), as the corpus's do.

    Returns:
        ``[(wav_path, transcript)]``.
    """
    out = Path(out_dir)
    rows, written = [], []
    for spec, audio, alignment in _render_examples_fresh(seed):
        path = write_wav(out / spec.wav, audio)
        alignment.write(textgrid_path(out, spec))  # after the wav, as the corpus does
        rows.append((spec.wav, path.stat().st_size, spec.transcript))
        written.append((str(path), spec.transcript))
    _write_csv(out / "transcripts.csv", rows)
    return written


def align_examples(out_dir: str | os.PathLike, seed: int = 0) -> list[Path]:
    """Write the TextGrids of example WAVs made by :func:`synthesize_examples` (same ``seed``)
    beside them, leaving the WAVs alone.

    The examples are synthesized again (as :func:`synthesize_examples` does) and each must
    give exactly its WAV's samples, so the words' intervals are those of that audio, from
    the engine's own timings, not from a model.

    Returns:
        The TextGrid paths.
    Raises:
        AudioError: a WAV is missing or differs from what its plan renders.
    """
    import tempfile

    import numpy as np

    from ..infra.errors import AudioError

    out, paths = Path(out_dir), []
    for spec, audio, alignment in _render_examples_fresh(seed):
        wav = out / spec.wav
        try:
            stored, _ = sf.read(str(wav), dtype="int16")
        except (sf.LibsndfileError, RuntimeError, OSError) as err:
            raise AudioError(f"{wav}: unreadable ({err})") from None
        with tempfile.TemporaryDirectory() as tmp:  # quantized exactly as synthesize_examples wrote it
            rendered, _ = sf.read(str(write_wav(Path(tmp) / spec.wav, audio)), dtype="int16")
        if not np.array_equal(stored, rendered):
            raise AudioError(f"{wav}: not the audio example {spec.index + 1} renders to with seed {seed} "
                             f"({len(stored)} samples, rendered {len(rendered)})")
        paths.append(alignment.write(textgrid_path(out, spec)))
    return paths
