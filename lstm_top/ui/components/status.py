"""The one-line status header: run, source, state, epoch, elapsed, seconds per epoch."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

STATE_STYLES = {
    "live": "bold green", "finished": "bold cyan", "crashed": "bold red",
    "interrupted": "bold yellow", "stalled": "bold yellow", "waiting": "dim",
    "error": "bold red", "deleted": "bold red", "disconnected": "bold yellow",
}


class StatusHeader(Static):
    """Rendered from plain values; every untrusted piece arrives already cleaned."""

    _shown: str = ""

    @staticmethod
    def compose_text(parts: list[tuple[str, str]]) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (piece, style) in enumerate(parts):
            if i:
                text.append(" │ ", style="dim")
            text.append(piece, style=style)
        return text

    @property
    def plain_text(self) -> str:
        return self._shown

    def show(self, parts: list[tuple[str, str]]) -> None:
        self.show_text(self.compose_text(parts))

    def show_text(self, text: Text) -> None:
        if text.plain != self._shown:  # no redraw when nothing changed
            self._shown = text.plain
            self.update(text)
