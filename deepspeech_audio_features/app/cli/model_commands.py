"""Commands about models: transcribe, evaluate, write a language model, export a model."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import add_command, load_model_of, with_model


def cmd_transcribe(args) -> int:
    from ...infra.errors import AudioError
    from ...speech.inference import transcribe_detailed

    model = load_model_of(args)
    if model.quantization_note:
        print(f"note: {model.quantization_note}", file=sys.stderr)
    failures = 0
    for path in args.audio:
        try:
            result = transcribe_detailed(path, model, beam_width=1 if args.greedy else args.beam_width,
                                         lm=None if args.no_lm else (args.lm or "model"))
        except AudioError as err:
            print(f"skipped: {err}", file=sys.stderr)
            failures += 1
            continue
        if args.json:
            print(json.dumps({"path": str(path), "text": result.text,
                              "words": [[w.word, w.start_frame, w.end_frame] for w in result.words]}))
        else:
            print(f"{path}\t{result.text}")
    if failures:
        print(f"{failures} of {len(args.audio)} file(s) skipped", file=sys.stderr)
    return 2 if failures == len(args.audio) else 0  # 2: nothing usable was given


def cmd_evaluate(args) -> int:
    from functools import partial

    from ...infra.progress import progress_bar
    from ...speech.batching import batched_probabilities
    from ...speech.decoding import beam_search_decode, greedy_decode
    from ...speech.inference import model_language_model
    from ...synth.training import error_rates, load_features

    model = load_model_of(args)
    data = load_features(args.csv, progress=True,
                         upper_frequency_limit=model.upper_frequency_limit)
    if not len(data):
        first = f"; first: {data.skipped[0]}" if data.skipped else ""
        print(f"error: {args.csv}: no readable utterances ({len(data.skipped)} skipped{first})", file=sys.stderr)
        return 2
    speakers = None
    if args.corpus:
        from ...synth.corpus import read_speakers

        speakers = read_speakers(args.corpus)
    probs = batched_probabilities(model, data.mfccs)
    results = {"utterances": len(data), "skipped": data.skipped}
    hypotheses = {"greedy": [greedy_decode(p, model.alphabet).text for p in probs]}
    if args.beam_width > 1:
        lm = None if args.no_lm else (args.lm or model_language_model(model))
        decode = partial(beam_search_decode, beam_width=args.beam_width, lm=lm, alphabet=model.alphabet)
        hypotheses[f"beam{args.beam_width}" + ("+lm" if lm else "")] = [
            decode(p).text for p in progress_bar(probs, desc="beam search")]
    for name, texts in hypotheses.items():
        results[name] = error_rates(data.transcripts, texts)
    if speakers is not None:
        results.update(error_rates_by_speaker(data.paths, data.transcripts, hypotheses, speakers))
    print(json.dumps(results, indent=2))
    return 0


def error_rates_by_speaker(paths: list[str], references: list[str], hypotheses: dict[str, list[str]],
                           speakers: dict[str, dict]) -> dict:
    """``{"by_engine": {engine: {...}}, "by_voice": {"engine/voice": {...}}}``: utterances, held_out and
    each decoder's CER/WER per group (utterances absent from ``speakers`` are grouped as ``"unknown"``)."""
    from ...synth.training import error_rates

    groups: dict[str, dict[str, list[int]]] = {"by_engine": {}, "by_voice": {}}
    held_out: dict[str, bool] = {}
    for i, path in enumerate(paths):
        who = speakers.get(str(Path(path).resolve()), {"engine": "unknown", "voice": "unknown", "held_out": False})
        voice = f"{who['engine']}/{who['voice']}"
        groups["by_engine"].setdefault(who["engine"], []).append(i)
        groups["by_voice"].setdefault(voice, []).append(i)
        held_out[voice] = bool(who["held_out"])
    out: dict = {}
    for kind, members in groups.items():
        out[kind] = {}
        for key, rows in sorted(members.items()):
            entry: dict = {"utterances": len(rows)}
            if kind == "by_voice":
                entry["held_out"] = held_out[key]
            for name, texts in hypotheses.items():
                entry[name] = error_rates([references[i] for i in rows], [texts[i] for i in rows])
            out[kind][key] = entry
    return out


def cmd_lm(args) -> int:
    from ...speech.datasets import read_dataset
    from ...speech.language_model import write_arpa

    sentences = [u.transcript for u in read_dataset(args.csv) if u.transcript]
    path = write_arpa(sentences, args.out)
    print(f"{path}: word bigram model from {len(sentences)} transcripts")
    return 0


def cmd_export_model(args) -> int:
    from ...speech.checkpoints import load_model, read_metadata, save_checkpoint
    from ...speech.datasets import read_dataset
    from ...speech.language_model import write_arpa

    model = load_model(args.source)
    metadata = {k: v for k, v in read_metadata(args.source).items() if k != "checkpoint"}
    metadata["name"] = args.name or Path(args.to).name
    if args.lm_csv:
        sentences = [u.transcript for u in read_dataset(args.lm_csv) if u.transcript]
        write_arpa(sentences, Path(args.to) / "lm.arpa")
        metadata["lm"] = "lm.arpa"
        metadata["lm_recipe"] = {"source": args.lm_csv, "sentences": len(sentences),
                                 "kind": "word bigram, interpolated absolute discounting (D=0.75)"}
    model.metadata = metadata
    prefix = save_checkpoint(model, args.to, step=int(metadata.get("global_step", 0)))
    print(f"{prefix}: n_hidden {model.n_hidden}" + (", with lm.arpa" if args.lm_csv else ""))
    return 0


