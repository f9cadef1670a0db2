"""The main screen's regions: status line, run list, chart, warnings beside metrics.

It draws what the ``RunBook`` says and the ``View`` the render worker built; it decides nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from lstm_top.ui.components.metrics import MetricsTable
from lstm_top.ui.components.plot import LossPlot
from lstm_top.ui.components.run_list import RunList
from lstm_top.ui.components.status import StatusHeader, status_text
from lstm_top.ui.components.warnings import WarningsPanel
from lstm_top.ui.runs import RunBook
from lstm_top.ui.view import View

if TYPE_CHECKING:
    from lstm_top.ui.first_paint import FirstPaint


class MainView(Vertical):
    DEFAULT_CSS = "MainView { height: 1fr; }"
    # The first paint's status line, kept until the run it names has a view of its own.
    _first_status: Text | None = None

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="status")
        with Horizontal(id="body"):
            yield RunList(id="runs")
            with Vertical(id="main"):
                yield LossPlot(id="plot")
                with Horizontal(id="lower"):
                    yield WarningsPanel(id="warnings")
                    yield MetricsTable(id="metrics")

    def on_mount(self) -> None:
        self.status_header = self.query_one("#status", StatusHeader)
        self.loss_plot = self.query_one("#plot", LossPlot)
        self.warnings_panel = self.query_one("#warnings", WarningsPanel)
        self.metrics_table = self.query_one("#metrics", MetricsTable)
        self.run_list = self.query_one("#runs", RunList)
        self.warnings_panel.border_title = "warnings"
        self.metrics_table.border_title = "metrics"

    def show_first_paint(self, first: FirstPaint) -> None:
        """Textual's first frame: the chart and status line the command line painted."""
        self.loss_plot.show(first.chart, first.legend)
        self._first_status = first.status
        self.status_header.show_text(first.status)

    def show_view(self, view: View) -> None:
        self.loss_plot.show(view.chart, view.legend, view.chart_lines)

    def show_book(self, book: RunBook, now: float, color: bool) -> None:
        findings, waiting, note, metrics = book.panels()
        if self._first_status is not None and waiting and not len(book.runs) > 1:
            run = book.current
            if run is not None and not len(run.history.epochs):
                waiting = "reading the run…"  # the first paint shows it: its records follow
        self.warnings_panel.show(findings, waiting, note)
        run = book.current
        self.metrics_table.show(metrics, run.shown.unit if run is not None and run.shown
                                else "epoch")
        self.show_status(book, now)
        # One run needs no list (the status line names it) and its columns go to the warnings.
        self.run_list.display = len(book.runs) > 1
        if self.run_list.display:
            self.run_list.show_runs(book.rows(now, color), book.selected)

    def show_status(self, book: RunBook, now: float) -> None:
        if self._first_status is not None:
            run = book.current
            if run is not None and run.shown is None and run.source.state != "error":
                return  # nothing of the run on screen but the first paint: its line stays
            self._first_status = None
        self.status_header.show_facts(book.status_facts(now))

    def status_current(self, book: RunBook, now: float) -> bool:
        width = self.status_header.size.width or self.app.size.width
        return self.status_header.plain_text == status_text(book.status_facts(now), width).plain
