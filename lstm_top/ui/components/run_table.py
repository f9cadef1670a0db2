"""The sweep table (``t``, and at start when a folder holds many runs): one row per run.

Run, state (when the runs' states differ), epochs, best val @ epoch, the worst active sign with
its severity and the config keys that differ between runs; sorted worst first (``s`` cycles
the sort), ``/`` types a filter (words match the name, state, sign or config values; ``lr=0.1``
a config value), ``space`` marks runs for the overlay, ``o`` shows the marked runs on one
chart, ``enter`` opens a run. The rows come from ``lstm_top.sweep`` and their cells from
``ui.sweep_cells`` (Textual-free, shared with the sweep's first paint); this screen only shows
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import ActiveBinding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual.widgets.data_table import ColumnKey

from lstm_top.sweep import SORT_KEYS, RunRow, filter_rows, sort_rows
from lstm_top.ui import sweep_cells

# New rows added per table update: the DataTable measures every cell of a new row before it
# paints (about a millisecond a row), so a thousand runs would keep the first screen from
# showing for a second. The first rows (the worst, in the default sort) are painted at once;
# the rest follow after each paint.
NEW_ROWS_PER_PAINT = 100
NEW_ROWS_FIRST_PAINT = sweep_cells.NEW_ROWS_FIRST_PAINT
# Keys that move the cursor: once one is pressed, the cursor stays on its run as rows move.
CURSOR_KEYS = frozenset({"up", "down", "pageup", "pagedown", "home", "end", "ctrl+home",
                         "ctrl+end"})


class RunTableScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape,t", "close", "Back"),
        ("slash", "filter", "Filter"),
        ("s", "cycle_sort", "Sort"),
        ("space", "toggle_mark", "Mark"),
        ("o", "overlay", "Overlay"),
        ("q", "app.quit", "Quit"),
    ]
    # Of the app's keys, the footer here shows these: the chart's (log scale, window...) change
    # nothing on this screen and pushed the table's own keys off an 80-column footer.
    APP_KEYS_SHOWN = frozenset({"help"})
    DEFAULT_CSS = """
    RunTableScreen #sweep-summary { height: 1; padding: 0 1; background: $panel; }
    RunTableScreen DataTable { height: 1fr; scrollbar-size-vertical: 1; }
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
        self._judging: tuple[int, int] | None = None  # (runs judged, runs) while judging
        # Until a person moves the cursor it stays on the first row (the worst run): a cursor
        # kept on the run that was first before the signs came ended up off the screen.
        self._cursor_chosen = False
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
    def active_bindings(self) -> dict[str, ActiveBinding]:
        return {key: active for key, active in super().active_bindings.items()
                if active.node is not self.app or active.binding.action in self.APP_KEYS_SHOWN}

    @property
    def composed(self) -> bool:
        """Its widgets are there (a screen just pushed is on top before they are)."""
        return bool(self.query("#sweep-table"))

    @property
    def table(self) -> DataTable[Text | str]:
        return self.query_one("#sweep-table", DataTable)

    def show_rows(self, config_keys: Sequence[str], rows: Sequence[RunRow],
                  judging: tuple[int, int] | None = None) -> None:
        """New rows from the app (every tick while something changed); ``judging``: (runs
        judged, runs) while the signs go through them."""
        self._config_keys, self._rows, self._judging = list(config_keys), list(rows), judging
        self._refresh()

    def visible_rows(self) -> list[RunRow]:
        return sort_rows(filter_rows(self._rows, self.filter_text), self.sort_key)

    def _refresh(self) -> None:
        # Not composed yet: on_mount shows the rows. (Not ``is_mounted``: that is still False
        # in on_mount, and the table's first paint then came without its rows.)
        if not self.query("#sweep-table"):
            return
        rows = self.visible_rows()
        labels = sweep_cells.columns(self._config_keys, self._rows)
        cells = [(row.key, sweep_cells.cells(row, labels)) for row in rows]
        marks_signature = tuple(sorted(self.marks))
        signature = [("", tuple(labels)), *cells, ("", marks_signature)]
        summary = sweep_cells.summary(self._rows, len(rows), self.sort_key, self.filter_text,
                                      len(self.marks), self._judging)
        self.query_one("#sweep-summary", Static).update(summary)
        if signature == self._shown:
            return
        self._shown = signature
        self._update_table(labels, rows, cells)

    def _update_table(self, labels: list[str], rows: list[RunRow],
                      cells: list[tuple[str, tuple[str, ...]]]) -> None:
        """Bring the DataTable to ``rows``, touching only what changed: the table measures
        every cell it is given, and a sweep's thousand rows rebuilt whenever one run's
        findings came took a second each time. New rows are added, changed cells updated,
        gone rows removed, then the rows put in order. At most ``NEW_ROWS_PER_PAINT`` rows
        are added at a time, in the order shown: the rest come after the next paint."""
        table = self.table
        selected = self._cursor_key() if self._cursor_chosen else None
        columns = tuple(labels)
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
            styled = sweep_cells.styled(labels, texts, row.severity, key in self.marks)
            if before is None:
                table.add_row(*styled, key=key)
                added += 1
            else:
                old_texts, old_severity, old_mark = before
                for index, (column, value) in enumerate(zip(self._column_keys, styled,
                                                            strict=True)):
                    if texts[index] != old_texts[index] or (index == 0 and state[2] != old_mark) \
                            or (labels[index] == "worst sign" and row.severity != old_severity):
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

    def on_key(self, event: events.Key) -> None:
        field = self.query_one("#sweep-filter", Input)
        typing = self.focused is field  # has_focus follows only when Focus is handled
        if event.key == "slash" and not typing:
            # Opened here, not by the binding (which runs after the keys already queued):
            # what is typed in the same burst (a paste, a fast typist over ssh) follows it
            # into the filter.
            self.action_filter()
            event.stop()
            event.prevent_default()
            return
        if typing and event.is_printable and event.character:
            # Typed in the same burst as "/": queued to the table before the filter opened.
            # It belongs to the filter (and is no key binding: "q" must not quit).
            field.insert_text_at_cursor(event.character)
            event.stop()
            event.prevent_default()
            return
        if event.key in CURSOR_KEYS:
            self._cursor_chosen = True

    def on_click(self) -> None:
        self._cursor_chosen = True

    def action_cycle_sort(self) -> None:
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self._refresh()

    def action_filter(self) -> None:
        field = self.query_one("#sweep-filter", Input)
        if self.focused is field:
            return  # already typing (opened by on_key): what was typed stays
        field.add_class("-open")
        field.value = self.filter_text
        # Focused now, not after the queue (Widget.focus defers it): the keys typed right
        # after "/" in one burst (a paste, a fast typist over ssh) are already queued, and
        # would go to the table, where "q" quits.
        self.set_focus(field)

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
