"""The first paint of a sweep: the run table on the terminal before Textual has loaded.

``lstm-top runs/`` on a folder of hundreds of runs waited for Textual's import (~0.5-1 s on a
busy small machine), then for its folder watcher to find the runs and their followers to read
them, before the table showed. A sweep's runs are small files: here, before importing Textual,
the command line finds the folder's runs as the watcher would (``formats.find_runs``), reads
each with the follower the viewer would follow it with (``FileFollower.check_now``: its own
first look, nothing else), and writes the table Textual's ``RunTableScreen`` will show first —
the summary line, the header and the first screen of rows, worst first, at the places and in
the colours Textual gives them (``ui.sweep_cells`` makes the cells for both). The app then
takes these followers over as they are (no file is read twice), opens on the table, and its
first frame paints the same cells over it; the scroll bars and the footer appear.

Skipped (``None``) whenever it cannot be both cheap and right: the terminal conditions of the
single-file first paint (``ui.first_paint``), fewer runs than open the table, any run that
is not one of our JSON Lines files, or is large (its follower would show a preview first), or
a walk that takes over ``WALK_BUDGET_S`` (a big tree that is no sweep: the watcher walks it).
Textual-free; nothing here may raise: a failure leaves the terminal as it was.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lstm_top.ui import sweep_cells
from lstm_top.ui.first_paint import (
    BACKGROUND,
    FOREGROUND,
    PaintedScreen,
    as_textual,
    on_a_terminal,
    paint_on_terminal,
)

if TYPE_CHECKING:
    from rich.style import Style
    from rich.text import Text

    from lstm_top.sources.follow import FileFollower
    from lstm_top.sweep import RunRow

# Textual's default theme (textual-dark) as it paints the run table screen: the summary line
# on ``$panel``, the table's header, its rows (zebra stripes) and the cursor on the first row
# of the focused table. tests/functional/test_sweep_paint.py compares them with Textual's frame.
SUMMARY_BACKGROUND = "#242f38"
HEADER_BACKGROUND = "#2d3740"
ROW_BACKGROUNDS = ("#1c1c1c", "#272727")  # even, odd rows
CURSOR_FOREGROUND, CURSOR_BACKGROUND = "#ddedf9", "#0178d4"
EMPTY_TABLE_BACKGROUND = "#1c1c1c"  # the focused table below its last row
SCROLLBAR_BACKGROUND = "#000000"
SCROLLBAR_WIDTH = 1  # the table's vertical scroll bar (its CSS); the horizontal one: a row
CELL_PADDING = 1
MIN_WIDTH, MIN_HEIGHT = 40, 8
# A run bigger than this is shown by its follower from its tail first: not painted here.
MAX_RUN_BYTES = 8 << 20
MAX_SWEEP_BYTES = 64 << 20
MAX_RUNS = 5000
# The folder's walk may take this long before Textual loads: a big tree that is not a sweep
# (a home folder) is walked by the viewer's folder watcher instead, with the screen up.
WALK_BUDGET_S = 1.0


class _OverBudget(Exception):
    pass


@dataclass
class SweepPaint(PaintedScreen):
    """What was painted, and the runs read for it (followers, read once, not started), for the
    app to take over."""

    folder: str  # absolute, as the folder watcher names it
    sources: list[tuple[str, FileFollower]]
    summary: str
    labels: list[str]
    table_rows: int = 0  # screen rows of the table painted (header included)
    table_width: int = 0  # columns of the table painted (the scroll bar's excluded)


def wanted(targets: list[str]) -> str | None:
    """The folder to paint first, or None when the sweep's first paint does not apply."""
    if not on_a_terminal(targets):
        return None
    return targets[0] if os.path.isdir(targets[0]) else None


def paint_sweep_first(targets: list[str], train_key: str | None = None,
                      val_key: str | None = None) -> SweepPaint | None:
    """Paint the run table of ``targets``' one folder of runs now, if the paint applies."""
    folder = wanted(targets)
    if folder is None:
        return None
    return paint_on_terminal(
        lambda width, height: build_sweep_paint(folder, width, height, train_key, val_key),
        lambda width, height: width >= MIN_WIDTH and height >= MIN_HEIGHT)


def read_sweep(folder: str) -> list[tuple[str, FileFollower]] | None:
    """The folder's runs as the folder watcher reports them, each read by the follower that
    will follow it; None unless every one is a JSON Lines file of ours, small enough."""
    from lstm_top.sources import inputs
    from lstm_top.sources.follow import FileFollower
    from lstm_top.sources.formats import (
        JSONL,
        _head,
        classify,
        classify_file,
        find_runs,
        looks_like_history,
    )
    from lstm_top.ui.sweep_table import SWEEP_TABLE_MIN_RUNS

    deadline = time.monotonic() + WALK_BUDGET_S

    def looks(path: str) -> bool:
        if time.monotonic() > deadline:
            raise _OverBudget
        return looks_like_history(path)

    folder = os.path.abspath(folder)
    if classify(folder) is not None:
        return None  # one run's folder (a TensorBoard log dir, a Ray trial): not a sweep
    paths: list[str] = []
    total = 0
    try:
        for path in find_runs(folder, looks=looks):
            if not os.path.isfile(path) or classify_file(path) is not JSONL \
                    or inputs.utf16_codec(_head(path, 4096)):
                return None  # another format: its reader may be slow, or wait
            size = os.stat(path).st_size
            total += size
            if size >= MAX_RUN_BYTES or total > MAX_SWEEP_BYTES or len(paths) >= MAX_RUNS \
                    or time.monotonic() > deadline:
                return None
            paths.append(path)
    except _OverBudget:
        return None
    if len(paths) < SWEEP_TABLE_MIN_RUNS:
        return None  # the app opens on the main view
    followers = []
    for path in paths:
        follower = FileFollower(path)
        follower.check_now()  # the follower's first look: what the app would read first
        followers.append((path, follower))
    return followers


