"""Feature visualization at atlas scale: one single-neuron objective per row, every layer.

Prints, measured in one run:

1. this machine's matmul FLOP/s (a 2048^3 float32 ``tf.matmul``, best of 10), measured
   between every two cases, by wall time and by process CPU time (the machine is shared:
   see :func:`measure_model` for what each share says);
2. for the embedded model and a full-size model (n_hidden 2048, random weights in the
   release layout, ``random_weights`` as in ``benchmarks/visualize.py``), per layer and
   batch size B (``--batch-sizes 1,16,64,256``): seconds per optimization step of B
   one-neuron objectives (forward + gradient + Adam, the compiled step of
   ``maximize_activation``, tracing excluded, best of ``--repeats``), objective-steps per
   second (B / seconds) and achieved FLOP/s as a share of matmul's;
3. estimated wall times: (a) the embedded model's whole atlas (every unit of the six
   layers at ``--atlas-steps`` and ``--atlas-batch``, plus one forward pass over
   ``--dataset-utterances`` utterances of ``--dataset``, measured here), (b) a
   full-size layer of 2048 neurons on 1 machine and on a Dask cluster of N machines.

FLOPs per objective-step (T frames, n = n_hidden, 2 FLOPs per multiply-add, forward +
backward counted as three forwards, the issue's convention): ``6 T * MACs(layer)`` with
the forward's multiply-adds per frame up to the layer (the step computes gradients with
respect to the input only, no weight gradients, so the arithmetic it really does is two
forwards: its hardware utilization is 2/3 of the printed share)::

    layer_1 494 n | layer_2 +n^2 | layer_3 +n^2 | rnn_output +8 n^2 (input and recurrent
    kernels, n x 4n each) | layer_5 +n^2 | layer_6 +29 n

    .venv/bin/python benchmarks/atlas.py [--frames 100] [--batch-sizes 1,16,64,256] [--models embedded,full]
    .venv/bin/python benchmarks/atlas.py --layer-1-routes 256,384,512,768,1024,2048  # layer 1: convolution vs windows
"""
from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
import tensorflow as tf
from common import forward_flops_per_frame
from visualize import embedded_model

from deepspeech_audio_features import LAYERS, DeepSpeech, random_weights
from deepspeech_audio_features.interpret.featurevis import Objective, VisualizationOptions, render
from deepspeech_audio_features.interpret.featurevis.objectives import layer_width, plan_objectives
from deepspeech_audio_features.interpret.featurevis.options import ATLAS_BATCH_SIZE, ATLAS_OPTIONS
from deepspeech_audio_features.interpret.featurevis.param import DirectParam, initial_inputs

CORES = os.cpu_count() or 1


def step_function(model, layer: str, batch: int, frames: int):
    """The compiled step ``maximize_activation`` runs for ``batch`` one-neuron objectives of ``layer``."""
    width = layer_width(model, layer)
    objectives = [Objective(layer, (r % width,), name=f"{layer}-{r}") for r in range(batch)]
    options = VisualizationOptions(frames=frames)
    plan = plan_objectives(model, objectives)
    start = initial_inputs(plan.objectives, frames, "noise", 1.0, 0)
    state = render._AdamState.start(DirectParam.build(start[plan.sorted_to_object]))
    evaluate = render._evaluator(model, plan, state.param, None, frames)
    update = render._updater(options, state, None)
    draws = tf.zeros([batch], tf.int32)

    def step():
        act, _, grad = evaluate(draws)
        update(grad, tf.constant(0, tf.int64))
        return act.numpy()  # wait for the step, as the render loop does

    return step


def layer_flops(n_hidden: int, layer: str, frames: int) -> int:
    """FLOPs of one objective-step: forward + backward as three forwards."""
    return 3 * forward_flops_per_frame(n_hidden, layer) * frames


def timed(fn, repeats: int, warmup: int = 1) -> tuple[float, float]:
    """Fastest wall seconds and fastest process CPU seconds (all threads) of ``fn()``."""
    for _ in range(warmup):
        fn()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def matmul_rates(n: int = 2048, repeats: int = 10) -> tuple[float, float]:
    """FLOP per wall second and per CPU second of an n^3 float32 matmul (best of ``repeats``:
    short calls, like the steps, so both catch the machine's quieter moments)."""
    a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
    wall, cpu = timed(lambda: tf.matmul(a, b).numpy(), repeats)
    return 2 * n ** 3 / wall, 2 * n ** 3 / cpu


