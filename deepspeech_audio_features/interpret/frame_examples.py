"""Time-localized dataset examples and activation histograms for every neuron of a layer.

Kept by the dissection pass (:func:`~.dissection.dissect_dataset`, one forward per batch
for all layers) for every neuron ``f`` of every requested layer:

* the ``k`` **top** and ``k`` **bottom** ``(utterance, frame)`` positions by activation
  over all real frames of the dataset (aligned or not), with the neuron's activation
  trace in a window of ``±W`` frames around each (NaN outside the utterance). Ties
  (common: a clipped ReLU saturates at 20, or sits at 0) are broken by a fixed
  pseudo-random order of the positions (the 32-bit multiplicative hash of
  ``utterance * stride + frame``, a bijection), so that a saturated neuron's examples
  are spread over the dataset rather than taken from its first utterances, and the
  lists are a total order: the same whatever the batching, the resume point or the
  Dask sharding;
* a **histogram** of the neuron's activations over ``B`` bins with edges shared by the
  layer. Bounded layers have fixed edges: ``[0, 20]`` for the clipped ReLUs (layer_1,
  layer_2, layer_3, layer_5) and ``[-1, 1]`` for the LSTM output (``o * tanh(c)``).
  The logits (layer_6) are unbounded: their edges span the range over all neurons of
  the dataset's first length batch (its shortest utterances, computed before the pass),
  widened by half that range on each side. In every layer a value below the first
  edge counts in the first bin and one above the last edge in the last bin (so the
  counts of a neuron add up to the frames seen); within the range bins are half-open
  ``[e_i, e_{i+1})`` except the last, closed, as in ``np.histogram``: the counts are
  ``np.histogram(np.clip(a, e_0, e_B), edges)``.

Files (the dissection run folder, per layer)::

    <layer>_examples.npz   top_utterance [F, k] int32 (index into index.json's paths; -1: fewer
                           than k frames in the dataset), top_frame [F, k] int32, top_value
                           [F, k] float32 (descending), top_trace [F, k, 2W+1] float32;
                           bottom_utterance, bottom_frame, bottom_value (ascending),
                           bottom_trace: same shapes;
                           histogram_counts [F, B] int64, histogram_edges [B+1] float32

:func:`load_frame_examples` reads them back with the words and phones of the
utterances' TextGrids. No TensorFlow here.
"""
from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path

import numpy as np

from ..infra.atomic import load_json
from ..infra.errors import FileFormatError, ParameterError
from ..speech.alignments import frame_centres, read_textgrid

__all__ = ["FrameExample", "FrameExampleAccumulator", "FrameExamples", "histogram_edges", "load_frame_examples",
           "tie_rank", "FRAME_SECONDS", "EXAMPLE_KEYS"]

#: Seconds between two frames' starts (DeepSpeech's 20 ms step).
FRAME_SECONDS = 0.02
#: The arrays of ``<layer>_examples.npz``.
EXAMPLE_KEYS = ("top_utterance", "top_frame", "top_value", "top_trace", "bottom_utterance", "bottom_frame",
                "bottom_value", "bottom_trace", "histogram_counts", "histogram_edges")
#: Fixed activation ranges of the bounded layers (clipped ReLU: [0, 20]; LSTM output: (-1, 1)).
LAYER_RANGES = {"layer_1": (0.0, 20.0), "layer_2": (0.0, 20.0), "layer_3": (0.0, 20.0), "layer_5": (0.0, 20.0),
                "rnn_output": (-1.0, 1.0)}
_LOW32 = np.int64(2 ** 32)
_WORST_TOP, _WORST_BOTTOM = np.iinfo(np.int64).min, np.iinfo(np.int64).max


