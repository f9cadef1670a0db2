"""A warning's detail: what it says, its evidence, what to try, and the chart zoomed to the
episode with the evidence marked (the peaks of an oscillation, the best epoch of a stagnation,
the worst subset of a gap drawn bold). The chart is built in a worker from a frozen request."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static

from lstm_top.ui.components.warnings import severity_badge
from lstm_top.ui.findings import evidence_lines, headline, message, remedy, since, title
from lstm_top.ui.text import clean
from lstm_top.ui.view import DetailRequest, build_detail


def detail_text(request: DetailRequest) -> Text:
    finding = request.finding
    text = Text()
    text.append(f"{clean(message(finding), 600)}\n")
    if finding.remedy:  # before the evidence: what a person acts on, without scrolling
        text.append("what to try: ", style="bold")
        text.append(f"{clean(remedy(finding), 600)}\n", style="italic")
    text.append("evidence\n", style="bold")
    for line in evidence_lines(finding):
        text.append(f"  {line}\n")
    text.rstrip()
    return text


class FindingDetail(ModalScreen[None]):
    AUTO_FOCUS = "#detail-text"
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape", "dismiss", "Close"), ("q", "dismiss", "Close"), ("enter", "dismiss", "Close")]
    DEFAULT_CSS = """
    FindingDetail { align: center middle; }
    FindingDetail > Vertical { width: 100%; height: 100%; background: $surface;
                               border: round $accent; padding: 0 1; }
    FindingDetail #detail-title { height: 2; }
    FindingDetail #detail-chart { height: 1fr; min-height: 6; }
    FindingDetail #detail-legend { height: auto; max-height: 2; }
    FindingDetail #detail-text { height: 1fr; min-height: 4; }
    FindingDetail #detail-hint { height: 1; color: $text-muted; }
    """

    class Built(Message):
        def __init__(self, chart: Text, legend: Text) -> None:
            super().__init__()
            self.chart, self.legend = chart, legend

    def __init__(self, request: DetailRequest) -> None:
        super().__init__()
        self.request = request
        self.plain = ""  # the chart and legend as text, for tests and export

    def compose(self) -> ComposeResult:
        finding = self.request.finding
        heading = Text()
        heading.append(*severity_badge(finding))
        heading.append(f" {title(finding)}", style="bold")
        heading.append(f" · {since(finding)} · {clean(self.request.run.name, 40)}\n", style="dim")
        heading.append(headline(finding))
        with Vertical():
            yield Static(heading, id="detail-title")
            yield Static(Text("drawing…", style="dim"), id="detail-chart")
            yield Static("", id="detail-legend")
            with VerticalScroll(id="detail-text"):
                yield Static(detail_text(self.request))
            yield Static("esc closes · ↑ ↓ scroll the text", id="detail-hint")

    def on_mount(self) -> None:
        # The chart's share of the screen, known now (its widget is laid out only later): the
        # frame and padding take 4 columns; title, legend, hint and frame 7 rows, and the
        # chart and the text split the rest.
        width, height = self.app.size
        self._build(DetailRequest(self.request.run, self.request.finding, max(20, width - 4),
                                  max(6, (height - 7) // 2), self.request.color))

    @work(thread=True, exclusive=True)
    def _build(self, request: DetailRequest) -> None:
        """Worker thread: only the request."""
        try:
            chart, legend = build_detail(request)
        except Exception as exc:  # a plotting bug must not take the detail down
            chart, legend = Text(clean(f"chart unavailable: {exc}", 200), style="red"), Text()
        self.post_message(self.Built(chart, legend))

    def on_finding_detail_built(self, message: Built) -> None:
        self.plain = message.chart.plain + "\n" + message.legend.plain
        self.query_one("#detail-chart", Static).update(message.chart)
        self.query_one("#detail-legend", Static).update(message.legend)
