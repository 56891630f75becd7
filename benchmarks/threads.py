"""TensorFlow threads for small operations: one thread vs TensorFlow's default, per model size.

TensorFlow's thread pools are fixed when its runtime starts, so each setting runs in its
own child process, one after the other in this run; the ratios are printed side by side.
Measured per size (random weights in the release layout): a batch-1 gradient of a mask
hinge through the whole network over 121 frames (the relaxed optimization of the mask
search), and a batch-64 forward pass over 121 frames (a full-evaluation batch).

    .venv/bin/python benchmarks/threads.py [--sizes 384,512,768,1024,2048]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[3])
from common import best_time  # the benchmarks' timing helper (also quiets TensorFlow's log)
import tensorflow as tf
from deepspeech_audio_features import DeepSpeech, random_weights, set_tensorflow_threads
threads, sizes = int(sys.argv[1]), [int(s) for s in sys.argv[2].split(",")]
if threads:
    assert set_tensorflow_threads(threads)
out = {}
for n in sizes:
    model = DeepSpeech(random_weights(n, seed=0))

    @tf.function
    def gradient(mask, x):
        with tf.GradientTape() as tape:
            tape.watch(mask)
            logits = model.forward(x * mask, up_to="layer_6")["layer_6"]
            loss = tf.reduce_sum(tf.nn.relu(1.0 - logits[..., 0]))
        return tape.gradient(loss, mask)

    x, mask = tf.random.normal([1, 121, 26], seed=1), tf.ones([1, 121, 26])
    batch, lengths = tf.random.normal([64, 121, 26], seed=2), tf.fill([64], 121)
    forward = model.compiled_forward("layer_6")
    gradient(mask, x), forward(batch, lengths)  # trace outside the timings

    out[n] = {"gradient": best_time(lambda: gradient(mask, x).numpy(), 5, warmup=0),
              "forward": best_time(lambda: forward(batch, lengths)["layer_6"].numpy(), 3, warmup=0)}
print(json.dumps(out))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="384,512,768,1024,2048")
    args = parser.parse_args()
    runs = {}
    for threads in (1, 0):
        done = subprocess.run([sys.executable, "-c", CHILD, str(threads), args.sizes, str(Path(__file__).parent)],
                              capture_output=True, text=True, check=True)
        runs[threads] = {int(k): v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}
    print("n_hidden  gradient B=1 (ms): 1 thread / default / ratio   forward B=64 (ms): 1 thread / default / ratio")
    for n in sorted(runs[1]):
        one, default = runs[1][n], runs[0][n]
        print(f"{n:8d}  {1e3 * one['gradient']:9.1f} / {1e3 * default['gradient']:7.1f} / "
              f"{default['gradient'] / one['gradient']:5.2f}x   {1e3 * one['forward']:10.1f} / "
              f"{1e3 * default['forward']:7.1f} / {default['forward'] / one['forward']:5.2f}x")
    print("ratio > 1: one thread is faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