def histogram_edges(layer: str, bins: int, sample: np.ndarray | None = None) -> np.ndarray:
    """The layer's ``[bins + 1]`` float32 edges (see the module docstring).

    Args:
        sample: activations of the first batch; needed for a layer without a fixed range.
    """
    if layer in LAYER_RANGES:
        low, high = LAYER_RANGES[layer]
    else:
        if sample is None or not np.size(sample):
            raise ParameterError(f"layers: {layer} has no fixed range; its histogram edges need a first batch")
        lo, hi = float(np.min(sample)), float(np.max(sample))
        spread = max(hi - lo, 1e-3)
        low, high = lo - spread / 2, hi + spread / 2
    return np.linspace(low, high, bins + 1).astype(np.float32)


def tie_rank(utterance: np.ndarray, frame: np.ndarray, stride: int) -> np.ndarray:
    """The order in which tied frames are kept (lower first): ``(p * 0x9E3779B1) mod 2**32``
    of the position ``p = utterance * stride + frame`` (``p < 2**32``; an odd multiplier
    permutes the 32-bit integers, so ranks are unique). int64."""
    p = np.asarray(utterance).astype(np.uint64) * np.uint64(stride) + np.asarray(frame).astype(np.uint64)
    return ((p * np.uint64(0x9E3779B1)) & np.uint64(0xFFFFFFFF)).astype(np.int64)


def _ordered(values: np.ndarray) -> np.ndarray:
    """float32 -> int64 with the same order (IEEE bits; negatives flipped)."""
    bits = np.ascontiguousarray(values, np.float32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF) - 1, bits)


def _best(keys: np.ndarray, k: int, largest: bool) -> np.ndarray:
    """Row indices ``[k, F]`` of the ``k`` largest (or smallest) keys per column, unordered.
    (Never negates: the int64 sentinels would overflow.)"""
    if largest:
        return np.argpartition(keys, len(keys) - k, axis=0)[len(keys) - k:]
    return np.argpartition(keys, k - 1, axis=0)[:k]


