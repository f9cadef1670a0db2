"""A sweep's first paint in a real terminal (tmux 80x24, capture-pane): ``lstm-top runs/`` shows
the run table before Textual has loaded, Textual takes over without a blank screen and without
changing a cell of the table painted, and the table then fills in the signs; keys typed
meanwhile are not lost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.bench_sweep_view import write_sweep
from tests.e2e.test_tmux_first_paint import visible_cells
from tests.e2e.tmux import needs_tmux, viewer
from tests.waiting import WAIT_S

pytestmark = [pytest.mark.e2e, needs_tmux]

TEXTUAL_ONLY = "Quit"  # the footer: Textual draws it, the first paint does not


def test_a_sweep_is_painted_before_textual_and_taken_over_cell_for_cell(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    write_sweep(folder, 200)
    with viewer(tmp_path, folder) as shown:
        pane = shown.pane
        screens = pane.screens_until(TEXTUAL_ONLY)
        first = next(i for i, screen in enumerate(screens) if "200 runs" in screen)
        assert TEXTUAL_ONLY not in screens[first], "no first paint: Textual drew the table"
        painted = screens[first].splitlines()
        assert "sorted by worst" in painted[0] and "trial_" in painted[2]
        assert all("200 runs" in screen for screen in screens[first:])  # never blank
        # The paint is compared as it stood last before Textual's frame: tmux may be caught
        # halfway through writing it, so the first screen that shows it can be partial.
        shown_cells, before = visible_cells(screens[-1]), visible_cells(screens[-2])
        for row in range(23):  # the summary, header and rows; the scroll bar's column left
            assert shown_cells[row][:79] == before[row][:79], f"row {row}"
        # Then the signs: one run in five over-fits, each flagged; the whole sweep judged.
        deadline = time.monotonic() + 2 * WAIT_S
        screen = ""
        while time.monotonic() < deadline:
            screen = pane.screen()
            if "40 with warnings" in screen and "signs " not in screen.splitlines()[0]:
                break
            time.sleep(0.1)
        assert "200 runs · 40 with warnings · all finished" in screen, screen
        assert "✖ stagnating" in screen.splitlines()[2]
        pane.send("enter")  # the worst run opens on its chart
        pane.wait_for("━━ val", "stagnating")
