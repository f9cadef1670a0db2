"""The ? screen: every key, what it does."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    ("q", "quit (stops demo trainings started here)"),
    ("l", "log / linear y axis"),
    ("s", "smoothing on/off (EMA; the raw line stays, faint)"),
    ("+ / -", "more / less smoothing"),
    ("w", "window: all epochs / last N"),
    ("v", "series shown: train + val + subsets / train + val / val + subsets"),
    ("o", "overlay: val loss of the marked runs (or all) on one chart"),
    ("t", "sweep table: every run, worst first (s sort, / filter, space mark, o overlay)"),
    ("f", "pause / resume following new records"),
    ("tab", "move focus: warnings, metrics, run list"),
    ("↑ ↓ PgUp PgDn", "scroll the focused panel"),
    ("space", "in the run list: mark a run for the overlay"),
    ("e", "export a snapshot of the screen (SVG and text)"),
    ("d", "start a demo training"),
    ("x", "stop the demo training of the selected run"),
    ("?", "this help"),
)


class HelpScreen(ModalScreen[None]):
    AUTO_FOCUS = "VerticalScroll"  # arrows scroll the help on a short terminal
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape", "dismiss", "Close"), ("question_mark", "dismiss", "Close"),
                ("q", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: auto; max-width: 90%; height: auto; max-height: 90%;
                                  border: round $accent; background: $surface; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        with VerticalScroll():
            yield Static("lstm-top keys", classes="title")
            yield Static(table)
            yield Static("esc closes", classes="hint")
