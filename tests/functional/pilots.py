"""What the app pilot tests share: bounded waits for a condition, for the app to settle, and for
the screen to be painted. A bound is how long a test may wait before it fails, not how fast
the app must be: it is generous (CI's machine is slower and busier than a laptop), and a test
that passes never waits for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.css.query import NoMatches
from textual.pilot import Pilot

from lstm_top.ui.app import LstmTopApp

# How long a pilot test waits for something before it fails.
WAIT_S = 30.0


async def wait_until(pilot: Pilot[int], condition: Callable[[], bool], timeout: float = WAIT_S,
                     what: str = "condition") -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds. A widget
    the condition looks up that is not mounted yet (a screen still composing on a busy
    machine) counts as "not yet"."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not _holds(condition):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def _holds(condition: Callable[[], bool]) -> bool:
    try:
        return condition()
    except NoMatches:
        return False


def screen_painted(pilot: Pilot[int]) -> bool:
    """The current screen has no layout, scroll, repaint or dirty widget waiting: what its
    compositor holds is what a terminal shows. (Textual lays out and paints on its own timer,
    after the messages that change the data; a slow machine paints a frame later.)"""
    screen = pilot.app.screen
    return not (screen._layout_required or screen._scroll_required or screen._repaint_required
                or screen._recompose_required or screen._dirty_widgets)


async def wait_painted(pilot: Pilot[int], timeout: float = WAIT_S) -> None:
    """Let the app run until its current screen is laid out and painted."""
    await pilot.pause()
    await wait_until(pilot, lambda: screen_painted(pilot), timeout, what="the screen painted")


async def settled(pilot: Pilot[int], timeout: float = WAIT_S) -> None:
    """Wait until the app says everything asked for is done (``is_settled``: files read,
    chart rendered at its size, findings and status current), twice in a row across a pause so
    a message still in flight is not missed, and then until the screen is painted."""
    app = pilot.app
    assert isinstance(app, LstmTopApp)

    def steady() -> bool:
        return app.renders_done > 0 and app.is_settled()

    await wait_until(pilot, steady, timeout, what="the app to settle")
    await pilot.pause()
    await wait_until(pilot, steady, timeout, what="the app to settle")
    await wait_painted(pilot, timeout)
