"""One thread following many files: a sweep of a thousand runs is not a thousand threads.

A ``PooledSource`` — our JSON Lines' ``PooledSource``, and the ``SnapshotFollower`` of every
other format — given a pool (``follower.pool = FollowerPool.shared()`` before ``start``)
does not start a thread of its own: the pool's thread makes each of its looks — the first at
once, then on every file event for it, and at its poll interval as the safety net — in the
order they fall due (a heap of due times, so an idle pool of 1,000 followers costs nothing
between their polls). The looks are the follower's own (``check_now``), so a pooled follower
keeps every guarantee of a threaded one.

Why: with one thread per run, starting a sweep's 1,000 readers cost the UI thread seconds
(each ``Thread.start`` waits for the new thread to get the GIL among hundreds of others), and
the idle viewer woke 100 threads a second.
A pooled follower's ``stop`` does not wait: the pool closes its file at its next turn.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from abc import abstractmethod
from typing import ClassVar

from lstm_top.sources.base import ERROR, LiveSource, UpdateCallback

# A follower's looks on events are at least this far apart (as a threaded follower's).
READ_GAP_S = 0.05


class PooledSource(LiveSource):
    """A source whose looks a ``FollowerPool``'s thread may make instead of a thread of its
    own (set ``pool`` before ``start``). Without a pool it runs its own thread as any."""

    pool: FollowerPool | None = None

    def start(self, on_update: UpdateCallback) -> None:
        if self.pool is None:
            super().start(on_update)
            return
        self._on_update = on_update
        self.pool.add(self)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop following (joined within ``timeout``); a pooled follower's files are closed
        by the pool at its next turn, without waiting here."""
        if self.pool is None:
            super().stop(timeout)
            return
        self._stop.set()
        self.pool.poke(self)

    def _wake(self) -> None:
        if self.pool is None:
            super()._wake()
        else:
            self.pool.poke(self)

    def pooled_look(self) -> None:
        """One turn in the pool's thread: what one pass of ``_run``'s loop does."""
        try:
            self._pooled_look()
        except Exception as exc:  # like a reader thread's end: shown, and no more looks
            self._emit(0, ERROR, f"reader stopped: {type(exc).__name__}: {exc}")
            self._stop.set()

    @abstractmethod
    def _pooled_look(self) -> None:
        """One look (watches ensured, the file read if it changed)."""

    @abstractmethod
    def pooled_wait(self) -> float:
        """Seconds until the next look without an event."""

    @abstractmethod
    def close_pooled(self) -> None:
        """Stopped: close files, drop watches (the pool's thread calls this)."""


class FollowerPool:
    _shared: ClassVar[FollowerPool | None] = None
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str = "lstm-top-followers", read_gap: float = READ_GAP_S) -> None:
        self.name = name
        self.read_gap = read_gap
        self._looked_at: dict[PooledSource, float] = {}
        self._condition = threading.Condition(threading.Lock())
        self._ready: list[PooledSource] = []  # poked (an event, a stop, just added)
        self._ready_set: set[PooledSource] = set()
        self._due: list[tuple[float, int, PooledSource]] = []  # (when, tie-break, follower)
        self._due_at: dict[PooledSource, float] = {}  # the live entry of each follower
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self.looks = 0  # looks made, for tests

    @classmethod
    def shared(cls) -> FollowerPool:
        """The process-wide pool (its thread starts with its first follower)."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    @property
    def followers(self) -> int:
        with self._condition:
            return len(self._due_at)

    def add(self, follower: PooledSource) -> None:
        """Follow ``follower`` from now on; its first look comes at once."""
        with self._condition:
            self._due_at[follower] = time.monotonic()
            self._mark_ready(follower)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def poke(self, follower: PooledSource) -> None:
        """Look at ``follower`` soon (a file event, or its stop)."""
        with self._condition:
            due = self._due_at.get(follower)
            if due is None:
                return
            # A run appending fast: its appends are read together, at most every read_gap.
            earliest = self._looked_at.get(follower, 0.0) + self.read_gap
            if follower.stopping or time.monotonic() >= earliest:
                self._mark_ready(follower)
            elif due > earliest:
                self._due_at[follower] = earliest
                heapq.heappush(self._due, (earliest, next(self._order), follower))
                self._condition.notify()

    def _mark_ready(self, follower: PooledSource) -> None:
        if follower not in self._ready_set:
            self._ready_set.add(follower)
            self._ready.append(follower)
            self._condition.notify()

    def _next_batch(self) -> list[PooledSource] | None:
        """Wait until some followers are poked or due; take them (under the lock). None when
        no follower is left: the thread ends (a viewer that quit leaves none behind), and the
        next ``add`` starts another."""
        while True:
            if not self._due_at and not self._ready:
                self._thread = None
                return None
            now = time.monotonic()
            batch, taken = self._ready, self._ready_set
            self._ready, self._ready_set = [], set()
            while self._due and self._due[0][0] <= now:
                when, _, follower = heapq.heappop(self._due)
                if self._due_at.get(follower) == when and follower not in taken:
                    taken.add(follower)
                    batch.append(follower)
            if batch:
                return batch
            timeout = self._due[0][0] - now if self._due else None
            self._condition.wait(timeout)

    def _run(self) -> None:
        while True:
            with self._condition:
                batch = self._next_batch()
            if batch is None:
                return
            for follower in batch:
                if follower.stopping:
                    follower.close_pooled()
                    with self._condition:
                        self._due_at.pop(follower, None)
                        self._looked_at.pop(follower, None)
                    continue
                self.looks += 1
                with self._condition:
                    self._looked_at[follower] = time.monotonic()
                follower.pooled_look()
                with self._condition:
                    if follower in self._due_at:
                        when = time.monotonic() + follower.pooled_wait()
                        self._due_at[follower] = when
                        heapq.heappush(self._due, (when, next(self._order), follower))
