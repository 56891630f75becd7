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