def measure_model(label: str, model, batch_sizes, frames: int, repeats: int, layers) -> dict:
    """``{(layer, B): (wall seconds, CPU seconds) per step}``; prints the table.

    Two shares per case, because the machine is shared: FLOP per wall second over the
    best matmul FLOP/s of the whole block (what a quiet machine reaches; on a loaded one
    it understates), and FLOP per CPU second over the matmul's FLOP per CPU second
    measured right before and after (robust to other processes, but blind to idle
    cores: it overstates steps that leave a core waiting).
    """
    results = {}
    before = matmul_rates()
    ceilings = [before]
    for layer in layers:
        for batch in batch_sizes:
            step = step_function(model, layer, batch, frames)
            wall, cpu = timed(step, repeats)
            after = matmul_rates()
            ceilings.append(after)
            results[layer, batch] = (wall, cpu, max(before[1], after[1]))
            before = after
            flops = layer_flops(model.n_hidden, layer, frames) * batch
            print(f"  measured {layer} B={batch}: {wall:.3f} s, {cpu:.3f} CPU s per step, "
                  f"{flops / cpu / results[layer, batch][2]:.0%} of matmul by CPU time", flush=True)
    peak = max(c[0] for c in ceilings)
    print(f"\n{label}: n_hidden {model.n_hidden}, T = {frames}; matmul {min(c[0] for c in ceilings) / 1e9:.0f} to "
          f"{peak / 1e9:.0f} GFLOP/s (wall) during this block")
    print("  per cell: objective-steps/s | share of matmul by wall time (best matmul of the block) | by CPU time "
          "(FLOPs: forward + backward as 3 forwards)")
    print(f"  {'layer':10s} {'GFLOP/obj-step':>14s} " + " ".join(f"{'B=' + str(b):>27s}" for b in batch_sizes))
    for layer in layers:
        flops = layer_flops(model.n_hidden, layer, frames)
        cells = []
        for batch in batch_sizes:
            wall, cpu, cpu_ceiling = results[layer, batch]
            cells.append(f"{batch / wall:8.1f} | {flops * batch / wall / peak:4.0%} | {flops * batch / cpu / cpu_ceiling:4.0%}")
        print(f"  {layer:10s} {flops / 1e9:14.3f} " + " ".join(f"{c:>27s}" for c in cells), flush=True)
    return {k: (v[0], v[1]) for k, v in results.items()}


def compare_layer_1_routes(widths, batch: int, frames: int, repeats: int) -> None:
    """Layer 1 by convolution vs by context windows + matmul, side by side per width: CPU
    seconds of a ``layer_1`` step of ``batch`` objectives (random weights); what
    ``DeepSpeech.CONVOLUTION_BELOW`` is chosen from."""
    print(f"\nlayer 1 routes: CPU s per layer_1 step, B = {batch}, T = {frames}, best of {repeats}, two rounds")
    for width in widths:
        model = DeepSpeech(random_weights(width))
        seconds = {"windows": [], "convolution": []}
        for _ in range(2):  # alternate the routes, so a change in the machine's load hits both
            for route, threshold in (("windows", 0), ("convolution", width + 1)):
                model.CONVOLUTION_BELOW = threshold  # this instance only
                seconds[route].append(timed(step_function(model, "layer_1", batch, frames), repeats)[1])
        ratio = min(seconds["windows"]) / min(seconds["convolution"])
        print(f"  n_hidden {width:5d}: windows {min(seconds['windows']):.4f} s, convolution "
              f"{min(seconds['convolution']):.4f} s: convolution {ratio:.2f}x as fast"
              f" (the default route: {'convolution' if width < DeepSpeech.CONVOLUTION_BELOW else 'windows'})", flush=True)


