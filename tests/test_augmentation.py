"""Each MFCC-domain perturbation against the real MFCC op on audio perturbed the same way."""
import warnings

import numpy as np
import pytest

from deepspeech_audio_features import mfccs
from deepspeech_audio_features.infra.errors import ParameterError
from deepspeech_audio_features.speech.filters import dct_matrix
from deepspeech_audio_features.synth.augmentation import (
    VoicePerturbation,
    add_echo,
    band_centres,
    equalizer_offset,
    frequency_mask,
    frequency_warp_matrix,
    time_mask,
)

RATE, N = 16000, 48000


def _noise_spectrum():
    return np.fft.rfft(np.random.default_rng(0).standard_normal(N)), np.fft.rfftfreq(N, 1 / RATE)


def _formant_noise(alpha: float) -> np.ndarray:
    """Stationary noise shaped by formant-like peaks at alpha times 700/1800/3000 Hz."""
    spectrum, f = _noise_spectrum()
    f = f / alpha
    envelope = 0.05 + sum(np.exp(-0.5 * ((f - c) / w) ** 2) for c, w in [(700, 120), (1800, 200), (3000, 300)])
    x = np.fft.irfft(spectrum * envelope, N)
    return 0.5 * x / np.abs(x).max()


def _bursts() -> np.ndarray:
    """Band-limited noise switched on and off every 100 ms, so an echo changes the frames."""
    spectrum, f = _noise_spectrum()
    x = np.fft.irfft(spectrum * (0.05 + np.exp(-0.5 * ((f - 900) / 300) ** 2)), N)
    x *= np.repeat(np.random.default_rng(1).random(N // 1600) > 0.5, 1600) + 0.01
    return 0.4 * x / np.abs(x).max()


def _rms(a, b, first=1):
    """RMS difference over coefficients ``first``..25 (c0, the level, is left out unless first=0)."""
    return float(np.sqrt(np.mean((a[:, first:] - b[:, first:]) ** 2)))


@pytest.mark.parametrize("alpha", [0.85, 0.9, 1.1, 1.15])
def test_frequency_warp_moves_the_envelope_like_a_shorter_or_longer_vocal_tract(alpha):
    original, scaled = mfccs(_formant_noise(1.0)).mean(0)[None], mfccs(_formant_noise(alpha)).mean(0)[None]
    unwarped = _rms(original, scaled)
    warped = _rms(original @ frequency_warp_matrix(alpha), scaled)
    backwards = _rms(original @ frequency_warp_matrix(1 / alpha), scaled)
    assert warped < 0.15 * unwarped and backwards > unwarped
    np.testing.assert_allclose(frequency_warp_matrix(1.0), np.eye(26), atol=1e-12)


@pytest.mark.parametrize("delay,gain", [(1, 0.5), (2, 0.8), (4, 0.4)])
def test_echo_matches_the_mfccs_of_audio_with_an_echo(delay, gain):
    x = _bursts()
    y = x.copy()
    y[delay * 320:] += gain * x[:-delay * 320]
    X, Y = mfccs(x), mfccs(y)
    # An echo mostly fills the gaps between bursts: it is the level (c0) that changes most.
    assert _rms(add_echo(X, delay, gain), Y, first=0) < 0.15 * _rms(X, Y, first=0)
    with pytest.raises(ValueError):
        add_echo(X, 0, gain)


def test_equalizer_matches_the_mfccs_of_filtered_audio():
    gains_db = np.array([6.0, -3.0, 4.0, -6.0, 2.0])
    x = _formant_noise(1.0)
    spectrum, f = np.fft.rfft(x), np.fft.rfftfreq(N, 1 / RATE)
    mel = 1127.0 * np.log1p(f / 700.0)
    lo, hi = 1127.0 * np.log1p(band_centres()[[0, -1]] / 700.0)
    gain_db = np.interp((mel - lo) / (hi - lo), np.linspace(0, 1, 5), gains_db)
    y = np.fft.irfft(spectrum * 10 ** (gain_db / 20), N)
    X, Y = mfccs(x), mfccs(y)
    assert _rms(X + equalizer_offset(gains_db), Y) < 0.05 * _rms(X, Y)
    # A flat gain only moves c0 (overall level): ln(10^(6/20)) * sqrt(2 / 40) * 40 ... = the DCT's first column.
    flat = equalizer_offset(np.full(5, 6.0))
    assert abs(flat[0] - 6 * np.log(10) / 20 * np.sqrt(2 / 40) * 40) < 1e-9 and np.abs(flat[1:]).max() < 1e-9


def test_voice_perturbation_is_deterministic_and_off_by_default():
    X = mfccs(_bursts())
    assert not VoicePerturbation().active
    np.testing.assert_allclose(VoicePerturbation()(X, np.random.default_rng(0)), X, rtol=1e-6)
    p = VoicePerturbation(0.1, 6.0, 1.0)
    a, b = p(X, np.random.default_rng(3)), p(X, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == X.shape and a.dtype == np.float32 and _rms(a, X) > 0.1


def _mfccs_of_speechlike_noise() -> np.ndarray:
    return mfccs(_formant_noise(1.0) * np.hanning(N), RATE).astype(np.float64)


def test_frequency_mask_replaces_the_chosen_mel_bands_by_their_time_mean():
    """Against least squares on the DCT (the 40 smoothed log mel bands the 26 MFCCs stand for):
    the chosen bands are replaced by their time mean and the DCT applied again; bands far from
    the masked ones barely move (keeping 26 coefficients smooths the edit)."""
    X = _mfccs_of_speechlike_noise()
    dct = dct_matrix()  # [40, 26]
    bands = lambda M: np.linalg.lstsq(dct.T, M.T, rcond=None)[0].T  # noqa: E731  [T, 40]
    expected = bands(X)
    expected[:, 10:16] = expected[:, 10:16].mean(axis=0)
    Y = frequency_mask(X, 10, 6)
    np.testing.assert_allclose(Y, expected @ dct, atol=1e-9)
    time_spread = bands(Y).std(axis=0)
    assert time_spread[11:15].max() < 0.25 * bands(X).std(axis=0)[11:15].min()  # the masked bands hardly vary
    assert np.abs(Y - X).max() > 0.1
    np.testing.assert_allclose(frequency_mask(X, 3, 0), X, atol=1e-9)
    with pytest.raises(ParameterError, match="frequency_mask"):
        frequency_mask(X, 36, 5)


def test_time_mask_replaces_only_the_chosen_frames_by_the_mean_frame():
    X = _mfccs_of_speechlike_noise()
    Y = time_mask(X, 20, 7)
    np.testing.assert_array_equal(Y[:20], X[:20])
    np.testing.assert_array_equal(Y[27:], X[27:])
    np.testing.assert_allclose(Y[20:27], np.broadcast_to(X.mean(axis=0), (7, 26)))
    np.testing.assert_allclose(time_mask(X, len(X) - 2, 10)[-2:], np.broadcast_to(X.mean(axis=0), (2, 26)))


def test_spec_augment_masks_stay_within_their_limits():
    X = _mfccs_of_speechlike_noise()
    perturb = VoicePerturbation(time_masks=2, time_mask_frames=12)
    changed = [int((np.abs(perturb(X, np.random.default_rng(seed)) - X.astype(np.float32)) > 1e-4).any(axis=1).sum())
               for seed in range(30)]
    assert max(changed) <= 2 * min(12, len(X) // 5) and max(changed) > 0
    only_bands = VoicePerturbation(frequency_masks=1, frequency_mask_bands=4)
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(only_bands(X, rng_a), only_bands(X, rng_b))  # deterministic per generator
    assert VoicePerturbation(frequency_masks=1).active and not VoicePerturbation().active


def test_spec_augment_leaves_an_empty_utterance_empty_without_warnings():
    empty = np.zeros((0, 26), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a mean over no frames would warn
        out = VoicePerturbation(frequency_masks=2, time_masks=2)(empty, np.random.default_rng(0))
        assert out.shape == (0, 26)
        assert frequency_mask(empty, 0, 4).shape == (0, 26) and time_mask(empty, 0, 4).shape == (0, 26)


@pytest.mark.parametrize("field, value", [
    ("frequency_warp", float("nan")), ("frequency_warp", -0.1), ("echo_probability", 1.5), ("equalizer_db", -1.0),
    ("frequency_masks", -1), ("time_masks", 1.5), ("frequency_mask_bands", 0), ("frequency_mask_bands", 41),
    ("time_mask_frames", 0),
])
def test_a_bad_perturbation_range_names_its_field(field, value):
    """Before, a NaN warp or negative mask count silently switched the perturbation off."""
    with pytest.raises(ParameterError, match=field):
        VoicePerturbation(**{field: value})
