"""Messages between background work and the UI thread (the only way they talk).

Messages that only say "this is the newest state" collapse with Textual's ``can_replace``: when
a newer one of the same kind (for the same run) is already queued, the older is dropped unseen,
so a burst of appends costs the UI thread one update, not one per record.
"""

from __future__ import annotations

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
class RunChanged(Message):
    """A source has new records or a new state (posted from its reader thread)."""

    run_key: str
    notice: str | None = None  # the source's current notice, already cleaned (None: none)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunChanged) and message.run_key == self.run_key


@dataclass
class ViewReady(Message):
    """The render worker finished: chart, legend, metrics and status facts of one request."""

    view: View

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ViewReady)


@dataclass
class FindingsUpdated(Message):
    """The diagnosis worker brought one run's findings up to ``result.version``."""

    result: DiagnosisResult

    def can_replace(self, message: Message) -> bool:
        return (isinstance(message, FindingsUpdated)
                and message.result.key == self.result.key)


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


def relay(post: Callable[[Message], object], key: str) -> Callable[[SourceUpdate], None]:
    """The reader thread's callback, turning source updates into messages. Its one piece of
    state (the history last seen, to tell a new run in the same file) is this closure's, and
    only the reader thread touches it."""
    previous: list[History | None] = [None]

    def on_update(update: SourceUpdate) -> None:
        seen, previous[0] = previous[0], update.history
        if update.new_run and seen is not None and seen is not update.history:
            post(RunReplaced(key, seen))
        notice = update.source.message
        post(RunChanged(key, clean(notice, 200) if notice else None))

    return on_update
