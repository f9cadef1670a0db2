"""A sweep's first paint in a real terminal (tmux 80x24, capture-pane): ``lstm-top runs/`` shows
the run table before Textual has loaded, Textual takes over without a blank screen and without
changing a cell of the table painted, and the table then fills in the signs; keys typed
meanwhile are not lost."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.bench_sweep_view import write_sweep
from tests.e2e.test_tmux_first_paint import _screens_until, _tmux, visible_cells

pytestmark = [pytest.mark.e2e]

TEXTUAL_ONLY = "Quit"  # the footer: Textual draws it, the first paint does not


def _start(tmp_path: Path, folder: Path) -> str:
    session = f"lstm-top-sweep-{os.getpid()}-{time.monotonic_ns()}"
    env = {"TERM": "xterm-256color", "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    for attempt in range(3):  # a tmux server still exiting after the last session refuses
        try:
            _tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24",
                  f"env {prefix} {sys.executable} -m lstm_top {folder}; sleep 30")
            break
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
            time.sleep(0.3)
    return session


def test_a_sweep_is_painted_before_textual_and_taken_over_cell_for_cell(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    write_sweep(folder, 200)
    session = _start(tmp_path, folder)
    try:
        screens = _screens_until(session, TEXTUAL_ONLY)
        first = next(i for i, screen in enumerate(screens) if "200 runs" in screen)
        assert TEXTUAL_ONLY not in screens[first], "no first paint: Textual drew the table"
        painted = screens[first].splitlines()
        assert "sorted by worst" in painted[0] and "trial_" in painted[2]
        assert all("200 runs" in screen for screen in screens[first:])  # never blank
        shown, before = visible_cells(screens[-1]), visible_cells(screens[first])
        for row in range(23):  # the summary, header and rows; the scroll bar's column left
            assert shown[row][:79] == before[row][:79], f"row {row}"
        # Then the signs: one run in five over-fits, each flagged; the whole sweep judged.
        deadline = time.monotonic() + 60
        screen = ""
        while time.monotonic() < deadline:
            screen = _tmux("capture-pane", "-p", "-t", session)
            if "40 with warnings" in screen and "signs " not in screen.splitlines()[0]:
                break
            time.sleep(0.1)
        assert "200 runs · 40 with warnings · all finished" in screen, screen
        assert "✖ stagnating" in screen.splitlines()[2]
        _tmux("send-keys", "-t", session, "enter")  # the worst run opens on its chart
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            screen = _tmux("capture-pane", "-p", "-t", session)
            if "━━ val" in screen:
                break
            time.sleep(0.1)
        assert "━━ val" in screen and "stagnating" in screen, screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