def dataset_pass_seconds(model, dataset: str, utterances: int) -> tuple[float, int]:
    """Seconds for MFCCs + one forward pass (all layers) over ``utterances`` of ``dataset``, and how many."""
    from deepspeech_audio_features.speech.batching import length_batches, pad_batch
    from deepspeech_audio_features.speech.datasets import read_dataset
    from deepspeech_audio_features.speech.mfcc import audio_file_to_mfccs

    rows = read_dataset(dataset)[:utterances]
    forward = model.compiled_forward("layer_6")
    forward(np.zeros((2, 50, 26), np.float32), np.array([50, 40], np.int32))  # trace once
    start = time.perf_counter()
    mfccs = [audio_file_to_mfccs(r.path) for r in rows]
    for batch in length_batches([len(m) for m in mfccs], 32):
        x, lengths = pad_batch([mfccs[i] for i in batch])
        forward(x, lengths)
    return time.perf_counter() - start, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--batch-sizes", default="1,16,64,256")
    parser.add_argument("--models", default="embedded,full")
    parser.add_argument("--layers", default=",".join(LAYERS))
    parser.add_argument("--repeats", type=int, default=2, help="timed steps per case (best of)")
    parser.add_argument("--full-hidden", type=int, default=2048)
    parser.add_argument("--atlas-steps", type=int, default=ATLAS_OPTIONS.steps)
    parser.add_argument("--atlas-batch", type=int, default=ATLAS_BATCH_SIZE)
    parser.add_argument("--dataset", default="data/corpus/test.csv")
    parser.add_argument("--dataset-utterances", type=int, default=750)
    parser.add_argument("--machines", default="1,4,16,32")
    parser.add_argument("--layer-1-routes", default="",
                        help="widths (e.g. 256,384,512,768,1024,2048): compare layer 1's two routes, then stop")
    args = parser.parse_args()
    if args.layer_1_routes:
        compare_layer_1_routes([int(w) for w in args.layer_1_routes.split(",")], args.atlas_batch, args.frames,
                               max(args.repeats, 4))
        return
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    layers = args.layers.split(",")
    wanted = args.models.split(",")
    results = {}
    if "embedded" in wanted:
        model, name = embedded_model()
        results["embedded"] = (model, measure_model(f"embedded ({name})", model, batch_sizes, args.frames, args.repeats,
                                                    layers))
    if "full" in wanted:
        model = DeepSpeech(random_weights(args.full_hidden))
        results["full"] = (model, measure_model(f"full-size (n_hidden {args.full_hidden}, random)", model, batch_sizes,
                                                args.frames, args.repeats, layers))
    batch = args.atlas_batch
    print(f"\nestimates at {args.atlas_steps} steps, batch {batch}, T = {args.frames} "
          "(from the step times above; tracing, about a second per batch, and file writing left out)")
    if "embedded" in results and batch in batch_sizes:
        model, seconds = results["embedded"]
        total = dedicated = 0.0
        for layer in layers:
            width = layer_width(model, layer)
            n_batches = math.ceil(width / batch)
            # the last batch is smaller; count it at its share of a full batch's rows
            layer_seconds = seconds[layer, batch][0] * args.atlas_steps * width / batch
            cpu_seconds = seconds[layer, batch][1] * args.atlas_steps * width / batch / CORES
            total, dedicated = total + layer_seconds, dedicated + cpu_seconds
            print(f"  embedded {layer:10s} {width:4d} units, {n_batches:2d} batches: {layer_seconds / 60:6.1f} min "
                  f"here, {cpu_seconds / 60:6.1f} min on {CORES} dedicated cores")
        try:
            pass_seconds, n = dataset_pass_seconds(model, args.dataset, args.dataset_utterances)
            rate = n / pass_seconds
            dataset_minutes = args.dataset_utterances / rate / 60
            print(f"  dataset pass: {n} utterances of {args.dataset} (MFCCs + all layers) in {pass_seconds:.1f} s, "
                  f"{rate:.1f} utterances/s -> {args.dataset_utterances} utterances {dataset_minutes:.1f} min")
        except Exception as err:  # no corpus on this machine: say so, estimate without it
            dataset_minutes = 0.0
            print(f"  dataset pass: not measured ({err})")
        print(f"  (a) embedded model's whole atlas, feature visualization + dataset pass: "
              f"{total / 60 + dataset_minutes:.0f} min on this machine as loaded now, "
              f"{dedicated / 60 + dataset_minutes:.0f} min on {CORES} dedicated cores (CPU seconds / cores: "
              "assumes the step keeps every core busy, as its CPU-time share says)")
    if "full" in results:
        model, seconds = results["full"]
        machines = [int(m) for m in args.machines.split(",")]
        print(f"  (b) a full-size layer of 2048 neurons at {args.atlas_steps} steps: N machines like this one each run "
              "whole batches (Dask shards of batches), so wall = ceil(batches / N) x batch time, plus one model load "
              "and one trace per batch (seconds) per worker; assumes identical machines, each with its "
              f"{CORES} cores to itself (CPU seconds / cores, as (a)), and a shared file system; the dataset pass "
              "comes on top (benchmarks/search.py projects it)")
        for b in [b for b in batch_sizes if b >= 16]:
            n_batches = math.ceil(2048 / b)
            print(f"      batch {b}: {n_batches} batches")
            for layer in layers:
                per_batch = seconds[layer, b][1] / CORES * args.atlas_steps
                cells = [f"N={m}: {math.ceil(n_batches / m) * per_batch / 3600:7.2f} h" for m in machines]
                print(f"      {layer:10s} {per_batch / 60:7.1f} min per batch | " + " | ".join(cells))


if __name__ == "__main__":
    main()
