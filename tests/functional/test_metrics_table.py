"""The metrics table draws its own lines (``MetricsTable.render_line``, for speed); they must be
the lines Textual's DataTable draws for the same table, segment for segment — text, colours,
boldness and the row/column a mouse click reads — unfocused and focused, the cursor on each
row, the mouse over a row, narrow and wide, scrolled. Real Textual pilots on a real run."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from lstm_top.ui.app import LstmTopApp
from lstm_top.ui.components.metrics import MetricsTable
from tests.functional.histories import STARTED, write_run
from tests.functional.pilots import wait_painted, wait_until

pytestmark = pytest.mark.anyio


def _lines(table: MetricsTable) -> tuple[list[object], list[object]]:
    height = table.size.height
    own = [list(table.render_line(y)) for y in range(height)]
    datatable = [list(DataTable.render_line(table, y)) for y in range(height)]
    return own, datatable


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (80, 14)])
async def test_the_metrics_lines_are_the_lines_datatable_draws(tmp_path: Path,
                                                              size: tuple[int, int]) -> None:
    path = write_run(tmp_path / "gap.jsonl", "subset_gap", 50)
    app = LstmTopApp([str(path)], clock=lambda: STARTED + 10_000.0)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, app.is_settled, what="the app settled")
        table = app.query_one("#metrics", MetricsTable)
        assert table.row_count >= 4
        await wait_painted(pilot)  # settled is the data; the layout may come a frame later
        own, datatable = _lines(table)
        assert own == datatable
        assert any("val_loss" in segment.text for segment in own[2])
        await pilot.press("tab")
        assert app.focused is table
        for _ in range(table.row_count + 1):  # every row, and past the last (scrolled)
            own, datatable = _lines(table)
            assert own == datatable, f"cursor on row {table.cursor_row}"
            await pilot.press("down")
        if size[1] < 24:
            return  # a row or two on screen: no room for the mouse below
        # The mouse over a row: its hover highlight.
        await pilot.hover("#metrics", offset=(3, 2))
        await wait_painted(pilot)
        own, datatable = _lines(table)
        assert own == datatable
        await pilot.press("home")
        # A click picks its row from the line's segments: the border, the header, then rows.
        await pilot.click("#metrics", offset=(3, 3))
        await pilot.pause()
        assert table.cursor_row == 1
