"""The phone inventory: ARPAbet with TIMIT's 39-class folding. NumPy-free, no TensorFlow.

Labels are folded as Lee & Hon (1989) fold TIMIT's 61 phones for evaluation, which the
speech literature (and Belinkov & Glass 2017's DeepSpeech2 probes) reports on:

* stress digits and case are dropped first, so the Montreal Forced Aligner's ARPAbet
  (``"AH0"``, ``"IY1"``) folds like TIMIT's lowercase labels;
* ``ao -> aa``, ``ax ax-h -> ah``, ``axr -> er``, ``hv -> hh``, ``ix -> ih``, ``el -> l``,
  ``em -> m``, ``en nx -> n``, ``eng -> ng``, ``zh -> sh``, ``ux -> uw``;
* silences and closures (``pau epi h# bcl dcl gcl pcl tcl kcl``) and the aligners'
  silence labels (``sil sp ""``) -> ``sil``;
* ``q`` (glottal stop) and the aligners' unknown/noise labels (``spn``, ``<unk>``) are
  *ignored*: :func:`fold_phone` returns ``None`` and their frames get no label.

Anything else is unknown: :func:`fold_phone` raises, :func:`fold_phones` reports.
"""
from __future__ import annotations

import re
from typing import Iterable

from ..infra.errors import FileFormatError

__all__ = ["IGNORED_PHONES", "PHONE_CLASSES", "SILENCE", "fold_phone", "fold_phones", "phone_index"]

SILENCE = "sil"
#: The 39 classes, in this order (the index of a class is its frame label).
PHONE_CLASSES: tuple[str, ...] = (
    "aa", "ae", "ah", "aw", "ay", "b", "ch", "d", "dh", "dx", "eh", "er", "ey", "f", "g", "hh", "ih", "iy", "jh",
    "k", "l", "m", "n", "ng", "ow", "oy", "p", "r", "s", "sh", "t", "th", "uh", "uw", "v", "w", "y", "z", SILENCE,
)
_FOLD = {
    "ao": "aa", "ax": "ah", "ax-h": "ah", "axr": "er", "hv": "hh", "ix": "ih", "el": "l", "em": "m", "en": "n",
    "nx": "n", "eng": "ng", "zh": "sh", "ux": "uw",
    **{s: SILENCE for s in ("pau", "epi", "h#", "bcl", "dcl", "gcl", "pcl", "tcl", "kcl", "sil", "sp", "")},
}
#: Labels whose frames carry no class.
IGNORED_PHONES = frozenset({"q", "spn", "<unk>", "unk", "spn0", "nsn"})
_INDEX = {p: i for i, p in enumerate(PHONE_CLASSES)}
_STRESS = re.compile(r"[0-2]$")


def fold_phone(label: str) -> str | None:
    """One of :data:`PHONE_CLASSES` for a TIMIT, ARPAbet (MFA) or 39-class label; ``None`` if ignored.

    Raises:
        FileFormatError: an unknown label (the message names it).
    """
    key = _STRESS.sub("", label.strip().lower())
    if key in IGNORED_PHONES:
        return None
    key = _FOLD.get(key, key)
    if key not in _INDEX:
        raise FileFormatError(f"phone label {label!r} is not ARPAbet/TIMIT (39-class folding knows {len(_INDEX)} "
                              "classes)")
    return key


def fold_phones(labels: Iterable[str]) -> tuple[list[str | None], dict[str, int]]:
    """Fold many labels; unknown ones become ``None`` and are counted in the second result."""
    folded, unknown = [], {}
    for label in labels:
        try:
            folded.append(fold_phone(label))
        except FileFormatError:
            folded.append(None)
            unknown[label] = unknown.get(label, 0) + 1
    return folded, unknown


def phone_index(label: str) -> int:
    """The class index of a label (``-1`` for an ignored one)."""
    folded = fold_phone(label)
    return -1 if folded is None else _INDEX[folded]
