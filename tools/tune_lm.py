"""Grid-search the beam search's LM weight (alpha) and word bonus (beta) on a dev CSV.

    .venv/bin/python tools/tune_lm.py --checkpoint deepspeech_audio_features/assets/models/synth-en \
        --csv data/corpus/dev.csv [--write]

Prints WER for each pair; ``--write`` stores the best as ``lm_alpha``/``lm_beta`` in the
checkpoint's metadata, which ``transcribe`` then uses with the model's own LM.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deepspeech_audio_features.infra.atomic import save_json  # noqa: E402
from deepspeech_audio_features.speech.batching import batched_probabilities
from deepspeech_audio_features.speech.checkpoints import METADATA_FILE, load_model  # noqa: E402
from deepspeech_audio_features.speech.decoding import beam_search_decode  # noqa: E402
from deepspeech_audio_features.speech.inference import model_language_model  # noqa: E402
from deepspeech_audio_features.synth.training import error_rates, load_features  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--csv", required=True)
    parser.add_argument("--limit", type=int, default=300, help="utterances used")
    parser.add_argument("--beam-width", type=int, default=32)
    parser.add_argument("--alphas", default="0.3,0.6,0.93,1.3,1.8")
    parser.add_argument("--betas", default="0,1.18,2.5,4")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    model = load_model(args.checkpoint)
    lm = model_language_model(model)
    if lm is None:
        raise SystemExit(f"{args.checkpoint}: no language model in its metadata")
    data = load_features(args.csv, progress=False)
    probs = batched_probabilities(model, data.mfccs[:args.limit])
    refs = data.transcripts[:args.limit]
    results = []
    for alpha, beta in itertools.product(map(float, args.alphas.split(",")), map(float, args.betas.split(","))):
        hyps = [beam_search_decode(p, args.beam_width, lm, alpha, beta).text for p in probs]
        rates = error_rates(refs, hyps)
        results.append((rates["wer"], rates["cer"], alpha, beta))
        print(json.dumps({"alpha": alpha, "beta": beta, **rates}), flush=True)
    wer, cer, alpha, beta = min(results)
    print(json.dumps({"best": {"alpha": alpha, "beta": beta, "wer": wer, "cer": cer}}))
    if args.write:
        path = Path(args.checkpoint) / METADATA_FILE
        meta = json.loads(path.read_text())
        meta.update(lm_alpha=alpha, lm_beta=beta,
                    lm_tuning={"csv": args.csv, "utterances": len(refs), "beam_width": args.beam_width, "wer": wer})
        save_json(path, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
