"""The first paint of a sweep (``lstm_top.ui.sweep_paint``): the run table the command line
writes before Textual has loaded must be what Textual's first frame paints over it, cell by
cell — the summary line, the header and the rows, in the same characters, colours and
boldness — at several terminal sizes, and the app must take the runs it read over as they are
(no file read twice). Real Textual pilots; the real terminal in tests/e2e/test_tmux_sweep.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstm_top.ui.app import LstmTopApp
from lstm_top.ui.components.run_table import RunTableScreen
from lstm_top.ui.sweep_paint import build_sweep_paint, wanted
from tests.functional.pilots import wait_painted, wait_until
from tests.functional.test_first_paint import _cells
from tests.unit.test_sweep import write_trial

pytestmark = pytest.mark.anyio
NOW = 5000.0


def _sweep(folder: Path, runs: int, live: int | None = None) -> None:
    for index in range(runs):
        path = write_trial(folder, f"trial_{index:03d}", (0.1, 0.01, 0.001)[index % 3],
                           (32, 64)[index % 2], overfits=index % 5 == 0)
        if index == live:  # no end record: this one is not finished
            lines = path.read_text().splitlines()
            path.write_text("\n".join(lines[:20]) + "\n")


async def _first_table_frame(folder: Path, paint: object, size: tuple[int, int]
                             ) -> tuple[LstmTopApp, list[list[tuple[str, object]]]]:
    app = LstmTopApp([str(folder)], clock=lambda: NOW, sweep_paint=paint)  # type: ignore[arg-type]
    # Held: the signs would change the rows after the first frame, which is what is compared.
    app._start_diagnosis = lambda: None  # type: ignore[method-assign]
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunTableScreen)
                         and app.screen.composed and app.screen.table.row_count > 0,
                         what="the table's first rows")
        await wait_painted(pilot)
        strips = app.screen._compositor.render_strips()
        return app, [[(segment.text, segment.style) for segment in strip] for strip in strips]


@pytest.mark.parametrize(("runs", "size", "live"), [
    (200, (80, 24), None), (200, (100, 32), 7), (60, (60, 20), None), (12, (80, 24), 3)])
async def test_textual_paints_over_the_sweep_paint_with_the_same_cells(
        tmp_path: Path, runs: int, size: tuple[int, int], live: int | None) -> None:
    folder = tmp_path / "sweep"
    _sweep(folder, runs, live)
    width, height = size
    paint = build_sweep_paint(str(folder), width, height, now=NOW)
    assert paint is not None and not paint.painted
    assert paint.summary.startswith(f"{runs} runs")
    assert ("state" in paint.labels) == (live is not None)  # shown only when states differ
    assert {"lr", "batch"} <= set(paint.labels)
    histories = {path: source.history for path, source in paint.sources}
    app, textual_rows = await _first_table_frame(folder, paint, size)
    for y in range(1 + paint.table_rows):  # the summary line, the table's header and rows
        painted = _cells(paint.rows[y])[: paint.table_width]
        assert painted == _cells(textual_rows[y])[: paint.table_width], f"row {y} differs"
    assert "trial_" in "".join(text for text, _ in paint.rows[2])
    # The app follows the very sources the paint read: the same histories, not read again.
    assert len(app.runs) == runs
    assert all(app.runs[path].history is history for path, history in histories.items())


def test_the_sweep_paint_applies_only_to_a_folder_of_our_runs_on_a_terminal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "sweep"
    _sweep(folder, 12)
    assert wanted([str(folder)]) is None  # under pytest stdin is not a terminal
    assert build_sweep_paint(str(folder), 80, 24, now=NOW) is not None
    few = tmp_path / "few"
    _sweep(few, 3)
    assert build_sweep_paint(str(few), 80, 24, now=NOW) is None  # the app opens on the chart
    (folder / "trial_000" / "metrics.csv").write_text("epoch,loss,val_loss\n1,0.5,0.6\n")
    assert build_sweep_paint(str(folder), 80, 24, now=NOW) is None  # another format in it
    # A walk that takes longer than its budget (a big tree that is no sweep) is left to the
    # viewer's folder watcher, with the screen up.
    import lstm_top.ui.sweep_paint as sweep_paint

    other = tmp_path / "other"
    _sweep(other, 12)
    assert build_sweep_paint(str(other), 80, 24, now=NOW) is not None
    monkeypatch.setattr(sweep_paint, "WALK_BUDGET_S", -1.0)
    assert build_sweep_paint(str(other), 80, 24, now=NOW) is None
