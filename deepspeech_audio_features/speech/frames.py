"""DeepSpeech's framing constants: 16 kHz audio, 32 ms windows every 20 ms, 26 MFCCs with
9 frames of context on each side. NumPy only (no TensorFlow, no audio I/O)."""
from __future__ import annotations

import numpy as np

from ..infra.errors import ParameterError

#: Hz; everything the network sees is 16 kHz mono.
SAMPLE_RATE = 16000
#: One DeepSpeech analysis window (32 ms at 16 kHz): shorter audio yields no frame.
WINDOW_SAMPLES = 512
#: The hop between frames (20 ms at 16 kHz).
STEP_SAMPLES = 320
N_INPUT = 26  #: MFCC coefficients per frame
N_CONTEXT = 9  #: frames of context on each side
WINDOW_FRAMES = 2 * N_CONTEXT + 1  #: 19 frames per context window
UPPER_FREQUENCY_LIMIT = 8000.0  #: Hz, DeepSpeech 0.7 and later (0.6 used 4000)


def num_frames(num_samples: int) -> int:
    """Frames DeepSpeech makes from ``num_samples`` samples (whole 32 ms windows only)."""
    return max(0, (num_samples - WINDOW_SAMPLES) // STEP_SAMPLES + 1)


def context_windows(x: np.ndarray) -> np.ndarray:
    """Stack each frame with its 9 neighbours on each side, as the release does.

    Frames beyond the edges are zeros (not MFCCs of silence). The flattening order is
    the release's: value ``k * 26 + c`` is coefficient ``c`` of frame ``t - 9 + k``.

    Args:
        x: ``[T, 26]`` MFCCs.
    Returns:
        ``[T, 494]``.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != N_INPUT:
        raise ParameterError(f"expected MFCCs [T, {N_INPUT}], got shape {x.shape}")
    padded = np.pad(x, ((N_CONTEXT, N_CONTEXT), (0, 0)))
    t = x.shape[0]
    return np.stack([padded[k:k + t] for k in range(WINDOW_FRAMES)], axis=1).reshape(t, -1)
