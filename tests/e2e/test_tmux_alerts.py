"""A new warning in a real terminal: tmux at 80x24 sees the bell and the window title change
(``#{window_bell_flag}``, ``#{pane_title}``); ``--no-bell`` leaves both alone."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lstm_top import Logger

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")]


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def _wait(session: str, what: str, needle: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    value = ""
    while time.monotonic() < deadline:
        value = _tmux("display", "-p", "-t", session, what) if what != "screen" else \
            _tmux("capture-pane", "-p", "-t", session)
        if needle in value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared in {what}; last: {value!r}")


@pytest.mark.parametrize("bell", [True, False])
def test_a_new_warning_rings_the_bell_and_sets_the_title(tmp_path: Path, bell: bool) -> None:
    path = tmp_path / "run.jsonl"
    logger = Logger(path, run_name="nan-run")
    for epoch in range(1, 6):
        logger.log(epoch=epoch, loss=1.0 / epoch, val_loss=1.1 / epoch)
    session = f"lstm-top-alerts-{os.getpid()}-{int(bell)}"
    flags = "" if bell else " --no-bell"
    # The tree under test, whatever environment the tmux server was started with.
    pythonpath = os.environ.get("PYTHONPATH", "")
    _tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24",
          "-e", f"PYTHONPATH={pythonpath}",
          f"TERM=xterm-256color {sys.executable} -m lstm_top {path}{flags}")
    try:
        _wait(session, "screen", "epoch 5")
        # Textual is up (its footer), not only the first paint: what the viewer has seen
        # before it started is not a new warning.
        _wait(session, "screen", "Quit")
        _wait(session, "screen", "no warning signs")
        title_before = _tmux("display", "-p", "-t", session, "#{pane_title}")
        assert "nonfinite" not in title_before
        assert _tmux("display", "-p", "-t", session, "#{window_bell_flag}").strip() == "0"
        logger.log(epoch=6, loss=math.nan, val_loss=math.nan)
        screen = _wait(session, "screen", "nonfinite")  # the warning is on screen
        assert "CRITICAL" in screen
        if bell:
            title = _wait(session, "#{pane_title}", "lstm-top: critical nonfinite_loss")
            assert "nan-run" in title
            assert _tmux("display", "-p", "-t", session, "#{window_bell_flag}").strip() == "1"
        else:
            time.sleep(1.0)
            assert "nonfinite" not in _tmux("display", "-p", "-t", session, "#{pane_title}")
            assert _tmux("display", "-p", "-t", session, "#{window_bell_flag}").strip() == "0"
    finally:
        logger.close()
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
