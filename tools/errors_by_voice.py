"""Greedy CER of a model per voice variant on the synthesized corpus, and the same sentences in train voices.

    .venv/bin/python tools/errors_by_voice.py [--checkpoint DIR] [--corpus data/corpus] [--train-voices 300]

The corpus's plan (``plan_corpus(n, seed)``, read from its ``corpus.json``) says which voice
spoke each utterance. ``--train-voices N`` renders the first N dev sentences again with
voice variants drawn from the *train* split (same prosody and noise) and scores them too: if
those are no easier than the dev voices, the model's errors come from unseen sentences
rather than unseen voices (see deepspeech_audio_features/assets/models/README.md).
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import sys
from pathlib import Path

import jiwer
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deepspeech_audio_features import load_model, mfccs  # noqa: E402
from deepspeech_audio_features.speech.decoding import greedy_decode  # noqa: E402
from deepspeech_audio_features.speech.mfcc import audio_file_to_mfccs  # noqa: E402
from deepspeech_audio_features.synth.plan import plan_corpus, split_voice_variants  # noqa: E402
from deepspeech_audio_features.synth.render import render_utterance  # noqa: E402
from deepspeech_audio_features.synth.voices import list_voice_variants  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="default: the embedded model")
    parser.add_argument("--corpus", default="data/corpus")
    parser.add_argument("--train-voices", type=int, default=0, metavar="N")
    args = parser.parse_args()
    corpus = Path(args.corpus)
    recipe = json.loads((corpus / "corpus.json").read_text())
    specs = plan_corpus(recipe["n_utterances"], recipe["seed"], recipe["dev_fraction"], recipe["test_fraction"])
    model = load_model(args.checkpoint)
    by_voice: dict[tuple[str, str], list[tuple[str, str]]] = collections.defaultdict(list)
    hypotheses: dict[str, str] = {}  # wav -> greedy transcription, reused by --train-voices
    for spec in (s for s in specs if s.split in ("dev", "test")):
        hypotheses[spec.wav] = greedy_decode(model.probabilities(audio_file_to_mfccs(corpus / spec.wav))).text
        by_voice[(spec.split, spec.voice.split("+")[1])].append((spec.transcript, hypotheses[spec.wav]))
    for split in ("dev", "test"):
        pairs = [p for (s, _), ps in by_voice.items() if s == split for p in ps]
        print(f"{split}: greedy CER {jiwer.cer(*map(list, zip(*pairs))):.3f} ({len(pairs)} utterances)")
    rows = sorted(((jiwer.cer(*map(list, zip(*ps))), split, voice, len(ps)) for (split, voice), ps in by_voice.items()))
    for cer, split, voice, n in rows:
        print(f"  {split:4s} {voice:14s} CER {cer:.3f} ({n})")
    if args.train_voices:
        train_variants = split_voice_variants(list_voice_variants(), recipe["seed"])["train"]
        rng = np.random.default_rng(0)
        refs, hyps, own = [], [], []
        for spec in [s for s in specs if s.split == "dev"][:args.train_voices]:
            voice = spec.voice.split("+")[0] + "+" + train_variants[int(rng.integers(len(train_variants)))]
            audio = render_utterance(dataclasses.replace(spec, voice=voice))
            refs.append(spec.transcript)
            hyps.append(greedy_decode(model.probabilities(mfccs(audio))).text)
            own.append(hypotheses[spec.wav])
        print(f"first {len(refs)} dev sentences: CER {jiwer.cer(refs, own):.3f} in their dev voices, "
              f"{jiwer.cer(refs, hyps):.3f} in train voices")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
