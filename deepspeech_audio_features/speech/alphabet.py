"""Alphabets: the labels a model's output columns stand for; the CTC blank is the last column.

The default is DeepSpeech 0.9's English alphabet (space, a-z, apostrophe; blank 28). Other
models bring their own: a Coqui STT ``alphabet.txt``, or the ``metadata_alphabet`` constant
of an exported DeepSpeech graph. NumPy only (no TensorFlow).
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..infra.errors import CheckpointError, ParameterError

#: Symbols in the release's ``data/alphabet.txt`` order; index 28 is the CTC blank.
ALPHABET: str = " abcdefghijklmnopqrstuvwxyz'"
BLANK_INDEX: int = len(ALPHABET)  # 28
NUM_CLASSES: int = len(ALPHABET) + 1  # 29


@dataclass(frozen=True)
class Alphabet:
    """The labels of a model's output columns ``0 .. len - 1``; column ``len`` is the CTC blank.

    Args:
        labels: one string per label (usually one character; Coqui STT allows longer ones).
    """
    labels: tuple[str, ...]
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        labels = tuple(self.labels)
        if not labels or not all(isinstance(label, str) and label for label in labels):
            raise ParameterError(f"labels: expected non-empty strings, got {list(labels)[:5]!r}")
        if len(set(labels)) != len(labels):
            raise ParameterError(f"labels: duplicates in {list(labels)!r}")
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "_index", {label: i for i, label in enumerate(labels)})

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def blank_index(self) -> int:
        """The CTC blank's column: the last one."""
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        """Output columns of a model with this alphabet: labels plus the blank."""
        return len(self.labels) + 1

    @property
    def is_default(self) -> bool:
        return self.labels == tuple(ALPHABET)

    def text_to_labels(self, text: str) -> np.ndarray:
        """Map a transcript to label indices ``[L]`` (int32), longest label first where labels
        are longer than one character. Raises ParameterError on other symbols."""
        longest = max(len(label) for label in self.labels)
        out, i = [], 0
        while i < len(text):
            for size in range(min(longest, len(text) - i), 0, -1):
                if text[i:i + size] in self._index:
                    out.append(self._index[text[i:i + size]])
                    i += size
                    break
            else:
                raise ParameterError(f"transcript {text!r} has a symbol outside the alphabet: {text[i]!r}")
        return np.array(out, dtype=np.int32)

    def labels_to_text(self, labels) -> str:
        """Map label indices ``[L]`` back to a string (blanks and out-of-range indices are dropped)."""
        return "".join(self.labels[i] for i in labels if 0 <= i < len(self.labels))

    # ------------------------------------------------------------------ files
    @classmethod
    def parse(cls, text: str, source: str = "alphabet") -> Alphabet:
        """Parse ``alphabet.txt``: one label per line, lines starting with ``#`` are comments,
        ``\\#`` is the label ``#`` (DeepSpeech 0.9 native_client/alphabet.cc ``Alphabet::init``,
        kept by Coqui STT).

        Raises:
            CheckpointError: naming ``source`` for empty labels, duplicates or no labels.
        """
        labels = []
        for number, line in enumerate(text.split("\n"), 1):
            line = line.removesuffix("\r")
            if line == "\\#":
                line = "#"
            elif line.startswith("#"):
                continue
            if line == "":
                if number == text.count("\n") + 1:  # the text after the final newline
                    continue
                raise CheckpointError(f"{source}: line {number} is empty (an alphabet has one label per line)")
            labels.append(line)
        try:
            return cls(tuple(labels))
        except ParameterError as err:
            raise CheckpointError(f"{source}: {err}") from None

    @classmethod
    def read(cls, path: str | os.PathLike) -> Alphabet:
        """Read an ``alphabet.txt`` (see :meth:`parse`)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CheckpointError(f"{path}: not UTF-8 text") from None
        except OSError as err:
            raise CheckpointError(f"{path}: unreadable ({err.strerror})") from None
        return cls.parse(text, str(path))

    def to_text(self) -> str:
        """The ``alphabet.txt`` form (``#`` escaped), which :meth:`parse` reads back."""
        return "".join(("\\#" if label == "#" else label) + "\n" for label in self.labels)

    @classmethod
    def deserialize(cls, data: bytes, source: str = "metadata_alphabet") -> Alphabet:
        """Read DeepSpeech's serialized alphabet: uint16 count, then per label uint16 index,
        uint16 byte length, UTF-8 bytes, little-endian (native_client/alphabet.cc ``Serialize``).

        Raises:
            CheckpointError: naming ``source`` for truncated data or labels out of order.
        """
        try:
            (count,), pos, labels = struct.unpack_from("<H", data, 0), 2, []
            for expected in range(count):
                index, size = struct.unpack_from("<HH", data, pos)
                if index != expected:
                    raise CheckpointError(f"{source}: label {expected} has index {index}")
                labels.append(data[pos + 4:pos + 4 + size].decode("utf-8"))
                if len(labels[-1].encode("utf-8")) != size:
                    raise struct.error("label cut short")
                pos += 4 + size
        except (struct.error, UnicodeDecodeError) as err:
            raise CheckpointError(f"{source}: truncated or malformed serialized alphabet ({err})") from None
        if pos != len(data):
            raise CheckpointError(f"{source}: {len(data) - pos} bytes after the serialized alphabet")
        try:
            return cls(tuple(labels))
        except ParameterError as err:
            raise CheckpointError(f"{source}: {err}") from None

    def serialize(self) -> bytes:
        """The inverse of :meth:`deserialize`."""
        out = [struct.pack("<H", len(self.labels))]
        for index, label in enumerate(self.labels):
            data = label.encode("utf-8")
            out.append(struct.pack("<HH", index, len(data)) + data)
        return b"".join(out)

    @classmethod
    def coerce(cls, value: Alphabet | str | Sequence[str] | None) -> Alphabet:
        """An :class:`Alphabet` from itself, a string of one-character labels, a list of
        labels, or None (the English default)."""
        if value is None:
            return ENGLISH
        if isinstance(value, Alphabet):
            return value
        if isinstance(value, str):
            return cls(tuple(value))
        return cls(tuple(value))

    def to_json(self) -> str | list[str]:
        """For metadata: a string when every label is one character, else the list."""
        return "".join(self.labels) if all(len(label) == 1 for label in self.labels) else list(self.labels)


#: DeepSpeech 0.9's English alphabet (the default everywhere).
ENGLISH = Alphabet(tuple(ALPHABET))


def normalize_text(text: str, alphabet: Alphabet | None = None) -> str:
    """Lower-case ``text`` and keep only single-character alphabet symbols, collapsing runs of spaces.

    Raises:
        ParameterError: ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise ParameterError(f"text: expected a string, got {type(text).__name__}")
    index = (alphabet or ENGLISH)._index
    text = text.lower().replace("\u2019", "'")
    kept = "".join(ch if ch in index else " " for ch in text)
    return " ".join(kept.split())


def text_to_labels(text: str) -> np.ndarray:
    """Map a transcript to English label indices ``[L]`` (int32). Raises ``ValueError`` on other symbols."""
    return ENGLISH.text_to_labels(text)


def labels_to_text(labels) -> str:
    """Map English label indices ``[L]`` back to a string (blanks are dropped)."""
    return ENGLISH.labels_to_text(labels)
