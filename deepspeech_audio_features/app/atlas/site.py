"""Render the atlas: static HTML (Jinja2 templates shipped in ``assets/atlas/``), vanilla
JavaScript for sorting and filtering, and per neuron a few small media files.

Site layout (every URL stable, relative links only, so it works from ``file://``)::

    index.html                     layers (width, probe accuracy, share of selective units)
                                   and a sortable, filterable table of every neuron shown
    assets/atlas.css, atlas.js     no CDN, no network
    <layer>/index.html             the layer's neuron cards (sort and filter by phone, selectivity)
    <layer>/neuron-0039.html       one neuron's card: its stable URL (also <layer>/index.html#neuron-0039)
    <layer>/media/neuron-0039-*    mfcc.webp, logmel.webp (learned input), input.opus (its
                                   sonification), top-<i>.opus, bottom-<i>.opus (snippets)

Media already present are kept (an interrupted render resumes; the atlas's run folder
guarantees they come from the same run). No TensorFlow.
"""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ...infra.atomic import atomic_write, save_json
from ...infra.errors import ParameterError
from ...infra.resources import asset_path
from ...speech.filters import mel_band_centers
from ...speech.frames import SAMPLE_RATE
from ...speech.phones import PHONE_CLASSES
from ..plots import FRAME_SECONDS, LOG_MEL_RANGE, Z_RANGE, MfccScale
from .data import AtlasExample, LayerPage, NeuronCard, check_cards
from .media import (
    audio_snippet,
    colour_stops,
    encode_audio,
    histogram_svg,
    log_mel_picture,
    mfcc_picture,
    trace_svg,
)
from .options import SiteOptions

__all__ = ["SiteOptions", "SiteReport", "render_site", "LAYER_TITLES"]

LAYER_TITLES = {"layer_1": "Layer 1 (clipped ReLU)", "layer_2": "Layer 2 (clipped ReLU)",
                "layer_3": "Layer 3 (clipped ReLU)", "rnn_output": "RNN output (LSTM)",
                "layer_5": "Layer 5 (clipped ReLU)", "layer_6": "Layer 6 (logits)"}


@dataclasses.dataclass
class SiteReport:
    """What :func:`render_site` wrote.

    Attributes:
        index: the site's ``index.html``.
        neurons: cards rendered.
        total_bytes: every file of the site.
        bytes_per_neuron: ``total_bytes / neurons`` (pages, media and the shared assets).
        media_bytes_per_neuron: audio and pictures only.
        seconds: wall time of the render.
        media_written: media files written (the rest were already there).
    """

    index: Path
    neurons: int
    total_bytes: int
    bytes_per_neuron: float
    media_bytes_per_neuron: float
    seconds: float
    media_written: int


def _number(value, digits: int = 3) -> str:
    """A number for the pages; a dash for none or NaN."""
    if value is None or not np.isfinite(float(value)):
        return "–"
    return f"{float(value):.{digits}f}"


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(asset_path("atlas", "templates"))),
                             autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _number
    return env


class _Media:
    """Writes a neuron's media files unless they exist; counts what it wrote."""

    def __init__(self, folder: Path, options: SiteOptions, scale: MfccScale, upper_frequency_limit: float):
        self.folder, self.options, self.scale = folder, options, scale
        self.upper_frequency_limit = upper_frequency_limit
        self.written = 0

    def _file(self, name: str, write) -> str:
        path = self.folder / "media" / name
        if not path.exists():
            write(path)
            self.written += 1
        return f"media/{name}"

    def learned(self, card: NeuronCard) -> dict | None:
        if card.learned_input is None:
            return None
        from ...speech.inverse import mfccs_to_audio

        x = np.asarray(card.learned_input, np.float64)
        o = self.options
        return {"mfcc": self._file(f"{card.slug}-mfcc.webp", lambda p: mfcc_picture(x, self.scale, p)),
                "logmel": self._file(f"{card.slug}-logmel.webp", lambda p: log_mel_picture(x, p)),
                "audio": self._file(f"{card.slug}-input.opus", lambda p: encode_audio(
                    mfccs_to_audio(x, self.upper_frequency_limit, iterations=o.sonification_iterations,
                                   peak=o.sonification_peak), p, o.audio_quality)),
                "frames": len(x), "seconds": len(x) * FRAME_SECONDS, "activation": card.learned_activation}

    def example(self, card: NeuronCard, example: AtlasExample, which: str, rank: int) -> dict:
        from markupsafe import Markup

        w = example.window
        first, last = example.frame - w, example.frame + w
        start = max(first, 0) * FRAME_SECONDS

        def write(path: Path) -> None:
            samples, _ = audio_snippet(example.path, first, last)
            encode_audio(samples, path, self.options.audio_quality)

        audio = self._file(f"{card.slug}-{which}-{rank}.opus", write)
        peak = (example.frame + 0.5) * FRAME_SECONDS
        svg = trace_svg(example.trace, first * FRAME_SECONDS, FRAME_SECONDS, peak, example.words, example.phones,
                        card.threshold)
        words = [label for begin, end, label in example.words if end > start and begin < (last + 1) * FRAME_SECONDS]
        return {"audio": audio, "svg": Markup(svg), "value": example.value, "time": peak, "name": Path(example.path).name,
                "transcript": example.transcript, "words": " ".join(words), "rank": rank + 1}


