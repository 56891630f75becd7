"""What the atlas shows, as plain data: one :class:`NeuronCard` per neuron and one
:class:`LayerPage` per layer. The site renderer (:mod:`.site`) takes only these, so it can
be fed by the dissection, example and feature-visualization runs (:mod:`.build`) or by
arrays computed any other way. No TensorFlow.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from ...infra.errors import ParameterError
from ...speech.phones import PHONE_CLASSES

__all__ = ["AtlasExample", "NeuronCard", "LayerPage", "choose_neurons", "example_of"]


@dataclasses.dataclass
class AtlasExample:
    """A time-localized dataset example: where in which utterance a neuron peaks.

    Attributes:
        path: the utterance's audio file (16 kHz).
        frame: the peak frame (20 ms steps).
        value: the activation there.
        trace: ``[2W+1]`` the activation from ``frame - W`` to ``frame + W`` (NaN outside the utterance).
        words, phones: ``(start s, end s, label)`` alignments of the utterance.
        transcript: what is said.
    """

    path: str
    frame: int
    value: float
    trace: np.ndarray
    words: list = dataclasses.field(default_factory=list)
    phones: list = dataclasses.field(default_factory=list)
    transcript: str = ""

    @property
    def window(self) -> int:
        """``W``: frames on each side of the peak."""
        return (len(self.trace) - 1) // 2


def example_of(example) -> AtlasExample:
    """An :class:`AtlasExample` from any object with its attributes (e.g. a ``FrameExample``)."""
    return AtlasExample(str(example.path), int(example.frame), float(example.value), np.asarray(example.trace),
                        list(getattr(example, "words", []) or []), list(getattr(example, "phones", []) or []),
                        str(getattr(example, "transcript", "") or ""))


@dataclasses.dataclass
class NeuronCard:
    """Everything a neuron's card shows.

    Attributes:
        layer, neuron: which unit.
        mean: ``[C]`` mean activation per phone class (NaN: no frame of that class).
        iou: ``[C]`` dissection IoU per phone class.
        selectivity: the dissection's selectivity (preferred class above the others, in
            standard deviations of the neuron).
        threshold: the top-quantile activation threshold of the dissection.
        learned_input: ``[T, 26]`` MFCCs that maximize the neuron (feature visualization), or None.
        learned_activation: the neuron's mean activation on ``learned_input``.
        histogram_counts, histogram_edges: ``[B]`` and ``[B+1]`` activation histogram over the dataset, or None.
        top, bottom: the highest and lowest time-localized examples, best first.
    """

    layer: str
    neuron: int
    mean: np.ndarray
    iou: np.ndarray
    selectivity: float
    threshold: float | None = None
    learned_input: np.ndarray | None = None
    learned_activation: float | None = None
    histogram_counts: np.ndarray | None = None
    histogram_edges: np.ndarray | None = None
    top: list[AtlasExample] = dataclasses.field(default_factory=list)
    bottom: list[AtlasExample] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.mean, self.iou = np.asarray(self.mean, np.float64), np.asarray(self.iou, np.float64)
        if self.mean.shape != (len(PHONE_CLASSES),) or self.iou.shape != (len(PHONE_CLASSES),):
            raise ParameterError(f"{self.layer} neuron {self.neuron}: mean and iou must be [{len(PHONE_CLASSES)}], got "
                                 f"{self.mean.shape} and {self.iou.shape}")

    @property
    def preferred(self) -> list[str]:
        """The three phone classes with the highest mean activation, best first."""
        order = np.argsort(-np.nan_to_num(self.mean, nan=-np.inf), kind="stable")[:3]
        return [PHONE_CLASSES[c] for c in order]

    @property
    def best_iou(self) -> float:
        return float(np.max(self.iou))

    @property
    def best_iou_phone(self) -> str:
        return PHONE_CLASSES[int(np.argmax(self.iou))]

    @property
    def slug(self) -> str:
        """The file name stem of the neuron's page and media: ``neuron-0039``."""
        return f"neuron-{self.neuron:04d}"


@dataclasses.dataclass
class LayerPage:
    """One layer of the atlas.

    Attributes:
        layer: its name.
        width: its number of units (cards may show a subset).
        cards: the neurons shown, in neuron order.
        selectivity: ``[width]`` every unit's selectivity (for the share of selective units).
        detectors: units whose best IoU passes the dissection's threshold, or None.
        probe_accuracy: phone probe accuracy of the layer on held-out data, or None.
    """

    layer: str
    width: int
    cards: list[NeuronCard]
    selectivity: np.ndarray
    detectors: int | None = None
    probe_accuracy: float | None = None

    def selective_share(self, threshold: float) -> float:
        """The share of the layer's units whose selectivity is at least ``threshold``."""
        return float(np.mean(np.asarray(self.selectivity) >= threshold)) if len(self.selectivity) else 0.0


def choose_neurons(selectivity: np.ndarray, count: int | None) -> np.ndarray:
    """``count`` units spread evenly over the ranking by selectivity (the most and the least
    selective, and the range between), in neuron order; all units when ``count`` is None or
    at least the width."""
    selectivity = np.nan_to_num(np.asarray(selectivity, np.float64), nan=-np.inf)
    width = len(selectivity)
    if count is None or count >= width:
        return np.arange(width)
    if count < 1:
        raise ParameterError(f"neurons_per_layer: must be >= 1, got {count}")
    ranking = np.argsort(-selectivity, kind="stable")
    picks = np.unique(np.linspace(0, width - 1, count).round().astype(int))
    return np.sort(ranking[picks])


def check_cards(cards: Sequence[NeuronCard], layer: str, width: int) -> None:
    """ParameterError when a card belongs to another layer or names a neuron past the width."""
    for card in cards:
        if card.layer != layer or not 0 <= card.neuron < width:
            raise ParameterError(f"{layer}: card of {card.layer} neuron {card.neuron} does not fit a layer of width {width}")
