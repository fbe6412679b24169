"""Headless Chromium driven over the Chrome DevTools Protocol (no browser download, no driver).

`Browser.start()` runs the system's `chromium` (Debian's package) headless on a free debugging
port in a fresh profile, and talks to its first page over the DevTools WebSocket with the
`websockets` library. Waiting is event-driven: `wait_for` evaluates a promise in the page that
resolves on the first animation frame where the condition holds, bounded by a timeout.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

import httpx
from websockets.sync.client import ClientConnection, connect

__all__ = ["Browser", "chromium_path"]

_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def _drain(stream: IO[bytes]) -> None:
    stream.read()  # until the browser exits


def chromium_path() -> str | None:
    """The first Chromium-like browser on PATH, or None."""
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium and a connection to its page."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        profile: Path,
        page: ClientConnection,
        stack: contextlib.ExitStack,
    ) -> None:
        self.process = process
        self.profile = profile
        self.page = page
        self._stack = stack
        self._ids = itertools.count(1)
        self.console: list[str] = []

    @classmethod
    def start(cls, executable: str, *, timeout_s: float = 30) -> Browser:
        profile = Path(tempfile.mkdtemp(prefix="perps-sim-chromium-"))
        process = subprocess.Popen(
            [
                executable,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--window-size=1400,1800",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert process.stderr is not None
        port = None
        for raw in process.stderr:  # "DevTools listening on ws://127.0.0.1:PORT/devtools/..."
            line = raw.decode(errors="replace")
            if "DevTools listening on" in line:
                port = int(line.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
                break
        if port is None:
            process.kill()
            raise RuntimeError("chromium exited before opening its debugging port")
        # keep reading its log so that a full pipe never blocks the browser
        threading.Thread(target=_drain, args=(process.stderr,), daemon=True).start()
        listed = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=timeout_s).json()
        pages = [t for t in listed if t["type"] == "page"]
        stack = contextlib.ExitStack()
        page = stack.enter_context(
            connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=timeout_s)
        )
        browser = cls(process, profile, page, stack)
        browser.call("Page.enable")
        browser.call("Runtime.enable")
        return browser

    def call(self, method: str, timeout_s: float = 30, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events on the way are kept as console)."""
        ident = next(self._ids)
        self.page.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:  # each message within the timeout (the page sends events in between)
            message = json.loads(self.page.recv(timeout=timeout_s))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if message.get("method") == "Runtime.consoleAPICalled":
                args = message["params"].get("args", [])
                self.console.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in args)
                )
            elif message.get("method") == "Runtime.exceptionThrown":
                self.console.append(json.dumps(message["params"]["exceptionDetails"])[:500])

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str, timeout_s: float = 30) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call(
            "Runtime.evaluate",
            timeout_s=timeout_s,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str, timeout_s: float = 20) -> Any:
        """Wait until the JavaScript `condition` is truthy in the page; its value."""
        script = f"""new Promise((resolve, reject) => {{
            const observer = new MutationObserver(() => check());
            const limit = setTimeout(() => {{
                observer.disconnect();
                reject(new Error("timed out: " + {json.dumps(condition)}));
            }}, {int(timeout_s * 1000)});
            const check = () => {{
                let value;
                try {{ value = ({condition}); }} catch (e) {{ value = undefined; }}
                if (value) {{ observer.disconnect(); clearTimeout(limit); resolve(value); }}
            }};
            observer.observe(document, {{
                subtree: true, childList: true, characterData: true, attributes: true,
            }});
            check();
        }})"""
        return self.evaluate(script, timeout_s=timeout_s + 5)

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def close(self) -> None:
        try:
            self._stack.close()
        finally:
            self.process.kill()
            self.process.wait(timeout=10)
            if self.process.stderr is not None:
                self.process.stderr.close()
            shutil.rmtree(self.profile, ignore_errors=True)
