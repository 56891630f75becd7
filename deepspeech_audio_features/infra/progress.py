"""Progress bars: tqdm's text bars on stderr, and none for work that is not being done.

Plain ``tqdm`` rather than ``tqdm.auto``: in a notebook ``tqdm.auto`` wants ipywidgets
(and warns without them), and widget bars do not survive an HTML export. A bar whose
work is already done (results loaded from a run folder) is not drawn at all.
"""
from __future__ import annotations

from typing import Any, Iterable

from tqdm import tqdm


def progress_bar(iterable: Iterable | None = None, *, total: int | None = None, initial: int = 0, desc: str = "",
                 disable: bool = False, **kwargs: Any) -> tqdm:
    """A text progress bar on stderr, disabled when ``initial >= total`` (nothing left to do)."""
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    nothing_left = total is not None and initial >= total
    return tqdm(iterable, total=total, initial=initial, desc=desc, disable=disable or nothing_left, **kwargs)


def write_line(text: str) -> None:
    """Print a line without breaking a bar that is being drawn."""
    tqdm.write(text)
