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

from deepspeech_audio_features import DeepSpeech, DissectionOptions, VisualizationOptions, random_weights
from deepspeech_audio_features.app.atlas import SiteOptions, choose_neurons
from deepspeech_audio_features.app.atlas.build import build_atlas
from deepspeech_audio_features.app.plots import Z_RANGE, MfccScale, mfcc_cmap
from deepspeech_audio_features.infra.errors import RunConflictError
from deepspeech_audio_features.interpret.dissection import load_dissection
from deepspeech_audio_features.interpret.featurevis import load_neuron_inputs
from deepspeech_audio_features.interpret.frame_examples import load_frame_examples
from deepspeech_audio_features.speech.phones import PHONE_CLASSES

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import browser_probe  # noqa: E402

K = 3  # examples shown per side (the default)
STEPS, FRAMES, ITERATIONS = 3, 24, 8  # tiny feature visualization and sonification
#: Two layers keep the test fast (one LSTM layer and the logits: widths 8 and 29); the
#: command and make main build all six.
TEST_LAYERS = ("rnn_output", "layer_6")


@pytest.fixture(scope="module")
def tiny_site(tmp_path_factory):
    """The atlas of two layers of a tiny model (n_hidden 8) on 6 synthesized utterances, built
    by build_atlas (dissection with examples, visualize_neurons, site)."""
    from deepspeech_audio_features.synth.corpus import synthesize_corpus

    root = tmp_path_factory.mktemp("atlas")
    synthesize_corpus(root / "c", 6, seed=2, workers=1, progress=False, dev_fraction=0.0, test_fraction=0.0)
    csv = root / "c" / "train.csv"
    model = DeepSpeech(random_weights(8, seed=4), metadata={"name": "tiny"})
    result = build_atlas(model, csv, root / "atlas", TEST_LAYERS, site_options=SiteOptions(sonification_iterations=ITERATIONS),
                         visualization_options=VisualizationOptions(steps=STEPS, frames=FRAMES),
                         dissection_options=DissectionOptions(quantile=0.05), progress=False)
    dissection = load_dissection(root / "atlas" / "dissection")
    return {"root": root, "csv": csv, "model": model, "result": result, "site": root / "atlas" / "site",
            "widths": result.widths, "dissection": dissection,
            "scale": MfccScale.from_stats(json.loads((root / "atlas" / "scale.json").read_text())),
            "report": json.loads((root / "atlas" / "report.json").read_text())}


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
    assert tiny_site["result"].site.neurons == sum(widths.values()) == 8 + 29


def test_a_resumed_build_redoes_only_what_is_missing_and_another_model_is_refused(tiny_site):
    """Run again from the command line (the model from a checkpoint): nothing is recomputed but
    the deleted media; another model's atlas in the folder is refused."""
    from deepspeech_audio_features import save_checkpoint
    from deepspeech_audio_features.app.cli import main

    root = tiny_site["root"]
    media = sorted((tiny_site["site"] / "layer_6" / "media").iterdir())[:3]
    for path in media:
        path.unlink()
    save_checkpoint(tiny_site["model"], root / "tiny-checkpoint")
    code = main([str(a) for a in ("atlas", "--layers", *TEST_LAYERS, "--dataset", tiny_site["csv"], "--out", root / "atlas",
                                  "--checkpoint",
                                  root / "tiny-checkpoint", "--steps", STEPS, "--frames", FRAMES,
                                  "--sonification-iterations", ITERATIONS, "--quantile", 0.05, "--no-progress")])
    assert code == 0
    first = tiny_site["report"]
    report = json.loads((root / "atlas" / "report.json").read_text())
    assert report["media_written"] == 3 and all(p.exists() for p in media)
    # the report's seconds cover both sessions: at least the first build's (which did the work)
    assert report["sessions"] == first["sessions"] + 1
    for stage, seconds in first["seconds"].items():
        assert report["seconds"][stage] >= seconds
        assert report["seconds"][stage] == pytest.approx(seconds + report["seconds_this_session"][stage], abs=0.02)
    assert json.loads((root / "atlas" / "dissection" / "report.json").read_text())["this_session"]["batches"] == 0
    for layer in TEST_LAYERS:
        assert json.loads((root / "atlas" / "inputs" / layer / "report.json").read_text())["this_session"]["batches"] == 0
    other = DeepSpeech(random_weights(8, seed=5), metadata={"name": "tiny"})
    with pytest.raises(RunConflictError, match="holds a neuron atlas with other settings.*model"):
        build_atlas(other, tiny_site["csv"], root / "atlas", TEST_LAYERS, progress=False,
                    site_options=SiteOptions(sonification_iterations=ITERATIONS),
                    visualization_options=VisualizationOptions(steps=STEPS, frames=FRAMES),
                    dissection_options=DissectionOptions(quantile=0.05))


def test_no_network_reference_anywhere(tiny_site):
    for path in tiny_site["site"].rglob("*"):
        if path.suffix in (".html", ".js", ".css"):
            assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]", path.read_text(encoding="utf-8"), re.I), path


def test_pictures_are_the_colour_mapped_z_scores(tiny_site):
    """The lossless WebP holds exactly the MFCC colour map of the clipped z-scores, c0 at the bottom."""
    from PIL import Image

    learned = load_neuron_inputs(tiny_site["root"] / "atlas" / "inputs", "rnn_output").input_of(3)
    z = np.clip((learned - tiny_site["scale"].mean) / tiny_site["scale"].std, -Z_RANGE, Z_RANGE)
    expected = (mfcc_cmap()((z + Z_RANGE) / (2 * Z_RANGE))[..., :3] * 255).round().astype(np.uint8)  # [T, 26, 3]
    image = np.asarray(Image.open(tiny_site["site"] / "rnn_output" / "media" / "neuron-0003-mfcc.webp").convert("RGB"))
    assert image.shape == (26, FRAMES, 3)
    np.testing.assert_array_equal(image[::-1].transpose(1, 0, 2), expected)


