"""The sweep table's upkeep for the app: when it opens (a folder of ten runs or more), and
refreshing it at most every ``TABLE_REFRESH_S`` however many runs change at once. UI thread
only; it reads the app's run book and clock."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from lstm_top.ui.run_state import SweepFacts, sweep_signature

if TYPE_CHECKING:  # the table and its rows load when it first opens, not at launch
    from lstm_top.ui.app import LstmTopApp
    from lstm_top.ui.components.run_table import RunTableScreen

_TABLE_MODULE = "lstm_top.ui.components.run_table"

# A folder with this many runs opens on the sweep table.
SWEEP_TABLE_MIN_RUNS = 10
# ... once the folder's walk has found them all, or this long after the first ones came: a
# table built while the walk goes on takes the GIL from it, and the rest of a 200-run sweep
# then came half a second later, in a second build.
OPEN_HOLD_S = 0.3
TABLE_REFRESH_S = 0.5
# New runs are what a person opening a sweep waits for: their rows come this soon.
NEW_ROWS_REFRESH_S = 0.05


class SweepTable:
    def __init__(self, app: LstmTopApp) -> None:
        self.app = app
        self._shown: tuple[object, ...] | None = None
        self._changes: tuple[object, ...] | None = None  # the book's ``changes()`` then
        self._opened = False
        self._held_since: float | None = None  # a sweep's first runs came; the walk goes on
        self._pending_at: float | None = None  # when the refresh asked for will come
        self._next_at = 0.0
        self._rows_shown = 0  # runs in the table as last shown
        self._facts = SweepFacts()

    def screen(self) -> RunTableScreen | None:
        """The sweep table when it is the screen on top (never raises, also while closing)."""
        module = sys.modules.get(_TABLE_MODULE)  # not imported yet: it was never opened
        stack = self.app.screen_stack
        if module is None or not stack:
            return None
        return stack[-1] if isinstance(stack[-1], module.RunTableScreen) else None

    @property
    def holding(self) -> bool:
        """A sweep's table is about to open: the main view under it is not worth updating."""
        return self._held_since is not None and not self._opened

    def runs_arrived(self, count: int, more_coming: bool) -> None:
        """Runs appeared in a watched folder (or its walk ended), ``count`` runs in all now:
        a sweep opens on the table — when the walk has found them all, or ``OPEN_HOLD_S``
        after the first came (a big sweep's rest then streams in)."""
        if self._opened or count < SWEEP_TABLE_MIN_RUNS:
            return
        now = time.monotonic()
        if self._held_since is None:
            self._held_since = now
            if more_coming:  # opened at the latest then, whatever the walk does
                self.app.set_timer(OPEN_HOLD_S, lambda: self.runs_arrived(
                    len(self.app.runs), more_coming=False))
        if more_coming and now - self._held_since < OPEN_HOLD_S:
            return
        self._opened = True
        self.open()

    def open(self) -> None:
        if self.screen() is None and self.app.screen_stack:
            from lstm_top.ui.components.run_table import RunTableScreen

            self.app.push_screen(RunTableScreen(self.app.book.marks))
            self._shown = self._changes = None
            self.refresh()

    def close(self, keys: set[str] | None, overlay: bool) -> None:
        """Back to the main view on one run (``keys``), or on the overlay of the marked ones."""
        table, book = self.screen(), self.app.book
        if table is not None:
            book.marks = set(table.marks)
            self.app.pop_screen()
        if keys and not overlay:
            book.selected = next(iter(keys))
        book.overlay = overlay and len(book.runs) > 1

    def schedule(self) -> None:
        """Soon, once: many runs appearing or changing at once make one table update; new
        runs (rows to add) sooner than changes to the rows shown."""
        delay = NEW_ROWS_REFRESH_S if len(self.app.runs) != self._rows_shown \
            else TABLE_REFRESH_S
        due = time.monotonic() + delay
        if self._pending_at is not None and self._pending_at <= due:
            return  # one is on its way already, as soon or sooner
        self._pending_at = due
        self.app.set_timer(delay, lambda: self._due(due))

    def _due(self, due: float) -> None:
        if self._pending_at != due:
            return  # an earlier refresh replaced this one
        self._pending_at = None
        self.refresh()

    def refresh(self) -> None:
        screen = self.screen()
        if screen is None:
            return
        runs = list(self.app.runs.values())
        # New runs are what a person opening a sweep waits for: their rows are added at every
        # refresh (adding rows costs the same in one go or several). Only changes to rows
        # already shown are spaced out by the cost of the last refresh.
        if time.monotonic() < self._next_at and len(runs) == self._rows_shown:
            self.schedule()  # too soon after the last one: later
            return
        now = self.app.clock()
        # Nothing emitted, no findings, and every run in a state no clock changes (a finished
        # sweep): the rows are as shown, without a look at each run every second.
        changes = self.app.book.changes()
        if changes == self._changes and all(run.timeless for run in runs):
            return
        self._changes = changes
        signature = sweep_signature(runs, now)
        if signature == self._shown:
            return
        from lstm_top.sweep import rows_from_facts

        began = time.monotonic()
        self._shown, self._rows_shown = signature, len(runs)
        judged = len(runs) - len(self.app.book.undiagnosed())
        screen.show_rows(*rows_from_facts(self._facts.entries(runs, now)),
                         judging=(judged, len(runs)))
        # A thousand rows take a while to rebuild: the table gets at most a fifth of the time.
        self._next_at = time.monotonic() + 4 * (time.monotonic() - began)
