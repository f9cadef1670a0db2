"""``ChartArea`` paints a chart's cells exactly as a ``Static`` would (the widget it replaced
for speed): the same characters, colours, dimming and boldness, cropped and padded alike. Real
Textual pilots; the cells are read from the compositor."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from lstm_top.ui.chart import ChartOptions, ChartSpec, Line, render
from lstm_top.ui.components.chart_area import ChartArea
from tests.functional.pilots import wait_painted

pytestmark = pytest.mark.anyio
WIDTH, HEIGHT = 30, 8


class SideBySide(App[None]):
    CSS = f"Static, ChartArea {{ width: {WIDTH}; height: {HEIGHT}; }}"

    def __init__(self, text: Text) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static(self.text, id="static")
            yield ChartArea(self.text, id="area")


def _cells(app: App[None], widget_id: str) -> list[list[tuple[str, object]]]:
    region = app.query_one(f"#{widget_id}").region
    strips = app.screen._compositor.render_strips()
    rows = []
    for y in range(region.y, region.bottom):
        cells: list[tuple[str, object]] = []
        for segment in strips[y]:
            # What is painted; not the Static's character offsets (for selecting its text).
            style = segment.style.clear_meta_and_links() if segment.style else None
            cells += [(char, style) for char in segment.text]
        rows.append(cells[region.x:region.right])
    return rows


def _plotext_chart() -> Text:
    import numpy as np

    x = np.arange(1.0, 41.0)
    spec = ChartSpec(WIDTH, HEIGHT, ChartOptions())
    spec.lines = [Line("train", x, 1 / x, 39, "•"), Line("val", x, 1.2 / x + 0.1, 208, "+"),
                  Line("raw", x, 1.1 / x, 240, "·", faint=True)]
    return Text.from_ansi(render(spec), no_wrap=True, overflow="crop")


CHARTS = {
    "plotext": _plotext_chart,
    "dim message": lambda: Text("waiting for the first epoch…", style="dim"),
    "no colour": lambda: Text("line one\n\nline three", no_wrap=True, overflow="crop"),
    "a message that wraps": lambda: Text("no loss column to plot (try --train-key / --val-key)",
                                         style="dim"),
}


def _overlapping() -> Text:
    text = Text.assemble(("ab", "bold red"), "cd\nef", ("gh", "dim"), no_wrap=True)
    text.stylize("underline", 1, 7)
    text.stylize("on #203040", 3, 9)
    return text


CHARTS["overlapping spans"] = _overlapping


def _status_line(name: str = "run-42") -> Text:
    from lstm_top.ui.status_line import compose_text

    return compose_text([(name, "bold"), ("● live", "bold green"), ("epoch 12", ""),
                         ("elapsed 3s", "")])


CHARTS["status line"] = _status_line
CHARTS["status line too long: an ellipsis"] = lambda: _status_line("a-very-long-run-name")
CHARTS["a legend that fits"] = lambda: Text.assemble(("━━ val", "color(208)"), "  ",
                                                     ("◆ best 0.1 @4", "color(226)"))
CHARTS["a legend that wraps"] = lambda: Text.assemble(("━━ train loss", "color(39)"), "  ",
                                                      ("━━ validation loss", "color(208)"))


async def test_a_new_text_changing_one_line_repaints_it_as_a_static_does() -> None:
    """An update repaints only the lines that changed (the rest stay as painted): the cells
    are still the Static's, the unchanged lines and the changed one."""
    before = _plotext_chart()
    lines = before.split("\n", allow_blank=True)
    lines[2] = Text("a changed line", style="bold")
    after = Text("\n", no_wrap=True, overflow="crop").join(lines)
    app = SideBySide(before)
    async with app.run_test(size=(2 * WIDTH + 2, HEIGHT + 2)) as pilot:
        await wait_painted(pilot)
        app.query_one(Static).update(after)
        app.query_one(ChartArea).show(after)
        await wait_painted(pilot)
        assert _cells(app, "area") == _cells(app, "static")
        assert "".join(char for char, _ in _cells(app, "area")[2]).startswith("a changed line")


@pytest.mark.parametrize("kind", sorted(CHARTS))
async def test_chart_area_paints_the_cells_a_static_paints(kind: str) -> None:
    text = CHARTS[kind]()
    app = SideBySide(text)
    async with app.run_test(size=(2 * WIDTH + 2, HEIGHT + 2)) as pilot:
        await wait_painted(pilot)
        assert _cells(app, "area") == _cells(app, "static")
        assert any(char != " " for char, _ in _cells(app, "area")[0])
        new = Text("after an update", style="bold")
        app.query_one(Static).update(new)
        app.query_one(ChartArea).show(new)
        await wait_painted(pilot)
        assert _cells(app, "area") == _cells(app, "static")
        assert "".join(char for char, _ in _cells(app, "area")[0]).startswith("after an update")


async def test_a_figure_wider_than_the_area_is_cropped_not_wrapped() -> None:
    """A figure built for a wider area (shown until the one for the new size is built) keeps
    its rows: each is cut at the edge, none runs into the next."""
    text = Text("\n".join(f"row {y} " + "x" * WIDTH for y in range(HEIGHT + 3)), no_wrap=True,
                overflow="crop")
    app = SideBySide(text)
    async with app.run_test(size=(2 * WIDTH + 2, HEIGHT + 2)) as pilot:
        await wait_painted(pilot)
        rows = ["".join(char for char, _ in row) for row in _cells(app, "area")]
        assert rows == [(f"row {y} " + "x" * WIDTH)[:WIDTH] for y in range(HEIGHT)]


async def test_what_is_shown_before_the_panels_children_are_mounted_appears_once_they_are(
) -> None:
    # A sweep's first findings (or a view) can arrive between a panel's mount and its
    # children's, under load: that once crashed the viewer ("No nodes match '#findings'").
    from lstm_top.signs import Finding, Severity
    from lstm_top.ui.components.plot import LossPlot
    from lstm_top.ui.components.warnings import WarningsPanel

    finding = Finding("oscillating_val_loss", Severity.WARNING, 3, None,
                      "val loss swung 3 times", {}, "lower the lr", warning_since=3)
    app = App[None]()
    async with app.run_test(size=(60, 16)) as pilot:
        panel, plot = WarningsPanel(id="warnings"), LossPlot(id="plot")
        mounting = app.mount(panel, plot)  # attached now, their children not mounted yet
        panel.show([finding])
        plot.show(Text("the chart"), Text("the legend"))
        await mounting
        await wait_painted(pilot)
        strips = app.screen._compositor.render_strips()
        shown = "\n".join("".join(segment.text for segment in strip) for strip in strips)
        assert "oscillating val loss" in shown and "the chart" in shown and "the legend" in shown