def _bin_of(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of each value, as ``np.histogram(np.clip(values, edges[0], edges[-1]), edges)`` counts it.

    Arithmetic on equal-width bins; values within a thousandth of a bin of an edge (where
    rounding could move them across it) are then checked against the edges themselves.
    """
    e = np.asarray(edges, np.float32)  # values and edges are float32: the compares are exact
    n = len(e) - 1
    v = np.clip(np.asarray(values, np.float32), e[0], e[-1])
    x = np.subtract(v, e[0])
    x *= np.float32(n / (float(e[-1]) - float(e[0])))
    idx = x.astype(np.int32)
    np.minimum(idx, n - 1, out=idx)
    x -= idx  # the position within the bin, [0, 1]
    x -= np.float32(0.5)
    np.abs(x, out=x)
    # within a thousandth of a bin of an edge; a value exactly on the first edge (a clipped
    # ReLU's zeros) is in bin 0 as computed
    near = np.nonzero((x > np.float32(0.499)) & (v != e[0]))
    v, guess = v[near], idx[near]
    guess -= v < e[guess]
    guess += (v >= e[guess + 1]) & (guess != n - 1)
    idx[near] = guess
    return idx


class FrameExampleAccumulator:
    """Streaming top/bottom-``k`` frames with traces and a histogram per neuron of one layer.

    Args:
        width: ``F`` neurons.
        k: top and bottom positions kept per neuron (at least 1).
        window: ``W``: the trace covers frames ``t - W .. t + W``.
        edges: ``[B + 1]`` histogram edges (:func:`histogram_edges`).
        stride: more than any utterance's frame count; ``utterance * stride + frame`` numbers
            the positions (for :func:`tie_rank`), and ``utterances * stride`` must stay below ``2**32``.
    """

    def __init__(self, width: int, k: int, window: int, edges: np.ndarray, stride: int):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ParameterError(f"top_k: expected at least 1 example per neuron, got {k!r}")
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 0:
            raise ParameterError(f"window: expected a non-negative number of frames, got {window!r}")
        edges = np.asarray(edges, np.float32)
        if edges.ndim != 1 or len(edges) < 2 or not np.all(np.diff(edges) > 0):
            raise ParameterError(f"edges: expected at least 2 increasing histogram edges, got shape {edges.shape}")
        self.k, self.window, self.stride = int(k), int(window), int(stride)
        self.histogram_edges = edges
        self.histogram_counts = np.zeros((width, len(edges) - 1), np.int64)
        for side, worst in (("top", _WORST_TOP), ("bottom", _WORST_BOTTOM)):
            # internal layout [k, F] (slot, neuron): partitions along axis 0; unsorted
            setattr(self, f"{side}_key", np.full((self.k, width), worst, np.int64))
            setattr(self, f"{side}_utterance", np.full((self.k, width), -1, np.int32))
            setattr(self, f"{side}_frame", np.full((self.k, width), -1, np.int32))
            setattr(self, f"{side}_value", np.full((self.k, width), np.nan, np.float32))
            setattr(self, f"{side}_trace", np.full((self.k, width, 2 * self.window + 1), np.nan, np.float32))

    @property
    def width(self) -> int:
        return self.histogram_counts.shape[0]

    def update(self, activations: np.ndarray, lengths: np.ndarray, utterances: np.ndarray) -> None:
        """Add a padded batch.

        Args:
            activations: ``[B, T, F]`` one layer's outputs (frames beyond a row's length ignored).
            lengths: ``[B]`` real frames per row.
            utterances: ``[B]`` each row's utterance index (in the run's index).
        """
        acts = np.asarray(activations, np.float32)
        lengths = np.asarray(lengths, np.int64)
        utterances = np.asarray(utterances, np.int64)
        by_utterance = np.argsort(utterances, kind="stable")
        if len(by_utterance) > 1 and (self.top_key == _WORST_TOP).any():
            # Empty slots let every frame through to the sort below: one row first, whose
            # frames then set the limits that filter the rest of the batch.
            for rows_ in (by_utterance[:1], by_utterance[1:]):
                self.update(acts[rows_], lengths[rows_], utterances[rows_])
            return
        rows, frames = np.nonzero(np.arange(acts.shape[1])[None, :] < lengths[by_utterance, None])
        rows = by_utterance[rows]
        if not len(rows):
            return
        if int(utterances.max()) * self.stride + self.stride > _LOW32 or int(lengths.max()) > self.stride:
            raise ParameterError(f"stride: {self.stride} frames per utterance does not fit the batch's positions")
        a = np.concatenate([acts[r, :lengths[r]] for r in by_utterance])  # [n, F]; slices copy faster than a gather
        position = tie_rank(utterances[rows], frames, self.stride)  # [n], unique: breaks ties
        width = a.shape[1]
        bins = _bin_of(a, self.histogram_edges) + np.arange(width)[None, :] * self.histogram_counts.shape[1]
        self.histogram_counts += np.bincount(bins.ravel(), minlength=self.histogram_counts.size
                                             ).reshape(self.histogram_counts.shape)
        self._merge("top", True, a, position, acts, lengths, rows, frames, utterances)
        self._merge("bottom", False, a, position, acts, lengths, rows, frames, utterances)

    def _merge(self, side: str, largest: bool, a, position, acts, lengths, rows, frames, utterances) -> None:
        """Merge a batch's frames ``a [n, F]`` at ``position [n]`` into one side's lists.

        Only frames that beat a neuron's worst kept entry are candidates (a float compare
        over the batch; after the first batches very few frames pass), so the sort below
        is over a few entries per neuron, not the whole batch."""
        k, width = self.k, a.shape[1]
        neurons = np.arange(width)
        key = getattr(self, f"{side}_key")  # [k, F]
        worst_slot = key.argmin(axis=0) if largest else key.argmax(axis=0)
        empty = key[worst_slot, neurons] == (_WORST_TOP if largest else _WORST_BOTTOM)
        limit = np.where(empty, -np.inf if largest else np.inf, getattr(self, f"{side}_value")[worst_slot, neurons])
        limit_position = np.where(empty, np.iinfo(np.int64).max,
                                  tie_rank(getattr(self, f"{side}_utterance")[worst_slot, neurons],
                                           getattr(self, f"{side}_frame")[worst_slot, neurons], self.stride))
        beats = (a > limit) if largest else (a < limit)
        beats |= (a == limit) & (position[:, None] < limit_position)  # a tie goes to the lower rank
        entry, neuron = np.nonzero(beats)
        if not len(entry):
            return
        ordered = _ordered(a[entry, neuron]) * _LOW32
        new_key = ordered + ((_LOW32 - 1 - position[entry]) if largest else position[entry])
        # candidates: the k kept entries of each neuron (flattened neuron-major), then the new ones
        cand_neuron = np.concatenate([np.repeat(neurons, k), neuron])
        cand_key = np.concatenate([key.T.ravel(), new_key])
        order = np.lexsort((cand_key, cand_neuron))  # by neuron, then key ascending
        counts = k + np.bincount(neuron, minlength=width)
        ends = np.cumsum(counts)
        first = ends - k if largest else ends - counts  # each neuron's k largest keys are its last k
        chosen = order[first[:, None] + np.arange(k)[None, :]].T  # [k, F] candidate indices
        new = chosen >= k * width
        j = np.where(new, chosen - k * width, 0)  # index into the new candidates
        old_slot = np.where(new, 0, chosen % k)
        r, t = rows[entry[j]], frames[entry[j]]
        idx = t[..., None] + np.arange(-self.window, self.window + 1)  # [k, F, 2W+1]
        inside = (idx >= 0) & (idx < lengths[r][..., None])
        trace = acts[r[..., None], np.clip(idx, 0, acts.shape[1] - 1), neurons[None, :, None]]
        trace = np.where(inside, trace, np.float32(np.nan))
        setattr(self, f"{side}_key", np.where(new, new_key[j], key[old_slot, neurons]))
        for name, fresh in (("utterance", utterances[r].astype(np.int32)), ("frame", t.astype(np.int32)),
                            ("value", a[entry[j], neuron[j]])):
            kept = getattr(self, f"{side}_{name}")[old_slot, neurons]
            setattr(self, f"{side}_{name}", np.where(new, fresh, kept))
        kept_trace = getattr(self, f"{side}_trace")[old_slot, neurons]
        setattr(self, f"{side}_trace", np.where(new[..., None], trace, kept_trace))

    def merge(self, other: "FrameExampleAccumulator") -> None:
        """Add another accumulator of the same layer (another shard): exact, order-free."""
        if other.histogram_counts.shape != self.histogram_counts.shape or other.k != self.k \
                or other.window != self.window or not np.array_equal(other.histogram_edges, self.histogram_edges):
            raise ParameterError("merge: accumulators of different layers or settings")
        self.histogram_counts += other.histogram_counts
        for side, largest in (("top", True), ("bottom", False)):
            joined = np.concatenate([getattr(self, f"{side}_key"), getattr(other, f"{side}_key")])
            chosen = _best(joined, self.k, largest)
            for name in ("key", "utterance", "frame", "value", "trace"):
                both = np.concatenate([getattr(self, f"{side}_{name}"), getattr(other, f"{side}_{name}")])
                pick = chosen[..., None] if both.ndim == 3 else chosen
                setattr(self, f"{side}_{name}", np.take_along_axis(both, pick, axis=0))

    # ------------------------------------------------------------------ state and files
    _STATE = ("top_key", "top_utterance", "top_frame", "top_value", "top_trace", "bottom_key", "bottom_utterance",
              "bottom_frame", "bottom_value", "bottom_trace", "histogram_counts", "histogram_edges")

    def arrays(self) -> dict[str, np.ndarray]:
        """The state (internal layout), for a checkpoint; :meth:`from_arrays` reads it back."""
        return {name: getattr(self, name) for name in self._STATE} | {"stride": np.array(self.stride)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "FrameExampleAccumulator":
        k, width, span = arrays["top_trace"].shape
        acc = cls(width, k, (span - 1) // 2, arrays["histogram_edges"], int(arrays["stride"]))
        for name in cls._STATE:
            setattr(acc, name, np.array(arrays[name]))
        return acc

    def result(self) -> dict[str, np.ndarray]:
        """The arrays of ``<layer>_examples.npz`` (module docstring): per neuron, best first."""
        out = {"histogram_counts": self.histogram_counts.copy(), "histogram_edges": self.histogram_edges.copy()}
        for side, largest in (("top", True), ("bottom", False)):
            keys = getattr(self, f"{side}_key")
            order = np.argsort(keys, axis=0, kind="stable")  # keys are unique: a total order
            order = order[::-1] if largest else order
            for name in ("utterance", "frame", "value", "trace"):
                values = getattr(self, f"{side}_{name}")
                pick = order[..., None] if values.ndim == 3 else order
                out[f"{side}_{name}"] = np.swapaxes(np.take_along_axis(values, pick, axis=0), 0, 1).copy()
        return out


# ---------------------------------------------------------------------------------------- reading back
@dataclasses.dataclass
class FrameExample:
    """One time-localized example of a neuron.

    ``time`` is the frame's centre in seconds; ``trace [2W+1]`` the neuron's activation on
    frames ``frame - W .. frame + W`` (NaN outside the utterance); ``words`` and
    ``phones`` (TIMIT's 39 classes) are the aligned intervals ``(start_s, end_s, label)``
    overlapping the trace's window, empty without a TextGrid.
    """

    layer: str
    neuron: int
    which: str
    rank: int
    path: str
    utterance: int
    frame: int
    time: float
    value: float
    trace: np.ndarray
    words: list[tuple[float, float, str]]
    phones: list[tuple[float, float, str]]
    transcript: str
    window: int

    @property
    def trace_times(self) -> np.ndarray:
        """``[2W+1]`` seconds of each trace frame's centre (may be negative at the start)."""
        return self.time + FRAME_SECONDS * np.arange(-self.window, self.window + 1)

    def phone_at_peak(self) -> str | None:
        """The phone class whose interval holds the frame's centre (``sil`` in a gap; None without a TextGrid)."""
        if not self.words and not self.phones:
            return None
        return next((p for s, e, p in self.phones if s <= self.time < e), "sil")

    def word_at_peak(self) -> str | None:
        """The word whose interval holds the frame's centre (None between words or without a TextGrid)."""
        return next((w for s, e, w in self.words if s <= self.time < e), None)

    def summary(self, context: float = 0.1) -> dict:
        """A plain row for tables and JSON: file, time, activation, the word and phone at the
        peak, and the words and phones within ``context`` seconds of it (the peak's in brackets)."""
        def near(intervals):
            return " ".join(f"[{label}]" if s <= self.time < e else label for s, e, label in intervals
                            if s < self.time + context and e > self.time - context)

        return {"layer": self.layer, "neuron": self.neuron, "which": self.which, "rank": self.rank,
                "path": self.path, "utterance": self.utterance, "frame": self.frame, "time": round(self.time, 3),
                "activation": self.value, "word": self.word_at_peak(), "phone": self.phone_at_peak(),
                "words": near(self.words), "phones": near(self.phones), "transcript": self.transcript}


@dataclasses.dataclass
class FrameExamples:
    """A layer's ``<layer>_examples.npz`` with the run's utterances (see the module docstring).

    ``paths`` are absolute WAV paths (``top_utterance`` indexes them), ``transcripts`` the
    CSV's, ``textgrids`` each utterance's TextGrid (None: none); ``window`` is ``W`` and
    ``frame_seconds`` the frame step.
    """

    layer: str
    top_utterance: np.ndarray
    top_frame: np.ndarray
    top_value: np.ndarray
    top_trace: np.ndarray
    bottom_utterance: np.ndarray
    bottom_frame: np.ndarray
    bottom_value: np.ndarray
    bottom_trace: np.ndarray
    histogram_counts: np.ndarray
    histogram_edges: np.ndarray
    paths: list[str]
    transcripts: list[str]
    textgrids: list[str | None]
    window: int
    frame_seconds: float = FRAME_SECONDS
    _alignments: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def k(self) -> int:
        return self.top_value.shape[1]

    @property
    def neurons(self) -> int:
        return self.top_value.shape[0]

    def example(self, neuron: int, which: str = "top", rank: int = 0) -> FrameExample:
        """The ``rank``-th (0: strongest) ``which`` ("top" or "bottom") example of ``neuron``.

        Raises:
            ParameterError: neuron, which or rank out of range, or no such example (fewer frames than k).
        """
        if which not in ("top", "bottom"):
            raise ParameterError(f"which: expected 'top' or 'bottom', got {which!r}")
        if isinstance(neuron, bool) or not isinstance(neuron, (int, np.integer)) or not 0 <= neuron < self.neurons:
            raise ParameterError(f"neuron: expected 0..{self.neurons - 1} ({self.layer}), got {neuron!r}")
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < self.k:
            raise ParameterError(f"rank: expected 0..{self.k - 1}, got {rank!r}")
        u = int(getattr(self, f"{which}_utterance")[neuron, rank])
        if u < 0:
            raise ParameterError(f"rank: the dataset has fewer than {rank + 1} frames")
        t = int(getattr(self, f"{which}_frame")[neuron, rank])
        time = float(frame_centres(t + 1)[t])
        words, phones = self._intervals(u, time)
        return FrameExample(self.layer, int(neuron), which, int(rank), self.paths[u], u, t, time,
                            float(getattr(self, f"{which}_value")[neuron, rank]),
                            getattr(self, f"{which}_trace")[neuron, rank].copy(), words, phones,
                            self.transcripts[u], self.window)

    def examples(self, neuron: int, which: str = "top") -> list[FrameExample]:
        """All ``k`` examples of a neuron on one side, strongest first (fewer if the dataset is tiny)."""
        first = self.example(neuron, which, 0)  # checks the arguments
        n = int((getattr(self, f"{which}_utterance")[neuron] >= 0).sum())
        return [first] + [self.example(neuron, which, r) for r in range(1, n)]

    def _intervals(self, u: int, time: float):
        grid = self.textgrids[u]
        if not grid:
            return [], []
        if u not in self._alignments:  # read once per utterance: a neuron's examples often share one
            self._alignments[u] = read_textgrid(grid)
        alignment = self._alignments[u]
        half = (self.window + 0.5) * self.frame_seconds
        low, high = time - half, time + half
        words = [(w.start, w.end, w.label) for w in alignment.words if w.start < high and w.end > low]
        phones = [(p.start, p.end, c) for p, c in zip(alignment.phones, alignment.phone_classes)
                  if c is not None and p.start < high and p.end > low]
        return words, phones


def load_frame_examples(out: str | os.PathLike, layer: str) -> FrameExamples:
    """A dissection run's time-localized examples and histograms of ``layer``.

    Args:
        out: the run folder of :func:`~.dissection.dissect_dataset`.
    Raises:
        ParameterError: ``out`` holds no dissection, or none of ``layer`` with examples.
        FileFormatError: ``<layer>_examples.npz`` is unreadable or lacks arrays.
    """
    out = Path(out)
    if not (out / "index.json").is_file():
        raise ParameterError(f"out: {out} holds no dissection run (no index.json)")
    index = load_json(out / "index.json")
    path = out / f"{layer}_examples.npz"
    if layer not in index.get("layers", []) or not path.is_file():
        raise ParameterError(f"layer: {out} has no frame examples of {layer!r} "
                             f"(layers: {', '.join(index.get('layers', []))}; finished with examples?)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in EXAMPLE_KEYS}
    except KeyError as err:
        raise FileFormatError(f"{path}: lacks {err}") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:  # a truncated .npz is a bad zip
        raise FileFormatError(f"{path}: unreadable ({err})") from None
    window = (arrays["top_trace"].shape[-1] - 1) // 2
    paths = [str(Path(p).resolve()) for p in index["paths"]]
    textgrids = index.get("textgrids") or [None] * len(paths)
    return FrameExamples(layer, **arrays, paths=paths, transcripts=list(index["transcripts"]), textgrids=textgrids,
                         window=window)
