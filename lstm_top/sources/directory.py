"""Watch a folder tree for runs: those already there first, then each new one.

``DirectoryWatcher("runs/").start(on_new_file)`` calls ``on_new_file(path)`` once per run — a
history file, or a folder that is one run (a Ray Tune trial, an MLflow run, a TensorBoard log
dir; see ``formats.find_runs``), searched a few levels deep — from its own thread. Like the
file follower it listens to file events (watchdog) and
re-lists the folder every ``POLL_INTERVAL_S`` as a safety net. A file is reported once it *looks
like* a history — an empty ``run.jsonl`` the Logger has just created is reported as soon as its
first line is there — so a folder of other JSON or CSV files stays quiet.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from lstm_top.sources.formats import find_runs, looks_like_history
from lstm_top.sources.watcher import WatchHandle, shared_events

POLL_INTERVAL_S = 1.0
WALK_COST_FACTOR = 30.0


class DirectoryWatcher:
    """Reports the runs in a folder tree, each once. Events come from the top folder; the
    tree below is re-walked at every poll, less often when walking it takes long."""

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
                began = time.monotonic()
                self._scan()
                took = time.monotonic() - began
                # Walking a big sweep costs: at most a few percent of one core.
                self._poke.wait(max(self.poll_interval, took * WALK_COST_FACTOR))
                self._poke.clear()
        finally:
            shared_events.unwatch(self._watch)
            self._watch = None

    def _on_event(self, path: str) -> None:
        if path not in self.reported:
            self._poke.set()

    def _scan(self) -> None:
        if not os.path.isdir(self.path):
            self.error = f"cannot list {self.path}: no such folder"
            return
        self.error = None
        for path in find_runs(self.path):
            if self._stop.is_set():
                return
            if path in self.reported:
                continue
            self.reported.add(path)
            callback = self._on_new_file
            if callback is not None:
                try:
                    callback(path)
                except Exception:
                    pass  # the viewer's problem must not stop the watching


__all__ = ["DirectoryWatcher", "looks_like_history"]
