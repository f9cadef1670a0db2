"""Watch a folder for history files: those already there first, then each new one.

``DirectoryWatcher("runs/").start(on_new_file)`` calls ``on_new_file(path)`` once per history
file, from its own thread. Like the file follower it listens to file events (watchdog) and
re-lists the folder every ``POLL_INTERVAL_S`` as a safety net. A file is reported once it *looks
like* a history — an empty ``run.jsonl`` the Logger has just created is reported as soon as its
first line is there — so a folder of other JSON or CSV files stays quiet.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from lstm_top.format import RecordError, decode_line
from lstm_top.history import History
from lstm_top.sources.files import EPOCH_COLUMNS, SourceError, read_history_json_text
from lstm_top.sources.watcher import WatchHandle, shared_events

HISTORY_SUFFIXES = (".jsonl", ".ndjson", ".csv", ".json")
POLL_INTERVAL_S = 1.0
HEAD_BYTES = 1 << 16
# A history JSON dump is small; a huge .json is something else and is not read to find out.
MAX_HISTORY_JSON_BYTES = 32 << 20
_LOSS_HINTS = ("loss", "acc", "epoch")


def looks_like_history(path: str) -> bool:
    """Whether ``path`` holds (the beginning of) a training history we can show."""
    lower = path.lower()
    if not lower.endswith(HISTORY_SUFFIXES) or os.path.basename(path).startswith("."):
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
            if lower.endswith(".json"):
                if os.fstat(handle.fileno()).st_size > MAX_HISTORY_JSON_BYTES:
                    return False
                head += handle.read()
    except OSError:
        return False
    if lower.endswith(".csv"):
        first_row = head.split(b"\n", 1)[0].decode("utf-8", "replace").lower()
        columns = {cell.strip() for cell in first_row.split(",")}
        return b"\n" in head and (bool(columns & {c.lower() for c in EPOCH_COLUMNS})
                                  or any(hint in first_row for hint in _LOSS_HINTS))
    if lower.endswith(".json"):
        try:
            read_history_json_text(head.decode("utf-8", "replace"), History())
        except SourceError:
            return _first_line_is_record(head)  # JSON Lines under a .json name
        return True
    return _first_line_is_record(head)


def _first_line_is_record(head: bytes) -> bool:
    newline = head.find(b"\n")
    if newline < 0:
        return False  # nothing, or a first line still being written: look again later
    try:
        decode_line(head[:newline].rstrip(b"\r"))
    except RecordError:
        return False
    return True


class DirectoryWatcher:
    """Reports history files in one folder (not its subfolders), each once."""

    def __init__(self, path: str, *, poll_interval: float = POLL_INTERVAL_S,
                 use_events: bool = True) -> None:
        self.path = os.path.abspath(path)
        self.poll_interval = poll_interval
        self.use_events = use_events
        self.reported: set[str] = set()
        self.error: str | None = None  # why the folder cannot be listed, when it cannot
        self._on_new_file: Callable[[str], object] | None = None
        self._stop = threading.Event()
        self._poke = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: WatchHandle | None = None

    def start(self, on_new_file: Callable[[str], object]) -> None:
        """Call ``on_new_file(path)`` (from the watching thread; its result is ignored) for
        each history file in the folder, then for each new one."""
        self._on_new_file = on_new_file
        self._thread = threading.Thread(target=self._run, name=f"lstm-top-dir:{self.path}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._poke.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self.use_events and self._watch is None and os.path.isdir(self.path):
                    self._watch = shared_events.watch(self.path, self._on_event)
                self._scan()
                self._poke.wait(self.poll_interval)
                self._poke.clear()
        finally:
            shared_events.unwatch(self._watch)
            self._watch = None

    def _on_event(self, path: str) -> None:
        if path not in self.reported:
            self._poke.set()

    def _scan(self) -> None:
        try:
            names = sorted(os.listdir(self.path))
        except OSError as exc:
            self.error = f"cannot list {self.path}: {exc.strerror or exc}"
            return
        self.error = None
        for name in names:
            if self._stop.is_set():
                return
            path = os.path.join(self.path, name)
            if path in self.reported or not os.path.isfile(path):
                continue
            if looks_like_history(path):
                self.reported.add(path)
                callback = self._on_new_file
                if callback is not None:
                    try:
                        callback(path)
                    except Exception:
                        pass  # the viewer's problem must not stop the watching
