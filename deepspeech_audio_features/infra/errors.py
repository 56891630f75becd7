"""The package's exceptions: one root, :class:`DAFError`, so a caller (and the CLI) can
catch everything this package raises on purpose with one ``except``.

Every message is one line that names the file or argument and the problem. Each error
also derives from the built-in type a caller would expect (``ValueError`` for bad input,
``RuntimeError`` for a failed external step), so older ``except ValueError`` code keeps
working.
"""
from __future__ import annotations


class DAFError(Exception):
    """Root of every error deepspeech_audio_features raises on purpose."""


class ParameterError(DAFError, ValueError):
    """A bad argument or option value; the message names the argument."""


class AudioError(DAFError, ValueError):
    """An audio file that cannot be used; the message names the file and the reason."""


class CheckpointError(DAFError, ValueError):
    """A checkpoint that cannot be used; the message names it and the problem."""


class DatasetError(DAFError, ValueError):
    """A dataset (CSV or folder) that cannot be read; the message names it and the problem."""


class FileFormatError(DAFError, ValueError):
    """A file this package reads (JSON, ``.npy``, ``.npz``) that is truncated or malformed."""


class RunConflictError(DAFError, ValueError):
    """An output folder already holds a run made with other settings (or another model),
    or files that cannot be resumed."""


class ESpeakError(DAFError, RuntimeError):
    """eSpeak NG could not be loaded or could not synthesize."""


class EngineError(DAFError, RuntimeError):
    """A speech synthesis engine that is not installed or could not synthesize; the message
    names the engine (and the package that provides it)."""
