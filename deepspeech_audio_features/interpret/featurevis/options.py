"""The settings of feature visualization, each default written once (see :class:`VisualizationOptions`)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ...infra.errors import ParameterError
from ...infra.options import Options, check_int, check_range, option

#: ``init`` values that name a start rather than an audio file.
INIT_KINDS = ("noise", "zeros", "mean")




@dataclasses.dataclass(frozen=True)
class VisualizationOptions(Options):
    """Options of :func:`~deepspeech_audio_features.interpret.featurevis.render.maximize_activation`.

    Defaults were chosen on the embedded model's architecture (n_hidden 384, its first
    training checkpoint), six objectives of three most-variable neurons, T = 100:
    learning rate 0.03 / 0.1 / 0.3 / 1.0 reached after 150 steps mean activations of
    14.0 / 16.7 / 19.2 / 19.8 on layer_1 (clip 20) and 2.73 / 3.48 / 3.54 / 3.63 on
    layer_6, with the lowest total variation at 0.3, hence 0.3 (in MFCC units; real
    MFCCs spread from std 47 for c0, silence included, to 0.4 for c25). Starting from
    noise (std 1 around the data mean when statistics are given) beat zeros on layers 1
    and 6 (zeros: 13.4 and 2.3). The scaled parameterization and ``clamp`` reached lower
    activations at equal steps, and the study used neither, so both are off by default.
    """
    steps: int = option(500, "Adam updates in total (a resumed run continues up to this number)")
    frames: int = option(100, "T, the input length in 20 ms frames")
    learning_rate: float = option(0.3, "Adam's step size, in MFCC units (variable units when scaled)")
    init: str = option("noise", "start: noise, zeros, mean (the data mean, needs statistics) or an audio file")
    init_std: float = option(1.0, "standard deviation of the initial noise")
    seed: int = option(0, "seeds the initial noise and the jitter (with each objective's own stream)")
    snapshot_every: int = option(10, "write snapshots at steps 0, k, 2k, ... and at the last step")
    clamp: bool = option(False, "after every update clip each coefficient to the data's range (needs statistics)")
    beta1: float = option(0.9, "Adam's decay of the first moment")
    beta2: float = option(0.999, "Adam's decay of the second moment")
    epsilon: float = option(1e-7, "Adam's epsilon, added to the root of the second moment (Keras' 1e-7)")

    def validate(self) -> None:
        check_int("steps", self.steps, 0)
        check_int("frames", self.frames, 1)
        check_range("learning_rate", self.learning_rate, 0, low_open=True)
        if not isinstance(self.init, str) or (self.init not in INIT_KINDS and not Path(self.init).is_file()):
            raise ParameterError(f"init: must be one of {', '.join(INIT_KINDS)} or an audio file; got {self.init!r}")
        check_range("init_std", self.init_std, 0)
        check_int("seed", self.seed, 0)
        check_int("snapshot_every", self.snapshot_every, 1)
        if not isinstance(self.clamp, bool):
            raise ParameterError(f"clamp: expected true or false, got {self.clamp!r}")
        check_range("beta1", self.beta1, 0, 1, high_open=True)
        check_range("beta2", self.beta2, 0, 1, high_open=True)
        check_range("epsilon", self.epsilon, 0, low_open=True)


#: The atlas's settings (``visualize_neurons``; chosen from ``benchmarks/atlas.py``, see the
#: README's section on every neuron of a layer): 500 steps, T = 100 frames.
ATLAS_OPTIONS = VisualizationOptions(steps=500, frames=100)
#: Neurons per batched optimization for the atlas: every layer of the embedded model at
#: 91-101 % of matmul FLOP per CPU second (forward + backward as three forwards;
#: ``benchmarks/atlas.py --models embedded``).
ATLAS_BATCH_SIZE = 256
