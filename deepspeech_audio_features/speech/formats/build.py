"""What every model format shares: checking the weights and feature settings a file brings,
and building a :class:`DeepSpeech` from them with one-line errors that name the file."""
from __future__ import annotations

import numpy as np

from ...infra.errors import CheckpointError, ParameterError
from ..alphabet import Alphabet
from ..frames import SAMPLE_RATE, STEP_SAMPLES, UPPER_FREQUENCY_LIMIT, WINDOW_SAMPLES
from ..model import DeepSpeech, official_shapes

#: The feature settings this toolkit computes (frames.py); a model trained with others is refused.
FEATURE_SETTINGS = {"sample_rate": SAMPLE_RATE, "feature_win_len": WINDOW_SAMPLES * 1000 // SAMPLE_RATE,
                    "feature_win_step": STEP_SAMPLES * 1000 // SAMPLE_RATE}


def check_weights(source: str, weights: dict[str, np.ndarray]) -> tuple[int, int]:
    """``(n_hidden, n_classes)`` of release-named ``weights``; CheckpointError naming
    ``source`` for missing, mis-shaped or non-finite ones."""
    for key in ("layer_1/weights", "layer_6/weights"):
        if key not in weights or np.ndim(weights[key]) != 2:
            raise CheckpointError(f"{source}: no 2-D {key} (not a DeepSpeech model?)")
    n_hidden, n_classes = int(weights["layer_1/weights"].shape[1]), int(weights["layer_6/weights"].shape[1])
    expected = official_shapes(n_hidden, n_classes=n_classes)
    missing = sorted(set(expected) - set(weights))
    if missing:
        raise CheckpointError(f"{source}: missing {', '.join(missing)} (not a DeepSpeech model?)")
    misshaped = [f"{name} {tuple(weights[name].shape)} (expected {shape})"
                 for name, shape in expected.items() if tuple(weights[name].shape) != shape]
    if misshaped:
        raise CheckpointError(f"{source}: mis-shaped " + ", ".join(misshaped))
    not_finite = sorted(name for name in expected if not np.all(np.isfinite(weights[name])))
    if not_finite:
        raise CheckpointError(f"{source}: NaN or Inf in {', '.join(not_finite)}")
    return n_hidden, n_classes


def check_feature_settings(source: str, settings: dict) -> None:
    """CheckpointError naming ``source`` unless the file's sample rate and windows are the
    ones this toolkit computes (16 kHz, 32 ms every 20 ms) and the MFCC top is in (20, 8000] Hz."""
    for key, ours in FEATURE_SETTINGS.items():
        if key in settings and settings[key] != ours:
            raise CheckpointError(f"{source}: {key} is {settings[key]!r}, this toolkit computes features with {ours}")
    limit = settings.get("upper_frequency_limit", UPPER_FREQUENCY_LIMIT)
    if not 20 < limit <= SAMPLE_RATE / 2:
        raise CheckpointError(f"{source}: upper_frequency_limit {limit!r} Hz outside (20, {SAMPLE_RATE // 2}]")


def build_model(source: str, weights: dict[str, np.ndarray], alphabet: Alphabet | None, metadata: dict,
                forget_bias: float = 0.0) -> DeepSpeech:
    """A :class:`DeepSpeech` from a file's weights and facts, every problem a CheckpointError naming ``source``.

    Args:
        weights: release variable name -> float array.
        alphabet: the file's alphabet, or None for DeepSpeech's English one.
        metadata: the file's facts (format, feature settings, quantization, ...).
    """
    weights = {name: np.asarray(value, np.float32) for name, value in weights.items()}
    check_weights(source, weights)
    check_feature_settings(source, metadata)
    metadata = {"name": metadata.get("name"), "checkpoint": source, **metadata}
    metadata.setdefault("upper_frequency_limit", UPPER_FREQUENCY_LIMIT)
    try:
        return DeepSpeech(weights, forget_bias=forget_bias, metadata=metadata, alphabet=alphabet)
    except (CheckpointError, ParameterError) as err:
        raise CheckpointError(f"{source}: {err}") from None
