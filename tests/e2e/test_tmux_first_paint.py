"""The first paint in a real terminal (tmux 80x24, capture-pane): the chart is on the screen
before Textual has loaded, Textual takes over without a blank screen and without moving a
cell of it, keys typed meanwhile are not lost, and the terminal is given back as it was."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.functional.histories import run_text

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")]

TEXTUAL_ONLY = "Quit"  # the footer: Textual draws it, the first paint does not
PAINTED_ROWS = 14  # status line, 11 chart rows, the legend's two rows (80x24)


_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def visible_cells(screen: str) -> list[list[tuple[str, str, str, bool]]]:
    """(character, foreground, background, bold) per cell, per row, of a ``capture-pane -e``
    screen (whose colours carry on from row to row); a blank's foreground and boldness show
    nothing, so they are left out."""
    rows: list[list[tuple[str, str, str, bool]]] = [[]]
    fg = bg = "default"
    bold = False
    position = 0
    for match in [*_SGR.finditer(screen), None]:
        end = match.start() if match is not None else len(screen)
        for char in screen[position:end]:
            if char == "\n":
                rows.append([])
            else:
                rows[-1].append((char, "", bg, False) if char == " " else (char, fg, bg, bold))
        if match is None:
            break
        position = match.end()
        codes = [int(c) if c else 0 for c in match.group(1).split(";")]
        while codes:
            code = codes.pop(0)
            if code == 0:
                fg = bg = "default"
                bold = False
            elif code == 1:
                bold = True
            elif code == 22:
                bold = False
            elif code in (38, 48):
                kind = codes.pop(0)
                value = str(codes.pop(0)) if kind == 5 else ",".join(
                    str(codes.pop(0)) for _ in range(3))
                fg, bg = (value, bg) if code == 38 else (fg, value)
            elif code == 39:
                fg = "default"
            elif code == 49:
                bg = "default"
    return rows


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def _start(tmp_path: Path, history: Path) -> tuple[str, Path]:
    session = f"lstm-top-first-paint-{os.getpid()}-{time.monotonic_ns()}"
    status = tmp_path / "status"
    env = {"TERM": "xterm-256color", "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    for attempt in range(3):  # a tmux server still exiting after the last session refuses
        try:
            _tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24",
                  f"env {prefix} {sys.executable} -m lstm_top {history}; "
                  f"echo exited:$? > {status}; sleep 30")
            break
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
            time.sleep(0.3)
    return session, status


def _screens_until(session: str, done: str, timeout: float = 30.0) -> list[str]:
    """Every distinct screen (with its colours: capture-pane -e) until ``done`` shows."""
    screens: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = _tmux("capture-pane", "-e", "-p", "-t", session)
        if not screens or screen != screens[-1]:
            screens.append(screen)
        if done in screen:
            return screens
        time.sleep(0.003)
    raise AssertionError(f"{done!r} never appeared:\n{screens[-1] if screens else ''}")


def test_textual_takes_over_the_first_paint_without_a_blank_or_a_moved_cell(
        tmp_path: Path) -> None:
    history = tmp_path / "run.jsonl"
    history.write_text(run_text("healthy", 60))
    session, _ = _start(tmp_path, history)
    try:
        screens = _screens_until(session, TEXTUAL_ONLY)
        first = next(i for i, screen in enumerate(screens) if "━━ val" in screen)
        assert TEXTUAL_ONLY not in screens[first], "no first paint: Textual drew the chart"
        painted = screens[first].splitlines()
        assert "epoch 60" in painted[0] and "finished" in painted[0]
        # From the first paint on, the chart never leaves the screen (no blank, no clear)...
        assert all("━━ val" in screen for screen in screens[first:])
        # ...and Textual's frame has the very same cells (characters and colours) where the
        # first paint put them; only the panels and the footer were added.
        shown, before = visible_cells(screens[-1]), visible_cells(screens[first])
        for row in range(PAINTED_ROWS):
            assert shown[row] == before[row], f"row {row}"
        assert "2;" not in "".join(screens[first:])  # no dim: Textual paints dim as a colour
        assert "metrics" in screens[-1] and "metrics" not in screens[first]
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_keys_typed_before_textual_is_up_are_not_lost_and_the_terminal_comes_back(
        tmp_path: Path) -> None:
    history = tmp_path / "run.jsonl"
    history.write_text(run_text("healthy", 60))
    session, status = _start(tmp_path, history)
    try:
        deadline = time.monotonic() + 30
        screen = ""
        while "━━ val" not in screen and time.monotonic() < deadline:
            screen = _tmux("capture-pane", "-p", "-t", session)
            time.sleep(0.003)
        _tmux("send-keys", "-t", session, "l")  # the log scale, typed during the hand-over
        typed_early = TEXTUAL_ONLY not in _tmux("capture-pane", "-p", "-t", session)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            screen = _tmux("capture-pane", "-p", "-t", session)
            if TEXTUAL_ONLY in screen and "[log]" in screen:
                break
            time.sleep(0.05)
        assert "[log]" in screen, screen  # the key was read by Textual once it started
        assert screen.splitlines()[0].startswith(" healthy")  # and never echoed on the screen
        assert typed_early, "Textual was up before the key could be typed: nothing tested"
        _tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 10
        while not status.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status.read_text().strip() == "exited:0"
        time.sleep(0.2)
        # The terminal as it was: off the alternate screen, echo and line editing back on.
        _tmux("send-keys", "-t", session, "echo typed-after")
        time.sleep(0.3)
        after = _tmux("capture-pane", "-p", "-t", session)
        assert "━━" not in after and "echo typed-after" in after
        assert "off" in subprocess.run(
            ["tmux", "display-message", "-p", "-t", session, "#{?alternate_on,on,off}"],
            check=True, capture_output=True, text=True).stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
