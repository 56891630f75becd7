import numpy as np
import pytest
import soundfile as sf
from reference import context_reference, mfcc_reference

from deepspeech_audio_features import audio_file_to_mfccs, context_windows, mfccs, num_frames

# float32 FFT and filterbank in TensorFlow vs float64 here: MFCCs agree to ~1e-6 of their scale.
TOLERANCE = 1e-4


def test_mfccs_match_numpy_reference(speechlike):
    ours = mfccs(speechlike)
    ref = mfcc_reference(speechlike)
    assert ours.shape == ref.shape == ((len(speechlike) - 512) // 320 + 1, 26)
    assert np.max(np.abs(ours - ref)) < TOLERANCE * np.max(np.abs(ref))


def test_upper_frequency_limit_4000_for_v06(speechlike):
    ours = mfccs(speechlike, upper_frequency_limit=4000)
    ref = mfcc_reference(speechlike, high=4000.0)
    assert np.max(np.abs(ours - ref)) < TOLERANCE * np.max(np.abs(ref))
    assert np.max(np.abs(ours - mfccs(speechlike))) > 0.1  # the setting matters


def test_frame_count_whole_windows_only():
    for n in (512, 831, 832, 16000):
        x = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
        assert mfccs(x).shape[0] == num_frames(n) == (n - 512) // 320 + 1


def test_file_path_equals_samples_path(tmp_path, speechlike):
    sf.write(tmp_path / "x.wav", speechlike, 16000, subtype="PCM_16")
    quantized = sf.read(tmp_path / "x.wav", dtype="int16")[0].astype(np.float32) / 32768
    np.testing.assert_allclose(audio_file_to_mfccs(tmp_path / "x.wav"), mfccs(quantized), atol=1e-5)


def test_context_windows_order_and_zero_edges():
    x = np.arange(5 * 26, dtype=np.float32).reshape(5, 26) + 1
    windows = context_windows(x)
    assert windows.shape == (5, 494)
    np.testing.assert_array_equal(windows, context_reference(x))
    # frame 0's own coefficients sit at k = 9; k = 0..8 are zero (before the start)
    np.testing.assert_array_equal(windows[0, 9 * 26:10 * 26], x[0])
    assert not windows[0, :9 * 26].any()


def test_rejects_too_short_waveform():
    with pytest.raises(ValueError):
        mfccs(np.zeros(100, np.float32))


def _formant_noise(alpha: float, n: int = 48000) -> np.ndarray:
    """Stationary noise shaped by three formant-like peaks, all of them at alpha times 700/1800/3000 Hz."""
    spectrum = np.fft.rfft(np.random.default_rng(0).standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / 16000) / alpha
    envelope = 0.05 + sum(np.exp(-0.5 * ((f - c) / w) ** 2) for c, w in [(700, 120), (1800, 200), (3000, 300)])
    x = np.fft.irfft(spectrum * envelope, n)
    return 0.5 * x / np.abs(x).max()


@pytest.mark.parametrize("alpha", [0.85, 0.9, 1.1, 1.15])
def test_frequency_warp_moves_the_envelope_like_a_shorter_or_longer_vocal_tract(alpha):
    from deepspeech_audio_features.features import frequency_warp_matrix

    # Reference: the real MFCC op on audio whose spectral envelope really is scaled by alpha.
    original, scaled = mfccs(_formant_noise(1.0)).mean(0), mfccs(_formant_noise(alpha)).mean(0)
    unwarped = np.linalg.norm(original[1:] - scaled[1:])
    warped = np.linalg.norm((original @ frequency_warp_matrix(alpha))[1:] - scaled[1:])
    backwards = np.linalg.norm((original @ frequency_warp_matrix(1 / alpha))[1:] - scaled[1:])
    assert warped < 0.15 * unwarped and backwards > unwarped
    np.testing.assert_allclose(frequency_warp_matrix(1.0), np.eye(26), atol=1e-12)
