"""lstm-top in a real terminal: one 80x24 tmux pane per test, read with capture-pane.

Each pane is on a tmux server of its own (``-L``, no config file): no test meets another's
session, a user's tmux or a server still exiting, and the viewer gets the test's environment.
Reading the screen polls until what is looked for shows (a loaded machine paints later), with
a bound generous enough for CI's slower machine.
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.waiting import WAIT_S

TMUX = shutil.which("tmux")
needs_tmux = pytest.mark.skipif(TMUX is None, reason="tmux not installed (apt-get install tmux)")
SIZE = (80, 24)
_panes = itertools.count()


class Pane:
    """One tmux pane (window ``main``) on a private tmux server."""

    def __init__(self, name: str | None = None) -> None:
        assert TMUX is not None, "tmux not installed"
        self.socket = name or f"lstm-top-test-{os.getpid()}-{next(_panes)}"
        self.base = [TMUX, "-L", self.socket, "-f", "/dev/null"]

    def tmux(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], check=True, capture_output=True,
                              text=True).stdout

    def start(self, command: str, env: dict[str, str] | None = None) -> None:
        """Run ``command`` (a shell command line) in a new 80x24 pane."""
        env = dict(os.environ if env is None else env)
        env.pop("TMUX", None)  # the tests may run inside tmux: this is a server of its own
        subprocess.run([*self.base, "new-session", "-d", "-s", "main", "-x", str(SIZE[0]),
                        "-y", str(SIZE[1]), command], check=True, env=env)

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "main", *keys)

    def screen(self, colours: bool = False) -> str:
        """What the pane shows now (``colours``: with its SGR sequences, ``capture-pane -e``)."""
        return self.tmux("capture-pane", "-p", *(["-e"] if colours else []), "-t", "main")

    def display(self, what: str) -> str:
        """A tmux format of the pane, e.g. ``#{pane_title}``."""
        return self.tmux("display-message", "-p", "-t", "main", what).strip()

    def wait_for(self, *needles: str, timeout: float = WAIT_S, what: str = "") -> str:
        """The screen (or the tmux format ``what``) once it holds every one of ``needles``."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.display(what) if what else self.screen()
            if all(needle in value for needle in needles):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{needles!r} never all appeared in {what or 'the screen'}"
                                     f" within {timeout} s; last:\n{value}")
            time.sleep(0.1)

    def screens_until(self, done: str, timeout: float = WAIT_S) -> list[str]:
        """Every distinct screen, with its colours, until ``done`` shows (read as fast as
        tmux answers: the first paint may be on the screen for a moment only)."""
        screens: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen(colours=True)
            if not screens or screen != screens[-1]:
                screens.append(screen)
            if done in screen:
                return screens
            time.sleep(0.003)
        raise AssertionError(f"{done!r} never appeared:\n{screens[-1] if screens else ''}")

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


@contextmanager
def pane() -> Iterator[Pane]:
    """A fresh pane, its tmux server killed afterwards."""
    made = Pane()
    try:
        yield made
    finally:
        made.kill()


class Viewer:
    """``lstm-top`` started in a pane; ``exit_status()`` once it has quit."""

    def __init__(self, pane: Pane, status: Path) -> None:
        self.pane = pane
        self.status = status

    def exit_status(self, timeout: float = WAIT_S) -> str:
        """The viewer's exit status once it has quit (the shell writes it to a file)."""
        deadline = time.monotonic() + timeout
        while not self.status.exists() or not self.status.read_text().strip():
            if time.monotonic() > deadline:
                raise AssertionError(f"lstm-top still running after {timeout} s:\n"
                                     f"{self.pane.screen()}")
            time.sleep(0.05)
        return self.status.read_text().strip()


@contextmanager
def viewer(tmp_path: Path, *args: str | Path, term: str = "xterm-256color",
           env: dict[str, str] | None = None) -> Iterator[Viewer]:
    """``python -m lstm_top ARGS`` in a fresh 80x24 pane, with its own preferences folder and
    the tree under test on PYTHONPATH; the pane stays open after it quits (to read the
    terminal it leaves), until the test ends."""
    status = tmp_path / f"status-{next(_panes)}"
    variables = {"TERM": term, "XDG_CONFIG_HOME": str(tmp_path / "config"),
                 "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **(env or {})}
    command = shlex.join(["env", *(f"{k}={v}" for k, v in variables.items()),
                          sys.executable, "-m", "lstm_top", *map(str, args)])
    with pane() as made:
        made.start(f"{command}; echo $? > {shlex.quote(str(status))}; sleep 600")
        yield Viewer(made, status)
