"""The first paint in a real terminal (tmux 80x24, capture-pane): the chart is on the screen
before Textual has loaded, Textual takes over without a blank screen and without moving a
cell of it, keys typed meanwhile are not lost, and the terminal is given back as it was."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.e2e.tmux import needs_tmux, viewer
from tests.functional.histories import run_text
from tests.waiting import WAIT_S

pytestmark = [pytest.mark.e2e, needs_tmux]

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


def test_textual_takes_over_the_first_paint_without_a_blank_or_a_moved_cell(
        tmp_path: Path) -> None:
    history = tmp_path / "run.jsonl"
    history.write_text(run_text("healthy", 60))
    with viewer(tmp_path, history) as shown:
        screens = shown.pane.screens_until(TEXTUAL_ONLY)
        first = next(i for i, screen in enumerate(screens) if "━━ val" in screen)
        assert TEXTUAL_ONLY not in screens[first], "no first paint: Textual drew the chart"
        painted = screens[first].splitlines()
        assert "epoch 60" in painted[0] and "finished" in painted[0]
        # From the first paint on, the chart never leaves the screen (no blank, no clear)...
        assert all("━━ val" in screen for screen in screens[first:])
        # ...and Textual's frame has the very same cells (characters and colours) where the
        # first paint put them; only the panels and the footer were added.
        # The paint is compared as it stood last before Textual's frame: tmux may be caught
        # halfway through writing it, so the first screen that shows it can be partial.
        shown_cells, before = visible_cells(screens[-1]), visible_cells(screens[-2])
        for row in range(PAINTED_ROWS):
            assert shown_cells[row] == before[row], f"row {row}"
        assert "2;" not in "".join(screens[first:])  # no dim: Textual paints dim as a colour
        assert "metrics" in screens[-1] and "metrics" not in screens[first]


def test_keys_typed_before_textual_is_up_are_not_lost_and_the_terminal_comes_back(
        tmp_path: Path) -> None:
    history = tmp_path / "run.jsonl"
    history.write_text(run_text("healthy", 60))
    with viewer(tmp_path, history) as shown:
        pane = shown.pane
        deadline = time.monotonic() + WAIT_S
        while "━━ val" not in pane.screen() and time.monotonic() < deadline:
            time.sleep(0.003)  # the first paint may be on the screen for a moment only
        pane.send("l")  # the log scale, typed during the hand-over
        typed_early = TEXTUAL_ONLY not in pane.screen()
        screen = pane.wait_for(TEXTUAL_ONLY, "[log]")  # read by Textual once it started
        assert screen.splitlines()[0].startswith(" healthy")  # and never echoed on the screen
        assert typed_early, "Textual was up before the key could be typed: nothing tested"
        pane.send("q")
        assert shown.exit_status() == "0"
        # The terminal as it was: off the alternate screen, echo and line editing back on
        # (typed while the pane's shell waits: the terminal itself echoes it).
        pane.send("echo typed-after")
        after = pane.wait_for("echo typed-after")
        assert "━━" not in after
        assert pane.display("#{?alternate_on,on,off}") == "off"
