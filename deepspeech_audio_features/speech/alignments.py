"""Word and phone alignments: Praat TextGrids beside a dataset, and per-frame labels.

A TextGrid (the format of Praat and of the Montreal Forced Aligner) holds interval tiers
named ``words`` and ``phones`` (MFA's ``"<speaker> - words"`` works too). The synthesized
corpus writes one beside every WAV (:mod:`~deepspeech_audio_features.synth.corpus`); for
any DeepSpeech CSV, :func:`read_alignments` finds an utterance's TextGrid in a
``textgrid`` column (a path relative to the CSV, like ``wav_filename``) or as
``<wav stem>.TextGrid`` next to the WAV. Read and written with ``praatio``.

Frames follow DeepSpeech's framing: frame ``t`` covers samples ``[320 t, 320 t + 512)``
at 16 kHz, so its centre is at ``(320 t + 256) / 16000`` s; a frame takes the label of
the interval holding its centre. Phone labels fold to TIMIT's 39 classes
(:mod:`.phones`).

No TensorFlow here.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from ..infra.atomic import atomic_write
from ..infra.errors import DatasetError, FileFormatError, ParameterError
from .datasets import read_dataset
from .frames import SAMPLE_RATE, STEP_SAMPLES, WINDOW_SAMPLES
from .phones import PHONE_CLASSES, fold_phones

__all__ = ["Alignment", "Alignments", "Interval", "frame_centres", "frame_char_labels", "frame_phone_labels",
           "frame_word_labels", "read_alignments", "read_textgrid", "write_textgrid"]


class Interval(NamedTuple):
    """``[start, end)`` in seconds and its label."""

    start: float
    end: float
    label: str


@dataclass
class Alignment:
    """One utterance's word and phone intervals (seconds), as read from a TextGrid.

    ``phones`` keep the file's labels; ``phone_classes`` are them folded to TIMIT's 39
    classes (``None``: ignored or unknown). Gaps between intervals are silence.
    """

    path: str
    duration: float
    words: list[Interval]
    phones: list[Interval]
    phone_classes: list[str | None] = field(default_factory=list)
    unknown: dict[str, int] = field(default_factory=dict)

    @property
    def transcript(self) -> str:
        """The words joined by spaces."""
        return " ".join(w.label for w in self.words)


def write_textgrid(path: str | os.PathLike, duration: float, words: Sequence[Interval], phones: Sequence[Interval],
                   extra: dict[str, Sequence[Interval]] | None = None) -> Path:
    """Write a long-format TextGrid with tiers ``words``, ``phones`` (and ``extra``), atomically.

    Intervals are clipped to ``[0, duration]``; empty ones are left out (gaps are written
    as blank intervals, as Praat expects).
    """
    from praatio import textgrid

    def entries(intervals: Sequence[Interval]) -> list[tuple[float, float, str]]:
        clipped = [(max(0.0, s), min(duration, e), label) for s, e, label in intervals]
        return [(round(s, 6), round(e, 6), label) for s, e, label in clipped if e - s > 1e-6]

    grid = textgrid.Textgrid(0.0, duration)
    for name, intervals in {"words": words, "phones": phones, **(extra or {})}.items():
        grid.addTier(textgrid.IntervalTier(name, entries(intervals), 0.0, duration))
    return atomic_write(path, lambda tmp: grid.save(tmp, format="long_textgrid", includeBlankSpaces=True,
                                                    reportingMode="silence"))


def _tier(grid, name: str, path) -> list[Interval]:
    for tier_name in grid.tierNames:
        if tier_name.lower() == name or tier_name.lower().endswith(f" - {name}"):
            return [Interval(float(s), float(e), str(label)) for s, e, label in grid.getTier(tier_name).entries
                    if str(label).strip()]
    raise FileFormatError(f"{path}: TextGrid has no '{name}' tier (tiers: {grid.tierNames})")


def read_textgrid(path: str | os.PathLike) -> Alignment:
    """Read a TextGrid's ``words`` and ``phones`` tiers (blank intervals dropped).

    Raises:
        FileFormatError: unreadable, not a TextGrid, or without the two tiers.
    """
    from praatio import textgrid

    try:
        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False, reportingMode="silence",
                                     duplicateNamesMode="rename")
    except FileNotFoundError:
        raise FileFormatError(f"{path}: no such TextGrid") from None
    except Exception as err:  # praatio raises assorted errors for malformed files
        raise FileFormatError(f"{path}: not a readable TextGrid ({type(err).__name__}: {err})") from None
    words, phones = _tier(grid, "words", path), _tier(grid, "phones", path)
    classes, unknown = fold_phones(p.label for p in phones)
    return Alignment(str(path), float(grid.maxTimestamp), words, phones, classes, unknown)


@dataclass
class Alignments:
    """The alignments of a dataset's utterances, in :func:`~.datasets.read_dataset`'s order.

    ``alignments[i]`` is ``None`` where utterance ``i`` has none (``problems`` says why);
    ``unknown`` counts phone labels outside the 39-class folding over the dataset.
    """

    paths: list[str]
    transcripts: list[str]
    alignments: list[Alignment | None]
    problems: list[str]
    unknown: dict[str, int]


def _textgrid_column(dataset: Path) -> list[str] | None:
    with open(dataset, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if "textgrid" not in (reader.fieldnames or []):
            return None
        return [row.get("textgrid") or "" for row in reader]


def read_alignments(dataset: str | os.PathLike) -> Alignments:
    """The TextGrids of a DeepSpeech CSV's (or an audio folder's) utterances.

    An utterance's TextGrid is its CSV row's ``textgrid`` column (relative paths resolve
    against the CSV's folder) if the CSV has one, else ``<wav stem>.TextGrid`` beside its
    audio. A missing or unreadable TextGrid is reported in ``problems`` and gives
    ``None``; the others are read.

    Raises:
        DatasetError: the dataset itself cannot be read (see ``read_dataset``).
    """
    utterances = read_dataset(dataset)
    source = Path(dataset)
    column = _textgrid_column(source) if source.is_file() else None
    if column is not None and len(column) != len(utterances):
        raise DatasetError(f"{source}: textgrid column has {len(column)} rows for {len(utterances)} utterances")
    alignments: list[Alignment | None] = []
    problems: list[str] = []
    unknown: dict[str, int] = {}
    for i, utt in enumerate(utterances):
        if column is not None and column[i]:
            grid_path = (source.resolve().parent / column[i]).resolve()
        else:
            grid_path = Path(utt.path).with_suffix(".TextGrid")
        try:
            alignment = read_textgrid(grid_path)
        except FileFormatError as err:
            problems.append(str(err))
            alignments.append(None)
            continue
        for label, n in alignment.unknown.items():
            unknown[label] = unknown.get(label, 0) + n
        alignments.append(alignment)
    return Alignments([u.path for u in utterances], [u.transcript for u in utterances], alignments, problems, unknown)


def frame_centres(n_frames: int) -> np.ndarray:
    """Seconds ``[T]`` at the centre of each DeepSpeech frame: ``(320 t + 256) / 16000``."""
    return (np.arange(n_frames) * STEP_SAMPLES + WINDOW_SAMPLES / 2) / SAMPLE_RATE


def _interval_labels(intervals: Sequence[Interval], values: Sequence[int], n_frames: int) -> np.ndarray:
    centres = frame_centres(n_frames)
    labels = np.full(n_frames, -1, np.int64)
    for (start, end, _), value in zip(intervals, values):
        labels[(centres >= start) & (centres < end)] = value
    return labels


def frame_phone_labels(alignment: Alignment, n_frames: int) -> np.ndarray:
    """Class index in :data:`~.phones.PHONE_CLASSES` per frame ``[T]`` int64.

    Frames in no phone interval are ``sil`` (a TextGrid's gaps are silence); frames of an
    ignored or unknown label are ``-1``.
    """
    sil = PHONE_CLASSES.index("sil")
    index = {p: i for i, p in enumerate(PHONE_CLASSES)}
    values = [-1 if c is None else index[c] for c in alignment.phone_classes]
    labels = _interval_labels(alignment.phones, values, n_frames)
    covered = _interval_labels(alignment.phones, [1] * len(alignment.phones), n_frames) == 1
    labels[~covered] = sil
    return labels


def frame_word_labels(alignment: Alignment, n_frames: int) -> np.ndarray:
    """Index of the word (in ``alignment.words``) per frame ``[T]`` int64; ``-1`` between words."""
    return _interval_labels(alignment.words, list(range(len(alignment.words))), n_frames)


def frame_char_labels(alignment: Alignment, n_frames: int, alphabet: Sequence[str]) -> np.ndarray:
    """A character of the CTC alphabet per frame ``[T]`` int64 (index into ``alphabet``).

    TextGrids align words, not letters, so each word's letters share its interval in equal
    parts, in order; frames outside every word are the space (``alphabet.index(" ")``).
    Letters outside ``alphabet`` (a string or a model's ``Alphabet.labels``) give ``-1``.

    Raises:
        ParameterError: the alphabet has no space.
    """
    if " " not in alphabet:
        raise ParameterError("alphabet: has no space label, so frames between words have no character")
    alphabet = list(alphabet)
    space = alphabet.index(" ")
    centres = frame_centres(n_frames)
    labels = np.full(n_frames, space, np.int64)
    for start, end, word in alignment.words:
        inside = np.flatnonzero((centres >= start) & (centres < end))
        if not len(inside) or not word:
            continue
        position = ((centres[inside] - start) / (end - start) * len(word)).astype(np.int64).clip(0, len(word) - 1)
        labels[inside] = [alphabet.index(word[k]) if word[k] in alphabet else -1 for k in position]
    return labels
