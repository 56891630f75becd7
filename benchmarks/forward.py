"""Forward-pass speed of a full-size DeepSpeech (n_hidden 2048, random weights).

Prints, measured side by side in one run: seconds of compute per second of audio
(5 s utterance), achieved FLOP/s and its ratio to this machine's large-matmul FLOP/s,
and batch 1 vs batch 16.

    .venv/bin/python benchmarks/forward.py [--n-hidden 2048] [--seconds 5]
"""
from __future__ import annotations

import argparse

import numpy as np
from common import best_time, forward_flops_per_frame, matmul_flops

from deepspeech_audio_features import DeepSpeech, num_frames, random_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-hidden", type=int, default=2048)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    peak = matmul_flops()
    model = DeepSpeech(random_weights(args.n_hidden))
    frames = num_frames(int(args.seconds * 16000))
    forward = model.compiled_forward("layer_6")
    flops = forward_flops_per_frame(args.n_hidden) * frames
    print(f"machine: 4096^3 float32 matmul {peak / 1e9:.1f} GFLOP/s")
    print(f"model: n_hidden {args.n_hidden}, {args.seconds:g} s audio = {frames} frames, "
          f"{flops / 1e9:.2f} GFLOP per utterance")
    results = {}
    for batch in (1, 16):
        x = np.random.default_rng(0).normal(0, 5, (batch, frames, 26)).astype(np.float32)
        lengths = np.full(batch, frames, np.int32)
        seconds = best_time(lambda: forward(x, lengths)["layer_6"].numpy(), args.repeats)
        results[batch] = seconds / batch
        achieved = flops * batch / seconds
        print(f"batch {batch:2d}: {seconds / batch / args.seconds:.4f} s per second of audio "
              f"({args.seconds * batch / seconds:.1f}x real time), {achieved / 1e9:.1f} GFLOP/s "
              f"= {achieved / peak:.0%} of matmul")
    print(f"batch 16 vs batch 1, per utterance: {results[1] / results[16]:.2f}x faster")


if __name__ == "__main__":
    main()
