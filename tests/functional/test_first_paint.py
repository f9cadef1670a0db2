"""The first paint (``lstm_top.ui.first_paint``): what the command line writes before Textual has
loaded must be what Textual's first frame then paints over it, cell by cell — the same
characters, colours and boldness in the status line, the chart and its legend — at several
terminal sizes; the rest of the screen is Textual's to fill. Real Textual pilots; the real
terminal hand-over is tested in ``tests/e2e/test_tmux_first_paint.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstm_top.ui.app import LstmTopApp
from lstm_top.ui.first_paint import (
    BACKGROUND,
    FOREGROUND,
    STATUS_BACKGROUND,
    FirstPaint,
    build_first_paint,
    plot_rows,
    wanted,
)
from tests.functional.histories import STARTED, run_text
from tests.functional.pilots import wait_painted, wait_until

pytestmark = pytest.mark.anyio
NOW = STARTED + 3600.0


def _cells(runs: list[tuple[str, object]]) -> list[tuple[str, str, str, bool]]:
    """(character, foreground, background, bold) of every cell of a row (a blank's foreground
    and boldness show nothing: left out)."""
    cells = []
    for text, style in runs:
        color = style.color.triplet.hex if style.color and style.color.triplet else None
        back = style.bgcolor.triplet.hex if style.bgcolor and style.bgcolor.triplet else None
        cells += [(char, None, back, False) if char == " " else
                  (char, color, back, bool(style.bold)) for char in text]
    return cells


async def _first_frame(path: Path, first: FirstPaint, size: tuple[int, int]
                       ) -> tuple[tuple[int, int], int, list[list[tuple[str, object]]]]:
    """(chart size, plot rows, the screen's rows) of Textual's settled frame."""
    app = LstmTopApp([str(path)], clock=lambda: NOW, first_paint=first)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, app.is_settled, what="the app settled")
        await wait_painted(pilot)
        strips = app.screen._compositor.render_strips()
        rows = [[(segment.text, segment.style) for segment in strip] for strip in strips]
        return app.loss_plot.chart_size(), app.loss_plot.size.height, rows


@pytest.mark.parametrize("size", [(80, 24), (100, 32), (120, 40), (60, 20)])
async def test_textual_paints_over_the_first_paint_with_the_same_cells(
        tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "healthy.jsonl"  # no warning sign: the settled frame is the first one
    path.write_text(run_text("healthy", 40))
    width, height = size
    first = build_first_paint(str(path), width, height, now=NOW)
    assert first is not None and not first.painted
    assert "epoch 40" in first.status.plain and "━━ val" in first.legend.plain
    chart_size, plot_height, textual_rows = await _first_frame(path, first, size)
    assert chart_size == first.chart_size  # the layout was foreseen
    assert plot_rows(height) == plot_height
    painted = 1 + first.chart_size[1] + 2  # status line, chart, legend: the first paint's part
    for y in range(painted):
        assert _cells(first.rows[y]) == _cells(textual_rows[y]), f"row {y} differs"
    # The rest was only the screen's background, which Textual fills with the panels.
    assert {cell[2] for y in range(painted, height) for cell in _cells(first.rows[y])} == \
        {BACKGROUND}
    status = _cells(first.rows[0])
    assert {cell[2] for cell in status} == {STATUS_BACKGROUND}
    assert any(cell[1] == FOREGROUND for cell in status)


async def test_a_large_file_is_painted_from_its_tail_as_the_follower_shows_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lstm_top.sources.follow as follow

    # A small threshold stands for the 8 MiB of a real large file (same code path).
    monkeypatch.setattr(follow, "TAIL_FIRST_BYTES", 4096)
    monkeypatch.setattr(follow, "TAIL_PREVIEW_BYTES", 2048)
    path = tmp_path / "big.jsonl"
    path.write_text(run_text("stagnating", 400))
    first = build_first_paint(str(path), 80, 24, now=NOW)
    assert first is not None
    assert "reading ░░░░░░░░ 0%" in first.status.plain and "epoch 400" in first.status.plain
    assert "stagnating" in first.status.plain  # the header was read: the run's name
    app = LstmTopApp([str(path)], clock=lambda: NOW, first_paint=first)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, app.is_settled, what="the whole run read")
        status = app.status_header.plain_text
        assert "reading" not in status and "epoch 400" in status


async def test_the_follower_starts_from_the_first_paints_tail_without_reading_it_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lstm_top.sources.follow as follow

    monkeypatch.setattr(follow, "TAIL_FIRST_BYTES", 4096)
    monkeypatch.setattr(follow, "TAIL_PREVIEW_BYTES", 2048)
    path = tmp_path / "big.jsonl"
    path.write_text(run_text("stagnating", 400))
    first = build_first_paint(str(path), 80, 24, now=NOW)
    assert first is not None and first.preview is not None
    tails_read = []
    real_read_tail = follow.read_tail
    monkeypatch.setattr(follow, "read_tail", lambda *a, **k: tails_read.append(a) or
                        real_read_tail(*a, **k))
    app = LstmTopApp([str(path)], clock=lambda: NOW, first_paint=first)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, app.is_settled, what="the whole run read")
        assert "epoch 400" in app.status_header.plain_text
        assert len(app.runs[str(path)].history.epochs) == 400  # the whole run replaced it
    assert tails_read == []
    # Without a first paint the follower reads its own preview from the tail.
    app = LstmTopApp([str(path)], clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, app.is_settled, what="the whole run read")
    assert len(tails_read) == 1


def test_the_first_paint_applies_only_to_one_json_lines_file_on_a_terminal(
        tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text(run_text("healthy", 5))
    # Under pytest stdin/stdout are not a terminal: never painted.
    assert wanted([str(path)]) is None
    assert build_first_paint(str(tmp_path / "missing.jsonl"), 80, 24) is None
    waiting = tmp_path / "empty.jsonl"
    waiting.write_text("")
    assert build_first_paint(str(waiting), 80, 24) is None  # nothing worth painting first
