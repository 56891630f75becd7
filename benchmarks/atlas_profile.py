"""Where the time of one atlas step goes (embedded model, one-neuron objectives of layer_6).

Times (process CPU seconds, so other processes on a shared machine matter less), side
by side in one run, the compiled pieces of one optimization step of B rows
(T frames): the whole step (``maximize_activation``'s evaluate + Adam update), the
gradient alone, the forward alone, the LSTM's time loop forward and forward + backward,
layers 1-3 forward + backward, and the same FLOPs as plain matmuls: the LSTM recurrent
matmul chained T times ([B, n] x [n, 4n] per frame) and one [B*T, n] x [n, 4n] matmul; and
the total-variation penalty with its gradient, written out (as used) and by autodiff.

    .venv/bin/python benchmarks/atlas_profile.py [--batch 256] [--frames 100] [--hidden 0 (embedded)]
"""
from __future__ import annotations

import argparse

import numpy as np
import tensorflow as tf
from atlas import matmul_rates, step_function, timed
from visualize import embedded_model

from deepspeech_audio_features import DeepSpeech, random_weights
from deepspeech_audio_features.interpret.featurevis.objectives import total_variation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=0, help="0: the embedded model; else a random model of this size")
    parser.add_argument("--layer", default="layer_6")
    args = parser.parse_args()
    model = embedded_model()[0] if not args.hidden else DeepSpeech(random_weights(args.hidden))
    n, b, t = model.n_hidden, args.batch, args.frames
    rng = np.random.default_rng(0)
    x = tf.Variable(rng.standard_normal((b, t, 26)).astype(np.float32))
    h3 = tf.Variable(rng.standard_normal((b, t, n)).astype(np.float32))

    @tf.function(autograph=False)
    def lstm_forward():
        return tf.reduce_sum(model.apply_layer("rnn_output", h3))

    @tf.function(autograph=False)
    def lstm_both():
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(model.apply_layer("rnn_output", h3))
        return tape.gradient(y, h3)

    @tf.function(autograph=False)
    def front_both():
        with tf.GradientTape() as tape:
            h = model.context_windows(x)
            for layer in ("layer_1", "layer_2", "layer_3"):
                h = model.apply_layer(layer, h)
            y = tf.reduce_sum(h)
        return tape.gradient(y, x)

    kernel = model.lstm_recurrent_kernel
    h0 = tf.constant(rng.standard_normal((b, n)).astype(np.float32))

    @tf.function(autograph=False)
    def recurrent_chain():
        h = h0
        for _ in range(t):
            h = tf.tanh(tf.matmul(h, kernel)[:, :n])
        return h

    flat = tf.constant(rng.standard_normal((b * t, n)).astype(np.float32))

    @tf.function(autograph=False)
    def flat_matmul():
        return tf.matmul(flat, kernel)

    def autodiff_total_variation(v):  # the penalty as it was, gradient by autodiff
        return (tf.reduce_sum(tf.abs(v[..., 1:, :] - v[..., :-1, :]), axis=[-2, -1])
                + tf.reduce_sum(tf.abs(v[..., :, 1:] - v[..., :, :-1]), axis=[-2, -1]))

    def penalty_gradient(penalty):
        @tf.function(autograph=False)
        def both():
            with tf.GradientTape() as tape:
                y = tf.reduce_sum(penalty(x))
            return tape.gradient(y, x)
        return lambda: both().numpy()

    step = step_function(model, args.layer, b, t)
    peak = matmul_rates()[1]
    cases = [("whole step (evaluate + Adam)", step, None),
             ("LSTM forward (tf.scan)", lambda: lstm_forward().numpy(), 2 * b * t * 8 * n * n),
             ("LSTM forward + backward", lambda: lstm_both().numpy(), 6 * b * t * 8 * n * n),
             ("layers 1-3 forward + backward", lambda: front_both().numpy(), 6 * b * t * (494 * n + 2 * n * n)),
             (f"recurrent matmul chained {t}x [{b},{n}]x[{n},{4 * n}]", lambda: recurrent_chain().numpy(),
              2 * b * t * 4 * n * n),
             (f"one matmul [{b * t},{n}]x[{n},{4 * n}]", lambda: flat_matmul().numpy(), 2 * b * t * 4 * n * n),
             ("total variation + gradient (written out)", penalty_gradient(total_variation), None),
             ("total variation + gradient (autodiff)", penalty_gradient(autodiff_total_variation), None)]
    print(f"n_hidden {n}, B = {b}, T = {t}; 2048^3 matmul {peak / 1e9:.0f} GFLOP per CPU second (all threads)")
    print("  CPU seconds of each piece (best of 3; robust to other processes on a shared machine), and its FLOP "
          "per CPU second as a share of the matmul's")
    for label, fn, flops in cases:
        _, cpu = timed(fn, repeats=3)
        extra = f"  {flops / cpu / 1e9:6.0f} GFLOP/cpu-s = {flops / cpu / peak:4.0%}" if flops else ""
        print(f"  {label:50s} {cpu * 1e3:8.1f} cpu-ms{extra}", flush=True)
    print(f"  2048^3 matmul again {matmul_rates()[1] / 1e9:.0f} GFLOP per CPU second")


if __name__ == "__main__":
    main()
