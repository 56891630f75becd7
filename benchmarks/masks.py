"""Importance masks: our method vs the baselines, on the examples and held-out utterances.

For each input (the ``audio/`` examples and the first ``--corpus-n`` utterances of the
held-out ``--corpus`` CSV) and each method, prints the zero fraction, the frame
agreement (final forward pass), 1-minimality (``yes`` proven / checked, ``no``, ``-``
unknown) and seconds of compute per second of audio; then the means, and the deletion
curves (frame agreement as entries are zeroed in each method's score order).

For the first ``--full-n`` inputs our method is run a second time with full (not
incremental) evaluation of the exact test: the masks must be identical, and the ratio of
the search phases' times (prune, swap moves, prune again; the same candidates either way,
so it is also the ratio of seconds per evaluation) is the incremental evaluation's
speed-up (printed per input and overall; ratios from the same run are the reliable
figures on a shared machine).

Full-size figures (``--full-size-batches`` > 0): a model of the release layout with
n_hidden 2048 and random weights, on one 5-second input (the three examples' audio joined
and cut to 5 s). The whole method would take one to two hours per input there on this
shared 2-core CPU (extrapolated from the figures below), so a fixed number of evaluations
is measured instead: relaxed-optimization steps, and the same
``--full-size-batches`` speculative prune batches from the saliency baseline's mask with
full and with incremental evaluation (the same decisions, checked). Seconds per second of
audio are then extrapolated with the embedded model's counts from the same run (steps,
full-pass evaluations in optimization and repair, prune evaluations, per second of audio).


Methods: ``ours`` (:func:`importance_mask` with its defaults, ``--swap-moves`` swap moves),
``today`` (the method before swap moves, incremental evaluation and greedy repair: prefix repair,
exact checks every 5 relaxed steps, greedy elimination to a 1-minimal mask, every candidate a full
pass; the same options otherwise), ``ours-greedy`` (no swap moves: our repair, then greedy
elimination), ``ours-swap-net`` (swap moves kept only for a net gain, ``swap_keep_even=False``),
``ours-theta`` (swap rounds' zeros ranked by theta, not by the hinge gradient; the last three run
only when named in ``--methods``), ``random`` (random order at our sparsity, raw agreement reported,
then the sparsest passing random prefix), ``occlusion`` (greedy occlusion / backward selection) and
``saliency`` (gradient x input thresholding).

    .venv/bin/python benchmarks/masks.py [--checkpoint DIR] [--corpus-n 20] [--threads 1] [--json out.json]
        [--full-size-batches 4] [--fill zeros|silence|mean]

Shards (``--corpus-start K`` skips the first K utterances, ``--no-examples`` the ``audio/``
examples) run in parallel processes, each with its own ``--json``; ``--summarize A.json
B.json ...`` then prints the tables over all their inputs. Each input's methods run one after
another in one process, so the time ratios between methods stay same-run figures.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from common import best_time  # shared helpers; sets TF's log level

from deepspeech_audio_features import DeepSpeech, audio_file_to_mfccs, load_audio, load_model, mfccs, random_weights
from deepspeech_audio_features.infra.atomic import atomic_write
from deepspeech_audio_features.infra.resources import example_audio
from deepspeech_audio_features.interpret.masks.baselines import (
    deletion_curve,
    greedy_occlusion_mask,
    random_mask_baseline,
    saliency_mask,
)
from deepspeech_audio_features.interpret.masks.engine import PruneState, prune
from deepspeech_audio_features.interpret.masks.importance import importance_mask
from deepspeech_audio_features.interpret.masks.incremental import IncrementalTest
from deepspeech_audio_features.interpret.masks.options import MaskOptions
from deepspeech_audio_features.interpret.masks.problem import MaskProblem, check_one_minimal

METHODS = ("ours", "today", "random", "occlusion", "saliency")
OURS = ("ours", "today", "ours-greedy", "ours-swap-net", "ours-theta")  # importance_mask with other options


def inputs(args) -> list[Path]:
    paths = [] if args.no_examples else sorted(Path(args.audio_dir).glob("*.wav"))
    if args.corpus and Path(args.corpus).exists() and args.corpus_n > 0:
        with open(args.corpus, newline="") as handle:
            rows = list(csv.DictReader(handle))
        base = Path(args.corpus).parent
        paths += [base / row["wav_filename"] for row in rows[args.corpus_start:args.corpus_start + args.corpus_n]]
    return paths


class _Stop(Exception):
    pass


def _prune_batches(model, x: np.ndarray, start: np.ndarray, order: np.ndarray, batches: int,
                   incremental: bool) -> tuple[float, int, np.ndarray]:
    """``batches`` speculative prune batches from ``start``: (seconds, candidates evaluated, mask after)."""
    problem = MaskProblem(model, x, np.ones(len(x), bool), "time-frequency", 1e-3, 8192)
    if incremental:
        problem.incremental = IncrementalTest(problem)
    done = []

    def count(state, pass_ended):
        done.append(1)
        if len(done) >= batches:
            raise _Stop

    state = PruneState(units=start.copy())
    begin = time.perf_counter()
    try:
        prune(problem, state, order, None, count)
    except _Stop:
        pass
    return time.perf_counter() - begin, problem.evaluations, state.units


def full_size_figures(args, counts: list[dict]) -> dict:
    """Seconds per evaluation on a full-size model (random weights), full vs incremental, and
    seconds per second of audio extrapolated with the embedded model's ``counts`` per second of audio."""
    model = DeepSpeech(random_weights(2048, seed=0))
    samples = np.concatenate([load_audio(p)[0] for p in example_audio()])[:5 * 16000]
    x = mfccs(samples)
    audio = (len(x) - 1) * 0.02 + 0.032
    problem = MaskProblem(model, x, np.ones(len(x), bool), "time-frequency", 1e-3, 8192)
    kappa = np.ones(problem.L, np.float32)
    step = best_time(lambda: problem.hinge_grad(np.full(problem.n_units, 0.5), kappa), repeats=2)
    print(f"\nfull-size model (n_hidden 2048, random weights), {audio:.2f} s input ({len(x)} frames, "
          f"{problem.n_units} units): relaxed-optimization step {step:.2f} s", flush=True)
    began = time.perf_counter()
    start_mask = saliency_mask(model, x, progress=True)
    start = start_mask.mask.reshape(-1).astype(bool)
    order = np.lexsort((np.arange(problem.n_units), start_mask.scores.reshape(-1)))  # least salient first
    print(f"start: the saliency mask, {int(start.sum())} ones ({time.perf_counter() - began:.0f} s, "
          f"{start_mask.evaluations} evaluations)", flush=True)
    _prune_batches(model, x, start, order, 1, False)  # compile both paths outside the timing
    _prune_batches(model, x, start, order, 1, True)
    full_s, full_n, full_units = _prune_batches(model, x, start, order, args.full_size_batches, False)
    inc_s, inc_n, inc_units = _prune_batches(model, x, start, order, args.full_size_batches, True)
    same = bool(np.array_equal(full_units, inc_units))
    per_full, per_inc = full_s / full_n, inc_s / inc_n
    print(f"{args.full_size_batches} prune batches ({full_n} candidates, {int(start.sum() - full_units.sum())} ones "
          f"removed): full {full_s:.1f} s ({per_full:.3f} s per candidate), incremental {inc_s:.1f} s "
          f"({per_inc:.3f} s per candidate): {full_s / inc_s:.2f}x; same decisions: {same}", flush=True)
    out = {"frames": len(x), "audio_seconds": audio, "optimize_step_seconds": step,
           "prune_batches": args.full_size_batches, "prune_candidates": full_n, "seconds_per_candidate_full": per_full,
           "seconds_per_candidate_incremental": per_inc, "prune_speedup": full_s / inc_s, "same_decisions": same}
    if counts:
        steps = np.mean([c["steps"] for c in counts])
        other = np.mean([c["other"] for c in counts])  # full-pass evaluations (optimization checks, repair)
        pruned = np.mean([c["prune"] for c in counts])  # prune / search evaluations
        full = steps * step / audio + other * per_full + pruned * per_full
        inc = steps * step / audio + other * per_full + pruned * per_inc
        print(f"extrapolated with the embedded model's counts per second of audio ({steps:.0f} steps per input, "
              f"{other:.0f} other + {pruned:.0f} prune evaluations per s): full {full:.0f} s per s of audio, "
              f"incremental {inc:.0f} s per s ({full / inc:.2f}x); the optimization alone "
              f"{steps * step / audio:.0f} s per s", flush=True)
        out.update(extrapolated_full=full, extrapolated_incremental=inc,
                   extrapolated_optimization=steps * step / audio)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="default: the embedded model")
    parser.add_argument("--audio-dir", default=str(example_audio()[0].parent))
    parser.add_argument("--corpus", default="data/corpus/test.csv", help="held-out DeepSpeech CSV")
    parser.add_argument("--corpus-n", type=int, default=20)
    parser.add_argument("--corpus-start", type=int, default=0, help="skip this many utterances of --corpus (shards)")
    parser.add_argument("--no-examples", action="store_true", help="leave out the audio/ examples (shards)")
    parser.add_argument("--summarize", nargs="+", metavar="JSON",
                        help="print the tables over the inputs of these shards' --json files, then exit")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {', '.join(METHODS)}, "
                                                                    "ours-greedy, ours-swap-net")
    parser.add_argument("--steps", type=int, default=300, help="our relaxed-optimization steps")
    parser.add_argument("--check-limit", type=int, default=400_000,
                        help="run the independent 1-minimality check when ones x frames is at most this")
    parser.add_argument("--swap-moves", type=int, default=MaskOptions().swap_moves, help="swap moves of ours (and ours-swap-net)")
    parser.add_argument("--full-n", type=int, default=3,
                        help="rerun ours with full evaluation on this many inputs (speed-up and identity)")
    parser.add_argument("--occlusion-max-seconds", type=float, default=None)
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: TF's default)")
    parser.add_argument("--json", help="write every figure to this JSON file")
    parser.add_argument("--full-size-batches", type=int, default=4,
                        help="prune batches measured on the full-size model (0: skip the full-size figures)")
    parser.add_argument("--full-size-only", action="store_true", help="only the full-size figures (no extrapolation)")
    parser.add_argument("--fill", default="zeros", choices=("zeros", "silence", "mean"),
                        help="what a masked entry becomes, for every method")
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS) - set(OURS))
    if unknown:
        parser.error(f"--methods: unknown {', '.join(unknown)}")
    if args.corpus_start < 0 or args.corpus_n < 0:
        parser.error("--corpus-start and --corpus-n: must be >= 0")
    if args.summarize:
        try:
            return summarize_shards(args.summarize)
        except (OSError, ValueError, KeyError, TypeError) as error:
            parser.error(f"--summarize: not a shard of this benchmark: {error}")
    if args.full_size_only:
        figures = full_size_figures(args, [])
        if args.json:
            text = json.dumps({"full_size": figures}, indent=2) + "\n"
            atomic_write(args.json, lambda tmp: Path(tmp).write_text(text))
        return 0
    paths = inputs(args)
    if not paths:
        parser.error("no inputs: --audio-dir has no .wav (or --no-examples) and --corpus gives no utterance "
                     f"from row {args.corpus_start}")
    model = load_model(args.checkpoint)
    counts = []  # per input, per second of audio: optimization steps, full-pass and prune evaluations
    warm = audio_file_to_mfccs(paths[0], model.upper_frequency_limit)  # trace TF's functions outside the timings
    for incremental in (True, False):
        importance_mask(model, warm, steps=2, check_limit=0, incremental=incremental, fill=args.fill, swap_moves=2)
    print(f"model: {model!r}; {len(paths)} inputs; methods: {', '.join(methods)}; threads: {args.threads or 'default'}")
    rows, speedups, budgets = [], [], []

    def write_json(**more) -> None:  # after every input (a stopped run keeps what it measured) and at the end
        if args.json:
            text = json.dumps({"rows": rows, "speedups": speedups, "counts": counts, "methods": methods, **more},
                              indent=2, default=str) + "\n"
            atomic_write(args.json, lambda tmp: Path(tmp).write_text(text))

    fractions = np.linspace(0, 1, 21)
    for path in paths:
        x = audio_file_to_mfccs(path, model.metadata.get("upper_frequency_limit", 8000.0))
        seconds_audio = (len(x) - 1) * 0.02 + 0.032

        def ours_with(**options):
            return importance_mask(model, x, steps=args.steps, check_limit=args.check_limit, fill=args.fill, **options)

        ours = ours_with(swap_moves=args.swap_moves)
        # what fewer swap moves would have given: the mask and clock after each round, plus the final checks
        budgets.append({moves: (ones, (seconds + ours.phases["seconds_check"]) / seconds_audio)
                        for moves, ones, seconds in ours.phases["swap_trace"]})
        pruned = ours.phases["incremental"]["candidates"]
        counts.append({"steps": args.steps, "other": (ours.evaluations - pruned) / seconds_audio,
                       "prune": pruned / seconds_audio})
        if len(speedups) < args.full_n:
            full = ours_with(swap_moves=args.swap_moves, incremental=False)
            same = bool(np.array_equal(full.mask, ours.mask))
            speedups.append((full.phases["seconds_prune"], ours.phases["seconds_prune"], full.seconds, ours.seconds, same))
            stats, prune_full, prune_inc = ours.phases["incremental"], full.phases["seconds_prune"], ours.phases["seconds_prune"]
            print(f"{Path(path).name:>22s} incremental evaluation: search {prune_full:.2f} s full -> {prune_inc:.2f} s "
                  f"({prune_full / prune_inc:.2f}x; {ours.evaluations - pruned} + {pruned} evaluations, "
                  f"{full.evaluations} full); whole method {full.seconds / ours.seconds:.2f}x; same mask: {same}; "
                  f"{stats['frames_computed'] / stats['frames_full']:.2f} of the frames computed, "
                  f"{stats['fallbacks']} full-pass fallbacks, "
                  f"{stats.get('memo_hits', 0)} candidates rejected by an earlier proof", flush=True)
        runs = {
            "ours": lambda: ours,
            "today": lambda: ours_with(swap_moves=0, incremental=False, repair="prefix", eval_every=5),
            "ours-greedy": lambda: ours_with(swap_moves=0),
            "ours-swap-net": lambda: ours_with(swap_moves=args.swap_moves, swap_keep_even=False),
            "ours-theta": lambda: ours_with(swap_moves=args.swap_moves, swap_order="theta"),
            "random": lambda: random_mask_baseline(model, x, ours.zero_fraction, fill=args.fill),
            "occlusion": lambda: greedy_occlusion_mask(model, x, max_seconds=args.occlusion_max_seconds, progress=True,
                                                       fill=args.fill),
            "saliency": lambda: saliency_mask(model, x, fill=args.fill),
        }
        results = {}
        for name in methods:
            b = runs[name]()
            if name in OURS:
                minimal = ("yes" if b.one_minimal else "no") + (
                    "" if b.one_minimal_checked is None else "/checked" if b.one_minimal_checked else "/CHECK FAILED")
                # kept entries first, then the relaxed mask values (the order the method used)
                results[name] = (b.zero_fraction, b.frame_agreement, minimal, b.seconds, b.mask + b.scores,
                                 {"evaluations": b.evaluations, "swaps_kept": b.moves["swap_kept"],
                                  "swaps_even": b.moves["swap_even"], "swap_ones_removed": b.moves["swap_ones_removed"]})
                continue
            minimal = "-"
            if int(b.mask.sum()) * len(x) <= args.check_limit:
                minimal = "yes/checked" if check_one_minimal(model, x, b.mask, fill=args.fill) else "no/checked"
            results[name] = (b.zero_fraction, b.frame_agreement, minimal, b.seconds, b.scores,
                             {"evaluations": b.evaluations, **b.extra})
        for name, (zeros, agreement, minimal, seconds, scores, extra) in results.items():
            _, curve = deletion_curve(model, x, scores, fractions, fill=args.fill)
            row = {"input": str(path), "frames": len(x), "seconds_audio": seconds_audio, "method": name,
                   "zero_fraction": zeros, "deletion_curve": curve.tolist(),
                   "ones": int(round((1 - zeros) * x.size)),
                   "frame_agreement": agreement, "one_minimal": minimal, "seconds": seconds,
                   "seconds_per_second": seconds / seconds_audio, "deletion_auc": float(np.trapz(curve, fractions)),
                   **{k: v for k, v in extra.items()}}
            if name == "ours":
                row["budget"] = {str(moves): list(value) for moves, value in budgets[-1].items()}
            rows.append(row)
            print(f"{Path(path).name:>22s} {len(x):4d} fr  {name:9s} ones {row['ones']:5d}  zeros {zeros:.4f}"
                  f"  agreement {agreement:.3f}  "
                  f"1-minimal {minimal:12s} {seconds / seconds_audio:6.2f} s/s  {row['evaluations']:6d} evaluations"
                  + (f"  (random masks at {extra['raw_zero_fraction']:.3f} zeros: agreement "
                     f"{extra['raw_agreement']:.3f}, {extra['raw_all_frames_kept']}/{extra['raw_samples']} keep all)"
                     if name == "random" else ""), flush=True)
        write_json()
    summary = summarize(methods, rows, speedups, budgets, fractions)
    if args.full_size_batches > 0:
        summary["full_size"] = full_size_figures(args, counts)
    curves = {name: np.mean([row["deletion_curve"] for row in rows if row["method"] == name], axis=0).tolist()
              for name in methods}
    write_json(summary=summary, fractions=fractions.tolist(), curves=curves)
    return 0