def cmd_inspect(args) -> int:
    from ...speech.checkpoints import load_model

    model = load_model(args.model)
    meta = model.metadata
    print(f"file: {args.model}\nformat: {meta.get('format', 'checkpoint')}")
    print(f"n_hidden: {model.n_hidden}  classes: {model.n_classes}  forget_bias: {model.forget_bias}")
    for name, value in model.official_weights().items():
        print(f"  {name}: {tuple(value.shape)}")
    labels = model.alphabet.labels
    print(f"alphabet: {len(labels)} labels + blank: {json.dumps(list(labels), ensure_ascii=False)}")
    for key in ("sample_rate", "feature_win_len", "feature_win_step", "upper_frequency_limit", "beam_width", "n_steps",
                "graph_version"):
        if key in meta:
            print(f"{key}: {meta[key]}")
    quantization = meta.get("quantization")
    if not quantization:
        print("quantization: none (float32 weights)")
    else:
        print(f"quantization: {quantization['scheme']}")
        for name, facts in quantization.get("layers", {}).items():
            print(f"  {name}: max weight error {facts['weight_error_bound']:.3g}, "
                  f"relative RMS {facts['relative_weight_error_rms']:.2%}")
    return 0


def _add_inspect(sub) -> None:
    p = add_command(sub, "inspect", "what a model file holds: format, layer shapes, alphabet, features, quantization", """
inspect deepspeech_audio_features/assets/models/synth-en
inspect deepspeech-0.9.3-models.pbmm
inspect coqui-model/model.tflite""")
    p.add_argument("model", help="checkpoint folder or prefix, .pb, .pbmm, .tflite, or Coqui STT checkpoint folder")
    p.set_defaults(func=cmd_inspect)


def _add_transcribe(sub) -> None:
    p = with_model(add_command(sub, "transcribe", "transcribe audio files (beam search with the model's LM)", """
transcribe deepspeech_audio_features/assets/audio/example-1.wav
transcribe my/*.wav --greedy --json
transcribe clip.flac --checkpoint deepspeech-0.9.3-checkpoint/ --lm lm.binary"""))
    p.add_argument("audio", nargs="+", type=Path, help="audio files (any format libsndfile reads; resampled to 16 kHz)")
    p.add_argument("--beam-width", type=int, default=100, help="beam width (default: 100)")
    p.add_argument("--greedy", action="store_true", help="greedy decoding instead of beam search")
    p.add_argument("--lm", help="KenLM file (default: the model's own LM, if it ships one)")
    p.add_argument("--no-lm", action="store_true", help="beam search without a language model")
    p.add_argument("--json", action="store_true", help="one JSON line per file, with word timings")
    p.set_defaults(func=cmd_transcribe)


def _add_evaluate(sub) -> None:
    p = with_model(add_command(sub, "evaluate", "character and word error rates on a DeepSpeech CSV", """
evaluate --csv data/corpus/test.csv
evaluate --csv data/corpus/test.csv --beam-width 1
evaluate --csv data/corpus-multi/test.csv --corpus data/corpus-multi"""))
    p.add_argument("--csv", required=True, help="DeepSpeech CSV (wav_filename, wav_filesize, transcript)")
    p.add_argument("--beam-width", type=int, default=100, help="beam width; 1 = greedy only (default: 100)")
    p.add_argument("--lm", help="KenLM file (default: the model's own LM, if it ships one)")
    p.add_argument("--no-lm", action="store_true", help="beam search without a language model")
    p.add_argument("--corpus", help="the corpus folder the CSV comes from: also report per engine and per voice "
                                    "(from its utterances.csv)")
    p.set_defaults(func=cmd_evaluate)


def _add_lm(sub) -> None:
    p = add_command(sub, "lm", "write a word bigram language model (ARPA) from CSV transcripts", """
lm --csv data/corpus/train.csv --out lm.arpa""")
    p.add_argument("--csv", required=True, help="DeepSpeech CSV(s), comma-separated")
    p.add_argument("--out", required=True, help="ARPA file to write")
    p.set_defaults(func=cmd_lm)


def _add_export_model(sub) -> None:
    p = add_command(sub, "export-model", "copy a trained checkpoint (e.g. <run>/best) into a model folder", """
export-model runs/train/best --to models/my-model --lm-csv data/corpus/train.csv""")
    p.add_argument("source", help="checkpoint directory or prefix")
    p.add_argument("--to", required=True, help="model folder to write, e.g. models/my-model")
    p.add_argument("--name", help="the model's name in its metadata (default: the folder's name)")
    p.add_argument("--lm-csv", help="also write lm.arpa from these CSV transcripts (training text)")
    p.set_defaults(func=cmd_export_model)


def register(sub) -> None:
    """Add this module's commands to the sub-command parsers ``sub``."""
    _add_transcribe(sub)
    _add_inspect(sub)
    _add_evaluate(sub)
    _add_lm(sub)
    _add_export_model(sub)
