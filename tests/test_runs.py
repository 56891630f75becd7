import numpy as np
import pytest

from deepspeech_audio_features.infra.atomic import (
    load_array,
    load_json,
    save_array,
    save_arrays,
    save_json,
)
from deepspeech_audio_features.infra.errors import FileFormatError, ParameterError, RunConflictError
from deepspeech_audio_features.infra.runfolder import RunFolder, snapshot_path, snapshot_steps


def test_arrays_roundtrip_and_leave_no_temporaries(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    save_array(tmp_path / "a.npy", x)
    save_arrays(tmp_path / "b.npz", x=x, y=np.ones(2))
    np.testing.assert_array_equal(load_array(tmp_path / "a.npy"), x)
    with np.load(tmp_path / "b.npz", allow_pickle=False) as data:
        np.testing.assert_array_equal(data["x"], x)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "b.npz"]


def test_object_arrays_are_refused(tmp_path):
    with pytest.raises(ParameterError, match="pickle"):
        save_array(tmp_path / "bad.npy", np.array([{"a": 1}], dtype=object))
    assert not list(tmp_path.iterdir())


def test_failed_write_keeps_the_old_file(tmp_path):
    save_json(tmp_path / "c.json", {"v": 1})
    with pytest.raises(ParameterError, match="object"):
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


# ---------------------------------------------------------------------- RunFolder
def test_run_folder_starts_resumes_and_refuses(tmp_path):
    identity = {"model": "abc", "steps": 10, "lam": (0.3, 3.0)}
    run = RunFolder(tmp_path / "run", identity).open(extra={"note": "first"})
    assert not run.resumed and load_json(tmp_path / "run" / "config.json")["lam"] == [0.3, 3.0]
    run.save_array("x.npy", np.ones(3))
    again = RunFolder(tmp_path / "run", {"lam": [0.3, 3.0], "steps": 10, "model": "abc"}).open()
    assert again.resumed  # the same identity, whatever the key order or tuple/list
    with pytest.raises(RunConflictError, match=r"run: holds a run with other settings \(steps\)"):
        RunFolder(tmp_path / "run", {**identity, "steps": 20}).open()
    assert (tmp_path / "run" / "x.npy").exists()  # refusing touches nothing
    fresh = RunFolder(tmp_path / "run", {**identity, "steps": 20}, overwrite=True).open()
    assert not fresh.resumed and sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json"]


def test_run_folder_never_adopts_files_it_cannot_vouch_for(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "0.npy").write_bytes(b"from some other run")
    for overwrite in (False, True):  # not even with overwrite: it deletes only folders it made
        with pytest.raises(RunConflictError, match="no config.json"):
            RunFolder(folder, {"a": 1}, overwrite=overwrite).open()
    assert (folder / "0.npy").exists()
    (folder / "0.npy").unlink()
    (folder / "config.json").write_text('{"a": 1')  # truncated
    with pytest.raises(RunConflictError, match="unreadable config.json"):
        RunFolder(folder, {"a": 1}).open()


def test_run_folder_keeps_names_inside(tmp_path):
    run = RunFolder(tmp_path / "run", {"a": 1}).open()
    for name in ("../escape.json", "/etc/passwd", "sub/../../x"):
        with pytest.raises(RunConflictError, match="inside"):
            run.save_json(name, {})
    assert not (tmp_path / "escape.json").exists()


def test_truncated_files_name_themselves(tmp_path):
    save_array(tmp_path / "a.npy", np.arange(1000.0))
    save_arrays(tmp_path / "s.npz", x=np.arange(1000.0))
    save_json(tmp_path / "c.json", {"v": list(range(100))})
    for name in ("a.npy", "s.npz", "c.json"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[:len(data) // 2])
    with pytest.raises(FileFormatError, match="a.npy"):
        load_array(tmp_path / "a.npy")
    with pytest.raises(FileFormatError, match="c.json"):
        load_json(tmp_path / "c.json")
    with pytest.raises(FileFormatError, match="s.npz"):
        RunFolder(tmp_path, {}).load_arrays("s.npz")
