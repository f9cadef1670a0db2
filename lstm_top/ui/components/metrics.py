"""The metrics table: latest value, best value and its epoch (its step, for a run judged by its
steps), change over the last epochs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from lstm_top.format import split_subset_column
from lstm_top.reduce import MetricSummary, format_value, higher_is_better
from lstm_top.ui.text import clean

if TYPE_CHECKING:
    from typing_extensions import Self

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


def _cell_segments(cell: object, width: int, padding: int, pre: Style, post: Style
                   ) -> list[Segment]:
    """A one-line cell as DataTable renders it: ``Padding(cell, (0, padding))`` ``Styled``
    with ``pre`` and ``post``, the text justified in its style."""
    text = cell if isinstance(cell, Text) else Text(str(cell))  # (spans: see render_line)
    inner = max(0, width - 2 * padding)
    plain = text.plain[:inner]
    gap = " " * (inner - len(plain))
    plain = gap + plain if text.justify == "right" else plain + gap
    text_style = Style.parse(text.style) if isinstance(text.style, str) else text.style
    side = [Segment(" " * padding, pre + post if post else pre)] if padding else []
    body = Segment(plain, (pre + text_style) + post if post else pre + text_style)
    return [*side, body, *side]


def best_header(unit: str) -> Text:
    """The best column's title says what the number after ``@`` counts."""
    return Text("best@step" if unit == "step" else "best@ep", justify="right")


class MetricsTable(DataTable[Text]):
    """DataTable's keys, cursor, mouse and scrolling, with lines drawn here: DataTable renders
    every cell of every line again after any change (through Rich's padding and wrapping for
    each), and for this small table that was most of an appended epoch's way to the screen.
    The lines are the ones DataTable draws, segment for segment (a test compares the two); a
    table this does not draw (fixed rows, another cursor) is drawn by DataTable itself."""

    def render_line(self, y: int) -> Strip:
        if self.fixed_rows or self.fixed_columns or self.cursor_type != "row" or \
                self.zebra_stripes or not self.show_header or self.header_height != 1 or \
                any(row.height != 1 for row in self.rows.values()):
            return super().render_line(y)
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        base = self._line_base or self.rich_style
        row_index = -1 if y == 0 else y - 1 + scroll_y
        if row_index >= self.row_count:
            return Strip.blank(width, base)
        if row_index == -1:
            cells: list[object] = [column.label for column in self.ordered_columns]
            row_style = self._component_style("datatable--header")
        else:
            cells = list(self.get_row_at(row_index))
            row_style = base
        if any(not isinstance(cell, Text) or cell.spans for cell in cells):
            return super().render_line(y)  # not this table's plain cells: DataTable's way
        cursor = self.show_cursor and row_index == self.cursor_coordinate.row
        hover = self.show_cursor and getattr(self, "_show_hover_cursor", False) and \
            row_index == self.hover_coordinate.row
        component = Style()
        if hover:
            component += self._component_style("datatable--hover")
            if row_index == -1:
                component += self._component_style("datatable--header-hover")
        if cursor:
            component += self._component_style("datatable--cursor")
            if row_index == -1:
                component += self._component_style("datatable--header-cursor")
        post = Style.from_color(color=component.color)  # the cursor's colour wins (css)
        padding = self.cell_padding
        segments: list[Segment] = []
        used = 0
        for column_index, (column, cell) in enumerate(zip(self.ordered_columns, cells,
                                                          strict=True)):
            cell_width = column.get_render_width(self)
            pre = row_style + self._meta(row_index, column_index) + component
            segments += _cell_segments(cell, cell_width, padding, pre, post)
            used += cell_width
        extend = row_style + component + self._meta(row_index, None)
        segments.append(Segment(" " * max(0, width - used), extend))
        return Strip(segments).crop(scroll_x, scroll_x + width).adjust_cell_length(
            width, base).simplify()

    _line_base: Style | None = None  # the widget's style, looked up once per repaint
    # The header's, cursor's and hover's styles, each with the CSS it was worked out from.
    _component_rich_styles: dict[str, tuple[object, Style]] | None = None

    def _component_style(self, name: str) -> Style:
        """``get_component_rich_style(name)``, worked out again only when the CSS gave the
        component new styles (Textual's stylesheet replaces its styles object then) or this
        table's own styles changed. Textual forgets its copy at every ``refresh``, and a table
        refreshed each epoch looked the cursor's and the header's CSS up for each line it drew
        (a fifth of the table's part of an appended epoch's way to the screen)."""
        source = self._component_styles.get(name)  # Textual's; replaced on each restyle
        styles = self._component_rich_styles
        if styles is None:
            styles = self._component_rich_styles = {}
        cached = styles.get(name)
        if cached is None or cached[0] is not source:
            cached = styles[name] = (source, self.get_component_rich_style(name))
        return cached[1]

    def notify_style_update(self) -> None:
        self._component_rich_styles = None  # focus, a theme, a class
        super().notify_style_update()
    _rows_only = False  # cells are being updated: their rows are refreshed, not every line

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> Self:
        if self._rows_only and not regions and not layout and not recompose:
            return self  # the caller refreshes the rows it changed
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._line_base = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._line_base = None

    def _meta(self, row: int, column: int | None) -> Style:
        """The row and column a click on a cell reads (``column`` None: past the last)."""
        key = (row, column)
        style = self._metas.get(key)
        if style is None:
            if len(self._metas) > 4096:
                self._metas.clear()
            meta = {"row": row, "column": column} if column is not None else \
                {"row": row, "column": 0, "out_of_bounds": True}
            style = self._metas[key] = Style.from_meta(meta)
        return style

    def on_mount(self) -> None:
        self._metas: dict[tuple[int, int | None], Style] = {}
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
            # Only their rows are painted again (``update_cell`` would repaint every line).
            changed_rows = []
            self._rows_only = True
            try:
                for index, (key, (_, latest, best, row), old, new) in enumerate(zip(
                        self._row_keys, rows, shown, signature, strict=True)):
                    if new[1] != old[1]:
                        self.update_cell(key, "latest", Text(latest, justify="right"))
                    if new[2] != old[2]:
                        self.update_cell(key, "best", Text(best, justify="right"))
                    if new[3] != old[3]:
                        self.update_cell(key, "change", _change_cell(row))
                    if new != old:
                        changed_rows.append(index)
            finally:
                self._rows_only = False
            for index in changed_rows:
                self.refresh_row(index)
            return
        self.clear()
        self._row_keys = [self.add_row(Text(name), Text(latest, justify="right"),
                                       Text(best, justify="right"), _change_cell(row))
                          for name, latest, best, row in rows]
