"""The settings of network dissection (:class:`DissectionOptions`) and layer probes
(:class:`ProbeOptions`), each default written once.

No TensorFlow here: the command line builds its parser from these options.
"""
from __future__ import annotations

import dataclasses

from ..infra.options import Options, check_int, check_range, option

__all__ = ["DissectionOptions", "ProbeOptions"]


@dataclasses.dataclass(frozen=True)
class DissectionOptions(Options):
    """Options of :func:`~.dissection.dissect_dataset`.

    All but ``iou_threshold``, ``checkpoint_every``, ``shards`` and ``worker_threads`` are
    the run's identity.
    """

    batch_size: int = option(32, "utterances per forward pass")
    max_utterances: int | None = option(None, "only the first n utterances of the dataset (none: all)")
    quantile: float = option(0.005, "top share of frames that counts as a neuron firing (Bau et al.: 0.005)")
    iou_threshold: float = option(0.04, "IoU above which a neuron is a phone detector (Bau et al.: 0.04)")
    checkpoint_every: int = option(20, "save the accumulators every n batches (resume point)")
    frame_examples: bool = option(True, "also keep each neuron's top/bottom frames with traces, and its histogram")
    top_k: int = option(8, "top and bottom frames kept per neuron as time-localized examples")
    window: int = option(25, "frames kept on each side of an example's frame in its trace (25: +-0.5 s)")
    histogram_bins: int = option(40, "bins of each neuron's activation histogram")
    shards: int | None = option(None, "shards on a Dask cluster (none: 4 per worker)")
    worker_threads: int | None = option(None, "TensorFlow threads per Dask worker (none: TensorFlow's default)")

    def validate(self) -> None:
        check_int("batch_size", self.batch_size, 1)
        check_int("checkpoint_every", self.checkpoint_every, 1)
        check_int("top_k", self.top_k, 1)
        check_int("window", self.window, 0)
        check_int("histogram_bins", self.histogram_bins, 1)
        for name in ("shards", "worker_threads"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        if self.max_utterances is not None:
            check_int("max_utterances", self.max_utterances, 1)
        check_range("quantile", self.quantile, 0.0, 1.0, low_open=True, high_open=True)
        check_range("iou_threshold", self.iou_threshold, 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class ProbeOptions(Options):
    """Options of :func:`~.probes.probe_layers`."""

    max_utterances: int | None = option(300, "utterances read from each dataset (none: all)")
    max_frames: int | None = option(30000, "frames sampled at random from each dataset's labelled frames (none: all)")
    steps: int = option(400, "full-batch Adam steps per probe")
    learning_rate: float = option(0.05, "Adam step size")
    # 1e-4 overfit badly on the embedded model (layer_2: train 0.86, dev 0.41 on 8,000 frames); 0.01 did not.
    l2: float = option(0.01, "L2 penalty on the weights (per frame, on standardized features)")
    batch_size: int = option(32, "utterances per forward pass")
    seed: int = option(0, "random seed of the frame sampling")

    def validate(self) -> None:
        for name in ("max_utterances", "max_frames"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        check_int("steps", self.steps, 1)
        check_int("batch_size", self.batch_size, 1)
        check_int("seed", self.seed, 0)
        check_range("learning_rate", self.learning_rate, 0.0, low_open=True)
        check_range("l2", self.l2, 0.0)
