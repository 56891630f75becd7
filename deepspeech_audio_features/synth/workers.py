"""Worker processes that render a corpus's utterances in parallel.

Each worker initializes eSpeak once and renders every eSpeak utterance in a freshly forked
copy of itself (see :mod:`.espeak`); flite utterances run the ``flite`` program
(:mod:`.flite`); Piper and Kokoro run ONNX Runtime on one thread in the worker, their
models loaded on first use (:mod:`.neural`). So the corpus is byte-identical for a plan whatever the number of workers.
Jobs and replies are JSON lines on the worker's stdin and stdout.

No TensorFlow here.
"""
from __future__ import annotations

import dataclasses
import json
import os
import selectors
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..infra.errors import ESpeakError
from .espeak import ESpeakSynthesizer
from .flite import FliteSpec, render_flite_aligned
from .neural import NEURAL_ENGINES, NeuralSpec, render_neural_aligned
from .plan import UtteranceSpec
from .render import align_to_file, render_to_file, render_utterance_aligned

__all__ = ["default_workers", "render_in_workers"]

# Worker processes are plain interpreters started with subprocess, not multiprocessing:
# multiprocessing's spawn re-imports the caller's __main__ and this package's
# __init__, which imports TensorFlow (about 4 s and 600 MB per worker, and a fork of
# such a process costs 11 ms instead of 0.5 ms, once per utterance). The bootstrap
# registers the top package without running its __init__ and imports only this module
# (and the TensorFlow-free modules it needs).
_WORKER_BOOTSTRAP = """
import sys, types, importlib
name, folder, data_path = sys.argv[1], sys.argv[2], sys.argv[3] or None
if name not in sys.modules:
    package = types.ModuleType(name)
    package.__path__ = [folder]
    package.__package__ = name
    sys.modules[name] = package
importlib.import_module(name + ".synth.workers")._worker_main(data_path)
"""
#: Jobs queued per worker, so a worker never waits for the parent.
_WORKER_QUEUE_DEPTH = 4


def default_workers() -> int:
    """The CPUs this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _worker_main(data_path: str | None = None) -> None:
    """Worker loop: one JSON job per stdin line, one JSON reply per line on the original stdout."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # stray prints (Python or C) go to stderr instead of corrupting replies
    sys.stdout = sys.stderr
    synth = ESpeakSynthesizer(data_path=data_path)  # initialized once, never speaks itself: forked children do
    protocol.write(json.dumps({"ready": synth.version}) + "\n")
    for line in sys.stdin:
        job = json.loads(line)
        engine = job["spec"].get("engine", "espeak")
        if engine == "flite":
            spec, renderer = FliteSpec(**job["spec"]), render_flite_aligned
        elif engine in NEURAL_ENGINES:
            spec, renderer = NeuralSpec(**job["spec"]), render_neural_aligned
        else:
            spec, renderer = UtteranceSpec(**job["spec"]), render_utterance_aligned
        task = align_to_file if job.get("task") == "align" else render_to_file
        try:
            index, size, frames, unknown = task(spec, job["out_dir"], renderer)
            reply = {"index": index, "size": size, "frames": frames, "unknown": unknown}
        except Exception:  # reported to the parent, which skips and lists the utterance
            reply = {"index": spec.index, "error": traceback.format_exc()}
        protocol.write(json.dumps(reply) + "\n")


class _Worker:
    """One worker process, its jobs in flight and the bytes of its unfinished reply line."""

    def __init__(self, data_path: str | os.PathLike | None, task: str = "render"):
        self.task = task
        package = __name__.rsplit(".", 2)[0]  # the top package: <package>.synth.workers
        folder = str(Path(__file__).resolve().parent.parent)
        self.proc = subprocess.Popen([sys.executable, "-c", _WORKER_BOOTSTRAP, package, folder, str(data_path or "")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.in_flight = 0
        self.buffer = b""

    def send(self, spec: UtteranceSpec | FliteSpec | NeuralSpec, out_dir: Path) -> None:
        job = {"spec": dataclasses.asdict(spec), "out_dir": str(out_dir), "task": self.task}
        self.proc.stdin.write((json.dumps(job) + "\n").encode())
        self.proc.stdin.flush()
        self.in_flight += 1

    def replies(self) -> list[dict]:
        """The complete replies available now (at least one read; ESpeakError if the worker died)."""
        # raw reads and our own line split: a buffered readline could hide a second
        # reply from select() and stall the loop
        data = os.read(self.proc.stdout.fileno(), 65536)
        if not data:
            try:
                code = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            raise ESpeakError(f"corpus worker {self.proc.pid} closed its output (exit code {code}); "
                              "see its messages above on stderr")
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        replies = [json.loads(line) for line in lines]
        replies = [reply for reply in replies if "ready" not in reply]
        self.in_flight -= len(replies)
        return replies

    def close(self) -> None:
        """End of input ends the worker's loop; one that does not stop in 10 s is killed."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def wait(self) -> None:
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


def render_in_workers(specs: Sequence[UtteranceSpec | FliteSpec | NeuralSpec], out_dir: Path, n_workers: int,
                      on_done: Callable[[int, int, int, dict], None], on_failed: Callable[[int, str], None],
                      data_path: str | os.PathLike | None = None, task: str = "render") -> None:
    """Render ``specs`` into ``out_dir`` in ``n_workers`` worker processes.

    Calls ``on_done(index, size, frames, unknown mnemonics)`` per written utterance, and
    ``on_failed(index, error)`` for one eSpeak could not render (the run goes on).
    ``data_path`` is the ``espeak-ng-data`` folder the workers use (default: the installed one).
    ``task`` ``"render"`` writes wavs and TextGrids (:func:`~.render.render_to_file`);
    ``"align"`` only TextGrids beside existing wavs (:func:`~.render.align_to_file`).
    """
    workers = [_Worker(data_path, task) for _ in range(n_workers)]
    jobs: Iterator[UtteranceSpec | FliteSpec | NeuralSpec] = iter(specs)
    selector = selectors.DefaultSelector()

    def feed(worker: _Worker) -> None:
        spec = next(jobs, None)
        if spec is not None:
            worker.send(spec, out_dir)

    try:
        for worker in workers:
            selector.register(worker.proc.stdout, selectors.EVENT_READ, worker)
            for _ in range(_WORKER_QUEUE_DEPTH):
                feed(worker)
        while any(worker.in_flight for worker in workers):
            for key, _ in selector.select():
                for reply in key.data.replies():
                    if "error" in reply:  # e.g. eSpeak crashed on this text: skip and report it
                        on_failed(reply["index"], reply["error"].strip().splitlines()[-1])
                    else:
                        on_done(reply["index"], reply["size"], reply["frames"], reply.get("unknown", {}))
                    feed(key.data)
    finally:
        selector.close()
        for worker in workers:
            worker.close()
        for worker in workers:
            worker.wait()
