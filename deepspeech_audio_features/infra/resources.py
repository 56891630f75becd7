"""Files that ship inside the package: the embedded model, the experiment configurations
and the example audio. Found through :mod:`importlib.resources`, so an installed wheel
works outside the checkout."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from .errors import DAFError


def asset_path(*parts: str) -> Path:
    """The path of a packaged file or folder under ``deepspeech_audio_features/assets/``.

    Raises:
        DAFError: the package is not installed as plain files (e.g. imported from a zip),
            so TensorFlow and soundfile could not open the asset.
    """
    root = files("deepspeech_audio_features").joinpath("assets", *parts)
    path = Path(str(root))
    if not path.exists():
        raise DAFError(f"{path}: not found in the installed package (assets/{'/'.join(parts)})")
    return path


def example_audio() -> list[Path]:
    """The example utterances that ship with the package (``[example-1.wav, ...]``), sorted."""
    return sorted(asset_path("audio").glob("*.wav"))
