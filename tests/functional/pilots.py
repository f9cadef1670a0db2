"""What the app pilot tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.pilot import Pilot


async def wait_until(pilot: Pilot[int], condition: Callable[[], bool], timeout: float = 10.0,
                     what: str = "condition") -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def screen_painted(pilot: Pilot[int]) -> bool:
    """The current screen has no layout, scroll, repaint or dirty widget waiting: what its
    compositor holds is what a terminal shows. (Textual lays out and paints on its own timer,
    after the messages that change the data; a slow machine paints a frame later.)"""
    screen = pilot.app.screen
    return not (screen._layout_required or screen._scroll_required or screen._repaint_required
                or screen._recompose_required or screen._dirty_widgets)


async def wait_painted(pilot: Pilot[int], timeout: float = 10.0) -> None:
    """Let the app run until its current screen is laid out and painted."""
    await pilot.pause()
    await wait_until(pilot, lambda: screen_painted(pilot), timeout, what="the screen painted")
