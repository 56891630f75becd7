"""Feature-visualization speed: the study's 12 objectives batched vs one at a time.

Prints, measured side by side in one run: steps/s for 12 objectives (6 layers x 2
lambdas, three neurons each, T frames) optimized in one batch and one objective at a
time, on the embedded model (or the training run's best checkpoint, or a random
n_hidden 384 model, whichever exists first) and on a full-size model (n_hidden 2048,
random weights); achieved FLOP/s and its ratio to this machine's large-matmul FLOP/s.

FLOPs per step: forward + gradient with respect to the input, counted as 2x the
forward's multiply-adds of each row up to its own layer (no weight gradients).
Tracing is excluded: the first step of each call is not timed
(``VisualizationResult.timing``).

    .venv/bin/python benchmarks/visualize.py [--steps 3] [--frames 100] [--threads 0]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common import best_time, forward_flops_per_frame, start_benchmark

from deepspeech_audio_features import LAYERS, DeepSpeech, random_weights
from deepspeech_audio_features.interpret.featurevis import Objective, maximize_activation


def study_objectives(n_hidden: int) -> list[Objective]:
    objectives = []
    for lam in (1.0, 0.1):
        for layer in LAYERS:
            width = 29 if layer == "layer_6" else n_hidden
            objectives.append(Objective(layer, (1, width // 2, width - 2), lam=lam, name=f"{layer}-{lam}"))
    return objectives


def step_seconds(model, objectives, steps: int, frames: int) -> float:
    """Seconds per optimization step (forward + backward + Adam), tracing excluded."""
    timing = maximize_activation(model, objectives, steps=1 + steps, frames=frames, progress=False).timing
    return timing["seconds"] / timing["steps"]


def embedded_model():
    from deepspeech_audio_features.speech.checkpoints import (
        EMBEDDED_MODEL_DIR,
        load_model,
    )

    for path in (EMBEDDED_MODEL_DIR, Path("runs/train-synth-en/best")):
        if path.exists():
            return load_model(path), str(path)
    return DeepSpeech(random_weights(384)), "random n_hidden 384"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = TensorFlow's choice)")
    parser.add_argument("--full-hidden", type=int, default=2048)
    args = parser.parse_args()
    peak = start_benchmark(args.threads)
    embedded, name = embedded_model()
    for label, model in ((f"embedded ({name})", embedded),
                         (f"full-size (n_hidden {args.full_hidden}, random)", DeepSpeech(random_weights(args.full_hidden)))):
        objectives = study_objectives(model.n_hidden)
        flops = sum(2 * forward_flops_per_frame(model.n_hidden, o.layer) * args.frames for o in objectives)
        batched = step_seconds(model, objectives, args.steps, args.frames)
        alone = sum(step_seconds(model, [o], args.steps, args.frames) for o in objectives)
        print(f"{label}: 12 objectives, T = {args.frames}, {flops / 1e9:.2f} GFLOP per step")
        for mode, seconds in (("batched", batched), ("one at a time", alone)):
            print(f"  {mode:13s}: {1 / seconds:7.3f} steps/s, {flops / seconds / 1e9:6.1f} GFLOP/s "
                  f"= {flops / seconds / peak:.0%} of matmul")
        print(f"  batched vs one at a time: {alone / batched:.2f}x faster")
        # Same FLOPs either way, so the speed-up is the ratio of efficiencies; batched cannot beat matmul.
        print(f"  ceiling: one at a time already runs at {flops / alone / peak:.0%} of matmul, so batching can be "
              f"at most {peak * alone / flops:.2f}x faster here, and only at 100% of matmul")
        if model.n_hidden == args.full_hidden:
            where_time_goes(model, args.frames)


def where_time_goes(model, frames: int, rows: int = 4) -> None:
    """Why batching helps the LSTM but not the dense layers: one objective per row, all
    ending at the same layer, ``rows`` rows in one step vs one row per step."""
    print(f"  where the time goes (one objective per row, T = {frames}; {rows} rows in one step vs "
          f"{rows} steps of one row):")
    for layer in ("layer_3", "rnn_output", "layer_6"):
        one = step_seconds(model, [Objective(layer, (1, 2, 3))], 2, frames)
        many = step_seconds(model, [Objective(layer, (1, 2, 3), name=f"{layer}-{r}") for r in range(rows)], 2, frames)
        print(f"    up to {layer:10s}: 1 row {one:.3f} s/step, {rows} rows {many:.3f} s/step, "
              f"batching gain {rows * one / many:.2f}x")
    for b in (1, rows, 16):
        ms = recurrent_matmul_seconds(model, b) * 1e3
        print(f"    LSTM recurrent matmul [{b}, {model.n_hidden}] x [{model.n_hidden}, {4 * model.n_hidden}] "
              f"(once per frame): {ms:.2f} ms = {ms / b:.2f} ms per row, "
              f"{2 * b * 4 * model.n_hidden ** 2 / ms / 1e6:.0f} GFLOP/s")
    print("    (dense layers already multiply T-row matrices, so batching gains nothing there; the recurrent "
          "matmul runs once per frame with one row per objective, and its cost per row falls only as fast "
          "as the table shows)")


def recurrent_matmul_seconds(model, rows: int, frames: int = 50) -> float:
    """Seconds per frame of the LSTM's recurrent matmul for ``rows`` sequences (a dependent chain,
    as in the time loop, so nothing can be hoisted or folded)."""
    import numpy as np
    import tensorflow as tf

    n = model.n_hidden
    kernel = model.lstm_recurrent_kernel
    h0 = tf.constant(np.random.default_rng(0).standard_normal((rows, n)).astype(np.float32))

    @tf.function
    def chain():
        h = h0
        for _ in range(frames):
            h = tf.tanh(tf.matmul(h, kernel)[:, :n])
        return h

    return best_time(lambda: chain().numpy(), repeats=3) / frames


if __name__ == "__main__":
    main()
