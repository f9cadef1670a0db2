"""Waiting for a background thread (a reader, a server) to get somewhere, bounded."""

from __future__ import annotations

import time
from collections.abc import Callable


def poll_until(condition: Callable[[], bool], timeout: float, interval: float = 0.005) -> bool:
    """True as soon as ``condition()`` holds; its last value once ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
