"""The atlas's options (:class:`AtlasOptions`: what it covers; :class:`SiteOptions`: how the
site is rendered), each default written once. No TensorFlow: the command line builds its
parser from them."""
from __future__ import annotations

import dataclasses

from ...infra.options import Options, check_int, check_range, option

__all__ = ["AtlasOptions", "SiteOptions"]


@dataclasses.dataclass(frozen=True)
class AtlasOptions(Options):
    """What the atlas covers and how big its dataset pass is."""

    neurons_per_layer: int | None = option(None, "neurons shown per layer, spread over the selectivity ranking "
                                                 "(none: every unit)")
    max_utterances: int | None = option(None, "utterances of the dataset in the dissection pass (none: all)")
    visualization_batch_size: int | None = option(None, "neurons optimized together in one feature-visualization "
                                                        "batch (none: visualize_neurons's atlas default, 256)")

    def validate(self) -> None:
        for name in ("neurons_per_layer", "max_utterances", "visualization_batch_size"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)


@dataclasses.dataclass(frozen=True)
class SiteOptions(Options):
    """How the atlas site is rendered."""

    examples_shown: int = option(3, "top and bottom examples shown per neuron (each)")
    audio_quality: float = option(0.9, "Ogg Opus compression level in [0, 1] (1: smallest, lowest quality)")
    sonification_iterations: int = option(60, "Griffin-Lim iterations of a learned input's sonification")
    sonification_peak: float = option(0.5, "peak amplitude of the sonifications (learned inputs differ in level by "
                                           "orders of magnitude; each is normalized)")
    selective_threshold: float = option(1.0, "a unit counts as selective when its selectivity is at least this "
                                             "(standard deviations)")

    def validate(self) -> None:
        check_int("examples_shown", self.examples_shown, 0)
        check_range("audio_quality", self.audio_quality, 0.0, 1.0)
        check_int("sonification_iterations", self.sonification_iterations, 0)
        check_range("sonification_peak", self.sonification_peak, 0.0, 1.0, low_open=True)
        check_range("selective_threshold", self.selective_threshold)
