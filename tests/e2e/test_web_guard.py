"""Issue 16: ``--web`` takes no orders from other web pages. A real server process, real HTTP
and websocket clients (aiohttp) playing the browser and the hostile page."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("textual_serve", reason="textual-serve not installed "
                                            "(pip install lstm-top[web])")
aiohttp = pytest.importorskip("aiohttp")

from lstm_top import Logger  # noqa: E402
from lstm_top.web import KEY_COOKIE, MAX_WEB_SESSIONS  # noqa: E402

ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat_file:
                    ppid = int(stat_file.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == pid:
                found.add(int(entry))
    return found


async def _first_bytes(ws: aiohttp.ClientWebSocketResponse, timeout: float = 20.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await ws.receive(timeout=deadline - time.monotonic())
        if message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
            data = message.data if isinstance(message.data, bytes) else message.data.encode()
            if data:
                return data
        if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            break
    return b""


def test_other_origins_no_key_and_too_many_sessions_are_refused(tmp_path: Path) -> None:
    run = tmp_path / "run.jsonl"
    with Logger(run, run_name="guarded") as logger:
        logger.log(epoch=1, loss=1.0, val_loss=1.1)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "lstm_top.web", str(run), "--port",
                               str(port)], stderr=subprocess.PIPE, text=True,
                              start_new_session=True, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(ROOT),
                                   "XDG_CONFIG_HOME": str(tmp_path / "config")})
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+)/\?key=(\S+)", line)
        assert found, line
        base, key = found.group(1), found.group(2)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        asyncio.run(_probe(base, key, server.pid, tmp_path))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)


async def _probe(base: str, key: str, server_pid: int, folder: Path) -> None:
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{base}/") as response:
            assert response.status == 403  # no key: another page cannot even load the app
        async with anonymous.get(f"{base}/?key=wrong") as response:
            assert response.status == 403
        async with anonymous.get(f"{base}/", headers={"Host": f"evil.example:{base[-4:]}"},
                                 params={"key": key}) as response:
            assert response.status == 403  # a DNS-rebound name
    # A browser keeps cookies of 127.0.0.1; aiohttp does only when told it may.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(f"{base}/?key={key}") as response:
            assert response.status == 200
            cookie = response.headers.get("Set-Cookie", "")
            assert KEY_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        ws_url = base.replace("http://", "ws://") + "/ws?width=80&height=24"
        # Before: accepted; it streamed the screen and took keystrokes ("e" wrote files).
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await browser.ws_connect(ws_url, headers={"Origin": "http://evil.example"})
        assert refused.value.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await browser.ws_connect(ws_url)  # no Origin at all: not a browser page of ours
        sessions = []
        for _ in range(MAX_WEB_SESSIONS):
            ws = await browser.ws_connect(ws_url, headers={"Origin": base})
            sessions.append(ws)
        assert await _first_bytes(sessions[0]), "the app drew nothing"
        # Before: 20 connections started 20 app processes.
        with pytest.raises(aiohttp.WSServerHandshakeError) as full:
            await browser.ws_connect(ws_url, headers={"Origin": base})
        assert full.value.status == 503
        assert len(_children(server_pid)) <= MAX_WEB_SESSIONS
        for ws in sessions:
            await ws.close()
    assert not list(folder.glob("lstm-top-*.svg"))  # nothing exported by anyone
