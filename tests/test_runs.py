import numpy as np
import pytest

from deepspeech_audio_features.infra.atomic import (
    load_array,
    load_json,
    save_array,
    save_arrays,
    save_json,
)
from deepspeech_audio_features.infra.runfolder import snapshot_path, snapshot_steps


def test_arrays_roundtrip_and_leave_no_temporaries(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    save_array(tmp_path / "a.npy", x)
    save_arrays(tmp_path / "b.npz", x=x, y=np.ones(2))
    np.testing.assert_array_equal(load_array(tmp_path / "a.npy"), x)
    with np.load(tmp_path / "b.npz", allow_pickle=False) as data:
        np.testing.assert_array_equal(data["x"], x)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "b.npz"]


def test_object_arrays_are_refused(tmp_path):
    with pytest.raises(TypeError, match="pickle"):
        save_array(tmp_path / "bad.npy", np.array([{"a": 1}], dtype=object))
    assert not list(tmp_path.iterdir())


def test_failed_write_keeps_the_old_file(tmp_path):
    save_json(tmp_path / "c.json", {"v": 1})
    with pytest.raises(TypeError):
        save_json(tmp_path / "c.json", {"v": object()})
    assert load_json(tmp_path / "c.json") == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]


def test_snapshot_steps_sorted_numerically(tmp_path):
    for step in (0, 10, 100, 20):
        save_array(snapshot_path(tmp_path, "input_var", step), np.zeros(1))
        save_array(snapshot_path(tmp_path, "", step), np.zeros(1))
    save_array(tmp_path / "activation_loss_10.npy", np.zeros(1))
    assert snapshot_steps(tmp_path, "input_var") == [0, 10, 20, 100]
    assert snapshot_steps(tmp_path, "") == [0, 10, 20, 100]
