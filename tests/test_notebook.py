"""The notebook, executed top to bottom by a real Jupyter kernel in the quick setting."""
import os
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    from nbclient import NotebookClient

    runs = tmp_path_factory.mktemp("runs")
    nb = nbformat.read(ROOT / "notebook.ipynb", as_version=4)
    env = {"DAF_QUICK": "1", "DAF_RUNS": str(runs)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment
    try:
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb, runs


def outputs(nb, kind):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if kind(o)]


def test_no_cell_errors(executed):
    nb, _ = executed
    assert not outputs(nb, lambda o: o.output_type == "error")
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")


def test_images_videos_and_audio_players_are_embedded(executed):
    nb, runs = executed
    images = outputs(nb, lambda o: "image/png" in o.get("data", {}))
    html = [o["data"]["text/html"] for o in outputs(nb, lambda o: "text/html" in o.get("data", {}))]
    videos = [h for h in html if "<video" in h and "data:video/mp4;base64," in h]
    audios = [h for h in html if "<audio" in h]
    assert len(images) >= 8
    assert len(videos) >= 7  # six layers' animations + one mask animation (quick: one example)
    assert len(audios) >= 6 + 6 + 1 + 3  # sonified inputs, top examples, example, muted clips
    assert (runs / "run_train_inputs_experiment" / "layer_1" / "input_var_20.npy").exists()


def test_notebook_text_has_the_equations(executed):
    nb, _ = executed
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "\\tag{1}" in text and "\\tag{2}" in text and "M \\odot X" in text


def test_html_export_plays_in_a_real_browser(executed, tmp_path):
    """The exported HTML's players load their media in headless Chromium (skipped without it)."""
    import shutil

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        if os.environ.get("CI"):  # CI installs it (make browser): a skip there would hide a broken page
            pytest.fail("chromium is not installed on the CI machine (make browser installs it)")
        pytest.skip("chromium is not installed (make browser, or apt-get install chromium)")
    sys.path.insert(0, str(ROOT / "tools"))
    from check_html import check
    from offline_math import leftover_tex
    from run_notebook import export_html

    nb, _ = executed
    export_html(nb, tmp_path / "nb.html")
    page = (tmp_path / "nb.html").read_text(encoding="utf-8")
    assert not leftover_tex(page) and "mathjax" not in page.lower()
    result = check(tmp_path / "nb.html")  # with no host name resolving: offline
    assert result["video"] >= 7 and result["video_loaded"] == result["video"]
    assert result["audio"] >= 16 and result["audio_loaded"] == result["audio"]
    assert result["images"] >= 8 and result["images_loaded"] == result["images"]
    assert result["math"] >= 20 and result["math_rendered"] == result["math"]


def test_offline_math_leaves_no_tex():
    """The converter itself: TeX in, MathML out, equation numbers kept; raw TeX is found."""
    sys.path.insert(0, str(ROOT / "tools"))
    from offline_math import leftover_tex, render_math

    page = ('<div class="jp-RenderedMarkdown"><p>Let $y_i(X)$ be</p><p>\\begin{gather}\n'
            '\\underset{X}{\\operatorname{arg\\,max}}\\, \\frac{1}{T} \\sum_t x_t \\tag{1}\n\\end{gather}</p></div>'
            '<script src="https://cdn.example/mathjax/MathJax.js"></script>')
    assert leftover_tex(page)  # raw TeX is detected...
    rendered = render_math(page)
    assert not leftover_tex(rendered) and rendered.count("<math") == 2 and "(1)" in rendered
    assert "mathjax" not in rendered.lower()
