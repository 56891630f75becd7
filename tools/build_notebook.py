"""Write notebook.ipynb (cells only, no outputs) from its source, notebook.pct.py.

    .venv/bin/python tools/build_notebook.py

notebook.pct.py is the notebook in jupytext's percent format: plain, linted Python whose
``# %%`` comments start cells. The main job (``make main``) then executes notebook.ipynb
in place with a real Jupyter kernel; ``tests/test_notebook.py`` checks that its cells
are exactly what notebook.pct.py gives.
"""
from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from deepspeech_audio_features.infra.atomic import atomic_write  # noqa: E402


def build(source: Path = ROOT / "notebook.pct.py") -> nbformat.NotebookNode:
    """The notebook that ``source`` describes, without outputs."""
    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata.pop("jupytext", None)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """``[(cell type, source)]``: what must agree between notebook.pct.py and notebook.ipynb."""
    return [(c.cell_type, c.source) for c in nb.cells]


if __name__ == "__main__":
    path = ROOT / "notebook.ipynb"
    nb = build()
    atomic_write(path, lambda tmp: nbformat.write(nb, tmp))
    print(f"wrote {path} from notebook.pct.py ({len(nb.cells)} cells)")
