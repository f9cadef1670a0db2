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

    def show(self, parts: list[tuple[str, str]]) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (piece, style) in enumerate(parts):
            if i:
                text.append(" │ ", style="dim")
            text.append(piece, style=style)
        if text.plain != getattr(self, "_shown", None):  # no redraw when nothing changed
            self._shown = text.plain
            self.update(text)
