"""The neuron atlas: the site of a tiny model, its media checked against NumPy, and the pages
opened in real headless browsers (Chromium over CDP, Firefox over WebDriver BiDi)."""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from deepspeech_audio_features import DeepSpeech, Objective, maximize_activation, random_weights
from deepspeech_audio_features.app.atlas import AtlasExample, LayerPage, NeuronCard, choose_neurons, render_site
from deepspeech_audio_features.app.plots import Z_RANGE, MfccScale, mfcc_cmap
from deepspeech_audio_features.interpret.dissection import dissect_dataset
from deepspeech_audio_features.speech.alignments import read_alignments
from deepspeech_audio_features.speech.mfcc import audio_file_to_mfccs
from deepspeech_audio_features.speech.model import LAYERS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import browser_probe  # noqa: E402

WINDOW = 10  # frames each side of an example's peak
K = 2  # examples per side


def _examples(acts: list[np.ndarray], paths: list[str], aligned, j: int, top: bool) -> list[AtlasExample]:
    """The K frames of the dataset with the highest (lowest) activation of unit ``j``: a direct
    NumPy stand-in for the dissection's example pass, enough to feed the renderer."""
    flat = [(float(a[t, j]), u, t) for u, a in enumerate(acts) for t in range(len(a))]
    flat.sort(key=lambda item: -item[0] if top else item[0])
    out = []
    for value, u, t in flat[:K]:
        trace = np.full(2 * WINDOW + 1, np.nan, np.float32)
        lo, hi = max(t - WINDOW, 0), min(t + WINDOW + 1, len(acts[u]))
        trace[lo - (t - WINDOW):hi - (t - WINDOW)] = acts[u][lo:hi, j]
        alignment = aligned.alignments[u]
        out.append(AtlasExample(paths[u], t, value, trace, [tuple(w) for w in alignment.words],
                                [tuple(p) for p in alignment.phones], aligned.transcripts[u]))
    return out


@pytest.fixture(scope="module")
def tiny_site(tmp_path_factory):
    """The atlas site of a tiny model (n_hidden 8: widths 8, 8, 8, 8, 8, 29) on 6 utterances."""
    from deepspeech_audio_features.synth.corpus import synthesize_corpus

    root = tmp_path_factory.mktemp("atlas")
    synthesize_corpus(root / "c", 6, seed=2, workers=1, progress=False, dev_fraction=0.0, test_fraction=0.0)
    csv = root / "c" / "train.csv"
    model = DeepSpeech(random_weights(8, seed=4), metadata={"name": "tiny"})
    dissection = dissect_dataset(model, csv, root / "dissection", layers=LAYERS, progress=False, quantile=0.05)
    aligned = read_alignments(csv)
    paths = [str(p) for p in aligned.paths]
    xs = [audio_file_to_mfccs(p) for p in paths]
    forward = model.compiled_forward("layer_6")
    outputs = [forward(x[None], np.array([len(x)], np.int32)) for x in xs]
    widths = {layer: int(outputs[0][layer].shape[-1]) for layer in LAYERS}
    objectives = [Objective(layer, (j,), name=f"{layer}-{j}") for layer in LAYERS for j in range(widths[layer])]
    learned = maximize_activation(model, objectives, steps=3, frames=24, progress=False)
    pages = []
    for layer in LAYERS:
        d = dissection.layers[layer]
        acts = [o[layer].numpy()[0] for o in outputs]
        pooled = np.concatenate(acts)
        edges = np.linspace(pooled.min(), pooled.max(), 17)
        cards = []
        for j in choose_neurons(d.selectivity, None):
            counts, _ = np.histogram(pooled[:, j], edges)
            name = f"{layer}-{j}"
            cards.append(NeuronCard(layer, int(j), d.mean[j], d.iou[j], float(d.selectivity[j]), float(d.threshold[j]),
                                    learned.inputs[name], float(learned.activation[name]), counts, edges,
                                    _examples(acts, paths, aligned, j, True), _examples(acts, paths, aligned, j, False)))
        pages.append(LayerPage(layer, widths[layer], cards, d.selectivity, dissection.summary[layer]["detectors"],
                               0.1 * (LAYERS.index(layer) + 1)))
    scale = MfccScale.of(xs, "real speech")
    report = render_site(pages, root / "site", scale, model_name="tiny", dataset=str(csv), progress=False,
                         sonification_iterations=8)
    return {"site": root / "site", "report": report, "pages": pages, "widths": widths, "scale": scale}


