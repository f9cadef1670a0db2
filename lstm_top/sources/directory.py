"""Watch a folder tree for runs: those already there first, then each new one.

``DirectoryWatcher("runs/").start(on_new_file)`` calls ``on_new_file(path)`` once per run — a
history file, or a folder that is one run (a Ray Tune trial, an MLflow run, a TensorBoard log
dir; see ``formats.find_runs``), searched a few levels deep — from its own thread. It listens to
file events in the whole tree (one recursive watch, which the runs' followers share) and
re-walks it every ``POLL_INTERVAL_S`` as a safety net — every ``POLL_WITH_EVENTS_S`` while the
events come. A file is reported once it *looks like* a history — an empty ``run.jsonl`` the
Logger has just created is reported as soon as its first line is there — so a folder of other
JSON or CSV files stays quiet.

A file turned down is not opened again at every poll (20,000 other files would cost a core):
only when an event names it, or at the slow full re-check every ``RECHECK_REJECTED_S``, and
then only if its size or modification time changed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from lstm_top.sources.formats import find_runs, looks_like_history
from lstm_top.sources.watcher import WatchHandle, shared_events

POLL_INTERVAL_S = 1.0
# With a working watch on the whole tree, the re-walk is only the safety net for lost events
# (inotify can miss a file written into a folder created a moment before: a TensorBoard
# writer's new run folder). Every 5 s, not 30: a new run shows within seconds even then, and
# what a walk costs is capped anyway (WALK_COST_FACTOR).
POLL_WITH_EVENTS_S = 5.0
# Events come in bursts (a sweep creating its runs): walks they cause are this far apart at
# least, and at least EVENT_WALK_GAP_FACTOR times the last walk's duration, but never more
# than EVENT_WALK_MAX_GAP_S (the first walk, opening every file, says little of the next).
EVENT_WALK_MIN_GAP_S = 0.2
EVENT_WALK_GAP_FACTOR = 3.0
EVENT_WALK_MAX_GAP_S = 1.0
RECHECK_REJECTED_S = 30.0
# A file turned down is remembered once it is this big or this long untouched.
SETTLED_BYTES = 4096
SETTLED_S = 10.0
WALK_COST_FACTOR = 30.0


class DirectoryWatcher:
    """Reports the runs in a folder tree, each once. Events from anywhere in the tree start a
    walk (a burst of them, one); the tree is re-walked at every poll too, less often when
    walking it takes long."""

    def __init__(self, path: str, *, poll_interval: float = POLL_INTERVAL_S,
                 use_events: bool = True) -> None:
        self.path = os.path.abspath(path)
        self.poll_interval = poll_interval
        self.use_events = use_events
        self.reported: set[str] = set()
        self.error: str | None = None  # why the folder cannot be listed, when it cannot
        self._on_new_file: Callable[[str], object] | None = None
        self._on_walked: Callable[[], object] | None = None
        self._stop = threading.Event()
        self._poke = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: WatchHandle | None = None
        # Files turned down, with (size, mtime) when they were; those named by an event since.
        self._rejected: dict[str, tuple[int, int]] = {}
        self._dirty: set[str] = set()
        self._dirty_lock = threading.Lock()
        self._recheck_due = 0.0
        self._rechecking = False
        self.walking = False  # a walk of the tree is under way (its runs are still coming)
        self.opened_for_a_look = 0  # files opened to decide, for tests
        self.walks = 0  # walks of the tree, for tests

    def _looks(self, path: str) -> bool:
        """``looks_like_history``, skipping files already reported (a re-walk of a sweep
        opened every run's file again) and files already turned down and unchanged."""
        if path in self.reported:
            return True
        signature = self._rejected.get(path)
        if signature is not None:
            with self._dirty_lock:
                dirty = path in self._dirty
                self._dirty.discard(path)
            if not dirty and not self._rechecking:
                return False
            try:
                st = os.stat(path)
            except OSError:
                return False
            if (st.st_size, st.st_mtime_ns) == signature:
                return False
        self.opened_for_a_look += 1
        if looks_like_history(path):
            self._rejected.pop(path, None)
            return True
        try:
            st = os.stat(path)
        except OSError:
            self._rejected.pop(path, None)
            return False
        # A small file written in the last seconds may be a history whose first line is not
        # complete yet (below the top folder no event says when it is): look again next poll.
        if st.st_size >= SETTLED_BYTES or time.time() - st.st_mtime > SETTLED_S:
            self._rejected[path] = (st.st_size, st.st_mtime_ns)
        return False

    def start(self, on_new_file: Callable[[str], object],
              on_walked: Callable[[], object] | None = None) -> None:
        """Call ``on_new_file(path)`` (from the watching thread; its result is ignored) for
        each history file in the folder, then for each new one; ``on_walked()`` after each
        walk of the tree (``walking`` is True during one)."""
        self._on_new_file, self._on_walked = on_new_file, on_walked
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
                    self._watch = shared_events.watch_tree(self.path, self._on_event)
                began = time.monotonic()
                self.walking = True
                try:
                    self._scan()
                finally:
                    self.walking = False
                if self._on_walked is not None:
                    try:
                        self._on_walked()
                    except Exception:
                        pass  # the viewer's problem must not stop the watching
                took = time.monotonic() - began
                # Walking a big sweep costs: at most a few percent of one core, and with the
                # tree's events coming in, a walk only now and then as the safety net.
                interval = self.poll_interval if self._watch is None \
                    else max(self.poll_interval, POLL_WITH_EVENTS_S)
                self._poke.wait(max(interval, took * WALK_COST_FACTOR))
                self._poke.clear()
                self._stop.wait(min(EVENT_WALK_MAX_GAP_S,
                                    max(EVENT_WALK_MIN_GAP_S, took * EVENT_WALK_GAP_FACTOR)))
        finally:
            shared_events.unwatch(self._watch)
            self._watch = None

    def _on_event(self, path: str) -> None:
        if not self._inside_reported(path):
            with self._dirty_lock:
                self._dirty.add(path)
            self._poke.set()

    def _inside_reported(self, path: str) -> bool:
        """A run already reported, or a file inside a run folder already reported (its own
        follower looks after it): no reason to walk the tree."""
        while len(path) > len(self.path):
            if path in self.reported:
                return True
            path = os.path.dirname(path)
        return False

    def _scan(self) -> None:
        if not os.path.isdir(self.path):
            self.error = f"cannot list {self.path}: no such folder"
            return
        self.error = None
        self.walks += 1
        now = time.monotonic()
        self._rechecking = now >= self._recheck_due
        if self._rechecking:
            self._recheck_due = now + RECHECK_REJECTED_S
        for path in find_runs(self.path, looks=self._looks):
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
