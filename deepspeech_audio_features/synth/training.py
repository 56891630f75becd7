"""CTC training of the DeepSpeech network on DeepSpeech-format CSVs.

Adam, length-bucketed batches, dropout, dev evaluation each epoch, early stopping, the
best checkpoint kept in the release layout, and resumption after an interruption
(weights, optimizer state and position are saved every few minutes).

Output folder::

    <out>/best/       best dev-CER checkpoint (release layout + JSON metadata)
    <out>/last/       latest weights, ``optimizer.npz`` and ``state.json`` for resuming
    <out>/features/   cached MFCCs per CSV (``.npz``; ``features_cache`` puts them elsewhere)
    <out>/log.jsonl   one line per epoch
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import jiwer
import numpy as np
import tensorflow as tf

from ..infra.atomic import append_line, atomic_write, save_arrays
from ..infra.errors import AudioError
from ..infra.progress import progress_bar, write_line
from ..speech.alphabet import BLANK_INDEX, ENGLISH, normalize_text, text_to_labels
from ..speech.batching import batched_probabilities, length_batches, pad_batch
from ..speech.checkpoints import load_model, save_checkpoint
from ..speech.datasets import read_dataset
from ..speech.decoding import greedy_decode
from ..speech.mfcc import audio_file_to_mfccs
from ..speech.model import DeepSpeech, random_weights
from .options import TrainConfig


@dataclass
class FeatureSet:
    """MFCCs and transcripts of a dataset, with the items that could not be used."""
    mfccs: list[np.ndarray]
    transcripts: list[str]
    paths: list[str]
    skipped: list[str]

    def __len__(self) -> int:
        return len(self.mfccs)


def load_features(source: str, cache_dir: str | os.PathLike | None = None, progress: bool = True,
                  upper_frequency_limit: float = 8000.0) -> FeatureSet:
    """MFCCs of every utterance in a CSV, cached as ``.npz`` (no pickle).

    Bad audio files and transcripts with characters outside the alphabet (after lower-casing;
    never rewritten, so "café" is skipped rather than scored as "caf") are skipped and listed
    in ``skipped`` as ``"path: reason"``; so are utterances too short for their transcript
    (CTC needs at least one frame per symbol plus one between repeats).
    """
    cache = None
    if cache_dir is not None:
        stat = Path(source).stat()
        key = hashlib.sha1(f"{Path(source).resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{upper_frequency_limit}:v2"
                           .encode()).hexdigest()[:12]
        cache = Path(cache_dir) / f"{Path(source).stem}-{key}.npz"
        if cache.exists():
            with np.load(cache, allow_pickle=False) as data:
                offsets = data["offsets"]
                flat = data["mfccs"]
                meta = json.loads(str(data["meta"]))
            mfccs = [flat[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
            return FeatureSet(mfccs, meta["transcripts"], meta["paths"], meta["skipped"])
    mfccs, transcripts, paths, skipped = [], [], [], []
    for utt in progress_bar(read_dataset(source), desc=f"features {Path(source).name}", disable=not progress):
        outside = sorted({ch for ch in utt.transcript.lower().replace("\u2019", "'")
                          if not ch.isspace() and ch not in ENGLISH.labels})
        if outside:
            skipped.append(f"{utt.path}: transcript {utt.transcript!r} has characters outside the alphabet: "
                           f"{''.join(outside)!r}")
            continue
        transcript = normalize_text(utt.transcript)
        try:
            labels = text_to_labels(transcript)
            x = audio_file_to_mfccs(utt.path, upper_frequency_limit)
        except (AudioError, ValueError) as err:
            skipped.append(f"{utt.path}: {err}")
            continue
        needed = len(labels) + int(np.sum(labels[1:] == labels[:-1]))
        if not transcript or x.shape[0] < needed:
            skipped.append(f"{utt.path}: {x.shape[0]} frames cannot hold the {len(labels)}-symbol transcript")
            continue
        mfccs.append(x)
        transcripts.append(transcript)
        paths.append(utt.path)
    if cache is not None:
        offsets = np.cumsum([0] + [len(m) for m in mfccs])
        meta = json.dumps({"transcripts": transcripts, "paths": paths, "skipped": skipped})
        flat = np.concatenate(mfccs) if mfccs else np.zeros((0, 26), np.float32)
        save_arrays(cache, mfccs=flat, offsets=offsets, meta=meta)
    return FeatureSet(mfccs, transcripts, paths, skipped)


def error_rates(references: list[str], hypotheses: list[str]) -> dict[str, float]:
    """Corpus-level character and word error rates (jiwer); ValueError when there is nothing to score."""
    if not references:
        raise ValueError("no utterances to score: CER and WER are undefined")
    return {"cer": float(jiwer.cer(references, hypotheses)), "wer": float(jiwer.wer(references, hypotheses))}


def evaluate(model: DeepSpeech, data: FeatureSet, decode=None) -> dict[str, float]:
    """CER/WER of ``model`` on ``data``; ``decode(probs) -> Transcription`` (greedy by default)."""
    decode = decode or greedy_decode
    hyps = [decode(p).text for p in batched_probabilities(model, data.mfccs)]
    return error_rates(data.transcripts, hyps)


class _Trainer:
    def __init__(self, model: DeepSpeech, config: TrainConfig):
        import keras

        self.model = model
        self.config = config
        self.variables = list(model.trainable_variables)
        self.optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
        self.optimizer.build(self.variables)
        spec = (tf.TensorSpec([None, None, 26], tf.float32), tf.TensorSpec([None], tf.int32),
                tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32))
        self.step = tf.function(self._step, input_signature=spec)

    def _step(self, x, lengths, labels, label_lengths):
        with tf.GradientTape() as tape:
            logits = self.model.forward(x, lengths, dropout=self.config.dropout, training=True)["layer_6"]
            loss = tf.reduce_mean(tf.nn.ctc_loss(labels, logits, label_lengths, lengths,
                                                 logits_time_major=False, blank_index=BLANK_INDEX))
        grads = tape.gradient(loss, self.variables)
        grads, _ = tf.clip_by_global_norm(grads, self.config.clip_norm)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        return loss

    def save_state(self, folder: Path, state: _State) -> None:
        """Weights, optimizer state and ``state.json`` into ``folder``, for resuming."""
        save_checkpoint(self.model, folder, step=state.step, prefix_name="last",
                        metadata={"training": self.config.to_dict()})
        values = {f"v{i}": v.numpy() for i, v in enumerate(self.optimizer.variables)}
        save_arrays(folder / "optimizer.npz", **values)
        atomic_write(folder / "state.json", lambda tmp: Path(tmp).write_text(json.dumps(asdict(state), indent=2)))

    def restore_optimizer(self, folder: Path) -> None:
        with np.load(folder / "optimizer.npz", allow_pickle=False) as data:
            for i, v in enumerate(self.optimizer.variables):
                v.assign(data[f"v{i}"])

    def set_learning_rate(self, rate: float) -> None:
        self.optimizer.learning_rate.assign(rate)


@dataclass
class _State:
    """Where a run is (``<out>/last/state.json``): enough to resume exactly."""

    epoch: int = 0  # epochs finished
    batch: int = 0  # batches of the current epoch finished
    step: int = 0
    best_cer: float = math.inf
    stale_epochs: int = 0  # epochs since the best dev CER
    seconds: float = 0.0  # training time over all sessions
    learning_rate: float | None = None


class _Clock:
    """Training time over all sessions of a run, its budget, and when to save next."""

    def __init__(self, config: TrainConfig, state: _State):
        self.started, self.last_save = time.time() - state.seconds, time.time()
        self.budget = config.max_minutes * 60 if config.max_minutes else math.inf
        self.save_every = config.save_every_minutes * 60

    def seconds(self) -> float:
        return time.time() - self.started

    def save_due(self) -> bool:
        return time.time() - self.last_save > self.save_every

    def saved(self) -> None:
        self.last_save = time.time()


def _load_data(config: TrainConfig, out: Path, progress: bool) -> tuple[FeatureSet, FeatureSet]:
    """The train and dev features (cached); ValueError if either has no usable utterance."""
    cache = Path(config.features_cache) if config.features_cache else out / "features"
    train_set = load_features(config.train, cache, progress)
    dev_set = load_features(config.dev, cache, progress)
    if not len(train_set) or not len(dev_set):
        raise ValueError(f"no usable utterances in {config.train if not len(train_set) else config.dev}")
    return train_set, dev_set


def _start_or_resume(config: TrainConfig, last: Path) -> tuple[_Trainer, _State]:
    """The model and state of ``<out>/last`` when it exists, else new ones (or ``init_checkpoint``'s weights)."""
    state = _State(learning_rate=config.learning_rate)
    if (last / "state.json").exists():
        state = _State(**json.loads((last / "state.json").read_text()))
        model = load_model(last)
    elif config.init_checkpoint:
        model = load_model(config.init_checkpoint)
    else:
        model = DeepSpeech(random_weights(config.n_hidden, config.seed))
    trainer = _Trainer(model, config)
    if (last / "optimizer.npz").exists():
        trainer.restore_optimizer(last)
    if state.learning_rate is None:  # state.json of an older version
        state.learning_rate = config.learning_rate
    trainer.set_learning_rate(state.learning_rate)
    return trainer, state


def _train_epoch(trainer: _Trainer, train_set: FeatureSet, labels: list[np.ndarray], state: _State,
                 clock: _Clock, last: Path, progress: bool) -> tuple[list[float], bool]:
    """The rest of the current epoch (from ``state.batch``); returns ``(losses, finished)``:
    not finished when the time budget ran out first."""
    config = trainer.config
    lengths = [len(m) for m in train_set.mfccs]
    perturb = config.perturbation()
    batches = length_batches(lengths, config.batch_size, np.random.default_rng([config.seed, state.epoch]))
    bar = progress_bar(total=len(batches), initial=state.batch, desc=f"epoch {state.epoch + 1}", disable=not progress)
    losses = []
    for b in range(state.batch, len(batches)):
        idx = batches[b]
        x = [train_set.mfccs[i] for i in idx]
        if perturb.active:  # keyed by position: a resumed run draws what an uninterrupted one did
            rng = np.random.default_rng([config.seed, state.epoch, b])
            x = [perturb(m, rng) for m in x]
        x, x_len = pad_batch(x)
        y, y_len = pad_batch([labels[i] for i in idx])
        losses.append(float(trainer.step(x, x_len, y, y_len)))
        state.batch, state.step = b + 1, state.step + 1
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.2f}", best_dev_cer=f"{state.best_cer:.3f}")
        state.seconds = clock.seconds()
        if clock.save_due():
            trainer.save_state(last, state)
            clock.saved()
        if state.seconds > clock.budget:
            break
    bar.close()
    return losses, state.batch == len(batches)


