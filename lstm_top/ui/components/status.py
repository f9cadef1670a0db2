"""The one-line status header: run, source, state, epoch, elapsed, seconds per epoch."""

from __future__ import annotations

from rich.text import Text

from lstm_top.ui.components.chart_area import ChartArea
from lstm_top.ui.status_line import STATE_STYLES, status_text
from lstm_top.ui.view import StatusFacts

__all__ = ["STATE_STYLES", "StatusHeader", "status_text"]


class StatusHeader(ChartArea):
    """Drawn a line of cells at a time like the chart (``ChartArea``): a ``Static`` spent
    more of an appended epoch's way to the screen on this one line than on the table."""

    DEFAULT_CSS = "StatusHeader { height: 1; }"
    _shown: str = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text(""), id=id)

    @property
    def plain_text(self) -> str:
        return self._shown

    def show_facts(self, facts: StatusFacts | None) -> None:
        self.show_text(status_text(facts, self.size.width or self.app.size.width))

    def show_text(self, text: Text) -> None:
        if text.plain != self._shown:  # no redraw when nothing changed
            self._shown = text.plain
            self.show(text)  # one row, always: no layout pass
