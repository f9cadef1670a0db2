"""Demo trainings started from the TUI: separate processes, their output away from the screen.

Each demo is ``python -m lstm_top.demo --scenario NAME --out FILE``; stdout and stderr go to a
log file beside the history, so nothing it prints can garble the screen. ``stop`` sends SIGTERM
(the demo ends its run as ``interrupted``); ``stop_all`` on exit makes sure none is left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lstm_top.ui.text import clean


@dataclass(frozen=True, slots=True)
class ScenarioInfo:
    name: str
    description: str


def list_scenarios() -> list[ScenarioInfo]:
    """The demo scenarios, or an empty list when the demo package is not there."""
    try:
        from lstm_top.demo import SCENARIOS
    except ImportError:
        return []
    return [ScenarioInfo(str(name), str(getattr(s, "description", "")))
            for name, s in SCENARIOS.items()]


@dataclass
class DemoProcess:
    scenario: str
    path: Path
    process: subprocess.Popen[bytes]

    @property
    def running(self) -> bool:
        return self.process.poll() is None


# A demo started to be watched is paced to take about a minute in all: slow enough to see the
# curves develop and the sign appear, short enough to wait for. (Unpaced, a scenario trains in
# a few seconds.)
WATCH_SECONDS = 50.0


class DemoRunner:
    def __init__(self, runs_dir: str | os.PathLike[str],
                 watch_seconds: float | None = None) -> None:
        self.runs_dir = Path(runs_dir)
        self.watch_seconds = watch_seconds
        self.demos: list[DemoProcess] = []

    def start(self, scenario: str, epochs: int | None = None,
              epoch_delay: float | None = None) -> DemoProcess:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.runs_dir / f"{scenario}-{stamp}.jsonl"
        suffix = 2
        while path.exists():
            path = self.runs_dir / f"{scenario}-{stamp}-{suffix}.jsonl"
            suffix += 1
        command = [sys.executable, "-m", "lstm_top.demo", "--scenario", scenario,
                   "--out", str(path)]
        if epochs is not None:
            command += ["--epochs", str(epochs)]
        if epoch_delay is None and self.watch_seconds:
            from lstm_top.demo import SCENARIOS

            planned = epochs or SCENARIOS[scenario].default_epochs
            epoch_delay = round(self.watch_seconds / max(1, planned), 2)
        if epoch_delay is not None:
            command += ["--epoch-delay", str(epoch_delay)]
        log = open(path.with_suffix(".log"), "wb")  # noqa: SIM115 - owned by the child
        try:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, close_fds=True)
        finally:
            log.close()  # the child holds its own descriptor
        demo = DemoProcess(scenario, path, process)
        self.demos.append(demo)
        return demo

    def launch(self, scenario: str, epochs: int | None = None,
               epoch_delay: float | None = None) -> tuple[DemoProcess | None, str]:
        """``start`` for a name typed by a user: (the demo or None, what to tell them)."""
        if scenario not in {s.name for s in list_scenarios()}:
            return None, f"unknown demo scenario {clean(scenario, 40)!r}"
        try:
            demo = self.start(scenario, epochs, epoch_delay)
        except OSError as exc:
            return None, f"cannot start the demo: {exc}"
        return demo, f"demo {scenario} started → {demo.path}"

    def find(self, path: str | os.PathLike[str]) -> DemoProcess | None:
        wanted = os.path.abspath(path)
        return next((d for d in self.demos if os.path.abspath(d.path) == wanted), None)

    def stop_started_here(self, path: str | None) -> str:
        """``x``: stop the demo writing ``path``; what to tell the user."""
        demo = self.find(path) if path else None
        if demo is None:
            return "the selected run is not a demo started here"
        return f"stopping demo {demo.scenario}" if self.stop(demo) else \
            f"demo {demo.scenario} has already ended"

    @staticmethod
    def stop(demo: DemoProcess) -> bool:
        if not demo.running:
            return False
        demo.process.send_signal(signal.SIGTERM)
        return True

    @property
    def running(self) -> list[DemoProcess]:
        return [d for d in self.demos if d.running]

    def stop_all(self, timeout: float = 3.0) -> None:
        """SIGTERM to each, wait for them together (bounded), then SIGKILL what is left."""
        for demo in self.demos:
            self.stop(demo)
        deadline = time.monotonic() + timeout
        for demo in self.demos:
            try:
                demo.process.wait(max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                demo.process.kill()
                demo.process.wait(1.0)
