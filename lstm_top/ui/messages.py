"""Messages between background work and the UI thread (the only way they talk).

Messages that only say "this is the newest state" collapse with Textual's ``can_replace``: when
a newer one of the same kind (for the same run) is already queued, the older is dropped unseen,
so a burst of appends costs the UI thread one update, not one per record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from lstm_top.history import History
from lstm_top.sources.base import SourceUpdate
from lstm_top.ui.text import clean

if TYPE_CHECKING:
    from lstm_top.ui.run_state import DiagnosisResult
    from lstm_top.ui.view import View


@dataclass
class RunsChanged(Message):
    """Sources have new records or a new state: the app takes them from its ``ChangedRuns``
    (posted by the reader thread that found the batch empty; the others add to it)."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunsChanged)


@dataclass
class ViewReady(Message):
    """The render worker finished: chart, legend, metrics and status facts of one request."""

    view: View

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ViewReady)


@dataclass
class FindingsUpdated(Message):
    """The diagnosis worker brought some runs' findings up to each ``result.version``: a
    sweep's thousand results come a batch at a time (each message from a thread is a wake-up
    of the UI thread and a hand-over of the GIL)."""

    results: list[DiagnosisResult]


@dataclass
class DiagnosisDone(Message):
    """The diagnosis worker has finished its pass over the runs it was given."""


@dataclass
class RunFilesAppeared(Message):
    """New runs are waiting in a folder watcher's batch (the app takes them all at once: a
    sweep of a thousand runs is a few messages, not a thousand), or its walk ended."""


@dataclass
class RunReplaced(Message):
    """Another run started writing the same file; ``history`` is the earlier run's."""

    run_key: str
    history: History


@dataclass
class TailRead(Message):
    """The newest part of a large file, read at once to show while the whole file loads."""

    run_key: str
    history: History


class ChangedRuns:
    """The runs whose sources changed since the UI thread last looked, with each one's
    notice. Reader threads add to it; one ``RunsChanged`` message asks the UI thread to take
    them all: a sweep's thousand first reads are a few messages, not a thousand (each message
    from a thread wakes the UI thread and hands it the GIL)."""

    def __init__(self, post: Callable[[Message], object]) -> None:
        self._post = post
        self._lock = threading.Lock()
        self._changed: dict[str, str | None] = {}
        self.posted = 0  # RunsChanged messages posted, for tests

    def add(self, key: str, notice: str | None) -> None:
        with self._lock:
            first = not self._changed
            self._changed[key] = notice
        if first:
            self.posted += 1
            self._post(RunsChanged())

    def take(self) -> dict[str, str | None]:
        """Run key -> its source's current notice (cleaned), for every run changed."""
        with self._lock:
            changed, self._changed = self._changed, {}
        return changed

    def relay(self, key: str) -> Callable[[SourceUpdate], None]:
        """The reader thread's callback for run ``key``. Its one piece of state (the history
        last seen, to tell a new run in the same file) is this closure's, and only the reader
        thread touches it."""
        previous: list[History | None] = [None]

        def on_update(update: SourceUpdate) -> None:
            seen, previous[0] = previous[0], update.history
            if update.new_run and seen is not None and seen is not update.history:
                self._post(RunReplaced(key, seen))
            notice = update.source.message
            self.add(key, clean(notice, 200) if notice else None)

        return on_update
