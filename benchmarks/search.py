"""Dataset-search speed: in-process vs a Dask LocalCluster, and a projection for LibriSpeech.

In one run, on the first ``--utterances`` of a corpus CSV and the study's six
objectives (one per layer):

1. in-process :func:`search_dataset` (the whole pipeline: headers, audio, MFCCs,
   forward passes), with the forward passes alone timed too, their FLOP/s and the
   ratio to this machine's large-matmul FLOP/s;
2. the same search on a ``LocalCluster`` of 1, 2, ... worker processes
   (``--workers 1,2``), each worker with ``cores / workers`` TensorFlow threads; the
   workers load the model and trace its forward pass before the clock starts (once per
   process, as in real use).
   Dask's overhead per shard = (wall time x workers - seconds inside the tasks) / shards;
3. the per-frame cost of the full-size model (n_hidden 2048, random weights, batches of
   ``--batch-size`` 10 s utterances, LibriSpeech's mean length is about 12 s), and from
   it the hours LibriSpeech's 960 h (172.8 million frames) would take on N machines like
   this one (forward passes plus the measured per-second cost of everything else),
   assuming the cluster efficiency measured in step 2.

    .venv/bin/python benchmarks/search.py [--csv data/corpus/train.csv] [--utterances 512] [--workers 1,2]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
from common import best_time, forward_flops_per_frame, start_benchmark
from visualize import embedded_model

from deepspeech_audio_features import LAYERS, DeepSpeech, random_weights
from deepspeech_audio_features.interpret import dataset_search as ds
from deepspeech_audio_features.interpret.featurevis import Objective

LIBRISPEECH_HOURS = 960


def in_process(model, objectives, csv, utterances, batch_size, peak):
    forward_seconds, real = [0.0], ds.batch_activations

    def timed(*a):
        start = time.perf_counter()
        out = real(*a)
        forward_seconds[0] += time.perf_counter() - start
        return out

    ds.batch_activations = timed
    real(model, np.zeros((2, 50, 26), np.float32), np.array([50, 40], np.int32), objectives)  # trace once
    try:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            result = ds.search_dataset(model, csv, objectives, out, batch_size=batch_size, max_utterances=utterances,
                                       progress=False)
            total = time.perf_counter() - start
    finally:
        ds.batch_activations = real
    session = result.report["this_session"]
    audio = session["audio_seconds_per_second"] * session["seconds"]
    flops = forward_flops_per_frame(model.n_hidden) * audio / 0.02
    print(f"in-process: {session['utterances']} utterances, {audio:.0f} s of audio, {len(result.skipped)} skipped: "
          f"{session['utterances'] / total:.1f} utterances/s, {audio / total:.1f} s audio/s ({total:.1f} s)")
    print(f"  forward passes alone: {audio / forward_seconds[0]:.1f} s audio/s, "
          f"{flops / forward_seconds[0] / 1e9:.1f} GFLOP/s = {flops / forward_seconds[0] / peak:.0%} of matmul")
    # reading audio, MFCCs, padding, files: the same per second of audio whatever the model
    other = (total - forward_seconds[0]) / audio
    print(f"  everything but the forward passes: {other * 1000:.2f} ms per second of audio")
    return audio / total, result, other


def on_cluster(model, objectives, csv, utterances, batch_size, workers, reference):
    from distributed import Client, LocalCluster

    from deepspeech_audio_features.interpret.distributed import model_source

    threads = max(1, (os.cpu_count() or 1) // workers)
    with tempfile.TemporaryDirectory() as out, \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        checkpoint, fingerprint = model_source(model, out)
        client.run(warm_up, checkpoint, fingerprint, threads, [o.to_json() for o in objectives])
        start = time.perf_counter()
        result = ds.search_dataset(model, csv, objectives, os.path.join(out, "run"), batch_size=batch_size,
                                   max_utterances=utterances, progress=False, scheduler=client, worker_threads=threads)
        total = time.perf_counter() - start
    session = result.report["this_session"]
    audio = session["audio_seconds_per_second"] * session["seconds"]
    dist = session["distributed"]
    overhead = (total * workers - dist["task_seconds"]) / dist["shards"]
    same = np.allclose(result.activations, reference.activations, rtol=1e-5, atol=1e-6, equal_nan=True)
    print(f"LocalCluster, {workers} worker(s) x {threads} thread(s): {audio / total:.1f} s audio/s ({total:.1f} s), "
          f"{dist['shards']} shards, Dask overhead {overhead * 1000:.0f} ms per shard; "
          f"scores equal to in-process: {same}")
    return audio / total


def warm_up(checkpoint, fingerprint, threads, objectives):
    """On each worker, before the clock: load the model once and trace its forward pass."""
    from deepspeech_audio_features.interpret.distributed import worker_model

    model = worker_model(checkpoint, fingerprint, threads)
    ds.batch_activations(model, np.zeros((2, 50, 26), np.float32), np.array([50, 40], np.int32),
                         [Objective.from_json(o) for o in objectives])


def full_size_per_frame(batch_size, peak):
    model = DeepSpeech(random_weights(2048, seed=0))
    frames = 500  # 10 s
    x = np.random.default_rng(0).standard_normal((batch_size, frames, 26)).astype(np.float32)
    lengths = np.full(batch_size, frames, np.int32)
    objectives = [Objective(layer, (0, 1, 2)) for layer in LAYERS]
    seconds = best_time(lambda: ds.batch_activations(model, x, lengths, objectives), repeats=3)
    per_frame = seconds / (batch_size * frames)
    print(f"full-size model (n_hidden 2048): {per_frame * 1e6:.0f} us per frame, "
          f"{forward_flops_per_frame(2048) / per_frame / 1e9:.1f} GFLOP/s = "
          f"{forward_flops_per_frame(2048) / per_frame / peak:.0%} of matmul, "
          f"{0.02 / per_frame:.1f} s audio/s")
    return per_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", default="data/corpus/train.csv")
    parser.add_argument("--utterances", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", default="1,2", help="LocalCluster sizes to compare, e.g. 1,2 ('' = none)")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    peak = start_benchmark(args.threads)
    model, name = embedded_model()
    objectives = [Objective(layer, (0, 1, 2)) for layer in LAYERS]
    print(f"model: {name}; batch {args.batch_size}; {os.cpu_count()} cores")
    base, reference, other = in_process(model, objectives, args.csv, args.utterances, args.batch_size, peak)
    rates = {}
    for workers in [int(w) for w in args.workers.split(",") if w]:
        rates[workers] = on_cluster(model, objectives, args.csv, args.utterances, args.batch_size, workers, reference)
        print(f"  vs in-process: {rates[workers] / base:.2f}x")
    efficiency = min(1.0, rates[max(rates)] / base) if rates else 1.0
    per_frame = full_size_per_frame(16, peak)
    frames = LIBRISPEECH_HOURS * 3600 / 0.02
    hours_one = frames * (per_frame + other * 0.02) / 3600
    print(f"projection, LibriSpeech {LIBRISPEECH_HOURS} h ({frames / 1e6:.1f} M frames) with the full-size model: "
          f"measured forward cost + the measured rest, cluster efficiency {efficiency:.2f} "
          f"(largest cluster / in-process):")
    for machines in (1, 4, 16, 64):
        print(f"  {machines:3d} machine(s) like this one: {hours_one / (machines * efficiency):7.1f} h")


if __name__ == "__main__":
    main()
