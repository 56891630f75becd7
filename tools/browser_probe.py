"""Drive a real headless browser from Python: open a page, run JavaScript, collect console errors.

    .venv/bin/python tools/browser_probe.py chromium runs/atlas/site/layer_3/index.html
    .venv/bin/python tools/browser_probe.py firefox runs/atlas/site/index.html

Chromium (Debian's ``chromium``) is driven over the Chrome DevTools Protocol, Firefox
(``firefox-esr``) over WebDriver BiDi; both through ``--remote-debugging-port`` and the
``websockets`` client, so nothing is downloaded at run time (no driver binaries). Both run
offline: Chromium resolves no host name, Firefox sends every request to a dead proxy.
:func:`media_report` loads every ``<audio>``, every play button's ``data-audio`` clip and every
``<img>`` of the page and reports how many loaded; ``Browser.errors`` holds console errors, uncaught exceptions and failed loads.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                  "--host-resolver-rules=MAP * ~NOTFOUND"]  # offline: no host name resolves
FIREFOX_PREFS = {
    "network.proxy.type": 1, "network.proxy.http": "127.0.0.1", "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1", "network.proxy.ssl_port": 9, "network.proxy.no_proxies_on": "",
    "media.autoplay.default": 0, "browser.shell.checkDefaultBrowser": False, "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False, "app.update.disabledForTesting": True,
}

#: Load every player, clip and picture of the page; resolves to a JSON string. Clips are the
#: ``data-audio`` files of play buttons (a layer page's one shared player plays them): they
#: are loaded four at a time through four players of the probe's own.
MEDIA_PROBE = """(async () => {
  const settle = (el, ok, bad) => new Promise(resolve => {
    const done = v => { clearTimeout(t); resolve(v); };
    const t = setTimeout(() => done(false), 20000);
    el.addEventListener(ok, () => done(true), {once: true});
    el.addEventListener(bad, () => done(false), {once: true});
  });
  const players = document.querySelectorAll('audio').length;  // a shared player without a source yet is not loaded
  const audio = [...document.querySelectorAll('audio')].filter(a => a.getAttribute('src') || a.querySelector('source'));
  const images = [...document.querySelectorAll('img')];
  const audioOk = await Promise.all(audio.map(a => {
    if (a.readyState >= 1) return Promise.resolve(true);
    const p = settle(a, 'loadedmetadata', 'error'); a.preload = 'metadata'; a.load(); return p;
  }));
  const clips = [...document.querySelectorAll('[data-audio]')].map(b => new URL(b.dataset.audio, document.baseURI).href);
  const clipOk = new Array(clips.length).fill(false);
  let next = 0;
  await Promise.all([0, 1, 2, 3].map(async () => {
    const player = new Audio();
    player.preload = 'metadata';
    while (next < clips.length) {
      const i = next++;
      const p = settle(player, 'loadedmetadata', 'error'); player.src = clips[i]; player.load();
      clipOk[i] = (await p) && player.duration > 0;
    }
    player.removeAttribute('src'); player.load();
  }));
  const imageOk = await Promise.all(images.map(im => {
    im.loading = 'eager'; return im.decode().then(() => true, () => false);
  }));
  const failed = audio.filter((a, i) => !(audioOk[i] && a.duration > 0)).map(a => a.currentSrc || a.src)
    .concat(clips.filter((c, i) => !clipOk[i]))
    .concat(images.filter((im, i) => !(imageOk[i] && im.naturalWidth > 0)).map(im => im.currentSrc || im.src));
  return JSON.stringify({audio: audio.length, audio_loaded: audio.filter((a, i) => audioOk[i] && a.duration > 0).length,
    players: players, clips: clips.length, clips_loaded: clipOk.filter(Boolean).length,
    images: images.length, images_loaded: images.filter((im, i) => imageOk[i] && im.naturalWidth > 0).length,
    failed: failed.slice(0, 10),
    styled: getComputedStyle(document.querySelector('header.site') || document.body).display === 'flex',
    script_ready: document.documentElement.dataset.atlasReady === '1'});
})()"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available(name: str) -> str | None:
    """The executable of ``chromium`` or ``firefox`` on PATH, or None."""
    candidates = {"chromium": ("chromium", "chromium-browser"), "firefox": ("firefox-esr", "firefox")}[name]
    return next((path for c in candidates if (path := shutil.which(c))), None)


