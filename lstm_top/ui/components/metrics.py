"""The metrics table: latest value, best value and its epoch, change over the last epochs."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from lstm_top.format import split_subset_column
from lstm_top.reduce import MetricSummary, format_value, higher_is_better
from lstm_top.ui.text import clean

LOOKBACK = 5
NAME_CHARS = 13


def short_name(name: str) -> str:
    """``val_loss[long_seqs]`` reads as ``val[long_seqs]``: the subset is what tells rows apart."""
    split = split_subset_column(name)
    if split is not None:
        metric, subset = split
        name = f"{'val' if metric in ('val_loss', 'loss') else metric}[{subset}]"
    return clean(name, NAME_CHARS)


def _change_cell(row: MetricSummary) -> Text:
    if row.change is None:
        return Text("–", style="dim")
    direction = higher_is_better(row.name)
    arrow = "↑" if row.change > 0 else ("↓" if row.change < 0 else "=")
    style = ""
    if direction is not None and row.change != 0:
        improving = (row.change > 0) == direction
        style = "green" if improving else "red"
    # The arrow carries the sign; two significant digits are enough to read a trend.
    return Text(f"{arrow}{format_value(abs(row.change), digits=2)}", style=style,
                justify="right")


class MetricsTable(DataTable[Text]):
    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.cell_padding = 1
        self.zebra_stripes = False
        # Fixed widths: columns that resize with their content would jitter on every epoch.
        self.add_column(Text("metric"), key="metric", width=NAME_CHARS)
        self.add_column(Text("latest", justify="right"), key="latest", width=7)
        self.add_column(Text("best@ep", justify="right"), key="best", width=10)
        self.add_column(Text(f"Δ{LOOKBACK}", justify="right"), key="change", width=7)
        self._shown: list[tuple[str, ...]] = []

    def show(self, metrics: Sequence[MetricSummary]) -> None:
        rows = []
        for row in metrics:
            if "_std[" in row.name:
                continue  # subset spreads back the warnings' evidence; too many rows here
            best = "–" if row.best is None else f"{format_value(row.best)}@{row.best_epoch}"
            rows.append((short_name(row.name), format_value(row.latest), best, row))
        signature: list[tuple[str, ...]] = [(*r[:3], format_value(r[3].change)) for r in rows]
        if signature == self._shown:
            return
        self._shown = signature
        self.clear()
        for name, latest, best, row in rows:
            self.add_row(Text(name), Text(latest, justify="right"),
                         Text(best, justify="right"), _change_cell(row))