def test_every_layer_page_has_one_card_per_unit_and_a_page_per_neuron(tiny_site):
    site, widths = tiny_site["site"], tiny_site["widths"]
    for layer, width in widths.items():
        page = (site / layer / "index.html").read_text(encoding="utf-8")
        assert page.count('<article class="card"') == width
        assert sorted(p.name for p in (site / layer).glob("neuron-*.html")) == \
            [f"neuron-{j:04d}.html" for j in range(width)]
        # every media file a page names exists (the browser tests check they also play)
        for src in re.findall(r'src="(media/[^"]+)"', page):
            assert (site / layer / src).stat().st_size > 0
    index = (site / "index.html").read_text(encoding="utf-8")
    assert index.count('<tr class="item"') == sum(widths.values())
    assert tiny_site["report"].neurons == sum(widths.values())


def test_no_network_reference_anywhere(tiny_site):
    for path in tiny_site["site"].rglob("*"):
        if path.suffix in (".html", ".js", ".css"):
            assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]", path.read_text(encoding="utf-8"), re.I), path


def test_pictures_are_the_colour_mapped_z_scores(tiny_site):
    """The lossless WebP holds exactly the MFCC colour map of the clipped z-scores, c0 at the bottom."""
    from PIL import Image

    card = tiny_site["pages"][2].cards[3]
    z = np.clip((card.learned_input - tiny_site["scale"].mean) / tiny_site["scale"].std, -Z_RANGE, Z_RANGE)
    expected = (mfcc_cmap()((z + Z_RANGE) / (2 * Z_RANGE))[..., :3] * 255).round().astype(np.uint8)  # [T, 26, 3]
    image = np.asarray(Image.open(tiny_site["site"] / "layer_3" / "media" / "neuron-0003-mfcc.webp").convert("RGB"))
    assert image.shape == (26, len(card.learned_input), 3)
    np.testing.assert_array_equal(image[::-1].transpose(1, 0, 2), expected)


def test_snippets_are_the_audio_around_the_peak(tiny_site):
    """A top example's Opus snippet decodes to the utterance's samples under frames peak ± W."""
    card = tiny_site["pages"][0].cards[1]
    example = card.top[0]
    decoded, rate = sf.read(tiny_site["site"] / "layer_1" / "media" / "neuron-0001-top-0.opus", dtype="float32")
    original, _ = sf.read(example.path, dtype="float32")
    start = max(example.frame - WINDOW, 0) * 320
    stop = min((example.frame + WINDOW) * 320 + 512, len(original))
    assert rate == 16000 and abs(len(decoded) - (stop - start)) <= 320
    reference = original[start:stop][:len(decoded)]
    n = min(len(reference), len(decoded))
    assert np.corrcoef(reference[200:n - 200], decoded[200:n - 200])[0, 1] > 0.8  # lossy, same sound


def test_trace_svg_puts_the_peak_at_its_time():
    from deepspeech_audio_features.app.atlas.media import trace_svg

    trace = np.array([np.nan, 0.0, 1.0, 3.0, 1.0])
    svg = trace_svg(trace, 1.0, 0.02, 1.0 + 3.5 * 0.02, [(0.9, 1.05, "hi")], [(1.02, 1.04, "iy")], width=100)
    assert '<line class="peak" x1="70" x2="70"' in svg  # frame 3's centre: 3.5 of 5 frames
    assert svg.count("<polyline") == 1 and "hi</text>" in svg  # NaN frames are left out; the word is labelled


def test_choose_neurons_spans_the_selectivity_ranking():
    selectivity = np.array([0.1, 3.0, 2.0, -1.0, 0.5, 1.0])
    # ranking 1, 2, 5, 4, 0, 3: positions 0, 2 (2.5 rounds to even) and 5: the most, a middle and the least selective
    assert choose_neurons(selectivity, 3).tolist() == [1, 3, 5]
    assert choose_neurons(selectivity, None).tolist() == list(range(6))


