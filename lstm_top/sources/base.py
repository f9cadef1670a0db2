"""The contract between a live source (file follower, socket client) and whoever shows it.

A source owns one background thread. It applies records to its History while holding
``history.lock`` and reports through the ``on_update`` callback, from its own thread; it never
touches a UI. A viewer turns the callback into a message for its own loop and coalesces.
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from lstm_top.format import STATUS_COMPLETED, STATUS_INTERRUPTED
from lstm_top.history import History, median_of_finite


class SourceError(Exception):
    """The input cannot be read at all; the message says why, for a person."""


# Source states, as shown to the user.
WAITING = "waiting"  # the file does not exist yet / nothing to connect to yet
LIVE = "live"  # reading; records may still arrive
ENDED = "ended"  # the run wrote its end record, or a finished file was read whole
DELETED = "deleted"  # the file went away; what was read is kept
DISCONNECTED = "disconnected"  # socket lost; reconnecting with back-off
ERROR = "error"  # cannot be read at all; ``message`` says why


# A file unchanged for this long has no line still being written: its last line counts even
# without a newline (a CSV some tool wrote without a final newline, or a run that ended). A
# writer pausing mid-line that long is read again, corrected, when the rest arrives. Every
# file follower uses it (snapshot.py for other tools' files, follow.py for our JSON Lines).
UNFINISHED_LINE_QUIET_S = 2.0


@dataclass(slots=True)
class SourceUpdate:
    source: LiveSource
    history: History  # the run being read now (a new object when ``new_run``)
    added: int  # records added since the previous update (many appends, one update)
    state: str
    message: str | None = None  # a notice for the user: truncated, rotated, reconnecting...
    new_run: bool = False  # another run started in the same place: keep the old history too
    # ``history`` may also be a new object when ``new_run`` is False: the same run re-read from
    # scratch (a socket replay after reconnecting). A viewer should always take
    # ``update.history`` (or ``source.history``) rather than keep its first reference.


UpdateCallback = Callable[[SourceUpdate], None]


class LiveSource(ABC):
    """A run that may still grow. ``start`` spawns the reader; ``stop`` joins it (bounded)."""

    # Updates emitted by all sources of the process, ever: a viewer of a thousand runs
    # compares this one number to learn that none of them changed. (Read-modify-write from
    # several threads may lose a count, never the change: records are applied before it.)
    updates_emitted: ClassVar[int] = 0

    def __init__(self, target: str) -> None:
        self.target = target
        self.history = History(source=target)
        self.state = WAITING
        self.message: str | None = None
        self._stop = threading.Event()
        self._poke = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_update: UpdateCallback | None = None
        # time.monotonic() of the last record applied (for "last record 12 s ago").
        self.last_record_at: float | None = None
        # Wall-clock time (time.time()) the run was last seen doing something: a record read
        # while following, or for a file read after the fact, its modification time. This is
        # what ``display_state`` compares with the run's pace to call it stalled.
        self.last_activity: float | None = None
        # A file follower's first look reads what the file held before anyone watched it
        # (``reading_backlog`` until that look is done; the follower sets both flags); a
        # record after it means the run grew while watched. A run that never did is a past
        # run gone quiet ("not growing"), not a stalled one. Other sources (a socket: a
        # process that serves is running) count as growing.
        self.reading_backlog = False
        self.grew_while_watched = True
        # While a large backlog is read behind a preview of its newest part (``history`` is
        # then that preview): the fraction read so far. None otherwise.
        self.loading: float | None = None

    def start(self, on_update: UpdateCallback) -> None:
        self._on_update = on_update
        self._thread = threading.Thread(target=self._run_guarded, name=f"lstm-top:{self.target}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _wake(self) -> None:
        """Interrupt ``_wait`` in the reader thread (file events and ``stop`` call this)."""
        self._poke.set()

    def _wait(self, timeout: float) -> None:
        """Sleep until woken or ``timeout`` passes; wakes that came meanwhile are not lost."""
        self._poke.wait(timeout)
        self._poke.clear()

    def _run_guarded(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a reader bug must show as a message, never a dead screen
            self._emit(0, ERROR, f"reader stopped: {type(exc).__name__}: {exc}")

    @abstractmethod
    def _run(self) -> None:
        """The reader loop; returns when ``stopping``."""

    def _note_records(self, added: int, activity: float | None = None) -> None:
        """Remember when records last arrived (``activity``: wall time, default now; records
        of the backlog keep the file's last write time, given when it was opened)."""
        if added:
            self.last_record_at = time.monotonic()
            if self.reading_backlog:
                if activity is not None or self.last_activity is None:
                    self.last_activity = time.time() if activity is None else activity
                return
            self.grew_while_watched = True
            self.last_activity = time.time() if activity is None else activity

    def _emit(self, added: int, state: str, message: str | None = None,
              new_run: bool = False) -> None:
        self.state = state
        LiveSource.updates_emitted += 1
        if message is not None:
            self.message = message
        callback = self._on_update
        if callback is not None:
            try:
                callback(SourceUpdate(self, self.history, added, state, message, new_run))
            except Exception:
                pass  # the viewer's problem must not kill the reader


# ---------------------------------------------------------------------------- display state

# What the user sees in the run list / status line (``display_state``).
SHOWN_LIVE = "live"
SHOWN_STALLED = "stalled"
SHOWN_NOT_GROWING = "not growing"  # quiet since before it was watched: a past run
SHOWN_FINISHED = "finished"
SHOWN_CRASHED = "crashed"
SHOWN_INTERRUPTED = "interrupted"
SHOWN_WAITING = "waiting"
SHOWN_DELETED = "deleted"
SHOWN_DISCONNECTED = "disconnected"
SHOWN_ERROR = "error"

# A run is stalled when it has been quiet for this many of its own epoch intervals: one slow
# epoch (a checkpoint, a long validation pass) is normal, three in a row without a record is not.
STALL_PACE_FACTOR = 3.0
# ... but never sooner than this: a demo logging ten epochs a second is not stalled after 0.3 s
# of silence (a GC pause, a slow disk, the viewer itself catching up).
STALL_MIN_QUIET_S = 10.0
# A run that has written only its header has no pace yet. The first epoch of a real model can
# take long (data loading, compilation), so only a long silence counts.
STALL_NO_PACE_S = 600.0


def run_pace_s(history: History) -> float | None:
    """Typical seconds between records of this run: the median epoch interval; with one epoch,
    the time from the header to it; with step records only, the median step interval."""
    pace = history.seconds_per_epoch()
    if pace is not None:
        return pace
    epoch_times = history.epochs.time
    if len(epoch_times) and history.started is not None and math.isfinite(epoch_times[0]):
        first_epoch = float(epoch_times[0]) - history.started
        if first_epoch > 0:
            return first_epoch
    step_times = history.steps.time
    finite = step_times[np.isfinite(step_times)][-50:]
    if len(finite) >= 2:
        gaps = np.diff(finite)
        gaps = gaps[gaps > 0]
        if len(gaps):
            return median_of_finite(gaps)
    return None


def stall_after_s(history: History) -> float:
    """Quiet seconds after which this run counts as stalled, scaled to its own pace."""
    pace = run_pace_s(history)
    if pace is None:
        return STALL_NO_PACE_S
    return max(STALL_MIN_QUIET_S, STALL_PACE_FACTOR * pace)


def last_written_at(history: History) -> float | None:
    """Wall time of the newest timestamp the run itself wrote (header, epoch, step)."""
    candidates = [history.started]
    for table in (history.epochs, history.steps):
        times = table.time
        if len(times) and math.isfinite(times[-1]):
            candidates.append(float(times[-1]))
    known = [t for t in candidates if t is not None and math.isfinite(t)]
    return max(known) if known else None


def display_state(subject: LiveSource | History, now: float | None = None) -> str:
    """One word for the user: live, stalled, not growing, finished, crashed, interrupted,
    waiting, deleted, disconnected or error. Pure: depends only on its arguments (``now`` is
    wall-clock ``time.time()``, default now).

    A written end record wins over how the data reached us (a finished run whose file was then
    deleted is ``finished``). A live run is ``stalled`` once it has been quiet for longer than
    ``stall_after_s`` — a multiple of its own epoch pace — measured from the last activity the
    source saw, or for a bare History from the newest timestamp in it; a source's run that has
    not grown since it was first looked at (a CSV written yesterday) is ``not growing`` then.
    """
    if isinstance(subject, LiveSource):
        history, state, activity = subject.history, subject.state, subject.last_activity
    else:
        history, state, activity = subject, LIVE, None
    with history.lock:
        status = history.end_status
        if status is not None:
            if status == STATUS_COMPLETED:
                return SHOWN_FINISHED
            return SHOWN_INTERRUPTED if status == STATUS_INTERRUPTED else SHOWN_CRASHED
        if state == ERROR:
            return SHOWN_ERROR
        if state == WAITING:
            return SHOWN_WAITING
        if state == DELETED:
            return SHOWN_DELETED
        if state == DISCONNECTED:
            return SHOWN_DISCONNECTED
        if state == ENDED:  # a finished CSV/JSON file read whole: nothing more will come
            return SHOWN_FINISHED
        written = last_written_at(history)
        if activity is None:
            activity = written
        if activity is None:
            return SHOWN_LIVE  # nothing to judge by yet
        quiet = (time.time() if now is None else now) - activity
        if quiet <= stall_after_s(history):
            return SHOWN_LIVE
        if isinstance(subject, LiveSource) and not subject.grew_while_watched:
            return SHOWN_NOT_GROWING
        return SHOWN_STALLED
