"""Write a training CSV that draws equally from several DeepSpeech CSVs of one corpus folder.

The multi-engine corpus has three eSpeak utterances for each flite one; fine-tuning on an equal mix
lets the new engine's voices be seen as often as eSpeak's in the same minutes. Deterministic for a seed.

    python tools/mix_csv.py data/corpus-multi/train-espeak.csv data/corpus-multi/train-flite.csv \
        --out data/corpus-multi/train-mix.csv --per-csv 13500 --seed 0
"""
from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

from deepspeech_audio_features.infra.atomic import atomic_write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csvs", nargs="+", type=Path, help="DeepSpeech CSVs in one folder")
    parser.add_argument("--out", type=Path, required=True, help="CSV to write, in the same folder")
    parser.add_argument("--per-csv", type=int, required=True, help="rows drawn from each CSV (all if fewer)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    folders = {p.resolve().parent for p in args.csvs} | {args.out.resolve().parent}
    if len(folders) != 1:
        print(f"error: the CSVs and --out must share one folder (wav paths are relative): {sorted(map(str, folders))}",
              file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    rows: list[dict[str, str]] = []
    header = None
    if args.per_csv < 1:
        print(f"error: --per-csv must be at least 1, got {args.per_csv}", file=sys.stderr)
        return 2
    for path in args.csvs:
        try:
            with open(path, newline="") as handle:
                reader = csv.DictReader(handle)
                found = list(reader)
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            print(f"error: {path}: unreadable ({err})", file=sys.stderr)
            return 2
        if header is None:
            header = reader.fieldnames
        if not reader.fieldnames or "wav_filename" not in reader.fieldnames or reader.fieldnames != header:
            print(f"error: {path}: expected the columns {header or ['wav_filename', 'wav_filesize', 'transcript']}, "
                  f"got {reader.fieldnames}", file=sys.stderr)
            return 2
        if not found:
            print(f"error: {path}: no utterances (a mix needs rows from every CSV)", file=sys.stderr)
            return 2
        rows.extend(rng.sample(found, min(args.per_csv, len(found))))
    rng.shuffle(rows)

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(args.out, write)  # the project's atomic write (fsync, then rename)
    print(f"{args.out}: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
