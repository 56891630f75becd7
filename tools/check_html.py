"""Open an exported notebook in headless Chromium and count the players that really load.

    .venv/bin/python tools/check_html.py notebook.html

Prints JSON: audio, video, image and MathML elements, and how many of them loaded media
(duration, video frame size, image size) or were laid out (equations) in the browser,
with no host name resolving (offline). Needs Debian's ``chromium`` (apt-get install chromium).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = """<script>
setTimeout(function () {
  var a = [...document.querySelectorAll('audio')], v = [...document.querySelectorAll('video')];
  var im = [...document.querySelectorAll('img')], m = [...document.querySelectorAll('math')];
  var r = {audio: a.length, audio_loaded: a.filter(x => x.readyState >= 1 && x.duration > 0).length,
           video: v.length, video_loaded: v.filter(x => x.readyState >= 1 && x.videoWidth > 0).length,
           images: im.length, images_loaded: im.filter(x => x.complete && x.naturalWidth > 0).length,
           math: m.length, math_rendered: m.filter(x => x.getBoundingClientRect().width > 0).length};
  var d = document.createElement('pre'); d.id = 'probe'; d.textContent = JSON.stringify(r);
  document.body.appendChild(d);
}, 4000);
</script></body>"""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=10000", "--dump-dom",
         "--host-resolver-rules=MAP * ~NOTFOUND"]  # offline: no host name resolves, as on a plane


def check(html: Path, browser: str | None = None) -> dict:
    browser = browser or shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise FileNotFoundError("no chromium on PATH (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(html.read_text(encoding="utf-8").replace("</body>", PROBE), encoding="utf-8")
        dom = subprocess.run([browser, *FLAGS, f"--user-data-dir={tmp}/profile", page.as_uri()],
                             capture_output=True, text=True, timeout=180).stdout
    found = re.search(r'<pre id="probe">([^<]*)</pre>', dom)
    if not found:
        raise RuntimeError(f"{html}: the browser did not run the probe")
    return json.loads(found.group(1))


if __name__ == "__main__":
    print(json.dumps(check(Path(sys.argv[1]))))