class Browser:
    """A headless browser with one page. Use as a context manager.

    Attributes:
        errors: console errors, uncaught exceptions and failed loads seen so far.
    """

    name = ""

    def __init__(self, executable: str | None = None, timeout: float = 60.0):
        self.executable = executable or available(self.name)
        if self.executable is None:
            raise FileNotFoundError(f"no {self.name} on PATH")
        self.timeout = timeout
        self.errors: list[str] = []
        self._ids = itertools.count(1)
        # Chromium's helper processes may still write the profile for a moment after it exits.
        self._tmp = tempfile.TemporaryDirectory(prefix=f"atlas-{self.name}-", ignore_cleanup_errors=True)
        self._process: subprocess.Popen | None = None
        self._ws = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> "Browser":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._tmp.cleanup()

    # -------------------------------------------------------------- protocol
    def _connect(self, url: str) -> None:
        from websockets.sync.client import connect

        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self._ws = self._stack.enter_context(connect(url, max_size=None, open_timeout=5))
                return
            except (OSError, Exception) as err:  # the browser is still starting
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError(f"{self.name}: cannot connect to {url} ({err})") from None
                time.sleep(0.2)

    def _send(self, method: str, params: dict, **extra) -> dict:
        message_id = next(self._ids)
        self._ws.send(json.dumps({"id": message_id, "method": method, "params": params, **extra}))
        deadline = time.monotonic() + self.timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{self.name}: {method}: {message['error']} {message.get('message', '')}")
                return message.get("result", {})
            self._event(message)

    def _drain(self, seconds: float = 0.3) -> None:
        """Read the events that arrived (console messages) for a moment."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self._event(json.loads(self._ws.recv(timeout=left)))
            except TimeoutError:
                return

    def evaluate(self, expression: str):
        """The value of a JavaScript expression (a promise is awaited); strings, numbers, booleans."""
        raise NotImplementedError

    def open(self, path_or_url: str | Path) -> None:
        """Load a page and wait for its load event."""
        raise NotImplementedError


class Chromium(Browser):
    """Chromium over the DevTools Protocol."""

    name = "chromium"

    def _start(self) -> None:
        profile = Path(self._tmp.name) / "profile"
        self._process = subprocess.Popen([self.executable, *CHROMIUM_FLAGS, "--remote-debugging-port=0",
                                          f"--user-data-dir={profile}", "about:blank"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not (active.exists() and len(active.read_text().split()) >= 2):
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError("chromium: the DevTools port did not open")
            time.sleep(0.1)
        port, path = active.read_text().split()[:2]
        self._connect(f"ws://127.0.0.1:{port}{path}")
        target = next(t for t in self._send("Target.getTargets", {})["targetInfos"] if t["type"] == "page")
        self._session = self._send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self._page(f"{domain}.enable", {})

    def _page(self, method: str, params: dict) -> dict:
        return self._send(method, params, sessionId=self._session)

    def _event(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append("exception: " + details.get("exception", {}).get("description", details.get("text", "")))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(f"log: {params['entry']['text']} {params['entry'].get('url', '')}")
        elif method == "Page.loadEventFired":
            self._loaded = True

    def open(self, path_or_url: str | Path) -> None:
        url = Path(path_or_url).resolve().as_uri() if not str(path_or_url).startswith(("file:", "http")) else str(path_or_url)
        self._loaded = False
        self._page("Page.navigate", {"url": url})
        deadline = time.monotonic() + self.timeout
        while not self._loaded:
            if time.monotonic() > deadline:
                raise RuntimeError(f"chromium: {url} did not load")
            self._event(json.loads(self._ws.recv(timeout=max(deadline - time.monotonic(), 0.1))))
        self._drain()

    def evaluate(self, expression: str):
        result = self._page("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"chromium: {result['exceptionDetails'].get('exception', {}).get('description')}")
        self._drain(0.1)
        return result["result"].get("value")


class Firefox(Browser):
    """Firefox over WebDriver BiDi."""

    name = "firefox"

    def _start(self) -> None:
        profile = Path(self._tmp.name) / "profile"
        profile.mkdir()
        (profile / "user.js").write_text("".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n"
                                                 for k, v in FIREFOX_PREFS.items()))
        port = _free_port()
        self._process = subprocess.Popen([self.executable, "--headless", "--no-remote", "--profile", str(profile),
                                          f"--remote-debugging-port={port}", "about:blank"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._connect(f"ws://127.0.0.1:{port}/session")
        self._send("session.new", {"capabilities": {}})
        self._send("session.subscribe", {"events": ["log.entryAdded"]})
        self._context = self._send("browsingContext.getTree", {})["contexts"][0]["context"]

    def _event(self, message: dict) -> None:
        if message.get("method") == "log.entryAdded" and message["params"].get("level") == "error":
            entry = message["params"]
            self.errors.append(f"{entry.get('type', 'log')}: {entry.get('text', '')}")

    def open(self, path_or_url: str | Path) -> None:
        url = Path(path_or_url).resolve().as_uri() if not str(path_or_url).startswith(("file:", "http")) else str(path_or_url)
        self._send("browsingContext.navigate", {"context": self._context, "url": url, "wait": "complete"})
        self._drain()

    def evaluate(self, expression: str):
        result = self._send("script.evaluate", {"expression": expression, "target": {"context": self._context},
                                                "awaitPromise": True, "resultOwnership": "none"})
        if result.get("type") == "exception":
            raise RuntimeError(f"firefox: {result['exceptionDetails'].get('text')}")
        self._drain(0.1)
        value = result["result"]
        return value.get("value") if value["type"] in ("string", "number", "boolean") else None


BROWSERS = {"chromium": Chromium, "firefox": Firefox}


def media_report(browser: Browser, page: str | Path) -> dict:
    """Open ``page`` and load all its media: counts of players with a source (``audio``), of all
    players (``players``), of play buttons' clips (``clips``) and of pictures, how many of each
    loaded, the first that failed, and the errors the browser reported."""
    browser.open(page)
    report = json.loads(browser.evaluate(MEDIA_PROBE))
    report["errors"] = list(browser.errors)
    return report


if __name__ == "__main__":
    with BROWSERS[sys.argv[1]]() as b:
        print(json.dumps(media_report(b, sys.argv[2]), indent=1))
