"""Feature visualization (Lucid-style), as small pieces:

- :mod:`.objectives` -- :class:`Objective` (a layer, a neuron set, lambda...), the batch
  plan, the staged forward pass, :func:`total_variation`, the diversity penalty and
  :func:`select_neurons`;
- :mod:`.param` -- parameterizations (:class:`DirectParam`, :class:`ScaledParam`): how
  the optimized variable becomes MFCCs, and the inputs they start from;
- :mod:`.transform` -- random changes before the network sees the input (:class:`TimeJitter`);
- :mod:`.stats` -- real-speech MFCC statistics (:class:`MfccStats`);
- :mod:`.options` -- :class:`VisualizationOptions`, every setting's default once (no
  TensorFlow: the command line builds its parser from it);
- :mod:`.snapshots` -- the run folder's files;
- :mod:`.render` -- :func:`maximize_activation`, the batched optimization loop;
- :mod:`.neurons` -- :func:`visualize_neurons`, every neuron of a layer in resumable batches
  (in-process or on Dask), and :func:`load_neuron_inputs`.

The names below load their module on first use (PEP 562), so importing
:mod:`.options` alone does not start TensorFlow.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "objectives": ["Objective", "Plan", "diversity_penalty", "layer_width", "plan_objectives", "select_neurons",
                   "staged_activations", "total_variation"],
    "neurons": ["NeuronInputs", "load_neuron_inputs", "visualize_neurons"],
    "options": ["VisualizationOptions"],
    "param": ["DirectParam", "ParamFactory", "ParamSpec", "Parameterization", "ScaledParam", "initial_inputs"],
    "render": ["VisualizationResult", "maximize_activation"],
    "snapshots": ["load_snapshots"],
    "stats": ["MfccStats", "load_dataset_mfccs", "mfcc_stats"],
    "transform": ["TimeJitter", "Transform"],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
