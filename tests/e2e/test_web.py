"""``lstm-top --web``: the app served by textual-serve, opened in a real headless Chromium.

Chromium is driven through its DevTools protocol (a websocket, spoken with aiohttp, which
textual-serve depends on anyway): open the page, wait until the terminal's websocket delivered
the app's first bytes, read the app's screen from the websocket frames the page received (xterm.js
draws on a canvas, so the DOM holds no text), and keep a screenshot to look at.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("textual_serve", reason="textual-serve not installed "
                                            "(pip install lstm-top[web])")
aiohttp = pytest.importorskip("aiohttp", reason="aiohttp (a textual-serve dependency) missing")

from lstm_top import Logger  # noqa: E402

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
SCREENSHOT = Path(tempfile.gettempdir()) / "lstm-top-web-test.png"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise AssertionError(f"nothing listening on port {port} after {timeout}s")


@contextlib.contextmanager
def started(command: list[str], **options: Any) -> Iterator[subprocess.Popen[Any]]:
    """A process in its own session; the whole group (the app processes too) ends after."""
    process = subprocess.Popen(command, start_new_session=True, **options)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    path = tmp_path / "browser.jsonl"
    with Logger(path, run_name="browser-run") as logger:
        for epoch in range(1, 8):
            logger.log(epoch=epoch, loss=1.0 / epoch, val_loss=1.2 / epoch)
        logger.log(epoch=8, loss=float("nan"), val_loss=float("nan"))
    return path


class DevTools:
    """The little of the Chrome DevTools protocol this test needs."""

    def __init__(self, websocket: Any) -> None:
        self.websocket = websocket
        self.next_id = 0
        self.frames: list[bytes] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.websocket.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            message = await self.websocket.receive_json(timeout=30)
            if message.get("method") == "Network.webSocketFrameReceived":
                response = message["params"]["response"]
                payload = response["payloadData"]
                # opcode 2: a binary frame, which the protocol hands over in base64
                self.frames.append(base64.b64decode(payload) if response["opcode"] == 2
                                   else payload.encode())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def screen_text(self) -> str:
        return ANSI.sub(b"", b"".join(self.frames)).decode("utf-8", "replace")


async def open_page(url: str, devtools_port: int) -> tuple[str, str, bytes]:
    """(body classes, text the app sent, screenshot PNG) once the app has drawn."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{devtools_port}/json") as response:
            targets = await response.json()
        page = next(t for t in targets if t["type"] == "page")
        async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            tools = DevTools(ws)
            await tools.call("Network.enable")
            await tools.call("Page.enable")
            await tools.call("Page.navigate", url=url)
            classes = ""
            text = ""
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                classes = await tools.evaluate("document.body ? document.body.className : ''")
                text = tools.screen_text()
                if "-first-byte" in (classes or "") and "nonfinite" in text:
                    break
            await asyncio.sleep(1.0)  # let the last frames paint before the screenshot
            shot = await tools.call("Page.captureScreenshot", format="png")
            return classes or "", tools.screen_text(), base64.b64decode(shot["data"])


@contextlib.contextmanager
def web_server(run_file: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[Any], str]]:
    """``lstm-top --web`` on a free port, listening: (the server, the page's address with the
    key of this launch, as it printed it: the page needs the key, issue 16)."""
    port = free_port()
    server_log = tmp_path / "server.log"
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    with open(server_log, "wb") as log, started(
            [sys.executable, "-m", "lstm_top.web", str(run_file), "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env) as server:
        wait_for_port(port, server)
        printed = re.search(r"http://127\.0\.0\.1:\d+/\?key=\S+", server_log.read_text())
        assert printed, server_log.read_text()
        yield server, printed.group(0)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_browser_shows_the_run(run_file: Path, tmp_path: Path) -> None:
    with web_server(run_file, tmp_path) as (_, url), started(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
             f"--user-data-dir={tmp_path / 'profile'}", "--remote-debugging-port=0",
             "--window-size=1280,800", "about:blank"],
            stderr=subprocess.PIPE, text=True) as browser:
        devtools_port = None
        assert browser.stderr is not None
        for line in browser.stderr:
            found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if found:
                devtools_port = int(found.group(1))
                break
        assert devtools_port, "chromium did not open its DevTools port"
        classes, text, png = asyncio.run(open_page(url, devtools_port))
    SCREENSHOT.write_bytes(png)
    # The page loaded, its websocket connected and the app's first bytes arrived...
    assert "-loaded" in classes and "-first-byte" in classes, classes
    # ...and the app drew this run: its name and the warning its NaN epoch raises.
    assert "browser-run" in text, text[-2000:]
    assert "nonfinite" in text, text[-2000:]
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_server_listens_on_loopback_only_by_default(run_file: Path, tmp_path: Path) -> None:
    port = free_port()
    with started([sys.executable, "-m", "lstm_top.web", str(run_file), "--port", str(port)],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as server:
        wait_for_port(port, server)
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                                   text=True).stdout if shutil.which("ss") else ""
        if listening:
            local_addresses = {line.split()[3] for line in listening.splitlines()}
            assert local_addresses == {f"127.0.0.1:{port}"}, listening
        else:  # no ss: the port is not reachable on another address of this machine
            other = socket.gethostbyname(socket.gethostname())
            if other.startswith("127."):
                pytest.skip("no non-loopback address to probe and no ss")
            with pytest.raises(OSError), socket.create_connection((other, port), 1):
                pass


def test_warns_when_asked_to_serve_beyond_loopback() -> None:
    from lstm_top.web import app_command, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    command = app_command(["run with space.jsonl"], ["--val-key", "val/loss"])
    assert command.endswith("-m lstm_top --val-key val/loss 'run with space.jsonl'")


def _processes_running(needle: str) -> list[int]:
    """Pids whose command line holds ``needle`` (a /proc scan, no psutil)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().decode(errors="replace").rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone meanwhile
        if needle in command and "lstm_top" in command and state != "Z":
            found.append(int(entry))
    return found


def test_the_app_process_ends_with_its_server(run_file: Path, tmp_path: Path) -> None:
    """A browser session starts an app process; killing the server must not leave it behind
    (it used to keep running, re-parented to init, at 90 % CPU)."""
    with web_server(run_file, tmp_path) as (server, page):
        address, key = page.split("/?key=")

        async def session_then_kill() -> list[int]:
            url = f"{address.replace('http', 'ws')}/ws?key={key}&width=80&height=24"
            async with aiohttp.ClientSession() as client, client.ws_connect(
                    url, headers={"Origin": address}) as ws:
                received = 0
                deadline = time.monotonic() + 40
                while received < 2000 and time.monotonic() < deadline:  # the app's first frames
                    message = await ws.receive(timeout=30)
                    received += len(message.data or b"")
                apps = _processes_running(str(run_file))
                os.kill(server.pid, signal.SIGKILL)  # the server alone, not its group
                return apps

        apps = asyncio.run(session_then_kill())
        assert apps, "the browser session started no app process"
        deadline = time.monotonic() + 15
        while _processes_running(str(run_file)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _processes_running(str(run_file)) == [], "an app outlived its server"
