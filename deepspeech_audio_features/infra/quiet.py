"""Keep third-party start-up chatter off the terminal without changing any numerics.

TensorFlow 2.21 prints two absl lines ("All log messages before absl::InitializeLog()...",
"oneDNN custom operations are on...") from C++ while it is imported, whatever
``TF_CPP_MIN_LOG_LEVEL`` says, and KenLM prints a progress line of stars while it reads an
ARPA file. Both write straight to file descriptor 2, so they are silenced by pointing that
descriptor at /dev/null for the duration of the call, not by any setting that could change
what the libraries compute. Python exceptions still propagate with their messages.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def silenced_stderr() -> Iterator[None]:
    """Send everything written to file descriptor 2 (C and Python) to /dev/null meanwhile."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real descriptor 2 (embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietFirstImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; runs the first import of ``name`` with stderr silenced."""

    def __init__(self, name: str):
        self.name = name

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            run = spec.loader.exec_module

            def exec_module(module):
                with silenced_stderr():
                    run(module)

            spec.loader.exec_module = exec_module
        return spec


def quiet_import_of(name: str) -> None:
    """Silence the first ``import name`` in this process (no effect once it is imported)."""
    if name not in sys.modules and not any(isinstance(f, _QuietFirstImport) and f.name == name
                                           for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFirstImport(name))
