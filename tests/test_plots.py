import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from deepspeech_audio_features.app.plots import (
    mask_animation,
    plot_curves,
    plot_grid,
    plot_mfccs,
    plot_waveforms,
    write_animation,
)


def probe(path):
    """Codec, size and frame count of a video, read back by ffmpeg itself."""
    out = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path), "-map", "0:v:0", "-c", "copy",
                          "-f", "null", "-"], capture_output=True, text=True).stderr
    return out


def test_animation_is_h264_mp4_with_all_frames(tmp_path):
    frames = [np.random.default_rng(i).normal(size=(30, 26)) for i in range(7)]
    path = write_animation(tmp_path / "a.mp4", [frames], titles=["x"], hold_last=3, fps=10)
    info = probe(path)
    assert "h264" in info and "yuv420p" in info
    assert "frame=   10" in info or "frame=10" in info.replace(" ", "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]  # no temporaries left
    assert path.read_bytes()[4:8] == b"ftyp"


def test_mask_animation_three_panels(tmp_path):
    mfccs = np.random.default_rng(0).normal(size=(20, 26))
    masks = [np.ones((20, 26)), (np.random.default_rng(1).random((20, 26)) > 0.5).astype(float)]
    path = mask_animation(tmp_path / "m.mp4", masks, mfccs, title="example")
    assert "h264" in probe(path)


def test_empty_animation_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        write_animation(tmp_path / "e.mp4", [[]])


def test_figures_have_the_requested_panels():
    x = np.random.default_rng(0).normal(size=(40, 26))
    assert len(plot_mfccs(x).axes) == 2  # image + colorbar
    fig = plot_grid([[(x, "a"), (x, "b")], [(x, "c"), None]], column_titles=["L1", "L2"])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["L1\na", "L2\nb", "c"]
    fig = plot_waveforms(np.zeros(100), {"muted 0.1": np.zeros(100), "muted 0.2": np.zeros(100)})
    assert [ax.get_title() for ax in fig.axes] == ["original", "muted 0.1", "muted 0.2"]
    fig = plot_curves([0, 10], {"activation": [0, 1], "tv": [1, 0]})
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["activation", "tv"]


# ------------------------------------------------------------------- legible MFCC pictures
def speech_mfccs():
    from deepspeech_audio_features import audio_file_to_mfccs, example_audio

    return audio_file_to_mfccs(example_audio()[0])


def test_every_coefficient_gets_a_visible_share_of_the_colour_scale():
    """Raw colours gave c1-c25 a tenth of the scale (c0 spans ~250, the others ~25); z-scores
    per coefficient give each row most of it."""
    x = speech_mfccs()
    raw_span = (x.max(0) - x.min(0)) / (x.max() - x.min())
    assert raw_span[1:].max() < 0.2  # the problem this display solves, on real speech
    image = plot_mfccs(x).axes[0].images[0]
    shown = np.asarray(image.get_array()).T  # [T, 26] as drawn
    low, high = image.get_clim()
    span = (np.clip(shown, low, high).max(0) - np.clip(shown, low, high).min(0)) / (high - low)
    assert span.min() > 0.4 and span.mean() > 0.7, span.round(2)  # was at most 0.2 for c1-c25


def test_masked_entries_take_a_colour_no_value_takes():
    from matplotlib.colors import to_rgba

    from deepspeech_audio_features.app.plots import MASKED_COLOR, mfcc_cmap

    x = speech_mfccs()
    mask = np.ones_like(x)
    mask[10:20, 3:9] = 0
    image = plot_mfccs(x, mask=mask).axes[0].images[0]
    drawn = image.get_array()
    assert np.ma.getmaskarray(drawn).T[10:20, 3:9].all() and np.ma.getmaskarray(drawn).sum() == 60
    colours = mfcc_cmap()(np.linspace(0, 1, 512))[:, :3]
    distance = np.abs(colours - np.array(to_rgba(MASKED_COLOR)[:3])).sum(1)
    assert distance.min() > 0.3  # no data value is drawn in (or near) the masked colour


def test_time_is_in_seconds_and_grids_share_one_scale():
    x = speech_mfccs()
    ax = plot_mfccs(x).axes[0]
    assert ax.images[0].get_extent()[1] == pytest.approx(len(x) * 0.02)
    assert ax.get_xlabel() == "time (s)"
    fig = plot_grid([[(x, "a"), (x[:50] * 2, "b")], [(x[::-1], "c"), None]], column_titles=["L1", "L2"])
    clims = {im.get_clim() for ax in fig.axes for im in ax.images}
    assert len(clims) == 1  # one colour scale for the whole grid
    assert any(ax.get_ylabel().startswith("z-score") for ax in fig.axes)  # its colour bar


def test_log_mel_view_is_the_dct_inverted_independently():
    from reference import mel_filterbank

    from deepspeech_audio_features.app.plots import plot_log_mel

    x = speech_mfccs()
    image = plot_log_mel(x).axes[0].images[0]
    # Independent: least squares through a DCT-II written here (scipy's orthonormal
    # convention differs; DeepSpeech scales by sqrt(2/40) without the k=0 correction).
    k, j = np.arange(26)[None, :], np.arange(40)[:, None]
    dct = np.sqrt(2 / 40) * np.cos(np.pi / 40 * k * (j + 0.5))
    expected = np.linalg.lstsq(dct.T, x.T.astype(np.float64), rcond=None)[0].T
    np.testing.assert_allclose(np.asarray(image.get_array()).T, expected, atol=1e-6)
    assert mel_filterbank().shape[1] == 40


def test_animation_counter_and_player_margin(tmp_path):
    frames = [np.random.default_rng(i).normal(size=(30, 26)) for i in range(4)]
    path = write_animation(tmp_path / "c.mp4", [frames], labels=[f"step {i}" for i in range(4)], hold_last=1)
    assert "h264" in probe(path)
    with pytest.raises(Exception, match="no frames"):
        write_animation(tmp_path / "e.mp4", [[]], labels=["x"])