def summarize_shards(files: list[str]) -> int:
    """The tables over the inputs of several shards' JSON files (each input's rows come from one shard)."""
    shards = []
    for name in files:
        try:
            shards.append(json.loads(Path(name).read_text()))
        except (OSError, ValueError) as error:
            raise ValueError(f"{name}: {error}") from None
    methods = shards[0]["methods"]
    for shard, name in zip(shards, files):
        if shard["methods"] != methods:
            raise ValueError(f"{name}: methods {shard['methods']}, not {methods} as in {files[0]}")
    seen: dict[str, str] = {}
    for shard, name in zip(shards, files):
        for path in {row["input"] for row in shard["rows"]}:
            if path in seen:
                raise ValueError(f"{name}: input {path} is also in {seen[path]} (shards must not overlap)")
            seen[path] = name
    rows = [row for shard in shards for row in shard["rows"]]
    speedups = [tuple(s) for shard in shards for s in shard["speedups"]]
    budgets = [{int(moves): tuple(value) for moves, value in row["budget"].items()}
               for row in rows if row["method"] == "ours" and "budget" in row]
    summarize(methods, rows, speedups, budgets, np.linspace(0, 1, 21))
    for shard, name in zip(shards, files):
        if "full_size" in shard.get("summary", {}):
            print(f"\nfull-size figures (from {name}): {json.dumps(shard['summary']['full_size'])}")
    return 0


