"""Follow a run in a format that is read whole: re-read it whenever its files change.

CSV (Keras CSVLogger, Lightning's metrics.csv), Keras history JSON, TensorBoard event files,
Hugging Face's ``trainer_state.json``, W&B history, MLflow run folders, DVCLive folders and Ray
Tune trials are small per-epoch files, and some of them are rewritten whole on every save
(Lightning, HF). So instead of parsing appended bytes, each change is read again from the start
by the format's own reader and compared with what was read before:

* the earlier rows are the start of the new ones: the new rows are appended to the same
  History (the signs judge only them);
* all but the last earlier row match (Lightning merging the rest of an epoch into its row), or
  a new column has values in rows already read (a second TensorBoard writer's first scalar on
  a step already shown): the same run, re-read: a new History object, ``new_run`` False;
* anything else (truncated, replaced, another run's header): a new run (``new_run``); the old
  History stays with whoever holds it;
* the files went away: state ``deleted``, what was read is kept; following resumes if they
  come back.

A line still being written is left out by the readers (``live=True``) and waits for its newline
— or for the file to be quiet for 2 s: a file some tool wrote without a final newline shows its
last row; a JSON file caught half-written is read again at the next look. Re-reading costs time in
proportion to the file, so a file that takes long to read is looked at less often.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

from lstm_top.history import History, Table
from lstm_top.sources.base import (
    DELETED,
    ENDED,
    ERROR,
    LIVE,
    UNFINISHED_LINE_QUIET_S,
    WAITING,
    SourceError,
)
from lstm_top.sources.pool import PooledSource
from lstm_top.sources.watcher import WatchHandle, shared_events

POLL_INTERVAL_S = 1.0
# A re-read may take at most this share of the time (a 50 ms read: at most every 0.5 s).
MAX_READ_SHARE = 0.1
# ... but a new epoch is never kept from the screen longer than this for it.
MAX_READ_PAUSE_S = 1.0
# Folders of a run to watch for events (TensorBoard's version_0/, MLflow's metrics/...).
MAX_WATCHED_FOLDERS = 16
MAX_LISTED_FILES = 2000

Reader = Callable[[str, bool], History]
Fingerprint = tuple[tuple[str, int, int, int], ...]


def fingerprint(target: str) -> Fingerprint | None:
    """(path, inode, size, mtime) of the target file, or of every file under the target
    folder; None when the target does not exist."""
    try:
        st = os.stat(target)
    except OSError:
        return None
    if not os.path.isdir(target):
        return ((target, st.st_ino, st.st_size, st.st_mtime_ns),)
    entries = []
    for parent, subfolders, files in os.walk(target):
        subfolders.sort()
        for name in sorted(files):
            path = os.path.join(parent, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            entries.append((path, st.st_ino, st.st_size, st.st_mtime_ns))
            if len(entries) >= MAX_LISTED_FILES:
                return tuple(entries)
    return tuple(entries)


def _rows_match(old: Table, new: Table, rows: int, names: dict[str, str]) -> bool:
    """The first ``rows`` rows of ``old`` are in ``new`` unchanged (``names``: old column ->
    its name in ``new``)."""
    if len(new) < rows:
        return False
    if not np.array_equal(old.index[:rows], new.index[:rows]):
        return False
    for name in old.names:
        renamed = names.get(name)
        if renamed is None:
            return False
        if not np.array_equal(old.present(name)[:rows], new.present(renamed)[:rows]):
            return False
        if not np.array_equal(old.column(name)[:rows], new.column(renamed)[:rows],
                              equal_nan=True):
            return False
    return True


def _column_names(old: Table, new: Table) -> dict[str, str]:
    """Each old column's name in the new reading: the same, or — when a TensorBoard folder
    gained a second event folder and its tags got folder prefixes — the new name ending in
    ``/<old name>`` that holds the same values."""
    names = {}
    rows = min(len(old), len(new))
    for name in old.names:
        if name in new:
            names[name] = name
            continue
        for other in new.names:
            if other.endswith("/" + name) and np.array_equal(
                    old.present(name)[:rows], new.present(other)[:rows]) and np.array_equal(
                    old.column(name)[:rows], new.column(other)[:rows], equal_nan=True):
                names[name] = other
                break
    return names


def _append_rows(old: Table, new: Table) -> int:
    start = len(old)
    if len(new) <= start:
        return 0
    old.extend_from(new, start)
    return len(new) - start


def _new_values_in_old_rows(old: Table, new: Table, names: dict[str, str]) -> bool:
    """A column the old reading lacked has values in rows it already had: a second TensorBoard
    writer's first scalar on a step already read, a metric Lightning adds to the last row.
    Appending rows would drop them: the run must be taken whole again."""
    known = set(names.values())
    rows = len(old)
    return any(bool(new.present(name)[:rows].any()) for name in new.names if name not in known)


def relation(old: History, new: History) -> str:
    """'same', 'extends', 'revises' or 'new' (see the module docstring)."""
    tables = [(o, n, _column_names(o, n)) for o, n in ((old.epochs, new.epochs),
                                                        (old.steps, new.steps))]
    renamed = any(old_name != new_name for _, _, names in tables
                  for old_name, new_name in names.items())
    if all(_rows_match(o, n, len(o), names) for o, n, names in tables):
        if renamed or any(_new_values_in_old_rows(o, n, names) for o, n, names in tables):
            return "revises"
        grown = any(len(n) > len(o) for o, n, _ in tables)
        changed = (old.end_status != new.end_status) or (old.config != new.config)
        return "extends" if grown or changed else "same"
    if all(_rows_match(o, n, max(0, len(o) - 1), names) for o, n, names in tables):
        return "revises"
    epochs, new_epochs, epoch_names = tables[0]
    if new.resumed_at is not None and _resumed(epochs, new_epochs, epoch_names, new.resumed_at):
        return "revises"
    return "new"


def _resumed(old: Table, new: Table, names: dict[str, str], resumed_at: int) -> bool:
    """``new`` is ``old`` resumed from a checkpoint at epoch ``resumed_at``: the epochs before
    it are unchanged (the interrupted attempt's later ones were replaced, not another run)."""
    kept = int(np.count_nonzero(old.index < resumed_at))
    return kept > 0 and _rows_match(old, new, kept, names)


class SnapshotFollower(PooledSource):
    """``SnapshotFollower(path, reader).start(on_update)``; ``reader(path, live)``. Given a
    ``pool`` before ``start`` (a sweep of many runs), the pool's thread makes its looks."""

    def __init__(self, target: str, reader: Reader, *, poll_interval: float = POLL_INTERVAL_S,
                 use_events: bool = True) -> None:
        super().__init__(target)
        self.path = os.path.abspath(target)
        self._reader = reader
        self.poll_interval = poll_interval
        self.use_events = use_events
        self._seen: Fingerprint | None = None
        self._has_read = False
        self._next_read_at = 0.0
        self._deferred = False  # a change seen while reads were spaced out: read it then
        # Read while the file was still changing (a last line without its newline left out):
        # read once more when it has been quiet for UNFINISHED_LINE_QUIET_S.
        self._read_live = False
        self._watches: dict[str, WatchHandle | None] = {}
        self.reads = 0  # whole re-reads, for tests and benchmarks
        self.reading_backlog = True  # until the first look is done (LiveSource)
        self.grew_while_watched = False

    def _run(self) -> None:
        try:
            while not self.stopping:
                self.check_now()
                self._wait(self.pooled_wait())
        finally:
            self.close_pooled()

    # ------------------------------------------------------------------ pooled

    def _pooled_look(self) -> None:
        self.check_now()

    def pooled_wait(self) -> float:
        until_read = self._next_read_at - time.monotonic()
        if self._deferred:
            return max(0.01, until_read)
        return max(self.poll_interval, until_read)

    def close_pooled(self) -> None:
        for handle in self._watches.values():
            shared_events.unwatch(handle)
        self._watches.clear()

    def _on_event(self, path: str) -> None:
        if path == self.path or path.startswith(self.path + os.sep):
            self._wake()

    def _ensure_watches(self, seen: Fingerprint) -> None:
        if not self.use_events:
            return
        folders = {self.path if os.path.isdir(self.path) else os.path.dirname(self.path)}
        folders.update(os.path.dirname(entry[0]) for entry in seen)
        for folder in sorted(folders)[:MAX_WATCHED_FOLDERS]:
            if folder not in self._watches:
                self._watches[folder] = shared_events.watch(folder, self._on_event)

    def check_now(self) -> None:
        """Look once; read again when the files changed (the thread calls this; tests may)."""
        try:
            self._look()
        finally:
            self.reading_backlog = False

    def _look(self) -> None:
        seen = fingerprint(self.path)
        if seen is None:
            self._gone()
            return
        self._ensure_watches(seen)
        modified = max(entry[3] for entry in seen) / 1e9 if seen else None
        quiet = modified is None or time.time() - modified >= UNFINISHED_LINE_QUIET_S
        if seen == self._seen and not (self._read_live and quiet):
            return
        if time.monotonic() < self._next_read_at:
            self._deferred = True  # changed, read soon: at _next_read_at, not the next poll
            return
        self._deferred = False
        began = time.monotonic()
        try:
            new = self._reader(self.target, not quiet)
            self._read_live = not quiet
        except SourceError as exc:
            # Half-written (a JSON file caught mid-save) or not yet a history: look again.
            self._seen = None if self._has_read else seen
            if not self._has_read:
                self._set_state(WAITING if self._empty(seen) else ERROR, str(exc))
            return
        finally:
            self.reads += 1
            took = time.monotonic() - began
            # The first read pays for imports (TensorBoard's take seconds): not the file's cost.
            if self._has_read and self._seen is not None:
                pause = min(MAX_READ_PAUSE_S, took / MAX_READ_SHARE - took)
                self._next_read_at = time.monotonic() + pause
        self._seen = seen
        self._take(new, modified)

    @staticmethod
    def _empty(seen: Fingerprint) -> bool:
        return all(entry[2] == 0 for entry in seen)

    def _take(self, new: History, modified: float | None) -> None:
        new.source = self.target
        old = self.history
        first = not self._has_read
        self._has_read = True
        state = ENDED if new.end_status is not None else LIVE
        with old.lock:
            kind = "new" if first else relation(old, new)
            if kind in ("extends", "same"):
                added = _append_rows(old.epochs, new.epochs) + _append_rows(old.steps, new.steps)
                old.end_status, old.end_time = new.end_status, new.end_time
                old.config, old.run_name = new.config, new.run_name
                old.problems, old.problem_count = new.problems, new.problem_count
                old.malformed_lines = new.malformed_lines
        if kind in ("extends", "same"):
            if added or kind == "extends" or self.state != state:
                self._note_records(added, None if self.state == LIVE else modified)
                self._emit(added, state, "" if self.state in (WAITING, DELETED) else None)
            return
        added = len(new.epochs) + len(new.steps)
        self.history = new
        if self.last_activity is None:
            self.last_activity = modified
        self._note_records(added, None if not first else modified)
        if first:
            self._emit(added, state, "" if self.message else None)
        elif kind == "revises":
            self._emit(added, state)
        else:
            self._emit(added, state, f"a new run started in {self.path}", new_run=True)

    def _gone(self) -> None:
        self._seen = None
        if self._has_read:
            if self.state != DELETED:
                with self.history.lock:
                    epochs = len(self.history.epochs)
                self._set_state(DELETED,
                                f"{self.path} was deleted; keeping the {epochs} epochs read")
        elif self.state != WAITING or self.message is None:
            self._set_state(WAITING, f"waiting for {self.path} to appear")

    def _set_state(self, state: str, message: str | None) -> None:
        if state == self.state and message == self.message:
            return
        self._emit(0, state, message)


__all__ = ["ERROR", "SnapshotFollower", "fingerprint", "relation"]
