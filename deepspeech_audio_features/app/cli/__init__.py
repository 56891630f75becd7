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

__all__ = ["build_parser", "main", "train_config_from_args"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("deepspeech-audio-features")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deepspeech_audio_features", formatter_class=HelpFormatter,
        description="Look inside DeepSpeech speech recognizers: transcribe, visualize what neurons respond to, "
                    "find dataset examples, and compute importance masks.",
        epilog="Run a command with --help for its options and examples.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (model_commands, synth_commands, study_commands, content_commands, atlas_commands):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ...infra.errors import DAFError

    try:
        return args.func(args)
    except (DAFError, FileNotFoundError) as err:  # the package's own errors: one line, exit 2
        print(f"error: {err}", file=sys.stderr)
        return 2
