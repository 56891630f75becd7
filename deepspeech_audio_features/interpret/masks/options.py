"""The importance-mask method's options: every setting of :func:`importance_mask` with its
default, written once.

The same :class:`MaskOptions` object is what the Python API takes, what
``assets/experiments/mask.json`` is read into, what the ``mask`` and ``mask-dataset``
commands build from their flags, and what :func:`mask_dataset` sends to Dask workers
(``to_dict`` / ``from_dict``). No TensorFlow here.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from ...infra.errors import ParameterError
from ...infra.options import Options, check_choice, check_int, check_range, option

#: What a masked entry becomes (see :mod:`.fill`; listed here so this module stays NumPy-free).
FILLS: tuple[str, ...] = ("zeros", "silence", "mean")

#: How repair turns units back on (see :func:`~.engine.repair`): the best measured single
#: addition per round, or gradient-ranked prefixes (the method before).
REPAIRS: tuple[str, ...] = ("greedy", "prefix")

#: Which zeros a swap round tries first (see ``importance._swap_key``).
SWAP_ORDERS: tuple[str, ...] = ("gradient", "theta")

#: The mask shapes: one unit per MFCC entry, or one unit per frame (whole frames on or off).
VARIANTS: tuple[str, ...] = ("time-frequency", "time")


@dataclasses.dataclass(frozen=True)
class MaskOptions(Options):
    """Settings of :func:`~deepspeech_audio_features.interpret.masks.importance.importance_mask`.

    See the method's docstring for what each phase does with them.
    """
    variant: Literal["time-frequency", "time"] = option(
        "time-frequency", "mask shape: a unit per MFCC entry, or whole frames")
    steps: int = option(300, "relaxed-optimization steps (Adam on the mask logits)")
    learning_rate: float = option(0.1, "Adam step size on the mask logits")
    init_logit: float = option(3.0, "initial mask logit (clipped to +-8 during optimization)")
    kappa: float = option(1.0, "hinge target margin in logits (capped by each frame's original margin)")
    lam: tuple[float, float] = option((0.3, 3.0), "sparsity weight (start, end), annealed geometrically")
    tau: tuple[float, float] = option((1.0, 0.3), "sigmoid temperature (start, end), annealed geometrically")
    straight_through: float = option(0.5, "share of the steps (the last ones) with the loss on the binary mask")
    # 25, not 5: the same masks on 8 inputs and 1.2 s less per second of audio (2-core EPYC VM); the
    # benchmark's "today" keeps 5, as the method before did.
    eval_every: int = option(25, "steps between exact checks of binarized masks during optimization")
    tol: float = option(1e-3, "acceptance margin in logits")
    repair: Literal["greedy", "prefix"] = option(
        "greedy", "how the binarized relaxed mask is repaired: add the best of 32 measured single units per round, "
                  "or gradient-ranked prefixes (the method before; can turn on every unit up to a failing frame)")
    max_prune_passes: int | None = option(None, "cap on prune passes (none: until 1-minimal)")
    max_seconds: float | None = option(None, "time budget for pruning, in seconds (none: no limit)")
    check_limit: int = option(400_000, "run the independent 1-minimality check when ones x frames is at most this")
    batch_frames: int = option(8192, "candidates per forward pass = batch_frames // frames (4 to 64)")
    snapshot_every: int = option(10, "optimization steps between snapshots")
    # 175: on the 2-core EPYC VM, 300 moves gave 23.3 % fewer ones than the method before at 1.21x its
    # time, 200 moves 21.9 % at 1.03x; with 175 (and eval_every 25), 20.8 % at 0.97x (benchmarks/masks.py,
    # 23 inputs; README).
    swap_moves: int = option(175, "swap moves after pruning: zeros turned on, each followed by a local prune (0: none)")
    swap_window: int = option(6, "frames either side of a swapped-in unit whose ones a swap move tries to remove")
    swap_round: int = option(50, "swap moves per round; after a round that kept a move, the mask is pruned until "
                                 "1-minimal before the next round")
    swap_order: Literal["gradient", "theta"] = option(
        "gradient", "which zeros a swap round tries first: most negative gradient of the margin hinge at the current "
                    "mask (recomputed every round), or highest relaxed mask logit")
    swap_keep_even: bool = option(True, "also keep swap moves that remove exactly one one (same size, another mask)")
    incremental: bool = option(True, "score prune and search moves from the first frame they change (same masks)")
    fill: Literal["zeros", "silence", "mean"] = option(
        "zeros", "what a masked entry becomes: 0 (the study's), the MFCCs of digital silence, or the training "
                 "corpus's mean per coefficient")
    fill_file: str | None = option(None, "fill=mean: a JSON with \"mean\" or a .npy of 26 values "
                                         "(none: the model's mfcc_mean.json beside its checkpoint)")

    def validate(self) -> None:
        check_choice("variant", self.variant, VARIANTS)
        check_choice("fill", self.fill, FILLS)
        check_choice("repair", self.repair, REPAIRS)
        check_choice("swap_order", self.swap_order, SWAP_ORDERS)
        if self.fill_file is not None and self.fill != "mean":
            raise ParameterError(f"fill_file: only used with fill 'mean', got fill {self.fill!r}")
        for name in ("steps", "check_limit", "swap_moves"):
            check_int(name, getattr(self, name), 0)
        for name in ("eval_every", "snapshot_every", "batch_frames", "swap_window", "swap_round"):
            check_int(name, getattr(self, name), 1)
        check_range("learning_rate", self.learning_rate, 0, low_open=True)
        check_range("init_logit", self.init_logit)
        check_range("kappa", self.kappa, 0)
        check_range("straight_through", self.straight_through, 0, 1)
        check_range("tol", self.tol, 0)
        for name in ("lam", "tau"):  # geometric annealing needs positive ends
            pair = getattr(self, name)
            for value in pair:
                check_range(name, value, 0, low_open=True)
        if self.max_prune_passes is not None:
            check_int("max_prune_passes", self.max_prune_passes, 0)
        if self.max_seconds is not None:
            check_range("max_seconds", self.max_seconds, 0)
