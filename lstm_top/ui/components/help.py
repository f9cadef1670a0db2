"""The ? screen: every key, what it does (made from ``ui.keys.KEYS``, the bindings' table)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from lstm_top.ui.keys import KEYS


def keys_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True, min_width=10)
    table.add_column()
    for key in KEYS:
        table.add_row(key.label, key.help)
    table.add_row("1 … 9", "the detail of warning N (the numbers on the chart's markers)")
    return table


class HelpScreen(ModalScreen[None]):
    AUTO_FOCUS = "VerticalScroll"  # arrows scroll the help on a short terminal
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape", "dismiss", "Close"), ("question_mark", "dismiss", "Close"),
        ("q", "dismiss", "Close")]
    # A fixed share of the screen: a width of ``auto`` around 1fr content collapses to nothing.
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 96%; max-width: 96; height: auto; max-height: 100%;
                                  border: round $accent; background: $surface; padding: 0 1; }
    HelpScreen .title { text-style: bold; }
    HelpScreen .hint { color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("lstm-top keys", classes="title")
            yield Static(keys_table(), id="keys")
            yield Static("esc or ? closes · ↑ ↓ scroll", classes="hint")