def _finish_epoch(trainer: _Trainer, dev_set: FeatureSet, state: _State, out: Path) -> dict[str, float]:
    """Score dev; keep the model in ``<out>/best`` if it is the best so far, else decay the
    learning rate. Returns the dev error rates."""
    config, model = trainer.config, trainer.model
    rates = evaluate(model, dev_set)
    state.epoch, state.batch = state.epoch + 1, 0
    if rates["cer"] < state.best_cer:
        state.best_cer, state.stale_epochs = rates["cer"], 0
        save_checkpoint(model, out / "best", step=state.step, metadata={
            "training": config.to_dict(), "dev": rates, "epoch": state.epoch, "training_seconds": state.seconds})
    else:
        # Reduce on plateau: smaller steps often find the better minimum a big one skips.
        state.stale_epochs += 1
        state.learning_rate *= config.lr_decay
        trainer.set_learning_rate(state.learning_rate)
    return rates


def _log_epoch(out: Path, state: _State, losses: list[float], rates: dict[str, float], progress: bool) -> None:
    """One line of ``<out>/log.jsonl`` (and of the progress output)."""
    entry = {"epoch": state.epoch, "step": state.step, "train_loss": float(np.mean(losses or [np.nan])),
             "dev_cer": rates["cer"], "dev_wer": rates["wer"], "seconds": round(state.seconds, 1),
             "learning_rate": state.learning_rate}
    append_line(out / "log.jsonl", json.dumps(entry))
    if progress:
        write_line(json.dumps(entry))


