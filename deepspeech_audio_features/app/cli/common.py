"""What the commands share: the model and cluster arguments, options classes as flags,
and the help format (defaults shown, examples at the end)."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os

from ...infra.errors import ParameterError


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks; wide enough for the option names."""

    def __init__(self, prog: str):
        super().__init__(prog, max_help_position=36, width=110)


def add_command(sub, name: str, help: str, examples: str, description: str | None = None):
    """A sub-command parser whose ``--help`` ends with ``examples`` (one command per line)."""
    lines = "\n".join(f"  python -m deepspeech_audio_features {line}" for line in examples.strip().splitlines())
    return sub.add_parser(name, help=help, description=description or help, formatter_class=HelpFormatter,
                          epilog=f"examples:\n{lines}")


def with_model(p):
    p.add_argument("--checkpoint", help="model: checkpoint folder or prefix, .pb, .pbmm, .tflite or Coqui STT folder "
                                        "(default: the embedded model, synth-en)")
    return p


def load_model_of(args):
    from ...speech.checkpoints import load_model

    return load_model(args.checkpoint)


@contextlib.contextmanager
def cluster_of(args):
    """(scheduler, threads per worker) from --scheduler ADDRESS or --workers N (a LocalCluster)."""
    if args.scheduler and args.workers:
        raise ParameterError("give --scheduler or --workers, not both")
    if args.scheduler:
        yield args.scheduler, None
    elif args.workers:
        from distributed import Client, LocalCluster

        threads = max(1, (os.cpu_count() or 1) // args.workers)
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            yield client, threads
    else:
        yield None, None


def with_cluster(p):
    p.add_argument("--scheduler", help="run on a Dask cluster: its scheduler's address, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--workers", type=int, help="run on a local Dask cluster of this many worker processes")
    p.add_argument("--shards", type=int, help="shards of work (default: 4 per worker)")
    return p


def add_options(parser: argparse.ArgumentParser, options: type, flags: dict[str, str] | None = None) -> None:
    """An Options class's fields as ``--field-name`` flags; ``flags`` names some otherwise
    (e.g. ``{"n_utterances": "--utterances"}``). Each flag defaults to None ("not given")."""
    flags = flags or {}
    options.add_arguments(parser, exclude=tuple(flags))
    for field in dataclasses.fields(options):
        if field.name in flags:
            parser.add_argument(flags[field.name], dest=field.name, type=type(field.default), default=None,
                                help=f"{field.metadata['help']} (default: {field.default})")
