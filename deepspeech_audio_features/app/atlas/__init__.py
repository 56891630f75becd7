"""The neuron atlas: every neuron of a DeepSpeech model seen (learned input), heard
(sonification), traced to the speech that drives it (time-localized examples, phone
selectivity) and published as a static site that works from ``file://``."""
from .data import AtlasExample, LayerPage, NeuronCard, choose_neurons, example_of
from .options import AtlasOptions, SiteOptions
from .site import SiteReport, render_site

__all__ = ["AtlasExample", "AtlasOptions", "LayerPage", "NeuronCard", "SiteOptions", "SiteReport", "choose_neurons", "example_of",
           "render_site"]