# ---------------------------------------------------------------------------- real browsers
def _browser(name: str):
    if browser_probe.available(name) is None:
        if os.environ.get("CI"):  # CI installs both (make browser): a skip there would hide a broken site
            pytest.fail(f"{name} is not installed on the CI machine (make browser installs it)")
        pytest.skip(f"{name} is not installed (make browser, or apt-get install {'firefox-esr' if name == 'firefox' else name})")
    return browser_probe.BROWSERS[name]()


SET_AND_READ = """(() => {
  const form = document.querySelector('form.controls');
  const values = %s;
  for (const [name, value] of Object.entries(values)) {
    const el = form.elements.namedItem(name); el.value = value;
    el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input', {bubbles: true}));
  }
  const items = [...document.querySelectorAll('[data-list] > [data-neuron]')].filter(el => !el.hidden);
  return JSON.stringify(items.map(el => [el.dataset.layer, +el.dataset.neuron]));
})()"""


def _drive(browser, values: dict) -> list[tuple[str, int]]:
    return [tuple(item) for item in json.loads(browser.evaluate(SET_AND_READ % json.dumps(values)))]


@pytest.mark.parametrize("name", ["chromium", "firefox"])
def test_site_in_a_real_browser(tiny_site, name):
    """Every card's media loads, no console error, sorting and filtering give the order and
    the subset NumPy gives, and a neuron's URL shows it."""
    site, pages = tiny_site["site"], tiny_site["pages"]
    with _browser(name) as browser:
        for page in pages:
            report = browser_probe.media_report(browser, site / page.layer / "index.html")
            n = len(page.cards)
            assert report["audio"] == n * (1 + 2 * K) and report["audio_loaded"] == report["audio"], report
            assert report["images"] == 2 * n and report["images_loaded"] == report["images"], report
            assert report["styled"] and report["script_ready"] and not report["errors"], report
        page = pages[3]  # rnn_output
        browser.open(site / page.layer / "index.html")
        assert len(_drive(browser, {})) == page.width
        by_selectivity = _drive(browser, {"sort": "selectivity"})
        expected = sorted(page.cards, key=lambda c: (-c.selectivity, c.neuron))
        assert [j for _, j in by_selectivity] == [c.neuron for c in expected]
        phone = page.cards[0].preferred[0]
        filtered = _drive(browser, {"sort": "neuron", "phone": phone, "min_selectivity": ""})
        assert [j for _, j in filtered] == [c.neuron for c in page.cards if c.preferred[0] == phone]
        cut = float(np.median([c.selectivity for c in page.cards]))
        filtered = _drive(browser, {"phone": "", "min_selectivity": f"{cut:.6f}"})
        assert [j for _, j in filtered] == [c.neuron for c in page.cards if c.selectivity >= round(cut, 6)]
        # the index: every neuron in one table, filtered by layer and sorted by IoU
        browser.open(site / "index.html")
        assert len(_drive(browser, {})) == sum(p.width for p in pages)
        only = _drive(browser, {"layer": "layer_6", "sort": "iou"})
        expected = sorted(pages[5].cards, key=lambda c: (-c.best_iou, c.neuron))
        assert only == [("layer_6", c.neuron) for c in expected]
        # a neuron's URL shows it, even past a filter
        browser.open((site / page.layer / "index.html").as_uri() + "#neuron-0005")
        assert browser.evaluate("document.getElementById('neuron-0005').classList.contains('target') && "
                                "!document.getElementById('neuron-0005').hidden")
        for card in pages[1].cards[:2]:  # the stable per-neuron pages load too
            report = browser_probe.media_report(browser, site / "layer_2" / f"{card.slug}.html")
            assert report["audio_loaded"] == report["audio"] == 1 + 2 * K and not report["errors"], report
        assert not browser.errors


@pytest.mark.parametrize("name", ["chromium", "firefox"])
def test_the_probe_sees_broken_media_and_console_errors(tmp_path, name):
    """The browser check itself: a missing file and a script error are reported."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><audio src="missing.opus"></audio><img src="missing.webp">'
                    '<script>console.error("boom"); undefinedFunction();</script></body></html>', encoding="utf-8")
    with _browser(name) as browser:
        report = browser_probe.media_report(browser, page)
    assert report["audio"] == 1 and report["audio_loaded"] == 0
    assert report["images"] == 1 and report["images_loaded"] == 0
    assert any("boom" in e for e in report["errors"]) and any("undefinedFunction" in e for e in report["errors"])
