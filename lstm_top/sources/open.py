"""One entry point from a command-line target to a LiveSource.

``open_source("unix:/tmp/run.sock")`` and ``open_source("tcp://127.0.0.1:7000")`` connect to a
training process serving its history; ``ssh://[user@]host/path`` follows a file on another
machine through the user's own ``ssh``; a file or run folder is followed live in its format
(``sources/formats.py``). A file that is missing or empty, whose name does not say what it will
be, waits (``PendingSource``) until its first line tells: an empty ``training.log`` that Keras'
CSVLogger has just created is not taken for JSON Lines.
Folders of runs are not sources: watch them with ``DirectoryWatcher`` and open each run it
reports. ``open_target`` turns a refusal into a source that shows the reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from lstm_top.history import History
from lstm_top.protocol import is_socket_address
from lstm_top.sources.base import (
    DELETED,
    ENDED,
    ERROR,
    WAITING,
    LiveSource,
    SourceError,
    SourceUpdate,
    UpdateCallback,
)
from lstm_top.sources.formats import JSONL, classify, read_history
from lstm_top.sources.watcher import WatchHandle, shared_events

POLL_INTERVAL_S = 1.0


class FinishedFileSource(LiveSource):
    """A file read once in the thread with ``reader`` (default ``read_history``), then
    ``ended``: for callers that want a snapshot, not a follower."""

    def __init__(self, target: str, reader: Callable[[str], History] = read_history) -> None:
        super().__init__(target)
        self._reader = reader

    def _run(self) -> None:
        try:
            history = self._reader(self.target)
        except SourceError as exc:
            self._emit(0, ERROR, str(exc))
            return
        try:
            self.last_activity = os.stat(self.target).st_mtime
        except OSError:
            pass
        # Swap the whole object in: nobody can observe a half-read file.
        self.history = history
        self._note_records(len(history.epochs) + len(history.steps), self.last_activity)
        self._emit(len(history.epochs) + len(history.steps), ENDED)


class PendingSource(LiveSource):
    """A file whose format is not known yet (missing, empty, first line unfinished): waits,
    then runs the follower its format calls for in this same thread and passes its updates on
    as its own."""

    def __init__(self, target: str, poll_interval: float = POLL_INTERVAL_S) -> None:
        super().__init__(target)
        self.path = os.path.abspath(target)
        self.poll_interval = poll_interval
        self.inner: LiveSource | None = None

    def _run(self) -> None:
        watch: WatchHandle | None = None
        waited = False
        try:
            while not self.stopping:
                if watch is None and os.path.isdir(os.path.dirname(self.path)):
                    watch = shared_events.watch(os.path.dirname(self.path), self._on_event)
                fmt = classify(self.path)
                if fmt is not None:
                    break
                exists = os.path.exists(self.path)
                message = (f"waiting for the first line of {self.path}" if exists
                           else f"waiting for {self.path} to appear")
                if message != self.message:
                    self._emit(0, WAITING, message)
                waited = True
                self._wait(self.poll_interval)
            else:
                return
        finally:
            shared_events.unwatch(watch)
        inner = fmt.follow(self.target)
        self.inner = inner
        if waited:  # what it holds was written while watched: the run grows
            inner.reading_backlog = False
        # The inner follower runs here, on this thread: it shares our stop and wake-up events.
        inner._stop, inner._poke = self._stop, self._poke
        inner._on_update = self._forward
        inner._run()

    def _on_event(self, path: str) -> None:
        if path == self.path:
            self._wake()

    def _forward(self, update: SourceUpdate) -> None:
        inner = update.source
        self.history, self.state = update.history, update.state
        self.message = inner.message
        self.last_activity, self.last_record_at = inner.last_activity, inner.last_record_at
        self.grew_while_watched = inner.grew_while_watched
        self.loading = inner.loading
        callback = self._on_update
        if callback is not None:
            callback(SourceUpdate(self, update.history, update.added, update.state,
                                  update.message, update.new_run))


class RefusedSource(LiveSource):
    """A target that cannot be opened at all: reports why, once."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(target)
        self.reason = reason

    def _run(self) -> None:
        self._emit(0, ERROR, self.reason)


class FrozenSource(LiveSource):
    """An earlier run whose file now holds another one: what was read, kept as it was."""

    def __init__(self, target: str, history: History) -> None:
        super().__init__(target)
        self.history = history
        # Without an end record it did not finish; it was replaced.
        self.state = ENDED if history.end_status is not None else DELETED
        self.message = "replaced by a new run in the same file"

    def start(self, on_update: UpdateCallback | None = None) -> None:
        """Nothing to follow."""

    def _run(self) -> None:
        """Never started."""


def open_source(target: str) -> LiveSource:
    """A source for ``target`` (not started: call ``start(on_update)``).

    Raises ``SourceError`` for a folder of runs (use ``DirectoryWatcher``) or a malformed
    address.
    """
    if is_socket_address(target):
        from lstm_top.sources.socket_client import SocketSource

        try:
            return SocketSource(target)
        except ValueError as exc:
            raise SourceError(str(exc)) from None
    if target.startswith("ssh://"):
        from lstm_top.sources.ssh import SshSource

        try:
            return SshSource(target)
        except ValueError as exc:
            raise SourceError(str(exc)) from None
    fmt = classify(target)
    if fmt is not None:
        return fmt.follow(target)
    if os.path.isdir(target):
        raise SourceError(f"{target} is a folder; watch it with DirectoryWatcher")
    if target.lower().endswith((".jsonl", ".ndjson")):
        return JSONL.follow(target)
    return PendingSource(target)


def open_target(target: str) -> LiveSource:
    """``open_source``, with a refusal turned into a source that shows it on the run's screen."""
    try:
        return open_source(target)
    except SourceError as exc:
        return RefusedSource(target, str(exc))


