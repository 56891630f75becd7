"""Shared helpers for the benchmarks: timing and this machine's matmul FLOP/s."""
from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf


def best_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Fastest wall time of ``fn()`` over ``repeats`` runs, in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_flops(n: int = 4096, repeats: int = 5) -> float:
    """Achieved FLOP/s of one large float32 matmul (n x n by n x n), the machine's ceiling."""
    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    seconds = best_time(lambda: tf.matmul(a, b).numpy(), repeats)
    return 2 * n ** 3 / seconds


def forward_flops_per_frame(n_hidden: int, up_to: str = "layer_6") -> int:
    """Multiply-add FLOPs (2 per MAC) of DeepSpeech per frame, up to a layer."""
    h = n_hidden
    per_layer = {"layer_1": 494 * h, "layer_2": h * h, "layer_3": h * h,
                 "rnn_output": 2 * h * 4 * h, "layer_5": h * h, "layer_6": h * 29}
    total = 0
    for name, macs in per_layer.items():
        total += 2 * macs
        if name == up_to:
            break
    return total


def start_benchmark(threads: int = 0) -> float:
    """Set TensorFlow's intra-op threads (0 = its choice), print and return matmul FLOP/s."""
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    peak = matmul_flops()
    print(f"machine: 4096^3 float32 matmul {peak / 1e9:.1f} GFLOP/s")
    return peak
