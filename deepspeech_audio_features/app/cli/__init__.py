"""Command line: ``python -m deepspeech_audio_features <command> ...``.

Every experiment runs headless from here and writes the files the notebook reads. One
module per group of commands; each registers its parsers (with examples) and handlers.
Any of the package's errors ends the command with one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import sys

from . import atlas_commands, content_commands, model_commands, study_commands, synth_commands
from .common import HelpFormatter
from .synth_commands import train_config_from_args

__all__ = ["build_parser", "main", "tensorflow_threads", "train_config_from_args"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("deepspeech-audio-features")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _threads(text: str) -> int:
    from ...infra.errors import ParameterError
    from ...infra.threads import check_threads

    try:
        value = int(text)
    except ValueError:
        value = text  # refused below, named in the message
    try:
        return check_threads(value, "--threads")
    except ParameterError as err:
        raise argparse.ArgumentTypeError(str(err).split(": ", 1)[1]) from None


def tensorflow_threads(args: argparse.Namespace) -> int | None:
    """The TensorFlow thread count a parsed command line asks for: ``--threads``, else the
    command's own default, else None (TensorFlow's choice).

    ``mask`` runs on one thread when its model is small (n_hidden up to
    :data:`~...infra.threads.ONE_THREAD_UP_TO`, read from the checkpoint's metadata
    without starting TensorFlow; the embedded model has 384); for larger or unknown models
    TensorFlow chooses (see :mod:`~...infra.threads` for the measurements).
    """
    if args.threads is not None:
        return args.threads
    if getattr(args, "default_threads", None) != "small-model":
        return None
    from ...infra.errors import DAFError
    from ...infra.threads import ONE_THREAD_UP_TO
    from ...speech.checkpoints import EMBEDDED_MODEL_DIR, read_metadata

    try:  # a bad checkpoint is reported when the command loads it
        n_hidden = read_metadata(args.checkpoint or EMBEDDED_MODEL_DIR).get("n_hidden")
    except (DAFError, OSError):
        return None
    return 1 if isinstance(n_hidden, int) and n_hidden <= ONE_THREAD_UP_TO else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deepspeech_audio_features", formatter_class=HelpFormatter,
        description="Look inside DeepSpeech speech recognizers: transcribe, visualize what neurons respond to, "
                    "find dataset examples, and compute importance masks.",
        epilog="Run a command with --help for its options and examples.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--threads", type=_threads, metavar="N",
                        help="TensorFlow threads for this run (default: TensorFlow's choice, all cores; mask and "
                             "mask-dataset without workers on a model of n_hidden <= 512 such as the embedded one: 1, "
                             "measured 1.47x as fast on a 2-core CPU)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (model_commands, synth_commands, study_commands, content_commands, atlas_commands):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ...infra.errors import DAFError

    threads = tensorflow_threads(args)
    if threads is not None:  # before any TensorFlow operation: its thread pools are fixed when it starts
        from ...infra.threads import set_tensorflow_threads

        set_tensorflow_threads(threads)
    try:
        return args.func(args)
    except (DAFError, FileNotFoundError) as err:  # the package's own errors: one line, exit 2
        print(f"error: {err}", file=sys.stderr)
        return 2
