"""Execute a notebook in place with a real Jupyter kernel, then export it to HTML.

    .venv/bin/python tools/run_notebook.py notebook.ipynb [--html notebook.html] [--timeout 3600]

Environment variables (DAF_QUICK, DAF_RUNS, DAF_CHECKPOINT) pass through to the kernel.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from deepspeech_audio_features.infra.atomic import atomic_write  # noqa: E402


def execute(path: Path, out: Path, timeout: int = 3600) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    from jupyter_client import KernelManager

    # IPC sockets, not TCP: the kernel is local, and TCP makes it warn about unencrypted traffic.
    manager = KernelManager(kernel_name="python3", transport="ipc")
    try:
        NotebookClient(nb, km=manager, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.resolve().parent)}}).execute()
    finally:
        if manager.has_kernel:
            manager.shutdown_kernel(now=False)  # a client given a manager leaves its kernel running
    atomic_write(out, lambda tmp: nbformat.write(nb, tmp))
    return nb


def export_html(nb: nbformat.NotebookNode, html: Path) -> None:
    from nbconvert import HTMLExporter
    from offline_math import render_math  # tools/offline_math.py: equations without a CDN

    body, _ = HTMLExporter().from_notebook_node(nb)
    body = render_math(body)
    atomic_write(html, lambda tmp: Path(tmp).write_text(body, encoding="utf-8"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--out", type=Path, help="executed notebook (default: in place)")
    parser.add_argument("--html", type=Path)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args()
    nb = execute(args.notebook, args.out or args.notebook, args.timeout)
    if args.html:
        export_html(nb, args.html)
    size = (args.out or args.notebook).stat().st_size
    print(f"executed {args.notebook} -> {args.out or args.notebook} ({size / 2**20:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
