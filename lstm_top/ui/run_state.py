"""One run as the app sees it: its source, its diagnosis, and the summary shown on screen.

Textual-free. Two kinds of background work read a run, never holding the history lock for
long: the render worker (chart and metrics, cheap) and the diagnosis worker (the warning signs,
which can take a long time on a huge history). Both work on a ``snapshot`` of the history, taken
in a moment under the lock, so the reader thread and each other never wait on them.
"""

from __future__ import annotations

import copy
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lstm_top.history import History, LossKeys, resolve_loss_keys
from lstm_top.reduce import MetricSummary, summarize
from lstm_top.sources.base import LiveSource, display_state
from lstm_top.steps import judged
from lstm_top.ui.text import clean

if TYPE_CHECKING:  # the signs are imported by the diagnosis worker, after the first paint
    from lstm_top.signs import Diagnoser, Finding


def snapshot(history: History) -> History:
    """A consistent, immutable-in-practice view of ``history``, taken under its lock in
    microseconds, with a lock of its own (nobody else holds it).

    A run logged by step comes back as its evaluation view (``lstm_top.steps.judged``): the
    chart, the metrics and the signs all see its evaluation points as rows. Either way the
    view's ``epochs.version`` is ``view_version(history)``.
    """
    with history.lock:
        frozen = copy.copy(history)
        frozen.epochs = history.epochs.snapshot()
        frozen.steps = history.steps.snapshot()
        frozen.config = dict(history.config)
        frozen.problems = list(history.problems)
    frozen.lock = threading.RLock()
    view = judged(frozen)
    view.epochs.version = view_version(frozen)
    return view


def view_version(history: History) -> int:
    """Moves whenever anything shown changes: epoch rows, or step rows (a step run's
    evaluations; a mixed run's faint step line)."""
    return history.epochs.version + history.steps.version


def _copy_finding(finding: Finding) -> Finding:
    # The diagnoser refreshes its open findings in place; the UI gets copies of its own.
    duplicate = copy.copy(finding)
    duplicate.evidence = dict(finding.evidence)
    return duplicate


@dataclass
class Run:
    """A run being shown. ``history`` follows the source (a new run replaces it)."""

    key: str  # stable identity: the target as given
    source: LiveSource
    train_key: str | None = None
    val_key: str | None = None
    color_slot: int = 0
    # Written by the diagnosis worker only (its thread), read through ``FindingsUpdated``.
    diagnoser: Diagnoser | None = field(default=None, repr=False)
    diagnosed_history_id: int = 0
    # What the UI shows; set on the UI thread from the workers' messages.
    findings: list[Finding] = field(default_factory=list)
    metrics: list[MetricSummary] = field(default_factory=list)
    keys: LossKeys = field(default_factory=lambda: LossKeys(None, None, {}))
    # (id of the history, epochs version) the findings / the chart and metrics were made from.
    analysed: tuple[int, int] = (0, -1)
    rendered: tuple[int, int] = (0, -1)
    message: str | None = None
    diagnosis_error: str | None = None
    label: str = ""  # shown after the name: "(earlier)" for a run replaced in its file
    # The history the last source update carried (reader thread): the earlier run on new_run.
    seen_history: History | None = field(default=None, repr=False)
    _last_state: str = "waiting"
    # Set from the source thread; the UI thread clears it when it takes the update.
    update_posted: bool = False

    @property
    def path(self) -> str:
        return os.path.abspath(self.key)

    @property
    def history(self) -> History:
        return self.source.history

    @property
    def name(self) -> str:
        history = self.history
        target = self.source.target
        name = clean(history.run_name or os.path.basename(target.rstrip("/")) or target, 200)
        return f"{name} {self.label}" if self.label else name

    def version(self) -> tuple[int, int]:
        """Identity of what there is to show: (the history object, its epochs version)."""
        history = self.history
        return id(history), view_version(history)

    @property
    def diagnosed(self) -> bool:
        """The findings describe the history as it is now."""
        return self.analysed == self.version()

    def summarise(self, frozen: History) -> tuple[LossKeys, list[MetricSummary]]:
        """Loss keys and the metrics table of a snapshot (cheap: one pass per column)."""
        table = frozen.epochs
        keys = resolve_loss_keys(table.names, self.train_key, self.val_key)
        metrics = [summarize(name, table.index, table.column(name), table.present(name))
                   for name in _metric_order(table.names, keys)]
        return keys, metrics

    def diagnose(self) -> tuple[tuple[int, int], list[Finding]]:
        """Worker thread: findings for the history as it is now, and which version that was.

        Runs on a snapshot, so the reader and the render worker never wait for it, however long
        the first diagnosis of a huge file takes. Only one diagnosis worker exists at a time.
        """
        from lstm_top.signs import Diagnoser

        history = self.history
        frozen = snapshot(history)
        version = (id(history), frozen.epochs.version)
        if self.diagnoser is None or self.diagnosed_history_id != id(history):
            # First look, or a new run in the same file: start over.
            self.diagnoser = Diagnoser(self.train_key, self.val_key)
            self.diagnosed_history_id = id(history)
        findings = self.diagnoser.update(frozen)
        return version, [_copy_finding(f) for f in findings]

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


def sweep_entries(runs: list[Run], now: float | None = None
                  ) -> list[tuple[str, str, History, list[Finding], str]]:
    """What the sweep table is made of (``lstm_top.sweep.sweep_rows``): per run its key,
    name, evaluation view, findings and shown state. Textual-free."""
    return [(run.key, run.name, snapshot(run.history), run.findings, run.state(now))
            for run in runs]


def sweep_signature(runs: list[Run], now: float | None = None) -> tuple[object, ...]:
    """Changes whenever a row of the sweep table would: cheap, so the idle app can skip it."""
    return tuple((run.key, run.version(), len(run.findings),
                  sum(1 for f in run.findings if f.active), run.state(now)) for run in runs)
