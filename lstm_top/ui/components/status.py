"""The one-line status header: run, source, state, epoch, elapsed, seconds per epoch."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from lstm_top.ui.status_line import STATE_STYLES, status_text
from lstm_top.ui.view import StatusFacts

__all__ = ["STATE_STYLES", "StatusHeader", "status_text"]


class StatusHeader(Static):
    _shown: str = ""

    @property
    def plain_text(self) -> str:
        return self._shown

    def show_facts(self, facts: StatusFacts | None) -> None:
        self.show_text(status_text(facts, self.size.width or self.app.size.width))

    def show_text(self, text: Text) -> None:
        if text.plain != self._shown:  # no redraw when nothing changed
            self._shown = text.plain
            self.update(text, layout=False)  # one row, always: no layout pass