def summarize(methods: list[str], rows: list[dict], speedups: list, budgets: list[dict], fractions) -> dict:
    """Print the means, speed-ups, deletion curves, goals and budget curve; return the summary."""
    curves = {name: [row["deletion_curve"] for row in rows if row["method"] == name] for name in methods}
    print("\nmeans over", len({row["input"] for row in rows}), "inputs")
    print(f"{'method':10s} {'ones':>7s} {'zeros':>7s} {'agree':>7s} {'1-min':>6s} {'s/s':>7s} {'max s/s':>8s} "
          f"{'del.AUC':>8s} {'evals':>8s}")
    summary = {}
    for name in methods:
        r = [row for row in rows if row["method"] == name]
        minimal = np.mean([row["one_minimal"].startswith("yes") for row in r])
        summary[name] = {k: float(np.mean([row[k] for row in r]))
                         for k in ("ones", "zero_fraction", "frame_agreement", "seconds_per_second", "deletion_auc")}
        evaluations = [row["evaluations"] for row in r if row.get("evaluations") is not None]
        summary[name]["evaluations"] = float(np.mean(evaluations)) if evaluations else None
        summary[name]["one_minimal_share"] = float(minimal)
        summary[name]["max_seconds_per_second"] = float(np.max([row["seconds_per_second"] for row in r]))
        s = summary[name]
        evals = f"{s['evaluations']:8.0f}" if s["evaluations"] is not None else f"{'-':>8s}"
        print(f"{name:10s} {s['ones']:7.1f} {s['zero_fraction']:7.4f} {s['frame_agreement']:7.3f} {minimal:6.2f} "
              f"{s['seconds_per_second']:7.2f} {s['max_seconds_per_second']:8.2f} {s['deletion_auc']:8.3f} {evals}")
    if speedups:
        prune_full, prune_inc, all_full, all_inc, same = (np.array(v) for v in zip(*speedups))
        print(f"\nincremental evaluation over {len(speedups)} inputs: search (prune, swap moves, prune) "
              f"{prune_full.sum() / prune_inc.sum():.2f}x "
              f"faster (total {prune_full.sum():.1f} s -> {prune_inc.sum():.1f} s), whole method "
              f"{all_full.sum() / all_inc.sum():.2f}x; identical masks: {int(same.sum())}/{len(same)}")
        summary["incremental_speedup"] = {"prune": float(prune_full.sum() / prune_inc.sum()),
                                          "method": float(all_full.sum() / all_inc.sum()), "identical": int(same.sum()),
                                          "inputs": len(same)}
    print("\ndeletion curves: mean frame agreement after zeroing a fraction of entries in score order")
    print("zeroed   " + " ".join(f"{f:5.2f}" for f in fractions[::2]))
    for name in methods:
        print(f"{name:8s} " + " ".join(f"{v:5.3f}" for v in np.mean(curves[name], axis=0)[::2]))
    if "ours" in methods:
        others = [m for m in methods if m not in OURS]
        ok_agree = all(row["frame_agreement"] == 1.0 for row in rows)
        ok_zeros = all(summary["ours"]["zero_fraction"] > summary[m]["zero_fraction"] for m in others)
        ok_speed = summary["ours"]["max_seconds_per_second"] < 30
        print(f"\ngoals: agreement 1.0 always: {ok_agree}; ours sparsest on average: {ok_zeros}; "
              f"ours < 30 s per second of audio (worst input): {ok_speed}")
    for name in OURS[1:]:  # the search's goals: fewer ones, no more time than today
        if "ours" in methods and name in methods:
            fewer = 1 - summary["ours"]["ones"] / summary[name]["ones"]
            time_ratio = summary["ours"]["seconds_per_second"] / summary[name]["seconds_per_second"]
            print(f"ours vs {name}: {fewer:.1%} fewer ones on average; {time_ratio:.2f}x its s per s of audio")
            summary["ours"][f"vs_{name}"] = {"fewer_ones": float(fewer), "time_ratio": float(time_ratio)}
    if "ours" in methods and "today" in methods and budgets:
        print("\nours with fewer swap moves (the same run's masks after each round), vs today:")
        summary["ours"]["budgets"] = {}
        for moves in sorted(set.intersection(*(set(b) for b in budgets))):
            ones = float(np.mean([b[moves][0] for b in budgets]))
            per_second = float(np.mean([b[moves][1] for b in budgets]))
            fewer, time_ratio = 1 - ones / summary["today"]["ones"], per_second / summary["today"]["seconds_per_second"]
            print(f"  {moves:4d} moves: {ones:6.1f} ones ({fewer:.1%} fewer), {per_second:.2f} s per s of audio "
                  f"({time_ratio:.2f}x)")
            summary["ours"]["budgets"][moves] = {"ones": ones, "seconds_per_second": per_second,
                                                 "fewer_ones": fewer, "time_ratio": time_ratio}
    return summary


if __name__ == "__main__":
    sys.exit(main())
