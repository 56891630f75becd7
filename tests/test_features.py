import numpy as np
import pytest
import soundfile as sf
from reference import context_reference, mfcc_reference

from deepspeech_audio_features import (
    audio_file_to_mfccs,
    context_windows,
    mfccs,
    num_frames,
)

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

