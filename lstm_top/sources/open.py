"""One entry point from a command-line target to a LiveSource.

``open_source("unix:/tmp/run.sock")`` and ``open_source("tcp://127.0.0.1:7000")`` connect to a
training process serving its history; a JSON Lines path (existing or not yet) is followed like
``tail -F``; a CSV, Keras-history JSON or TensorBoard event file is read once and is then
``ended``.
Folders are not sources: watch them with ``DirectoryWatcher`` and open each file it reports.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from lstm_top.history import History
from lstm_top.sources.base import ENDED, ERROR, LiveSource
from lstm_top.sources.files import SourceError, detect_kind, read_history
from lstm_top.sources.follow import FileFollower
from lstm_top.sources.socket_client import SocketSource, is_socket_address


class FinishedFileSource(LiveSource):
    """A file of a kind that is written whole (CSV, history JSON, TensorBoard events): read
    once in the thread with ``reader`` (default ``read_history``)."""

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


def open_source(target: str) -> LiveSource:
    """A source for ``target`` (not started: call ``start(on_update)``).

    Raises ``SourceError`` for a folder (use ``DirectoryWatcher``) or a malformed address.
    """
    if is_socket_address(target):
        try:
            return SocketSource(target)
        except ValueError as exc:
            raise SourceError(str(exc)) from None
    if os.path.isdir(target):
        from lstm_top.sources.tensorboard import is_tensorboard_folder, read_tensorboard

        if is_tensorboard_folder(target):
            return FinishedFileSource(target, read_tensorboard)
        raise SourceError(f"{target} is a folder; watch it with DirectoryWatcher")
    if os.path.isfile(target):
        from lstm_top.sources.tensorboard import is_event_file, read_tensorboard

        if is_event_file(target):
            return FinishedFileSource(target, read_tensorboard)
        try:
            with open(target, "rb") as handle:
                head = handle.read(4096)
        except OSError:
            head = b""  # unreadable now: the follower reports why and keeps trying
        if detect_kind(target, head) != "jsonl":
            return FinishedFileSource(target)
    return FileFollower(target)
