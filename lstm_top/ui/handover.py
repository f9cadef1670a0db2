"""Textual's Linux driver, taking over the screen the first paint left (``ui.first_paint``).

Two differences, both only the first time the driver starts: it does not enter the alternate
screen again (the first paint is on it; entering again clears it on xterm-like terminals,
a blank screen until Textual's first frame), and what it restores at exit is the terminal as
it was before the first paint (not the unechoed mode the first paint set while Textual loaded).
After a suspend (Ctrl-Z) and resume it behaves as Textual's own.
"""

from __future__ import annotations

from typing import Any, Protocol

from textual.drivers.linux_driver import LinuxDriver


class Painted(Protocol):
    """What the command line painted before Textual loaded (``FirstPaint``, ``SweepPaint``)."""

    terminal_attrs: list[Any] | None
    taken_over: bool

ALT_SCREEN_ON = "\x1b[?1049h"


def handover_driver(first: Painted) -> type[LinuxDriver]:
    class HandOverDriver(LinuxDriver):
        _handing_over = True

        def write(self, data: str) -> None:
            if self._handing_over and data == ALT_SCREEN_ON:
                return  # already there, with the first paint on it
            super().write(data)

        def start_application_mode(self) -> None:
            try:
                super().start_application_mode()
            finally:
                if self._handing_over:
                    self._handing_over = False
                    first.taken_over = True
                    if first.terminal_attrs is not None:
                        self.attrs_before = first.terminal_attrs

    return HandOverDriver
