"""The sweep table (``t``, and at start when a folder holds many runs): one row per run.

Run, state, epochs, best val @ epoch, the worst active sign with its severity and the config
keys that differ between runs; sorted worst first (``s`` cycles the sort), ``/`` types a filter
(words match the name, state, sign or config values; ``lr=0.1`` a config value), ``space``
marks runs for the overlay, ``o`` shows the marked runs on one chart, ``enter`` opens a run.
The rows come from ``lstm_top.sweep`` (Textual-free); this screen only shows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual.widgets.data_table import ColumnKey

from lstm_top.sweep import SORT_KEYS, RunRow, filter_rows, header, sort_rows

SEVERITY_STYLES = {3: "bold red", 2: "yellow", 1: "cyan", 0: "dim"}
# New rows added per table update: the DataTable measures every cell of a new row before it
# paints (about a millisecond a row), so a thousand runs would keep the first screen from
# showing for a second. The first rows (the worst, in the default sort) are painted at once;
# the rest follow after each paint.
NEW_ROWS_PER_PAINT = 100
NEW_ROWS_FIRST_PAINT = 40  # two screens' worth at 80x24: the first paint is what one waits for
STATE_STYLES = {"live": "green", "stalled": "yellow", "crashed": "bold red", "error": "red",
                "finished": "", "interrupted": "yellow", "deleted": "dim", "waiting": "dim"}


class RunTableScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape,t", "close", "Back"),
        ("slash", "filter", "Filter"),
        ("s", "cycle_sort", "Sort"),
        ("space", "toggle_mark", "Mark"),
        ("o", "overlay", "Overlay marked"),
        ("q", "app.quit", "Quit"),
    ]
    DEFAULT_CSS = """
    RunTableScreen #sweep-summary { height: 1; padding: 0 1; background: $panel; }
    RunTableScreen DataTable { height: 1fr; }
    RunTableScreen Input { dock: bottom; display: none; height: 3; }
    RunTableScreen Input.-open { display: block; }
    """

    def __init__(self, marks: set[str] | None = None) -> None:
        super().__init__()
        self.sort_key = "worst"
        self.filter_text = ""
        self.marks: set[str] = set(marks or ())
        self._config_keys: list[str] = []
        self._rows: list[RunRow] = []
        self._shown: list[tuple[str, tuple[str, ...]]] | None = None
        # What the DataTable holds: its columns, each row's cells, severity and mark, the
        # object in each row's first cell, and the rows' order.
        self._columns: tuple[str, ...] | None = None
        self._column_keys: list[ColumnKey] = []
        self._in_table: dict[str, tuple[tuple[str, ...], int, bool]] = {}
        self._first_cells: dict[str, Text | str] = {}
        self._order: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(id="sweep-summary")
        yield DataTable(id="sweep-table", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="filter: words, or key=value", id="sweep-filter")
        yield Footer(compact=True, show_command_palette=False)

    @property
    def table(self) -> DataTable[Text | str]:
        return self.query_one("#sweep-table", DataTable)

    def show_rows(self, config_keys: Sequence[str], rows: Sequence[RunRow]) -> None:
        """New rows from the app (every tick while something changed)."""
        self._config_keys, self._rows = list(config_keys), list(rows)
        self._refresh()

    def visible_rows(self) -> list[RunRow]:
        return sort_rows(filter_rows(self._rows, self.filter_text), self.sort_key)

    def _refresh(self) -> None:
        # Not composed yet: on_mount shows the rows. (Not ``is_mounted``: that is still False
        # in on_mount, and the table's first paint then came without its rows.)
        if not self.query("#sweep-table"):
            return
        rows = self.visible_rows()
        cells = [(row.key, tuple(row.cells(self._config_keys))) for row in rows]
        marks_signature = tuple(sorted(self.marks))
        signature = [*cells, ("", marks_signature)]
        summary = f"{len(rows)} of {len(self._rows)} runs" if self.filter_text else \
            f"{len(self._rows)} runs"
        troubled = sum(1 for row in self._rows if row.severity >= 2)
        summary += f" · {troubled} with warnings" if troubled else ""
        summary += f" · sorted by {self.sort_key}"
        if self.filter_text:
            summary += f" · filter: {self.filter_text}"
        if self.marks:
            summary += f" · {len(self.marks)} marked (o: overlay)"
        self.query_one("#sweep-summary", Static).update(summary)
        if signature == self._shown:
            return
        self._shown = signature
        self._update_table(rows, cells)

    def _update_table(self, rows: list[RunRow], cells: list[tuple[str, tuple[str, ...]]]
                      ) -> None:
        """Bring the DataTable to ``rows``, touching only what changed: the table measures
        every cell it is given, and a sweep's thousand rows rebuilt whenever one run's
        findings came took a second each time. New rows are added, changed cells updated,
        gone rows removed, then the rows put in order. At most ``NEW_ROWS_PER_PAINT`` rows
        are added at a time, in the order shown: the rest come after the next paint."""
        table = self.table
        selected = self._cursor_key()
        columns = tuple(header(self._config_keys))
        if columns != self._columns:
            table.clear(columns=True)
            self._column_keys = table.add_columns(*columns)
            self._columns, self._in_table, self._first_cells, self._order = columns, {}, {}, []
        wanted = {key for key, _ in cells}
        for key in [key for key in self._in_table if key not in wanted]:
            table.remove_row(key)
            del self._in_table[key]
            del self._first_cells[key]
        added, more = 0, False
        most = NEW_ROWS_PER_PAINT if self._in_table else NEW_ROWS_FIRST_PAINT
        for row, (key, texts) in zip(rows, cells, strict=True):
            state = (texts, row.severity, key in self.marks)
            before = self._in_table.get(key)
            if before == state:
                continue
            if before is None and added >= most:
                more = True
                continue
            styled = self._styled(key, texts, row.severity)
            if before is None:
                table.add_row(*styled, key=key)
                added += 1
            else:
                old_texts, old_severity, old_mark = before
                for index, (column, value) in enumerate(zip(self._column_keys, styled,
                                                            strict=True)):
                    if texts[index] != old_texts[index] or (index == 0 and state[2] != old_mark) \
                            or (index == 4 and row.severity != old_severity):
                        # Only a wider cell widens its column: with update_width a narrower
                        # one makes the table re-measure the whole column (O(rows) a cell).
                        wider = Text(value).cell_len if isinstance(value, str) \
                            else value.cell_len
                        table.update_cell(key, column, value, update_width=wider
                                          > table.columns[column].content_width)
            self._in_table[key] = state
            self._first_cells[key] = styled[0] if before is None or texts[0] != before[0][0] \
                or state[2] != before[2] else self._first_cells[key]
        order = [key for key, _ in cells if key in self._in_table]
        if more:
            self._shown = None  # not all shown: the next refresh adds the next rows
            self.call_after_refresh(self._add_more_rows)
        if order != self._order:
            self._order = order
            # The table sorts by its cells: each row's first cell is an object of ours, so its
            # identity says the row's place.
            place = {id(self._first_cells[key]): index for index, key in enumerate(order)}
            table.sort(key=lambda values: place[id(values[0])])
        if selected is not None and selected in self._in_table:
            table.move_cursor(row=order.index(selected))

    def _add_more_rows(self) -> None:
        if not self.is_attached:
            return  # closed meanwhile
        if self.app.screen is self:
            self._refresh()
        else:  # under the help or a detail: the rest once it is on top again
            self.set_timer(0.25, self._add_more_rows)

    def _styled(self, key: str, texts: tuple[str, ...], severity: int) -> list[Text | str]:
        styled: list[Text | str] = []
        for index, text in enumerate(texts):
            if index == 0:
                mark = "◉ " if key in self.marks else "  "
                styled.append(Text(mark + text[:30]))
            elif index == 1:
                styled.append(Text(text, style=STATE_STYLES.get(text, "")))
            elif index == 4:
                styled.append(Text(text, style=SEVERITY_STYLES.get(severity, "")))
            else:
                styled.append(Text(text))  # a Text: the table would parse a str as markup
        return styled

    def _cursor_key(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        except Exception:
            return None
        return None if row_key.value is None else str(row_key.value)

    def on_mount(self) -> None:
        self._refresh()
        self.table.focus()

    def action_cycle_sort(self) -> None:
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self._refresh()

    def action_filter(self) -> None:
        field = self.query_one("#sweep-filter", Input)
        field.add_class("-open")
        field.value = self.filter_text
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._refresh()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        field = self.query_one("#sweep-filter", Input)
        if not field.value.strip():
            field.remove_class("-open")
        self.table.focus()

    def action_toggle_mark(self) -> None:
        key = self._cursor_key()
        if key is not None:
            self.marks.symmetric_difference_update({key})
            self._refresh()

    def action_overlay(self) -> None:
        self.app.show_runs(self.marks or None, overlay=True)  # type: ignore[attr-defined]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is not None:
            self.app.show_runs({str(key)}, overlay=False)  # type: ignore[attr-defined]

    def action_close(self) -> None:
        field = self.query_one("#sweep-filter", Input)
        if field.has_focus:
            field.remove_class("-open")
            self.table.focus()
            return
        self.app.pop_screen()
