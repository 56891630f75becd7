"""The training corpus's mean MFCCs per coefficient: the ``fill="mean"`` of importance masks.

    .venv/bin/python tools/corpus_mfcc_mean.py --csv data/corpus/train.csv \
        --out deepspeech_audio_features/assets/models/synth-en/mfcc_mean.json

Computes DeepSpeech's MFCCs of every utterance of ``--csv`` (the model's filterbank top,
``--checkpoint``, default the embedded model) and writes the mean and standard deviation
per coefficient over all frames, with the dataset, frame count and this command, as JSON.
A model's ``mfcc_mean.json`` beside its checkpoint is the default of ``fill="mean"``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deepspeech_audio_features.interpret.masks.fill import corpus_mean, save_corpus_mean  # noqa: E402
from deepspeech_audio_features.speech.checkpoints import load_model  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", required=True, help="DeepSpeech CSV (the model's training set)")
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--checkpoint", help="default: the embedded model (its filterbank top)")
    parser.add_argument("--max-utterances", type=int)
    args = parser.parse_args()
    model = load_model(args.checkpoint)
    info = corpus_mean(args.csv, model.upper_frequency_limit, args.max_utterances, progress=True)
    info["command"] = " ".join(["tools/corpus_mfcc_mean.py", *sys.argv[1:]])
    save_corpus_mean(args.out, info)
    print(f"{args.out}: mean of {info['frames']} frames of {info['utterances']} utterances; c0 {info['mean'][0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
