"""Voice and channel perturbations applied to DeepSpeech MFCCs (NumPy, for training).

They imitate how eSpeak's voice variants differ (shifted formants, echo, a strong
equalizer) directly on cached MFCCs, so every epoch can hear new "voices" at no synthesis
or feature cost. Each one goes back to the 40 smoothed log mel energies (``X @ pinv(D)``;
exact round trip for the 26 kept coefficients), changes them, and applies the DCT again.
On the embedded model they did not help in a 20-minute fine-tune (its errors come more from
unseen sentences than unseen voices; see ``checkpoints/README.md``), so training leaves
them off unless asked (``train --frequency-warp/--equalizer-db/--echo-probability``).
Natural log of mel *magnitudes*, as ``tf.raw_ops.Mfcc``.

How close to the real thing (``tests/test_augmentation.py`` checks each against the MFCC op
on audio perturbed the same way; RMS differences of the MFCCs, perturbed-on-features vs
perturbed-on-audio, with the unperturbed difference in brackets): a frequency warp of
0.85-1.15 on formant-shaped noise 0.055-0.076 over c1-c25 (0.68-1.06); an echo of 20-80 ms
on noise bursts 0.13-0.23 over c0-c25 (1.6-3.0); a +-6 dB equalizer 0.02 (0.42).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..infra.errors import ParameterError
from ..infra.options import check_int, check_range
from ..speech.filters import dct_matrix, hz_to_mel
from ..speech.frames import UPPER_FREQUENCY_LIMIT

N_BANDS = 40  #: mel bands of the Mfcc op


@functools.lru_cache(maxsize=None)
def _dct_and_inverse() -> tuple[np.ndarray, np.ndarray]:
    """The DCT ``[40, 26]`` and its pseudo-inverse ``[26, 40]``, computed once (training calls per utterance)."""
    dct = dct_matrix()
    return dct, np.linalg.pinv(dct)


def band_centres(upper_frequency_limit: float = UPPER_FREQUENCY_LIMIT, low: float = 20.0) -> np.ndarray:
    """Centre frequencies of the 40 mel bands, Hz ``[40]``."""
    centres = np.linspace(hz_to_mel(low), hz_to_mel(upper_frequency_limit), N_BANDS + 2)[1:-1]
    return 700.0 * np.expm1(centres / 1127.0)


def frequency_warp_matrix(alpha: float, upper_frequency_limit: float = UPPER_FREQUENCY_LIMIT,
                          low: float = 20.0) -> np.ndarray:
    """A linear map of MFCCs that scales the spectral envelope's frequencies by ``alpha``.

    Vocal tract length perturbation (VTLP) on the features instead of the audio: band
    ``b`` takes the log energy the input had at ``f_b / alpha`` (``f_b`` its centre;
    linear interpolation between band centres on the mel scale, held constant beyond
    the first and last band). ``alpha > 1`` moves formants up, as a shorter vocal tract
    does. Only the envelope moves; pitch harmonics are not in the MFCCs anyway.

    Args:
        alpha: frequency factor, e.g. 0.85-1.15; 1 gives the identity.
    Returns:
        float64 ``[26, 26]``: warped MFCCs are ``X @ M`` for ``X`` ``[T, 26]``.
    Raises:
        ParameterError: ``alpha`` not a finite number > 0.
    """
    check_range("alpha", alpha, 0, low_open=True)
    centres_hz = band_centres(upper_frequency_limit, low)
    source = np.interp(hz_to_mel(centres_hz / alpha), hz_to_mel(centres_hz), np.arange(N_BANDS))
    left = np.clip(np.floor(source).astype(int), 0, N_BANDS - 1)
    right = np.minimum(left + 1, N_BANDS - 1)
    frac = source - left
    interpolate = np.zeros((N_BANDS, N_BANDS))  # [source band, warped band]
    interpolate[left, np.arange(N_BANDS)] += 1.0 - frac
    interpolate[right, np.arange(N_BANDS)] += frac
    dct, inverse = _dct_and_inverse()
    return inverse @ interpolate @ dct


def equalizer_offset(gains_db: np.ndarray) -> np.ndarray:
    """The MFCC change ``[26]`` made by an equalizer (a fixed gain curve on the audio).

    Args:
        gains_db: amplitude gains in dB at ``K >= 2`` points equally spaced on the mel
            scale from the first band's centre to the last's; linear in between.
    Returns:
        ``[26]`` to add to every frame (exact when the gain is flat within each band).
    """
    try:
        gains_db = np.asarray(gains_db, np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"gains_db: expected numbers, got {gains_db!r:.40}") from None
    if gains_db.ndim != 1 or len(gains_db) < 2 or not np.isfinite(gains_db).all():
        raise ParameterError(f"gains_db: expected at least 2 finite numbers in a row, got shape {gains_db.shape}")
    per_band = np.interp(np.linspace(0.0, 1.0, N_BANDS), np.linspace(0.0, 1.0, len(gains_db)), gains_db)
    return (per_band * np.log(10.0) / 20.0) @ _dct_and_inverse()[0]


def add_echo(X: np.ndarray, delay_frames: int, gain: float) -> np.ndarray:
    """MFCCs of the audio plus a copy of itself ``delay_frames`` x 20 ms later at ``gain``.

    The two add incoherently in each band (energies add, no interference pattern), which
    is what happens for delays longer than the 32 ms window.

    Args:
        X: ``[T, 26]``; delay_frames >= 1; gain > 0 (amplitude of the echo).
    Returns:
        ``[T, 26]`` float64.
    """
    if delay_frames < 1 or gain <= 0:
        raise ValueError(f"an echo needs delay_frames >= 1 and gain > 0, got {delay_frames}, {gain}")
    dct, inverse = _dct_and_inverse()
    log_mel = np.asarray(X, np.float64) @ inverse  # [T, 40]
    delayed = np.full_like(log_mel, -np.inf)
    delayed[delay_frames:] = log_mel[:-delay_frames]
    return 0.5 * np.logaddexp(2.0 * log_mel, 2.0 * np.log(gain) + 2.0 * delayed) @ dct


def frequency_mask(X: np.ndarray, first_band: int, n_bands: int) -> np.ndarray:
    """SpecAugment's frequency mask on the mel bands the MFCCs come from.

    The smoothed log mel bands ``first_band .. first_band + n_bands - 1`` of ``X`` (as
    for the other perturbations) are replaced by their mean over the utterance's frames,
    and the DCT is applied again. Keeping 26 coefficients smooths the edit: the masked
    bands of the result still vary a little over time, and their neighbours move a little.
    ``n_bands = 0`` returns ``X`` (up to round-off).

    Args:
        X: MFCCs ``[T, 26]``.
        first_band, n_bands: the masked bands, within ``0 .. 39``.
    Returns:
        ``[T, 26]`` float64.
    """
    if n_bands < 0 or first_band < 0 or first_band + n_bands > N_BANDS:
        raise ParameterError(f"frequency_mask: bands {first_band}..{first_band + n_bands - 1} not within 0..{N_BANDS - 1}")
    dct, inverse = _dct_and_inverse()
    log_mel = np.asarray(X, np.float64) @ inverse  # [T, 40]
    if len(log_mel) == 0:
        return log_mel @ dct
    masked = slice(first_band, first_band + n_bands)
    log_mel[:, masked] = log_mel[:, masked].mean(axis=0, keepdims=True)
    return log_mel @ dct


def time_mask(X: np.ndarray, first_frame: int, n_frames: int) -> np.ndarray:
    """SpecAugment's time mask: frames ``first_frame .. first_frame + n_frames - 1`` of ``X``
    become the utterance's mean MFCC frame (its mean log mel spectrum: the DCT is linear).

    Args:
        X: MFCCs ``[T, 26]``.
        first_frame, n_frames: the masked frames, cut at ``T``.
    Returns:
        ``[T, 26]`` float64.
    """
    if n_frames < 0 or first_frame < 0:
        raise ParameterError(f"time_mask: expected first_frame, n_frames >= 0, got {first_frame}, {n_frames}")
    X = np.array(X, np.float64)
    if len(X):
        X[first_frame:first_frame + n_frames] = X.mean(axis=0)
    return X


@dataclass(frozen=True)
class VoicePerturbation:
    """Ranges of the random perturbations; zeros switch a perturbation off. A value out of
    range (negative, NaN, more bands than 40) raises :class:`ParameterError` naming the field.

    Attributes:
        frequency_warp: VTLP factor drawn uniformly from ``1 +- frequency_warp``.
        equalizer_db: gains at 5 points across the band, each uniform in ``+- equalizer_db``.
        echo_probability: share of utterances that get an echo of 1-4 frames (20-80 ms)
            at an amplitude gain uniform in 0.2-0.8.
        frequency_masks: SpecAugment frequency masks per utterance (:func:`frequency_mask`),
            each of 0 to ``frequency_mask_bands`` of the 40 mel bands.
        time_masks: SpecAugment time masks per utterance (:func:`time_mask`), each of 0 to
            ``time_mask_frames`` frames (20 ms each), at most a fifth of the utterance.
    """
    frequency_warp: float = 0.0
    equalizer_db: float = 0.0
    echo_probability: float = 0.0
    frequency_masks: int = 0
    frequency_mask_bands: int = 8
    time_masks: int = 0
    time_mask_frames: int = 15

    def __post_init__(self) -> None:
        check_range("frequency_warp", self.frequency_warp, 0, 1, high_open=True)
        check_range("equalizer_db", self.equalizer_db, 0)
        check_range("echo_probability", self.echo_probability, 0, 1)
        for name in ("frequency_masks", "time_masks"):
            check_int(name, getattr(self, name), 0)
        check_int("frequency_mask_bands", self.frequency_mask_bands, 1)
        if self.frequency_mask_bands > N_BANDS:
            raise ParameterError(f"frequency_mask_bands: there are {N_BANDS} mel bands, got {self.frequency_mask_bands}")
        check_int("time_mask_frames", self.time_mask_frames, 1)

    @property
    def active(self) -> bool:
        return (self.frequency_warp > 0 or self.equalizer_db > 0 or self.echo_probability > 0
                or self.frequency_masks > 0 or self.time_masks > 0)

    def __call__(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One random perturbation of ``X`` ``[T, 26]``; returns float32 ``[T, 26]``."""
        X = np.asarray(X, np.float64)
        # Draw every number whether or not it is used, so changing one range keeps the others' draws.
        alpha = 1.0 + rng.uniform(-1.0, 1.0) * self.frequency_warp
        gains = rng.uniform(-1.0, 1.0, 5) * self.equalizer_db
        echo, delay, gain = rng.random() < self.echo_probability, int(rng.integers(1, 5)), rng.uniform(0.2, 0.8)
        if self.frequency_warp > 0:
            X = X @ frequency_warp_matrix(alpha)
        if self.equalizer_db > 0:
            X = X + equalizer_offset(gains)
        if echo and len(X) > delay:
            X = add_echo(X, delay, gain)
        if len(X) == 0:  # no frame to mask (and no mean to take)
            return X.astype(np.float32)
        for _ in range(self.frequency_masks):  # masks last: they hide part of the perturbed voice
            width = int(rng.integers(0, self.frequency_mask_bands + 1))
            X = frequency_mask(X, int(rng.integers(0, N_BANDS - width + 1)), width)
        longest = min(self.time_mask_frames, len(X) // 5)
        for _ in range(self.time_masks):
            width = int(rng.integers(0, longest + 1))
            X = time_mask(X, int(rng.integers(0, len(X) - width + 1)), width)
        return X.astype(np.float32)
