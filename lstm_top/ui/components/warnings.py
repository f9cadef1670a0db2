"""The warnings panel: each active sign in two plain lines (what and since when, then its key
numbers in words), resolved ones below, dimmed. ``enter`` (or a click, or 1…9) opens a
warning's detail.

Severity is shown as colour *and* a text label, so it reads on a monochrome terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from lstm_top.ui.findings import headline, since, title

if TYPE_CHECKING:
    from lstm_top.signs import Finding

MAX_RESOLVED_SHOWN = 20
SEVERITY_STYLES = {3: "bold white on red", 2: "bold black on yellow", 1: "bold black on cyan"}


def severity_badge(finding: Finding) -> tuple[str, str]:
    return f" {finding.severity.label.upper()} ", SEVERITY_STYLES.get(int(finding.severity),
                                                                       "bold")


def findings_text(findings: Sequence[Finding], waiting_message: str | None = None,
                  footnote: str | None = None) -> tuple[Text, list[int]]:
    """The panel's text, and the line each active finding starts on (for ``enter``)."""
    text = Text()
    starts: list[int] = []
    active = [f for f in findings if f.active]
    resolved = [f for f in findings if not f.active]
    if not findings:
        text.append(waiting_message or "✓ no warning signs", style="green")
        if footnote and not waiting_message:
            text.append(f"\n{footnote}", style="dim")
        return text, starts
    line = 0
    for number, finding in enumerate(active, start=1):
        starts.append(line)
        text.append(*severity_badge(finding))
        text.append(f" {number} {title(finding)}\n", style="bold")
        text.append(f"  {since(finding)}: ", style="dim")
        text.append(f"{headline(finding)}\n")
        line += 2
    if active:
        text.append("enter or 1…9: a warning's detail\n", style="dim")
    if resolved:
        text.append(f"resolved ({len(resolved)})\n", style="dim bold")
        # The latest few only: a long noisy run can close thousands of episodes.
        for finding in resolved[-MAX_RESOLVED_SHOWN:][::-1]:
            text.append(f"  {finding.severity.label} {title(finding)} {since(finding)}: "
                        f"{headline(finding)}\n", style="dim")
    if footnote:
        text.append(f"{footnote}", style="dim")
    text.rstrip()
    return text, starts


class WarningsPanel(VerticalScroll, can_focus=True):
    """Scrolls with arrows and page keys when focused (tab)."""

    BINDINGS: ClassVar[list[BindingType]] = [("enter", "open", "Detail")]
    DEFAULT_CSS = """
    WarningsPanel #findings { width: 1fr; }
    """
    plain: str = ""

    class Chosen(Message):
        """A warning was chosen for its detail: its number among the active ones (from 1)."""

        def __init__(self, number: int) -> None:
            super().__init__()
            self.number = number

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # Held, not queried: findings may arrive between this panel's mount and its child's
        # (a sweep's first diagnosis, under load); the Static shows them once it is mounted.
        self._findings = Static("", id="findings")
        self._starts: list[int] = []

    def compose(self) -> ComposeResult:
        yield self._findings

    def show(self, findings: Sequence[Finding], waiting_message: str | None = None,
             footnote: str | None = None) -> None:
        text, self._starts = findings_text(findings, waiting_message, footnote)
        if text.plain == self.plain:
            return
        self.plain = text.plain
        active = sum(1 for f in findings if f.active)
        self.border_title = f"warnings ({active} active)" if findings else "warnings"
        self._findings.update(text)

    def _number_at(self, line: int) -> int | None:
        """The active warning whose two lines hold ``line`` (or the first below it)."""
        for number, start in enumerate(self._starts, start=1):
            if line < start + 2:
                return number
        return None

    def action_open(self) -> None:
        number = self._number_at(int(self.scroll_y))
        if number is not None:
            self.post_message(self.Chosen(number))

    def on_click(self, event: events.Click) -> None:
        number = self._number_at(int(event.y + self.scroll_y))
        if number is not None and event.y + self.scroll_y < self._starts[number - 1] + 2:
            self.post_message(self.Chosen(number))
