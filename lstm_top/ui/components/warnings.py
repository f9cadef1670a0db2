"""The warnings panel: active findings first (by severity), resolved ones below, dimmed.

Severity is shown as colour *and* a text label, so it reads on a monochrome terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from lstm_top.reduce import format_value
from lstm_top.signs import Finding, Severity
from lstm_top.ui.text import clean

MAX_RESOLVED_SHOWN = 20
SEVERITY_STYLES = {Severity.CRITICAL: "bold white on red", Severity.WARNING: "bold black on yellow",
                   Severity.INFO: "bold black on cyan"}


def _evidence_value(value: Any) -> str:
    if isinstance(value, float):
        return format_value(value)
    if isinstance(value, list | tuple):
        return ", ".join(_evidence_value(v) for v in list(value)[:6])
    return clean(value, 40)


def findings_text(findings: Sequence[Finding], waiting_message: str | None = None,
                  footnote: str | None = None) -> Text:
    text = Text()
    active = [f for f in findings if f.active]
    resolved = [f for f in findings if not f.active]
    if not findings:
        text.append(waiting_message or "✓ no warning signs", style="green")
        if footnote and not waiting_message:
            text.append(f"\n{footnote}", style="dim")
        return text
    for number, finding in enumerate(active, start=1):
        if number > 1:
            text.append("\n")
        label = finding.severity.label.upper()
        text.append(f" {label} ", style=SEVERITY_STYLES.get(finding.severity, "bold"))
        text.append(f" {number} {clean(finding.id, 60).replace('_', ' ')}", style="bold")
        text.append(f"  since epoch {finding.since_epoch}\n", style="dim")
        text.append(f"  {clean(finding.message, 400)}\n")
        if finding.evidence:
            pieces = [f"{clean(k, 40)}={_evidence_value(v)}"
                      for k, v in list(finding.evidence.items())[:8]]
            text.append("  evidence: " + "  ".join(pieces) + "\n", style="dim")
        if finding.remedy:
            text.append("  → " + clean(finding.remedy, 400) + "\n", style="italic")
    if resolved:
        if active:
            text.append("\n")
        text.append(f"resolved ({len(resolved)})\n", style="dim bold")
        # The latest few only: a long noisy run can close thousands of episodes.
        for finding in resolved[-MAX_RESOLVED_SHOWN:][::-1]:
            text.append(f"  {finding.severity.label} {clean(finding.id, 60).replace('_', ' ')} "
                        f"epochs {finding.since_epoch}–{finding.until_epoch}: "
                        f"{clean(finding.message, 200)}\n", style="dim")
    if footnote:
        text.append(f"\n{footnote}", style="dim")
    text.rstrip()
    return text


class WarningsPanel(VerticalScroll, can_focus=True):
    """Scrolls with arrows and page keys when focused (tab)."""

    DEFAULT_CSS = """
    WarningsPanel #findings { width: 1fr; }
    """
    plain: str = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="findings")

    def show(self, findings: Sequence[Finding], waiting_message: str | None = None,
             footnote: str | None = None) -> None:
        text = findings_text(findings, waiting_message, footnote)
        if text.plain == self.plain:
            return
        self.plain = text.plain
        active = sum(1 for f in findings if f.active)
        self.border_title = f"warnings ({active} active)" if findings else "warnings"
        self.query_one("#findings", Static).update(text)
