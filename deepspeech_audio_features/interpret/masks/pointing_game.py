"""The pointing game over utterances: word-span masks of every method, scored against the word.

For each utterance (with a TextGrid, see :func:`~...speech.alignments.read_alignments`)
one word is chosen by a fixed rule (:func:`~.pointing.choose_word`: the longest by
aligned duration, or the middle one); its frames (centres inside the word's interval)
are the ``preserve_frames`` of a mask from each method, in each variant:

* ``ours``: :func:`~.importance.importance_mask`;
* ``random``: :func:`~.baselines.random_mask_baseline` at our mask's zero fraction (0.9
  when ``ours`` is not run): the sparsest random-order prefix that passes the exact test;
* ``occlusion``: :func:`~.baselines.greedy_occlusion_mask`, capped at
  ``occlusion_max_seconds`` (a capped run keeps every unit it did not reach);
* ``saliency``: :func:`~.baselines.saliency_mask` (gradient x input thresholding).

Every mask keeps the word's frames' classes (the same exact test and final check), and
each is scored by :func:`~.pointing.pointing_score` against the word's interval widened
by the context window. Run folder (atomic writes; resumed per utterance or refused)::

    <out>/config.json                 model fingerprint and options (the run's identity)
    <out>/utterances/<name>.json      the word, its interval and frames, per mask: the
                                      score, ones, seconds, frame agreement
    <out>/utterances/<name>.npz       the masks, uint8 [T, 26], keyed ``<method>.<variant>``
    <out>/summary.json                the table of the last invocation's utterances

``<name>`` is :func:`~...infra.runfolder.run_name` of the audio path; an utterance whose
JSON exists is read back, not recomputed; a bad utterance (no TextGrid, unreadable
audio, a word interval outside its audio) is skipped and named, and tried again next time.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ...infra.errors import DAFError, FileFormatError, ParameterError
from ...infra.runfolder import RunFolder, run_name
from ...speech.alignments import Alignment, read_alignments
from ...speech.model import DeepSpeech
from .baselines import greedy_occlusion_mask, random_mask_baseline, saliency_mask
from .importance import importance_mask
from .options import VARIANTS
from .pointing import METHODS, PointingOptions, choose_word, pointing_score, summarize_scores, word_frame_span

__all__ = ["PointingResult", "load_masks", "pointing_game", "word_span_mask"]

FORMAT = 1
#: The random baseline's zero fraction when our method is not run.
RANDOM_ZERO_FRACTION = 0.9


@dataclass
class PointingResult:
    """A pointing-game run.

    Attributes:
        out: the run folder.
        rows: one dict per (utterance, method, variant): ``path``, ``word``, ``method``,
            ``variant``, the :class:`~.pointing.PointingScore` fields, ``seconds``,
            ``frame_agreement``, ``completed``.
        table: :func:`~.pointing.summarize_scores` of ``rows``.
        skipped: ``"path: reason"`` for utterances left out.
        utterances: per utterance: ``path``, ``name``, ``word``, ``interval``, ``frames``.
    """

    out: str
    rows: list[dict]
    table: list[dict]
    skipped: list[str]
    utterances: list[dict]


def word_span_mask(model: DeepSpeech, mfccs: np.ndarray, frames: np.ndarray, method: str, variant: str,
                   options: PointingOptions, zero_fraction: float | None = None) -> tuple[np.ndarray, dict]:
    """One method's mask that keeps the classes of ``frames`` only.

    Args:
        mfccs: ``[T, 26]``; frames: bool ``[T]``, the word's frames.
        method: one of :data:`~.pointing.METHODS`; variant: ``"time-frequency"`` or ``"time"``.
        zero_fraction: the random baseline's (default :data:`RANDOM_ZERO_FRACTION`).
    Returns:
        ``(mask uint8 [T, 26], facts)`` with ``seconds``, ``frame_agreement``, ``completed``
        (False when a time budget stopped the search early) and ``zero_fraction``.
    """
    started = time.perf_counter()
    if method == "ours":
        r = importance_mask(model, mfccs, preserve_frames=frames, variant=variant, steps=options.steps,
                            max_seconds=options.max_prune_seconds, check_limit=0)
        mask, agreement, completed = r.mask, r.frame_agreement, bool(r.one_minimal)
    else:
        if method == "random":
            b = random_mask_baseline(model, mfccs, RANDOM_ZERO_FRACTION if zero_fraction is None else zero_fraction,
                                     seed=options.seed, variant=variant, preserve_frames=frames)
        elif method == "occlusion":
            b = greedy_occlusion_mask(model, mfccs, variant=variant, preserve_frames=frames,
                                      max_seconds=options.occlusion_max_seconds)
        elif method == "saliency":
            b = saliency_mask(model, mfccs, variant=variant, preserve_frames=frames)
        else:
            raise ParameterError(f"method: unknown {method!r}")
        mask, agreement, completed = b.mask, b.frame_agreement, bool(b.extra.get("completed", True))
    return mask, {"seconds": time.perf_counter() - started, "frame_agreement": float(agreement),
                  "completed": completed, "zero_fraction": float(1.0 - mask.mean())}


def _inputs(datasets: Sequence[str | os.PathLike], per_dataset: int | None) -> list[tuple[str, Alignment | None, str]]:
    """``[(audio path, alignment or None, why none)]`` of the first ``per_dataset`` of each dataset."""
    items = []
    for dataset in datasets:
        aligned = read_alignments(dataset)
        problems = iter(aligned.problems)
        for k, (path, alignment) in enumerate(zip(aligned.paths, aligned.alignments)):
            reason = next(problems) if alignment is None else ""
            if per_dataset is None or k < per_dataset:
                items.append((path, alignment, reason))
    return items


def _score_utterance(model: DeepSpeech, path: str, alignment: Alignment, options: PointingOptions) -> tuple[dict, dict]:
    """The utterance's record and its masks (raises DAFError for a bad item)."""
    from ...speech.mfcc import audio_file_to_mfccs

    x = audio_file_to_mfccs(path, model.upper_frequency_limit)
    index = choose_word(alignment.words, options.word_rule)
    start, end, label = alignment.words[index]
    span = word_frame_span(start, end, len(x))
    frames = np.zeros(len(x), bool)
    frames[span.first:span.stop] = True
    record = {"path": str(path), "textgrid": alignment.path, "word": label, "word_index": index,
              "interval": [start, end], "word_frames": list(span), "frames": len(x), "masks": {}}
    masks = {}
    for variant in options.variants:
        zero_fraction = None
        for method in [m for m in METHODS if m in options.methods]:  # ours first: random uses its sparsity
            mask, facts = word_span_mask(model, x, frames, method, variant, options, zero_fraction)
            if method == "ours":
                zero_fraction = facts["zero_fraction"]
            score = pointing_score(mask, (start, end), options.context)
            masks[f"{method}.{variant}"] = mask
            record["masks"][f"{method}.{variant}"] = {**facts, **score.to_dict()}
    return record, masks


