"""lstm-top in a real terminal: tmux at 80x24, a writer appending epochs, capture-pane reads it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.functional.histories import append_epochs, run_text

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")]


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def _wait_for_screen(session: str, needle: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux("capture-pane", "-p", "-t", session)
        if needle in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared; last screen:\n{screen}")


@pytest.mark.parametrize("term", ["xterm-256color", "screen-256color", "tmux-256color"])
def test_follows_appends_and_quits_cleanly(tmp_path: Path, term: str) -> None:
    history = tmp_path / "run.jsonl"
    history.write_text(run_text("stagnating", 5, end=None))
    status_file = tmp_path / "status"
    session = f"lstm-top-e2e-{os.getpid()}-{term.split('-')[0]}"
    command = (f"TERM={term} {sys.executable} -m lstm_top {history}; "
               f"echo $? > {status_file}")
    _tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", command)
    try:
        _wait_for_screen(session, "epoch 5")
        append_epochs(history, "stagnating", 6, 60)
        screen = _wait_for_screen(session, "epoch 60")
        screen = _wait_for_screen(session, "stagnating val loss")
        # Severity reads as text, not only as colour (a live stagnation starts as INFO and
        # becomes a WARNING as it lasts: the signs' warning_since).
        assert any(label in screen for label in ("INFO", "WARNING", "CRITICAL")), screen
        assert "since epoch" in screen
        assert "Traceback" not in screen
        _tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 10
        while not status_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status_file.read_text().strip() == "0"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