def _card_view(card: NeuronCard, media: _Media, options: SiteOptions) -> dict:
    from markupsafe import Markup

    preferred = [PHONE_CLASSES.index(p) for p in card.preferred]
    histogram = None
    if card.histogram_counts is not None and card.histogram_edges is not None:
        histogram = Markup(histogram_svg(card.histogram_counts, card.histogram_edges, card.threshold))
    k = options.examples_shown
    return {"slug": card.slug, "layer": card.layer, "neuron": card.neuron, "preferred": card.preferred,
            "selectivity": float(card.selectivity), "best_iou": card.best_iou, "best_iou_phone": card.best_iou_phone,
            "phone_rows": [(PHONE_CLASSES[c], float(card.mean[c]), float(card.iou[c])) for c in preferred],
            "learned": media.learned(card), "histogram": histogram, "threshold": card.threshold,
            "top": [media.example(card, e, "top", i) for i, e in enumerate(card.top[:k])],
            "bottom": [media.example(card, e, "bottom", i) for i, e in enumerate(card.bottom[:k])]}


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def render_site(layers: Sequence[LayerPage], out: str | os.PathLike, scale: MfccScale, *, title: str = "Neuron atlas",
                model_name: str = "", dataset: str = "", upper_frequency_limit: float = 8000.0,
                options: SiteOptions | None = None, progress: bool = True, **overrides) -> SiteReport:
    """Write the atlas site for ``layers`` into ``out`` (see the module docstring).

    Args:
        layers: one :class:`LayerPage` per layer, in network order.
        out: the site folder (created; media already there are kept).
        scale: the colour scale of MFCC pictures (z-scores against real speech).
        title, model_name, dataset: shown on every page.
        upper_frequency_limit: the model's filterbank top (Hz), for the sonification and log-mel axis.
        options: :class:`SiteOptions`; ``overrides`` replace single fields.
    Raises:
        ParameterError: no layers, two layers of one name, or a card that does not fit its layer.
    """
    from ...infra.progress import progress_bar

    options = SiteOptions.resolve(options, overrides)
    layers = list(layers)
    names = [page.layer for page in layers]
    if not layers or len(set(names)) != len(names):
        raise ParameterError(f"layers: expected distinct layer pages, got {names}")
    for page in layers:
        check_cards(page.cards, page.layer, page.width)
    start = time.perf_counter()
    out = Path(out)
    env = _environment()
    static = asset_path("atlas", "static")
    for name in ("atlas.css", "atlas.js"):
        _write_text(out / "assets" / name, (static / name).read_text(encoding="utf-8"))
    centers = mel_band_centers(high=upper_frequency_limit)
    common = {"title": title, "model_name": model_name, "dataset": dataset,
              "layers": [{"layer": p.layer, "title": LAYER_TITLES.get(p.layer, p.layer)} for p in layers],
              "phones": PHONE_CLASSES, "z_range": Z_RANGE, "log_mel_range": LOG_MEL_RANGE,
              "mfcc_gradient": colour_stops("mfcc"), "magma_gradient": colour_stops("magma"),
              "scale_source": scale.source, "band_low": float(centers[0]), "band_high": float(centers[-1]),
              "selective_threshold": options.selective_threshold, "sample_rate": SAMPLE_RATE}
    rows, summaries, written, total_cards = [], [], 0, sum(len(p.cards) for p in layers)
    bar = progress_bar(total=total_cards, desc="atlas pages", disable=not progress)
    for page in layers:
        folder = out / page.layer
        media = _Media(folder, options, scale, upper_frequency_limit)
        views = []
        for card in page.cards:
            views.append(_card_view(card, media, options))
            bar.update(1)
        written += media.written
        layer_info = {"layer": page.layer, "title": LAYER_TITLES.get(page.layer, page.layer), "width": page.width,
                      "shown": len(views), "probe_accuracy": page.probe_accuracy, "detectors": page.detectors,
                      "selective_share": page.selective_share(options.selective_threshold),
                      "phones_present": sorted({v["preferred"][0] for v in views}, key=PHONE_CLASSES.index)}
        summaries.append(layer_info)
        _write_text(folder / "index.html", env.get_template("layer.html").render(
            root="../", page=layer_info, cards=views, **common))
        for i, view in enumerate(views):
            neighbours = {"previous": views[i - 1]["slug"] if i else None,
                          "next": views[i + 1]["slug"] if i + 1 < len(views) else None}
            _write_text(folder / f"{view['slug']}.html", env.get_template("neuron.html").render(
                root="../", page=layer_info, card=view, **neighbours, **common))
            rows.append(view)
    bar.close()
    _write_text(out / "index.html", env.get_template("index.html").render(root="", summaries=summaries, rows=rows,
                                                                          **common))
    save_json(out / "site.json", {"layers": summaries, "neurons": total_cards, "options": options.to_dict()})
    files = [p for p in out.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    media_bytes = sum(p.stat().st_size for p in files if p.parent.name == "media")
    n = max(total_cards, 1)
    return SiteReport(out / "index.html", total_cards, total, total / n, media_bytes / n, time.perf_counter() - start,
                      written)