def _mask_order(item: tuple[str, dict]) -> tuple[int, int]:
    method, variant = item[0].split(".", 1)
    return METHODS.index(method), VARIANTS.index(variant)


def pointing_game(model: DeepSpeech, datasets: Sequence[str | os.PathLike], out: str | os.PathLike,
                  options: PointingOptions | None = None, *, per_dataset: int | None = None,
                  max_utterances: int | None = None, overwrite: bool = False, progress: bool = False,
                  **overrides) -> PointingResult:
    """Word-span masks of every method and variant, scored against the word, over datasets.

    Args:
        model: the network.
        datasets: DeepSpeech CSVs or audio folders with TextGrids (see ``read_alignments``).
        out: the run folder; re-running resumes per utterance.
        options: :class:`~.pointing.PointingOptions` (``overrides`` replace fields).
        per_dataset: only the first n utterances of each dataset (None: all).
        max_utterances: at most n utterances in all (quick runs).
        overwrite: clear a folder holding a run with other settings instead of refusing.
    Returns:
        A :class:`PointingResult`; bad utterances (no TextGrid, unreadable audio, a word
        interval outside the audio) are skipped and listed.
    Raises:
        RunConflictError: ``out`` holds a run with other settings.
        DatasetError: a dataset cannot be read.
    """
    from ...infra.progress import progress_bar

    options = PointingOptions.resolve(options, overrides)
    for name, value in (("per_dataset", per_dataset), ("max_utterances", max_utterances)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ParameterError(f"{name}: expected a positive integer or None, got {value!r}")
    if not datasets:
        raise ParameterError("datasets: give at least one dataset")
    folder = RunFolder(out, {"format": FORMAT, "model": model.fingerprint(), **options.to_dict()},
                       overwrite=overwrite, kind="pointing game").open()
    items = _inputs(datasets, per_dataset)[:max_utterances]
    rows, skipped, utterances = [], [], []
    for path, alignment, reason in progress_bar(items, desc="pointing game", disable=not progress):
        name = run_name(path)
        record_file = f"utterances/{name}.json"
        if alignment is None:
            skipped.append(f"{path}: {reason}")
            continue
        if folder.exists(record_file):
            record = folder.load_json(record_file)
            if record.get("path") != str(path):
                raise FileFormatError(f"{folder.file(record_file)}: holds {record.get('path')}, not {path}; "
                                      "two inputs share a name: use another folder")
        else:
            try:  # bad items fail before any mask is computed, so they are not recorded: a fixed file is retried
                record, masks = _score_utterance(model, path, alignment, options)
            except DAFError as err:
                skipped.append(f"{path}: {err}")
                continue
            folder.save_arrays(f"utterances/{name}.npz", **masks)
            folder.save_json(record_file, record)  # after the masks: a record means the utterance is done
        utterances.append({k: record[k] for k in ("path", "word", "interval", "word_frames", "frames")}
                          | {"name": name})
        for key, facts in sorted(record["masks"].items(), key=_mask_order):  # JSON stores them sorted by name
            method, variant = key.split(".", 1)
            rows.append({"path": str(path), "word": record["word"], "method": method, "variant": variant, **facts})
    table = summarize_scores(rows)
    folder.save_json("summary.json", {"table": table, "skipped": skipped, "utterances": utterances})
    return PointingResult(str(folder.path), rows, table, skipped, utterances)


def load_masks(out: str | os.PathLike, path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The masks of one utterance of a run, ``{"<method>.<variant>": uint8 [T, 26]}``.

    Raises:
        FileFormatError: the run has no masks for ``path``.
    """
    file = Path(out) / "utterances" / f"{run_name(path)}.npz"
    if not file.exists():
        raise FileFormatError(f"{file}: no masks of {path} in this run")
    with np.load(file, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
