"""The loss chart: plotext output (built in a worker) in a ``ChartArea``, and a legend line."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message

from lstm_top.ui.components.chart_area import ChartArea

LEGEND_LINES = 2


class LossPlot(Vertical):
    DEFAULT_CSS = """
    LossPlot { height: 1fr; }
    LossPlot #chart { height: 1fr; }
    LossPlot #legend { height: 2; }
    """

    class Resized(Message):
        """The chart area changed size: the chart must be built again for it."""

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Resized())

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # Held, not queried: a view may be shown before the children are mounted.
        self._chart = ChartArea(Text("loading…", style="dim"), id="chart")
        self._legend = ChartArea(Text(""), id="legend")

    def compose(self) -> ComposeResult:
        yield self._chart
        yield self._legend

    def chart_size(self) -> tuple[int, int]:
        """Cells available for the plotext figure (the legend takes its own line)."""
        width, height = self.size
        return max(0, width), max(0, height - LEGEND_LINES)

    # Plain text of what is shown: for export and for tests that read the screen.
    plain: str = ""

    def show(self, chart: Text, legend: Text, chart_lines: list[Text] | None = None) -> None:
        """``chart_lines``: the chart's lines, when its builder has them split already."""
        plain = chart.plain + "\n" + legend.plain
        if plain == self.plain and chart.spans == getattr(self, "_spans", None):
            return  # identical frame: skip the repaint entirely
        self.plain, self._spans = plain, chart.spans
        # Both have a fixed size (CSS): no layout pass of the whole screen for new content.
        self._chart.show(chart, chart_lines)
        self._legend.show(legend)
