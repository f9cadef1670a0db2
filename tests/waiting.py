"""Waiting for a background thread (a reader, a server) to get somewhere, bounded."""

from __future__ import annotations

import time
from collections.abc import Callable

# How long a test waits for something before it fails: a bound, not a speed to meet (CI's
# machine is slower and busier than a laptop), so generous; a test that passes never waits it.
WAIT_S = 30.0


def poll_until(condition: Callable[[], bool], timeout: float = WAIT_S,
               interval: float = 0.005) -> bool:
    """True as soon as ``condition()`` holds; its last value once ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
