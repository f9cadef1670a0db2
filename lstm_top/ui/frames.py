"""When to draw: at once when the screen is idle, else at the next frame, never more often
than ``per_second``. Textual-free: the app gives it a way to schedule a call later."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Cancellable(Protocol):
    def stop(self) -> None: ...


class FramePacer:
    def __init__(self, draw: Callable[[], None],
                 schedule: Callable[[float, Callable[[], None]], Cancellable],
                 per_second: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._draw, self._schedule, self._clock = draw, schedule, clock
        self.interval = 1.0 / per_second
        self._last = -1e9
        self._pending: Cancellable | None = None
        self._held: object = None

    @property
    def due(self) -> bool:
        """A frame is scheduled."""
        return self._pending is not None

    def request(self, soon: bool = False) -> None:
        """Something changed. ``soon``: what a held frame waited for has come; do not wait
        for its fallback."""
        if self._pending is not None:
            if not soon:
                return  # a frame is due anyway
            self._pending.stop()
            self._pending = None
        delay = self._last + self.interval - self._clock()
        if delay > 0:
            self._pending = self._schedule(delay, self._fire)
        else:
            self._fire()

    def hold(self, key: object) -> bool:
        """Put off drawing ``key`` once, by one frame at most (``request(soon=True)`` draws
        earlier). False if ``key`` was already held: draw it now."""
        if self._held == key:
            return False
        self._held = key
        self._pending = self._schedule(self.interval, self._fire)
        return True

    def drawn(self) -> None:
        """A frame was drawn now: the next one waits its interval."""
        self._held = None
        self._last = self._clock()

    def _fire(self) -> None:
        self._pending = None
        self._draw()