def build_sweep_paint(folder: str, width: int, height: int, train_key: str | None = None,
                      val_key: str | None = None, now: float | None = None
                      ) -> SweepPaint | None:
    """The first paint of the sweep in ``folder`` for a ``width`` x ``height`` terminal (its
    runs read; nothing written)."""
    from lstm_top.sweep import rows_from_facts, sort_rows
    from lstm_top.ui.run_state import Run, SweepFacts

    now = time.time() if now is None else now
    sources = read_sweep(folder)
    if sources is None:
        return None
    # The runs as the app's run book will hold them (it adds these very sources).
    runs = [Run(path, source, train_key, val_key) for path, source in sources]
    config_keys, rows = rows_from_facts(SweepFacts().entries(runs, now))
    labels = sweep_cells.columns(config_keys, rows)
    shown = sort_rows(rows, "worst")[:sweep_cells.NEW_ROWS_FIRST_PAINT]
    summary = sweep_cells.summary(rows, len(rows), "worst", judging=(0, len(rows)))
    paint = SweepPaint(os.path.abspath(folder), sources, summary, labels)
    paint.rows = screen_rows(paint, shown, width, height)
    return paint


# ---------------------------------------------------------------------------- the screen

def _style(spec: str) -> Style:
    from rich.style import Style

    return Style.parse(spec)


def screen_rows(paint: SweepPaint, shown: list[RunRow], width: int, height: int
                ) -> list[list[tuple[str, Style]]]:
    """Every row of the screen as (text, style) runs, as Textual paints the run table: the
    summary line, the table's header and rows (the cursor on the first); the scroll bars'
    columns and the footer's row are left blank for Textual."""
    from rich.text import Text

    labels = paint.labels
    styled = [sweep_cells.styled(labels, sweep_cells.cells(row, labels), row.severity, False)
              for row in shown]
    widths = [max([Text(label).cell_len, *(cells[i].cell_len for cells in styled)])
              for i, label in enumerate(labels)]
    content = sum(w + 2 * CELL_PADDING for w in widths)
    table_height = height - 2  # the summary line above, the footer below
    vertical_bar = 1 + len(shown) > table_height
    table_width = width - (SCROLLBAR_WIDTH if vertical_bar else 0)
    horizontal_bar = content > table_width
    data_rows = table_height - 1 - (1 if horizontal_bar else 0)
    paint.table_width = table_width
    paint.table_rows = 1 + min(data_rows, len(shown))

    blank = _style(f"on {BACKGROUND}")
    bar = [(" " * (width - table_width), _style(f"on {SCROLLBAR_BACKGROUND}"))] \
        if vertical_bar else []
    rows: list[list[tuple[str, Style]]] = []
    summary_base = _style(f"{FOREGROUND} on {SUMMARY_BACKGROUND}")
    summary = Text(" " + paint.summary)
    summary.truncate(width - 1, overflow="ellipsis")
    rows.append(_cells_row([summary], [width - 1], summary_base, width, padding=0))
    header_base = _style(f"bold {FOREGROUND} on {HEADER_BACKGROUND}")
    rows.append(_cells_row([Text(label) for label in labels], widths, header_base,
                           table_width) + bar)
    for index, cells in enumerate(styled[:data_rows]):
        base = _style(f"bold {CURSOR_FOREGROUND} on {CURSOR_BACKGROUND}") if index == 0 \
            else _style(f"{FOREGROUND} on {ROW_BACKGROUNDS[index % 2]}")
        rows.append(_cells_row(cells, widths, base, table_width) + bar)
    empty = _style(f"on {EMPTY_TABLE_BACKGROUND}")
    while len(rows) < 1 + table_height - (1 if horizontal_bar else 0):
        rows.append([(" " * table_width, empty), *bar])
    while len(rows) < height:
        rows.append([(" " * width, blank)])
    return rows


def _cells_row(cells: list[Text], widths: list[int], base: Style, width: int,
               padding: int = CELL_PADDING) -> list[tuple[str, Style]]:
    """One table row: each cell padded to its column, the row cropped or filled to ``width``."""
    runs: list[tuple[str, Style]] = []
    used = 0
    background = base.bgcolor
    assert background is not None
    for cell, column_width in zip(cells, widths, strict=True):
        pieces = [(" " * padding, base)] if padding else []
        for start, end, style in _spans(cell):
            pieces.append((cell.plain[start:end], as_textual(base + style, background)))
        pieces.append((" " * (column_width - cell.cell_len + padding), base))
        for text, style in pieces:
            text = text[: max(0, width - used)]
            if text:
                runs.append((text, style if text.strip() else base))
                used += len(text)
    if used < width:
        runs.append((" " * (width - used), base))
    return runs


def _spans(text: Text) -> list[tuple[int, int, Style]]:
    """(start, end, style) of the text's one style (the cells are made with one)."""
    from rich.style import Style

    style = text.style if isinstance(text.style, Style) else Style.parse(text.style or "")
    return [(0, len(text.plain), style)] if text.plain else []
