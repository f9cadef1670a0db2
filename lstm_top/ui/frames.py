"""When to draw: at once when the screen is idle, else at the next frame, never more often
than ``per_second``, and slower while the process is over its share of a core. Textual-free:
the app gives it a way to schedule a call later.

The share is a budget of CPU seconds that refills at ``cpu_share`` per second up to ``burst``
(a token bucket over the whole process's CPU time: drawing, reading, diagnosis). A few appends
after a quiet spell are drawn at once; a run logging hundreds of records a second is drawn as
often as the budget allows, at least every ``max_interval`` seconds. What a person asked for
(a key, a resize: ``urgent``) is never held back by the budget, nor is a change that comes
``calm_after`` seconds or more after the last frame (a run logging a few epochs a second has
each drawn at once); the budget starts with the first request, so start-up does not count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Cancellable(Protocol):
    def stop(self) -> None: ...


class FramePacer:
    def __init__(self, draw: Callable[[], None],
                 schedule: Callable[[float, Callable[[], None]], Cancellable],
                 per_second: float = 10.0, clock: Callable[[], float] = time.monotonic, *,
                 cpu_share: float | None = None, burst: float = 1.0,
                 max_interval: float = 1.0, calm_after: float = 0.25,
                 cpu_clock: Callable[[], float] = time.process_time) -> None:
        self._draw, self._schedule, self._clock = draw, schedule, clock
        self.interval = 1.0 / per_second
        self.cpu_share, self.burst, self.max_interval = cpu_share, burst, max_interval
        self.calm_after = calm_after
        self._cpu_clock = cpu_clock
        self._tokens = burst  # CPU seconds the budget still allows
        self._budget_at = 0.0
        self._cpu_at: float | None = None  # process CPU time at the last look (None: none yet)
        self._last = -1e9
        self._pending: Cancellable | None = None
        self._pending_at = 0.0  # when the pending frame is due (the pacer's clock)
        self._last_request = -1e9
        self._held: object = None

    @property
    def due(self) -> bool:
        """A frame is scheduled."""
        return self._pending is not None

    def request(self, soon: bool = False, urgent: bool = False) -> None:
        """Something changed. ``soon``: what a held frame waited for has come; do not wait
        for its fallback. ``urgent``: a person asked for it; only the frame rate applies."""
        now = self._clock()
        quiet = now - self._last_request >= self.calm_after  # no change for a while
        self._last_request = now
        if self._pending is not None and not (soon or urgent) and not quiet:
            return  # changes streaming in, and a frame is due anyway
        over_budget = self._over_budget_for(now)
        delay = self._last + self.interval - now
        if not urgent and now - self._last < self.calm_after:  # busy: frames on the budget
            delay = max(delay, min(over_budget, self._last + self.max_interval - now))
        if self._pending is not None:
            # A change after a quiet spell is not kept waiting by a frame put off on the
            # budget before it (the one asked for when the last frame was shown).
            if not (soon or urgent) and self._pending_at <= now + delay:
                return
            self._pending.stop()
            self._pending = None
        if delay > 0:
            self._pending_at = now + delay
            self._pending = self._schedule(delay, self._fire)
        else:
            self._fire()

    def _over_budget_for(self, now: float) -> float:
        """Seconds until the CPU budget is back to zero (0: within budget now)."""
        if self.cpu_share is None:
            return 0.0
        cpu = self._cpu_clock()
        if self._cpu_at is None:
            self._budget_at, self._cpu_at = now, cpu
        share = self.cpu_share
        self._tokens += (now - self._budget_at) * share - (cpu - self._cpu_at)
        # Kept between a full burst and one slowest frame's worth of debt, so the budget is
        # back soon after a busy spell ends.
        self._tokens = max(min(self._tokens, self.burst), -share * self.max_interval)
        self._budget_at, self._cpu_at = now, cpu
        return -self._tokens / share if self._tokens < 0 else 0.0

    def hold(self, key: object) -> bool:
        """Put off drawing ``key`` once, by one frame at most (``request(soon=True)`` draws
        earlier). False if ``key`` was already held: draw it now."""
        if self._held == key:
            return False
        self._held = key
        self._pending_at = self._clock() + self.interval
        self._pending = self._schedule(self.interval, self._fire)
        return True

    @property
    def calm(self) -> bool:
        """No frame for ``calm_after`` seconds: a change now is the first after a quiet spell
        (not one of a stream)."""
        return self._clock() - self._last >= self.calm_after

    def drawn(self) -> None:
        """A frame was drawn now: the next one waits its interval."""
        self._held = None
        self._last = self._clock()

    def _fire(self) -> None:
        self._pending = None
        self._draw()
