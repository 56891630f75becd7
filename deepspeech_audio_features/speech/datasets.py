"""Datasets of utterances: DeepSpeech CSVs (``wav_filename,wav_filesize,transcript``) or
folders of audio files. No TensorFlow here."""
from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..infra.errors import DatasetError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


@dataclass(frozen=True)
class Utterance:
    """One dataset item: an absolute audio path and its transcript ('' when unknown)."""
    path: str
    transcript: str = ""


def read_dataset(source: str | os.PathLike) -> list[Utterance]:
    """List the utterances of a DeepSpeech CSV (or several, comma-separated) or an audio folder.

    CSV paths that are relative resolve against the CSV's folder, as in DeepSpeech.
    A folder is searched recursively for audio files, in sorted order.

    Raises:
        DatasetError: with the source's name, for a missing source or a
            CSV without the ``wav_filename`` and ``transcript`` columns.
    """
    text = str(source)
    if "," in text and not Path(text).exists():
        return [u for part in text.split(",") for u in read_dataset(part)]
    path = Path(source)
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset (CSV file or audio folder)")
    if path.is_dir():
        return [Utterance(str(p.resolve())) for p in sorted(path.rglob("*"))
                if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()]
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: a BOM is not part of a column name
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"wav_filename", "transcript"} <= set(reader.fieldnames):
                raise DatasetError(f"{path}: not a DeepSpeech CSV (needs wav_filename and transcript columns, "
                                   f"has {reader.fieldnames})")
            rows = list(reader)
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason}); save it as UTF-8") from None
    except csv.Error as err:
        raise DatasetError(f"{path}: malformed CSV ({err})") from None
    if not rows:
        raise DatasetError(f"{path}: no rows")
    base = path.resolve().parent
    utterances = []
    for line, row in enumerate(rows, start=2):
        if any("\x00" in (value or "") for value in row.values() if isinstance(value, str)):
            raise DatasetError(f"{path}: line {line} holds a NUL byte (not a text CSV?)")
        if not row.get("wav_filename"):
            raise DatasetError(f"{path}: line {line} has no wav_filename")
        utterances.append(Utterance(_absolute(base / row["wav_filename"]), row.get("transcript") or ""))
    return utterances


def _absolute(path: Path) -> str:
    """``path`` resolved; a symlink loop stays unresolved so that reading it fails for that row only."""
    try:
        return str(path.resolve())
    except (RuntimeError, OSError):  # RuntimeError: Python 3.11's "Symlink loop"
        return os.path.abspath(path)


def dataset_digest(utterances: list[Utterance]) -> str:
    """A hash of a dataset's contents: every row's path and transcript and its file's size
    (-1 when it cannot be read), so a run folder notices rows added, removed or changed and
    audio files replaced by others of another size. 16 hex digits."""
    digest = hashlib.sha1()
    for utt in utterances:
        try:
            size = os.stat(utt.path).st_size
        except OSError:
            size = -1
        digest.update(json.dumps([utt.path, utt.transcript, size]).encode("utf-8") + b"\n")
    return digest.hexdigest()[:16]
