"""File-system events (watchdog: inotify on Linux) shared by every follower in the process.

One watchdog Observer serves all watched directories; it starts with the first watch and is
stopped and joined when the last one goes, so a viewer that stops all its sources leaves no
thread behind. Events are only a hint to look again — callers re-check the file themselves and
keep polling, because events get lost (network file systems, containers, some editors).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from watchdog.events import (
    EVENT_TYPE_CLOSED_NO_WRITE,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_OPENED,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

# Our own reads open and close the file; reacting to that would wake us for nothing.
_IGNORED_EVENTS = frozenset({EVENT_TYPE_OPENED, EVENT_TYPE_CLOSED_NO_WRITE})
# ...and not asked for at all (the inotify mask leaves them out): opening a sweep, the viewer
# opens each of its thousand files a few times, and watchdog's two threads turning each open
# and close into an event cost nearly a second of the GIL. Directory modifications are left
# out too: a file's own event says which file changed.
_WANTED_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileModifiedEvent, FileMovedEvent, FileDeletedEvent, FileClosedEvent,
    DirCreatedEvent, DirMovedEvent, DirDeletedEvent]

# ``callback(path)`` with the absolute path an event names (both ends of a move are reported).
EventCallback = Callable[[str], None]


@dataclass(eq=False)
class WatchHandle:
    """Returned by ``watch``; pass back to ``unwatch``."""

    directory: str
    callback: EventCallback
    tree: bool = False  # events anywhere below ``directory`` (``watch_tree``)


@dataclass(eq=False)
class _DirectoryWatch:
    # None while every handle is muted, or when a tree watch above brings its events.
    watch: ObservedWatch | None
    callbacks: list[WatchHandle] = field(default_factory=list)
    muted: set[WatchHandle] = field(default_factory=set)
    covered: bool = False  # inside a tree watched with ``watch_tree``: no watch of its own


class _Dispatcher(FileSystemEventHandler):
    def __init__(self, events: SharedEvents) -> None:
        self._events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _IGNORED_EVENTS:
            return
        if event.is_directory and event.event_type == EVENT_TYPE_MODIFIED:
            return  # a file in it changed: that file's own event says which
        paths = [os.fsdecode(event.src_path)]
        if event.dest_path:
            paths.append(os.fsdecode(event.dest_path))
        self._events.dispatch(paths)


def _below(directory: str, tree: str) -> bool:
    return directory == tree or directory.startswith(tree.rstrip(os.sep) + os.sep)


class SharedEvents:
    """Reference-counted directory watches on one lazily started watchdog Observer.

    A folder of runs is watched as a tree (``watch_tree``: one recursive watch, one watchdog
    emitter thread); a follower's ``watch`` of a folder inside a watched tree then costs no
    watch of its own (each watchdog watch is a thread waking every second: a sweep of 1,000
    run folders watched one by one kept the idle viewer busy)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Held while a watch is scheduled on an observer that no watch of the caller's own
        # keeps alive (unmute, a tree's folders re-watched), and while an observer is stopped:
        # watchdog starts a new watch's thread as long as the observer's own is alive — up to a
        # second after stop() — and nothing would stop that one. dispatch never takes it.
        self._lifecycle = threading.Lock()
        self._observer: BaseObserver | None = None
        self._directories: dict[str, _DirectoryWatch] = {}
        self._trees: dict[str, _DirectoryWatch] = {}
        self._dispatcher = _Dispatcher(self)

    # Lock order: watchdog's observer holds its own lock while it calls ``dispatch``, which
    # takes ours; so no observer call (schedule, unschedule, stop) is ever made while ours is
    # held, or a watch and an event arriving together would wait on each other for ever.

    def _started_observer_locked(self) -> BaseObserver:
        if self._observer is None:
            observer = Observer()
            observer.daemon = True
            observer.start()
            self._observer = observer
        return self._observer

    def _schedule(self, observer: BaseObserver, directory: str,
                  recursive: bool) -> ObservedWatch | None:
        """(Our lock not held.)"""
        try:
            return observer.schedule(self._dispatcher, directory, recursive=recursive,
                                    event_filter=_WANTED_EVENTS)
        except OSError:
            return None

    @staticmethod
    def _unschedule(observer: BaseObserver | None, watch: ObservedWatch | None) -> None:
        """(Our lock not held.)"""
        if watch is not None and observer is not None:
            try:
                observer.unschedule(watch)
            except (KeyError, OSError):
                pass  # the directory went away and took its watch with it

    def _covered_locked(self, directory: str) -> bool:
        return any(_below(directory, tree) for tree in self._trees)

    def watch(self, directory: str, callback: EventCallback) -> WatchHandle | None:
        """Call ``callback`` for events in ``directory`` (not recursive). None when the
        directory cannot be watched (missing, no inotify left): the caller's poll still runs."""
        return self._add(WatchHandle(os.path.abspath(directory), callback))

    def watch_tree(self, directory: str, callback: EventCallback) -> WatchHandle | None:
        """Call ``callback`` for events anywhere below ``directory`` (recursive); None when it
        cannot be watched."""
        return self._add(WatchHandle(os.path.abspath(directory), callback, tree=True))

    def _add(self, handle: WatchHandle) -> WatchHandle | None:
        table = self._trees if handle.tree else self._directories
        with self._lock:
            entry = table.get(handle.directory)
            if entry is not None:
                entry.callbacks.append(handle)
                return handle
            covered = not handle.tree and self._covered_locked(handle.directory)
            entry = table[handle.directory] = _DirectoryWatch(None, covered=covered)
            entry.callbacks.append(handle)
            if covered:
                return handle
            observer = self._started_observer_locked()
        watch = self._schedule(observer, handle.directory, recursive=handle.tree)
        stale: ObservedWatch | None = None
        with self._lock:
            if watch is None:
                self._remove_locked(handle)
                to_stop = self._detach_if_idle_locked()
            elif table.get(handle.directory) is entry and entry.watch is None:
                entry.watch, to_stop = watch, None
            else:  # unwatched (or muted and rewatched) meanwhile
                stale, to_stop = watch, None
        self._unschedule(observer, stale)
        self._stop(to_stop)
        return handle if watch is not None else None

    def _remove_locked(self, handle: WatchHandle) -> _DirectoryWatch | None:
        """Take ``handle`` out; the entry when that was its last handle (now gone)."""
        table = self._trees if handle.tree else self._directories
        entry = table.get(handle.directory)
        if entry is None or handle not in entry.callbacks:
            return None
        entry.callbacks.remove(handle)
        entry.muted.discard(handle)
        if entry.callbacks:
            return None
        del table[handle.directory]
        return entry

    def unwatch(self, handle: WatchHandle | None) -> None:
        if handle is None:
            return
        with self._lock:
            observer = self._observer
            gone = self._remove_locked(handle)
            if gone is None:
                return
            # A tree watch went: the folders below it that relied on it need watches of their
            # own (where that fails, their followers' polls still run).
            uncovered = self._uncover_locked(handle.directory) if handle.tree else []
            to_stop = self._detach_if_idle_locked()
        if to_stop is not None:
            self._stop(to_stop)  # stopping unschedules every watch
            return
        self._unschedule(observer, gone.watch)
        if observer is None or not uncovered:
            return
        with self._lifecycle:
            with self._lock:
                observer = self._observer  # stopped meanwhile: the folders' polls still run
            scheduled = ([] if observer is None else
                         [(entry, self._schedule(observer, directory, recursive=False))
                          for directory, entry in uncovered])
        stale = []
        with self._lock:
            for entry, watch in scheduled:
                if watch is None:
                    continue
                if entry.watch is None and not entry.covered and any(
                        e is entry for e in self._directories.values()):
                    entry.watch = watch
                else:
                    stale.append(watch)
        for watch in stale:
            self._unschedule(observer, watch)

    def _uncover_locked(self, tree: str) -> list[tuple[str, _DirectoryWatch]]:
        uncovered = []
        for directory, entry in self._directories.items():
            if entry.covered and _below(directory, tree) \
                    and not self._covered_locked(directory):
                entry.covered = False
                if len(entry.muted) < len(entry.callbacks):
                    uncovered.append((directory, entry))
        return uncovered

    def mute(self, handle: WatchHandle | None) -> None:
        """No events for ``handle`` until ``unmute``: a follower reading a fast run polls
        instead, and once every handle of a directory is muted its inotify watch is dropped,
        which spares the observer's threads an event per appended line."""
        with self._lock:
            entry = self._directories.get(handle.directory) if handle is not None else None
            if entry is None or handle not in entry.callbacks:
                return
            entry.muted.add(handle)
            if entry.covered:
                return  # the tree's watch stays; a muted handle is simply not called
            observer, watch = self._observer, entry.watch
            if len(entry.muted) < len(entry.callbacks) or observer is None or watch is None:
                return
            entry.watch = None
        # Outside our lock: watchdog holds its own while it calls ``dispatch``, which takes ours.
        try:
            observer.unschedule(watch)
        except (KeyError, OSError):
            pass

    def unmute(self, handle: WatchHandle | None) -> None:
        """Events for ``handle`` again. The caller looks at its file once more afterwards:
        what changed before the watch was back sent no event."""
        with self._lifecycle:
            with self._lock:
                entry = self._directories.get(handle.directory) if handle is not None else None
                if entry is None or handle not in entry.muted:
                    return
                entry.muted.discard(handle)
                observer = self._observer
                if entry.watch is not None or entry.covered or observer is None:
                    return
            # The same directory scheduled twice is one watch in watchdog. None: cannot watch
            # it now (the caller's poll still runs).
            watch = self._schedule(observer, handle.directory, recursive=False)
        if watch is None:
            return
        with self._lock:
            holder = self._directories.get(handle.directory)
            if holder is entry and entry.watch is None:
                entry.watch = watch
        # Unwatched meanwhile, with nothing else watching the folder: the watch is nobody's.
        # (A watch of the same folder is one watch in watchdog: another holder shares it.)
        if holder is None:
            self._unschedule(observer, watch)

    def _detach_if_idle_locked(self) -> BaseObserver | None:
        """The observer, taken away when nothing is watched any more: the caller stops it."""
        if self._directories or self._trees or self._observer is None:
            return None
        observer, self._observer = self._observer, None
        return observer

    def _stop(self, observer: BaseObserver | None) -> None:
        """(Our lock not held.) Stop and join a detached observer: no thread left behind."""
        if observer is not None:
            with self._lifecycle:
                observer.stop()
                if observer is not threading.current_thread():
                    observer.join(timeout=5.0)

    def dispatch(self, paths: list[str]) -> None:
        directories = {os.path.dirname(path) for path in paths}
        with self._lock:
            handles = [handle for directory in directories
                       for entry in [self._directories.get(directory) or _EMPTY]
                       for handle in entry.callbacks if handle not in entry.muted]
            handles += [handle for tree, entry in self._trees.items()
                        if any(_below(directory, tree) for directory in directories)
                        for handle in entry.callbacks]
        for handle in handles:
            for path in paths:
                if (_below(os.path.dirname(path), handle.directory) if handle.tree
                        else os.path.dirname(path) == handle.directory):
                    try:
                        handle.callback(path)
                    except Exception:
                        pass  # one follower's bug must not silence the others


_EMPTY = _DirectoryWatch(watch=None)

# The process-wide instance followers and directory watchers use.
shared_events = SharedEvents()