def test_snippets_are_the_audio_around_the_peak(tiny_site):
    """A top example's Opus snippet decodes to the utterance's samples under frames peak ± W."""
    example = load_frame_examples(tiny_site["root"] / "atlas" / "dissection", "layer_6").example(1, "top", 0)
    decoded, rate = sf.read(tiny_site["site"] / "layer_6" / "media" / "neuron-0001-top-0.opus", dtype="float32")
    original, _ = sf.read(example.path, dtype="float32")
    start = max(example.frame - example.window, 0) * 320
    stop = min((example.frame + example.window) * 320 + 512, len(original))
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
    site, widths, dissection = tiny_site["site"], tiny_site["widths"], tiny_site["dissection"]
    with _browser(name) as browser:
        for layer, n in widths.items():
            report = browser_probe.media_report(browser, site / layer / "index.html")
            # one shared player per layer page, whatever its width (Chromium caps a page at
            # 1,000 players); every card's clips load through it
            assert report["players"] == 1 and report["audio"] == 0, report
            assert report["clips"] == n * (1 + 2 * K) and report["clips_loaded"] == report["clips"], report
            assert report["images"] == 2 * n and report["images_loaded"] == report["images"], report
            assert report["styled"] and report["script_ready"] and not report["errors"], report
        d = dissection["rnn_output"]
        neurons = np.arange(widths["rnn_output"])
        selectivity = np.round(d.selectivity, 6)  # as the page writes it
        preferred = [PHONE_CLASSES[c] for c in d.preferred[:, 0]]
        browser.open(site / "rnn_output" / "index.html")
        assert len(_drive(browser, {})) == widths["rnn_output"]
        by_selectivity = _drive(browser, {"sort": "selectivity"})
        assert [j for _, j in by_selectivity] == sorted(neurons, key=lambda j: (-selectivity[j], j))
        phone = preferred[0]
        filtered = _drive(browser, {"sort": "neuron", "phone": phone, "min_selectivity": ""})
        assert [j for _, j in filtered] == [j for j in neurons if preferred[j] == phone]
        cut = float(np.median(selectivity))
        filtered = _drive(browser, {"phone": "", "min_selectivity": f"{cut:.6f}"})
        assert [j for _, j in filtered] == [j for j in neurons if selectivity[j] >= round(cut, 6)]
        assert 0 < len(filtered) < len(neurons)
        # a play button plays its clip in the shared player and names it
        played = json.loads(browser.evaluate("""(async () => {
          const button = document.querySelectorAll('[data-neuron="3"] button.play')[1];
          const player = document.querySelector('audio[data-shared-player]');
          const started = new Promise(r => player.addEventListener('playing', () => r(true), {once: true}));
          button.click();
          const ok = await Promise.race([started, new Promise(r => setTimeout(() => r(false), 10000))]);
          return JSON.stringify([ok, player.currentSrc.endsWith(button.dataset.audio), button.classList.contains('playing'),
                                 document.querySelector('.now-playing .label').textContent]);
        })()"""))
        assert played[:3] == [True, True, True] and played[3].startswith("rnn_output · neuron 3: top example 1"), played
        # the index: every neuron in one table, filtered by layer and sorted by IoU
        browser.open(site / "index.html")
        assert len(_drive(browser, {})) == sum(widths.values())
        only = _drive(browser, {"layer": "layer_6", "sort": "iou"})
        best = np.round(dissection["layer_6"].best_iou, 6)
        assert only == [("layer_6", j) for j in sorted(range(widths["layer_6"]), key=lambda j: (-best[j], j))]
        # a neuron's URL shows it, even past a filter
        browser.open((site / "rnn_output" / "index.html").as_uri() + "#neuron-0005")
        assert browser.evaluate("document.getElementById('neuron-0005').classList.contains('target') && "
                                "!document.getElementById('neuron-0005').hidden")
        for j in (0, 7):  # the stable per-neuron pages load too
            report = browser_probe.media_report(browser, site / "rnn_output" / f"neuron-{j:04d}.html")
            assert report["audio_loaded"] == report["audio"] == report["players"] == 1 + 2 * K, report
            assert report["clips"] == 0 and not report["errors"], report
        assert not browser.errors


@pytest.mark.parametrize("name", ["chromium", "firefox"])
def test_the_probe_sees_broken_media_and_console_errors(tmp_path, name):
    """The browser check itself: a missing file and a script error are reported."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><audio src="missing.opus"></audio><img src="missing.webp">'
                    '<button data-audio="missing-clip.opus">play</button>'
                    '<script>console.error("boom"); undefinedFunction();</script></body></html>', encoding="utf-8")
    with _browser(name) as browser:
        report = browser_probe.media_report(browser, page)
    assert report["audio"] == 1 and report["audio_loaded"] == 0
    assert report["clips"] == 1 and report["clips_loaded"] == 0 and any("missing-clip" in f for f in report["failed"])
    assert report["images"] == 1 and report["images_loaded"] == 0
    assert any("boom" in e for e in report["errors"]) and any("undefinedFunction" in e for e in report["errors"])
