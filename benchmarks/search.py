"""Dataset-search speed: utterances and seconds of audio per second.

Runs :func:`search_dataset` for the study's six objectives (one per layer) over the
first ``--utterances`` of a corpus CSV into a temporary folder, and reports the whole
pipeline (reading audio, MFCCs, forward passes) and the forward passes alone, with the
forward's achieved FLOP/s (real frames only, up to the deepest layer) and its ratio
to this machine's large-matmul FLOP/s measured in the same run.

    .venv/bin/python benchmarks/search.py [--csv data/corpus/train.csv] [--utterances 512]
"""
from __future__ import annotations

import argparse
import tempfile
import time

from common import forward_flops_per_frame, start_benchmark
from visualize import embedded_model


from deepspeech_audio_features import LAYERS, DeepSpeech, random_weights
from deepspeech_audio_features import dataset_search as ds
from deepspeech_audio_features.visualization import Objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--csv", default="data/corpus/train.csv")
    parser.add_argument("--utterances", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--n-hidden", type=int, default=0, help="random model of this size instead of the embedded")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    peak = start_benchmark(args.threads)
    if args.n_hidden:
        model, name = DeepSpeech(random_weights(args.n_hidden)), f"random n_hidden {args.n_hidden}"
    else:
        model, name = embedded_model()
    objectives = [Objective(layer, (0, 1, 2)) for layer in LAYERS]
    forward_seconds, real = [0.0], ds.batch_activations

    def timed(*a):
        start = time.perf_counter()
        out = real(*a)
        forward_seconds[0] += time.perf_counter() - start
        return out

    ds.batch_activations = timed
    real(model, *ds_warmup(), objectives)  # trace once, outside the timing
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = ds.search_dataset(model, args.csv, objectives, out, args.batch_size, args.utterances, progress=False)
        total = time.perf_counter() - start
    session = result.report["this_session"]
    frames = session["audio_seconds_per_second"] * session["seconds"] / 0.02
    flops = forward_flops_per_frame(model.n_hidden) * frames
    print(f"model: {name}; {session['utterances']} utterances, {frames * 0.02:.0f} s of audio, "
          f"{len(result.skipped)} skipped, batch {args.batch_size}")
    print(f"whole search: {session['utterances'] / total:.1f} utterances/s, {frames * 0.02 / total:.1f} s audio/s "
          f"({total:.1f} s, index included)")
    print(f"forward only: {session['utterances'] / forward_seconds[0]:.1f} utterances/s, "
          f"{frames * 0.02 / forward_seconds[0]:.1f} s audio/s, {flops / forward_seconds[0] / 1e9:.1f} GFLOP/s "
          f"= {flops / forward_seconds[0] / peak:.0%} of matmul")


def ds_warmup():
    import numpy as np

    return np.zeros((2, 50, 26), np.float32), np.array([50, 40], np.int32)


if __name__ == "__main__":
    main()
