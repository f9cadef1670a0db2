"""One run as the app sees it: its source, its diagnosis, and the summary shown on screen.

Textual-free: the app's worker calls ``analyse`` off the UI thread and posts the result.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field

from lstm_top.history import History, LossKeys, resolve_loss_keys
from lstm_top.reduce import MetricSummary, summarize
from lstm_top.signs import Diagnoser, Finding
from lstm_top.sources.base import LiveSource, display_state
from lstm_top.ui.text import clean


@dataclass
class Run:
    """A run being shown. ``history`` follows the source (a new run replaces it)."""

    key: str  # stable identity: the target as given
    source: LiveSource
    train_key: str | None = None
    val_key: str | None = None
    color_slot: int = 0
    diagnoser: Diagnoser = field(init=False)
    findings: list[Finding] = field(default_factory=list)
    metrics: list[MetricSummary] = field(default_factory=list)
    keys: LossKeys = field(default_factory=lambda: LossKeys(None, None, {}))
    analysed_version: int = -1
    history_id: int = 0
    message: str | None = None
    _last_state: str = "waiting"
    _analysing: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Set from the source thread; the UI thread clears it when it takes the update.
    update_posted: bool = False

    def __post_init__(self) -> None:
        self.diagnoser = Diagnoser(self.train_key, self.val_key)

    @property
    def path(self) -> str:
        return os.path.abspath(self.key)

    @property
    def history(self) -> History:
        return self.source.history

    @property
    def name(self) -> str:
        history = self.history
        return clean(history.run_name or os.path.basename(self.key.rstrip("/")) or self.key, 60)

    def analyse(self) -> bool:
        """Bring findings and metrics up to date; False when nothing changed. Takes the lock."""
        if not self._analysing.acquire(blocking=False):
            return False  # another worker is on it; its result will be shown
        try:
            return self._analyse()
        finally:
            self._analysing.release()

    def _analyse(self) -> bool:
        history = self.history
        with history.lock:
            if id(history) != self.history_id:  # a new run in the same file: start over
                self.history_id = id(history)
                self.diagnoser = Diagnoser(self.train_key, self.val_key)
                self.analysed_version = -1
            version = history.epochs.version
            if version == self.analysed_version:
                return False
            self.keys = resolve_loss_keys(history.epochs.names, self.train_key, self.val_key)
            self.findings = self.diagnoser.update(history)
            table = history.epochs
            self.metrics = [summarize(name, table.index, table.column(name), table.present(name))
                            for name in _metric_order(table.names, self.keys)]
            self.analysed_version = version
        return True

    def state(self, now: float | None = None) -> str:
        """live / stalled / finished / crashed / interrupted / waiting / deleted / error.

        Never waits for the history lock: while a reader or the analysis holds it (a big file
        being read), the last known state is returned, so the UI thread cannot stall.
        """
        lock = self.history.lock
        if not lock.acquire(blocking=False):
            return self._last_state
        try:
            self._last_state = display_state(self.source, now)
        finally:
            lock.release()
        return self._last_state

    def stalled_for(self, now: float | None = None) -> float | None:
        """Seconds since the last activity, when the run counts as stalled."""
        activity = self.source.last_activity
        if activity is None or self.state(now) != "stalled":
            return None
        return (time.time() if now is None else now) - activity

    def elapsed(self, now_wall: float) -> float | None:
        """Training time: start (header or first epoch) to the end record, or to now."""
        history = self.history
        times = history.epochs.time
        start = history.started
        if start is None and len(times) and math.isfinite(times[0]):
            start = float(times[0])
        if start is None:
            return None
        if history.end_time is not None:
            return history.end_time - start
        if len(times) and math.isfinite(times[-1]) and self.state(now_wall) != "live":
            return float(times[-1]) - start
        return now_wall - start


def _metric_order(names: list[str], keys: LossKeys) -> list[str]:
    """Losses first (train, val, subsets), then everything else in logging order."""
    first = [k for k in (keys.train, keys.val) if k]
    subsets = [keys.subsets[s] for s in sorted(keys.subsets)]
    rest = [n for n in names if n not in first and n not in subsets and not n.startswith("n[")]
    return [n for n in first + subsets + rest if n in names]
