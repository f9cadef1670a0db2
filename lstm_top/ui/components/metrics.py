"""The metrics table: latest value, best value and its epoch (its step, for a run judged by its
steps), change over the last epochs."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from lstm_top.format import split_subset_column
from lstm_top.reduce import MetricSummary, format_value, higher_is_better
from lstm_top.ui.text import clean

LOOKBACK = 5
NAME_CHARS = 13


def short_name(name: str, chars: int = NAME_CHARS) -> str:
    """``val_loss[long_seqs]`` reads as ``val[long_seqs]``: the subset is what tells rows apart."""
    split = split_subset_column(name)
    if split is not None:
        metric, subset = split
        name = f"{'val' if metric in ('val_loss', 'loss') else metric}[{subset}]"
    return clean(name, chars)


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


# (name, latest, best@ep, change) widths. Narrow (an 80-column terminal): no cell padding, the
# columns one wider than the longest compact number (7 characters), so a space always parts
# them; the warnings get the rest.
WIDE_COLUMNS = (NAME_CHARS, 7, 10, 7)
NARROW_COLUMNS = (11, 8, 11, 8)


def best_at(value: float, epoch: int | None, digits: int, width: int) -> str:
    """``value@epoch`` within ``width`` characters, so the cell never runs into its
    neighbour: a long epoch in thousands or millions ("0.0603@998k"), then fewer digits."""
    epochs = [str(epoch)]
    if epoch is not None and abs(epoch) >= 10_000:
        epochs.append(f"{epoch / 1000:.0f}k")
    if epoch is not None and abs(epoch) >= 1_000_000:
        epochs += [f"{epoch / 1_000_000:.1f}M", f"{epoch / 1_000_000:.0f}M"]
    text = ""
    for shown_digits in range(digits, 1, -1):
        for shown_epoch in epochs:
            text = f"{format_value(value, shown_digits)}@{shown_epoch}"
            if len(text) <= width:
                return text
    return text


def best_header(unit: str) -> Text:
    """The best column's title says what the number after ``@`` counts."""
    return Text("best@step" if unit == "step" else "best@ep", justify="right")


class MetricsTable(DataTable[Text]):
    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = False
        self._shown: list[tuple[str, ...]] = []
        self._row_keys: list[RowKey] = []
        self._narrow: bool | None = None
        self._unit = "epoch"
        self._layout()

    def on_resize(self) -> None:
        self._layout()

    def _layout(self) -> None:
        narrow = self.app.size.width < 110
        if narrow == self._narrow:
            return
        self._narrow = narrow
        self.clear(columns=True)
        self._shown = []
        widths = NARROW_COLUMNS if narrow else WIDE_COLUMNS
        self.cell_padding = 0 if narrow else 1
        # Fixed widths: columns that resize with their content would jitter on every epoch.
        self.add_column(Text("metric"), key="metric", width=widths[0])
        self.add_column(Text("latest", justify="right"), key="latest", width=widths[1])
        self.add_column(best_header(self._unit), key="best", width=widths[2])
        self.add_column(Text(f"Δ{LOOKBACK}", justify="right"), key="change", width=widths[3])
        if getattr(self, "_metrics", None) is not None:
            self.show(self._metrics)

    def show(self, metrics: Sequence[MetricSummary], unit: str = "epoch") -> None:
        """``unit``: what the run's x axis counts ("epoch", or "step" for a step run)."""
        if unit != self._unit:
            self._unit = unit
            column = self.columns.get(ColumnKey("best"))
            if column is not None:  # DataTable has no rename: the label, then its caches
                column.label = best_header(unit)
                self._clear_caches()
                self.refresh()
        if metrics is getattr(self, "_metrics", None) and self._shown:
            return  # the same summaries (a new view brings new ones): each tick, 512 names
        self._metrics = metrics
        name_chars = NARROW_COLUMNS[0] if self._narrow else NAME_CHARS
        rows = []
        # Narrow: three significant digits, so a number is at most 7 characters and the
        # right-justified columns (one wider) always keep a space between them.
        digits = 3 if self._narrow else 4
        for row in metrics:
            if "_std[" in row.name:
                continue  # subset spreads back the warnings' evidence; too many rows here
            best = ("–" if row.best is None
                    else best_at(row.best, row.best_epoch, digits,
                                 NARROW_COLUMNS[2] - 1 if self._narrow else WIDE_COLUMNS[2]))
            rows.append((short_name(row.name, name_chars), format_value(row.latest, digits),
                         best, row))
        signature: list[tuple[str, ...]] = [(*r[:3], format_value(r[3].change)) for r in rows]
        if signature == self._shown:
            return
        shown, self._shown = self._shown, signature
        if [line[0] for line in shown] == [line[0] for line in signature] and \
                len(self._row_keys) == len(rows) == self.row_count:
            # The same metrics, new values (every epoch): only the cells that changed. A
            # clear() would reset the cursor and scroll, and its re-measured rows cost the
            # screen a layout pass: most of the time from an appended epoch to the screen.
            for key, (_, latest, best, row), old, new in zip(self._row_keys, rows, shown,
                                                           signature, strict=True):
                if new[1] != old[1]:
                    self.update_cell(key, "latest", Text(latest, justify="right"))
                if new[2] != old[2]:
                    self.update_cell(key, "best", Text(best, justify="right"))
                if new[3] != old[3]:
                    self.update_cell(key, "change", _change_cell(row))
            return
        self.clear()
        self._row_keys = [self.add_row(Text(name), Text(latest, justify="right"),
                                       Text(best, justify="right"), _change_cell(row))
                          for name, latest, best, row in rows]
