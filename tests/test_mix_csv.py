"""tools/mix_csv.py, which makes the equal eSpeak/flite mix of the embedded model's last training stage."""
import csv
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parent.parent / "tools" / "mix_csv.py"


def _write(path: Path, prefix: str, n: int) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["wav_filename", "wav_filesize", "transcript"])
        writer.writerows([[f"wav/{prefix}{i:03d}.wav", 100 + i, f"{prefix} sentence {i}"] for i in range(n)])


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True)


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_draws_equally_without_repeats_and_deterministically(tmp_path):
    _write(tmp_path / "a.csv", "a", 50)
    _write(tmp_path / "b.csv", "b", 8)  # fewer than asked: all of them
    args = [str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--per-csv", "10", "--seed", "3"]
    assert _run(*args, "--out", str(tmp_path / "m1.csv")).returncode == 0
    assert _run(*args, "--out", str(tmp_path / "m2.csv")).returncode == 0
    rows = _rows(tmp_path / "m1.csv")
    names = [r["wav_filename"] for r in rows]
    assert len(names) == len(set(names)) == 18
    assert sum(n.startswith("wav/a") for n in names) == 10 and sum(n.startswith("wav/b") for n in names) == 8
    assert rows == _rows(tmp_path / "m2.csv")  # same seed, same file
    assert list(rows[0]) == ["wav_filename", "wav_filesize", "transcript"]
    # the rows are the sources' rows, unchanged (sizes and transcripts travel with their wav)
    source = {r["wav_filename"]: r for r in _rows(tmp_path / "a.csv") + _rows(tmp_path / "b.csv")}
    assert all(source[r["wav_filename"]] == r for r in rows)
    assert names[:10] != sorted(names)[:10]  # shuffled, not one source after the other
    other = _run(str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--per-csv", "10", "--seed", "4",
                 "--out", str(tmp_path / "m3.csv"))
    assert other.returncode == 0 and _rows(tmp_path / "m3.csv") != rows


def test_refuses_a_csv_in_another_folder(tmp_path):
    """The wav paths are relative to the CSV: a mix written elsewhere would point at nothing."""
    (tmp_path / "x").mkdir()
    _write(tmp_path / "a.csv", "a", 5)
    result = _run(str(tmp_path / "a.csv"), "--per-csv", "2", "--out", str(tmp_path / "x" / "m.csv"))
    assert result.returncode == 2 and "share one folder" in result.stderr
    assert not (tmp_path / "x" / "m.csv").exists()


def test_bad_sources_get_one_line_and_exit_2(tmp_path):
    _write(tmp_path / "a.csv", "a", 5)
    (tmp_path / "bad.csv").write_text("path,text\nx.wav,hello\n")
    _write(tmp_path / "empty.csv", "e", 0)
    out = str(tmp_path / "m.csv")
    for args, says in [([str(tmp_path / "missing.csv")], "missing.csv: unreadable"),
                       ([str(tmp_path / "a.csv"), str(tmp_path / "bad.csv")], "bad.csv: expected the columns"),
                       ([str(tmp_path / "a.csv"), "--per-csv", "0"], "--per-csv must be at least 1"),
                       ([str(tmp_path / "a.csv"), str(tmp_path / "empty.csv")], "empty.csv: no utterances")]:
        if "--per-csv" not in args:
            args = [*args, "--per-csv", "2"]
        result = _run(*args, "--out", out)
        assert result.returncode == 2 and says in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert not Path(out).exists()
