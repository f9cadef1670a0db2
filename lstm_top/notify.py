"""Telling a person who is not looking: which findings are news, the bell, the terminal title,
and the user's own command (``--notify CMD``) with the finding as JSON on stdin.

No Textual here: the viewer hands in how to write to its terminal, ``lstm-top check --follow``
prints lines instead. Nothing is built in that phones home: the command is the user's choice
(``notify-send``, a chat webhook with ``curl``, ``mail``...).
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from lstm_top.format import encode_number
from lstm_top.sanitize import safe_text

if TYPE_CHECKING:  # the signs load with the first diagnosis, after the viewer's first frame
    from lstm_top.signs import Finding, Severity

__all__ = ["BELL", "FindingNews", "Notifier", "finding_event", "run_command", "terminal_writer",
           "title_sequence"]

BELL = "\a"
COMMAND_TIMEOUT_S = 30.0
MAX_TITLE_CHARS = 120


class FindingNews:
    """Remembers which findings were already told, per run: a finding is news when its episode
    (sign, first epoch) is new, or when it became more severe than when last told."""

    def __init__(self, min_severity: Severity | None = None) -> None:
        self._min_severity = min_severity  # None: warning
        self._told: dict[str, dict[tuple[str, int], Severity]] = {}

    def news(self, run: str, findings: Iterable[Finding], *, baseline: bool = False
             ) -> list[Finding]:
        """The findings of ``run`` not told before. ``baseline``: remember them without
        telling (a finished run opened for a look is not news)."""
        told = self._told.setdefault(run, {})
        if self._min_severity is None:
            from lstm_top.signs import Severity

            self._min_severity = Severity.WARNING
        least = self._min_severity
        fresh = []
        for finding in findings:
            if not finding.active or finding.severity < least:
                continue
            key = (finding.id, finding.since_epoch)
            if told.get(key, 0) >= finding.severity:
                continue
            told[key] = finding.severity
            if not baseline:
                fresh.append(finding)
        return fresh


def finding_event(run: str, source: str, finding: Finding) -> dict[str, Any]:
    """The JSON a ``--notify`` command reads on stdin (and ``check --follow --json`` prints)."""
    return {"event": "finding", "run": run, "source": source,
            **json_safe(finding.to_dict())}


def json_safe(value: Any) -> Any:
    """Strict JSON: non-finite floats as "NaN"/"Infinity", numpy scalars as Python numbers."""
    if isinstance(value, float):
        return encode_number(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, str | bytes):
        return json_safe(item())
    return value


def title_sequence(text: str) -> str:
    """OSC 2: set the terminal's window title (control characters removed, length capped)."""
    clean = "".join(ch for ch in safe_text(text) if ch.isprintable())[:MAX_TITLE_CHARS]
    return f"\x1b]2;{clean}\x07"


def run_command(command: str, event: dict[str, Any], timeout: float = COMMAND_TIMEOUT_S
                ) -> threading.Thread:
    """Run the user's command through the shell, the event as JSON on stdin, in a thread: a
    slow or hanging command never holds up the viewer (it is killed after ``timeout``)."""
    data = json.dumps(event, allow_nan=False).encode("utf-8") + b"\n"

    def target() -> None:
        try:
            # The command line is the user's own (typed after --notify, like git's
            # core.editor), so a shell reads it; nothing from a history file ever enters it —
            # the finding goes on stdin only.
            subprocess.run(["/bin/sh", "-c", command], input=data, timeout=timeout,
                           check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except Exception:
            pass  # a broken notifier must not break the viewer

    thread = threading.Thread(target=target, name="lstm-top-notify", daemon=True)
    thread.start()
    return thread


def terminal_writer(app: Any) -> Callable[[str], None]:
    """Writes to a running Textual app's terminal, as ``App.bell`` does; nothing when headless
    (tests, ``--web``)."""

    def write(data: str) -> None:
        driver = getattr(app, "_driver", None)
        if driver is not None and not getattr(app, "is_headless", True):
            driver.write(data)

    return write


class Notifier:
    """What the viewer does when a diagnosis comes in: ring, retitle, run ``command``.

    A run's first diagnosis is the baseline: what the file already said when the viewer
    opened it is on the screen, not news; every warning found after that is."""

    def __init__(self, *, command: str | None = None, bell: bool = True,
                 write: Callable[[str], None] | None = None,
                 min_severity: Severity | None = None) -> None:
        self.command = command
        self.bell = bell
        self.write = write
        self.news = FindingNews(min_severity)
        self.commands: list[threading.Thread] = []  # for tests: the commands started
        self._seen: set[str] = set()

    def findings(self, run: str, source: str, findings: Iterable[Finding]) -> list[Finding]:
        """Tell the news among ``findings`` (never raises); returns what was told."""
        try:
            baseline = run not in self._seen
            self._seen.add(run)
            fresh = self.news.news(run, findings, baseline=baseline)
            if fresh and self.write is not None and self.bell:
                worst = max(fresh, key=lambda f: f.severity)
                self.write(BELL + title_sequence(
                    f"lstm-top: {worst.severity.label} {worst.id} in {run}"))
            for finding in fresh if self.command else []:
                self.commands.append(run_command(self.command or "",
                                                 finding_event(run, source, finding)))
            return fresh
        except Exception:
            return []
