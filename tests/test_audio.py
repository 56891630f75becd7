import numpy as np
import pytest
import soundfile as sf

from deepspeech_audio_features import AudioError, load_audio, write_wav
from deepspeech_audio_features.speech.frames import WINDOW_SAMPLES


def test_int16_wav_scaled_as_deepspeech(tmp_path):
    ints = np.array([0, 1, -1, 16384, -32768, 32767] * 200, dtype=np.int16)
    path = tmp_path / "a.wav"
    sf.write(path, ints, 16000, subtype="PCM_16")
    samples, rate = load_audio(path)
    assert rate == 16000 and samples.dtype == np.float32
    np.testing.assert_array_equal(samples, ints.astype(np.float32) / 32768)


def test_stereo_44k_is_downmixed_and_resampled(tmp_path):
    t = np.arange(44100) / 44100
    left, right = 0.5 * np.sin(2 * np.pi * 440 * t), 0.1 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 44100, subtype="PCM_16")
    samples, rate = load_audio(path)
    assert rate == 16000 and samples.ndim == 1
    assert abs(len(samples) - 16000) <= 1
    # the mean of the channels is a 0.3-amplitude 440 Hz tone
    expected = 0.3 * np.sin(2 * np.pi * 440 * np.arange(len(samples)) / 16000)
    assert np.max(np.abs(samples[500:-500] - expected[500:-500])) < 2e-3


def test_8k_flac_and_24bit_and_ogg(tmp_path):
    t = np.arange(8000) / 8000
    tone = 0.25 * np.sin(2 * np.pi * 300 * t)
    sf.write(tmp_path / "low.flac", tone, 8000, subtype="PCM_16")
    samples, _ = load_audio(tmp_path / "low.flac")
    assert abs(len(samples) - 16000) <= 1
    assert abs(np.sqrt(np.mean(samples[200:-200] ** 2)) - 0.25 / np.sqrt(2)) < 2e-3
    sf.write(tmp_path / "deep.wav", tone, 16000 // 2, subtype="PCM_24")
    s24, _ = load_audio(tmp_path / "deep.wav")
    assert abs(np.max(np.abs(s24)) - 0.25) < 5e-3
    sf.write(tmp_path / "v.ogg", tone, 8000, format="OGG", subtype="VORBIS")
    sogg, _ = load_audio(tmp_path / "v.ogg")
    assert abs(len(sogg) - 16000) <= 1


@pytest.mark.parametrize("case, reason", [
    ("missing", "no such file"),
    ("random", "unreadable or not audio"),
    ("truncated", "unreadable or not audio"),
    ("empty", "unreadable or not audio"),
    ("zero", "zero samples"),
    ("short", "shorter than one 32 ms window"),
    ("nan", "NaN or Inf"),
])
def test_bad_audio_names_file_and_reason(tmp_path, case, reason):
    path = tmp_path / f"{case}.wav"
    good = (0.1 * np.ones(4000)).astype(np.float32)
    if case == "random":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif case == "truncated":
        sf.write(path, good, 16000, subtype="PCM_16")
        path.write_bytes(path.read_bytes()[:30])
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "zero":
        sf.write(path, np.zeros(0, np.float32), 16000, subtype="PCM_16")
    elif case == "short":
        sf.write(path, good[:WINDOW_SAMPLES - 1], 16000, subtype="PCM_16")
    elif case == "nan":
        bad = good.copy()
        bad[10] = np.nan
        sf.write(path, bad, 16000, subtype="FLOAT")
    with pytest.raises(AudioError) as err:
        load_audio(path)
    message = str(err.value)
    assert str(path) in message and reason in message and "\n" not in message


def test_write_wav_is_atomic_and_roundtrips(tmp_path):
    x = (0.5 * np.sin(np.arange(1600) / 5)).astype(np.float32)
    path = write_wav(tmp_path / "sub" / "out.wav", x)
    back, _ = load_audio(path)
    assert np.max(np.abs(back - x)) <= 1 / 32768
    assert [p.name for p in path.parent.iterdir()] == ["out.wav"]  # no temporary left behind