def train(config: TrainConfig, progress: bool = True) -> dict:
    """Train (or resume training) a DeepSpeech model with CTC; returns a summary dict.

    Resumes from ``<out>/last`` when it exists. Stops after ``epochs``, after
    ``patience`` epochs without a better dev CER, or when ``max_minutes`` have passed
    (counted over all sessions of the run); ``<out>/best`` then holds the best model.

    Returns:
        ``{"stop_reason": "epochs" | "early stopping" | "time budget", "best_dev_cer",
        "epochs", "steps", "seconds", "best": path, "skipped_train", "skipped_dev"}``.
    """
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    tf.random.set_seed(config.seed)
    train_set, dev_set = _load_data(config, out, progress)
    last = out / "last"
    trainer, state = _start_or_resume(config, last)
    labels = [text_to_labels(t) for t in train_set.transcripts]
    clock = _Clock(config, state)
    stop_reason = "epochs"
    while state.epoch < config.epochs:
        losses, finished = _train_epoch(trainer, train_set, labels, state, clock, last, progress)
        if not finished:  # out of time mid-epoch
            stop_reason = "time budget"
            trainer.save_state(last, state)
            break
        rates = _finish_epoch(trainer, dev_set, state, out)
        _log_epoch(out, state, losses, rates, progress)
        trainer.save_state(last, state)
        clock.saved()
        if state.stale_epochs >= config.patience:
            stop_reason = "early stopping"
            break
        if state.seconds > clock.budget:
            stop_reason = "time budget"
            break
    return {"stop_reason": stop_reason, "best_dev_cer": state.best_cer, "epochs": state.epoch,
            "steps": state.step, "seconds": state.seconds, "best": str(out / "best"),
            "skipped_train": len(train_set.skipped), "skipped_dev": len(dev_set.skipped)}
