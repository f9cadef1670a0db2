"""One run as the app sees it: its source, its diagnosis, and the summary shown on screen.

Textual-free. Two kinds of background work read a run's history, never holding its lock for
long: the render worker (chart and metrics, cheap; ``ui.view``) and the diagnosis worker (the
warning signs, which can take a long time on a huge history; ``Diagnosers``). Both are handed
what they need in a frozen job made on the UI thread, and work on a ``snapshot`` of the history
taken in a moment under the lock, so the reader thread and each other never wait on them.
"""

from __future__ import annotations

import copy
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lstm_top.history import History, LossKeys, resolve_loss_keys
from lstm_top.reduce import MetricSummary, summarize
from lstm_top.sources.base import LiveSource, display_state
from lstm_top.steps import judged
from lstm_top.ui.text import clean

if TYPE_CHECKING:  # the signs are imported by the diagnosis worker, after the first paint
    from lstm_top.signs import Diagnoser, Finding, SignParams
    from lstm_top.sweep import RunFacts


# States that no passing of time changes, only the file (an end record is final; "stalled"
# or "live" depend on the clock).
_TIMELESS_STATES = frozenset({"finished", "crashed", "interrupted"})


def snapshot(history: History) -> History:
    """A consistent, immutable-in-practice view of ``history``, taken under its lock in
    microseconds, with a lock of its own (nobody else holds it).

    A run logged by step comes back as its evaluation view (``lstm_top.steps.judged``): the
    chart, the metrics and the signs all see its evaluation points as rows. Either way the
    view's ``epochs.version`` is ``view_version(history)``.
    """
    frozen = history.frozen()
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
    """A run being shown, as the UI thread knows it. ``history`` follows the source (a new run
    in the same file replaces it); every other field is written on the UI thread only, from the
    workers' messages."""

    key: str  # stable identity: the target as given
    source: LiveSource
    train_key: str | None = None
    val_key: str | None = None
    color_slot: int = 0
    findings: list[Finding] = field(default_factory=list)
    metrics: list[MetricSummary] = field(default_factory=list)
    keys: LossKeys = field(default_factory=lambda: LossKeys(None, None, {}))
    # The snapshot facts the status line shows, from the same snapshot as chart and metrics.
    shown: SnapshotFacts | None = None
    # ``version()`` the findings / the chart and metrics were made from.
    analysed: tuple[int, int] = (0, -1)
    # How the findings judged the run ("epoch" or "step") and its steps' version then: a run
    # judged by its epochs has nothing new to judge when only step records came.
    analysed_unit: str = "epoch"
    analysed_steps: int = 0
    rendered: tuple[int, int] = (0, -1)
    message: str | None = None
    diagnosis_error: str | None = None
    diagnosis_note: str | None = None  # "signs judged the last N of M epochs"
    label: str = ""  # shown after the name: "(earlier)" for a run replaced in its file
    _last_state: str = "waiting"
    # Which history object ``version`` last saw, and its serial: a new object, a new serial.
    # (Holding the reference keeps ``is`` meaningful; ``id()`` is reused after collection.)
    _known_history: History | None = field(default=None, repr=False)
    _serial: int = 0
    # What ``_last_state`` was judged from (history, its version, source state, activity).
    _state_facts: tuple[object, ...] | None = field(default=None, repr=False)

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
        """What there is to show: (serial of the history object, its epochs version)."""
        history = self.history
        if history is not self._known_history:
            self._known_history = history
            self._serial += 1
        return self._serial, view_version(history)

    @property
    def timeless(self) -> bool:
        """Its last state is one only a change of its file can change (finished, crashed)."""
        return self._last_state in _TIMELESS_STATES

    @property
    def diagnosed(self) -> bool:
        """The findings describe the history as it is now."""
        serial, shown = self.version()
        if self.analysed[0] != serial:
            return False
        if self.analysed[1] == shown:
            return True
        # ``shown`` counts epoch and step changes; with the steps' part taken out, no epoch
        # record came since the findings were made.
        return self.analysed_unit == "epoch" and \
            shown - self.history.steps.version == self.analysed[1] - self.analysed_steps

    def state(self, now: float | None = None) -> str:
        """live / stalled / finished / crashed / interrupted / waiting / deleted / error.

        Never waits for the history lock: while a reader or the analysis holds it (a big file
        being read), the last known state is returned, so the UI thread cannot stall.
        """
        history, source = self.history, self.source
        # A run that finished stays finished until its file changes: a sweep of a thousand
        # finished runs asks this of each, every second, for nothing.
        facts = (history, view_version(history), source.state, source.last_activity)
        if self._last_state in _TIMELESS_STATES and facts == self._state_facts:
            return self._last_state
        lock = history.lock
        if not lock.acquire(blocking=False):
            return self._last_state
        try:
            self._last_state = display_state(source, now)
        finally:
            lock.release()
        self._state_facts = facts
        return self._last_state

    def stalled_for(self, now: float | None = None) -> float | None:
        """Seconds since the last activity, when the run counts as stalled (or, never having
        grown while watched, as not growing)."""
        activity = self.source.last_activity
        if activity is None or self.state(now) not in ("stalled", "not growing"):
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


@dataclass(frozen=True, slots=True)
class SnapshotFacts:
    """What the status line says about a snapshot: the epoch the chart and table show."""

    last_epoch: int | None  # for a run judged by steps: its last step
    seconds_per_epoch: float | None
    malformed_lines: int
    epoch_count: int
    unit: str = "epoch"  # what the x axis counts: "epoch", or "step" for a step run
    stopped_by: str | None = None  # the sign that stopped the run (end record), cleaned
    reading_note: str | None = None  # what the reader noted last (a new run, a resume), cleaned

    @classmethod
    def of(cls, frozen: History) -> SnapshotFacts:
        last = frozen.last_epoch()
        if frozen.index_unit == "step" and len(frozen.steps):
            last = int(frozen.steps.index[-1])
        stopped = frozen.end_stopped_by
        return cls(last, frozen.seconds_per_epoch(), frozen.malformed_lines, len(frozen.epochs),
                   frozen.index_unit, clean(str(stopped["sign"]), 40) if stopped else None,
                   reading_note(frozen))


READING_NOTE_CHARS = 160  # two lines of the warnings panel at 80 columns


def reading_note(frozen: History) -> str | None:
    """The panel's line on how the file was read: its latest note (a new run starting in the
    file, a resume from a checkpoint, a value dropped, a line skipped and why) and how many
    more there are. ``lstm-top check`` lists them; the viewer would otherwise only count the
    skipped lines, and never say that what it shows is not the whole file."""
    if not frozen.problems:
        return None
    latest = frozen.problems[-1]
    where = f"line {latest.line}: " if latest.line > 0 else ""
    more = frozen.problem_count - 1
    also = f" (+{more} more: lstm-top check lists them)" if more else ""
    return clean(f"{where}{latest.reason}", READING_NOTE_CHARS) + also


def summarise(frozen: History, train_key: str | None, val_key: str | None
              ) -> tuple[LossKeys, list[MetricSummary]]:
    """Loss keys and the metrics table of a snapshot (cheap: one pass per column)."""
    table = frozen.epochs
    keys = resolve_loss_keys(table.names, train_key, val_key)
    metrics = [summarize(name, table.index, table.column(name), table.present(name))
               for name in _metric_order(table.names, keys)]
    return keys, metrics


@dataclass(frozen=True, slots=True)
class DiagnosisJob:
    """One run to diagnose, as the UI thread saw it: everything the worker needs."""

    key: str
    version: tuple[int, int]
    history: History  # thread-safe through its lock; the worker snapshots it
    train_key: str | None
    val_key: str | None


@dataclass(frozen=True, slots=True)
class DiagnosisResult:
    key: str
    version: tuple[int, int]
    findings: list[Finding]
    note: str | None  # the catch-up cap skipped old epochs: say so
    error: str | None = None
    unit: str = "epoch"  # what the run was judged by (``lstm_top.steps.index_unit``)
    steps_version: int = 0  # of the snapshot judged


class Diagnosers:
    """The incremental diagnoser of each run. Used by the diagnosis worker only (one at a time),
    so nothing here is shared with the UI thread."""

    def __init__(self, params: SignParams | None = None,
                 disabled: frozenset[str] = frozenset()) -> None:
        self._by_key: dict[str, tuple[int, Diagnoser]] = {}
        # The signs' thresholds (``--sign`` / ``--signs-config``), the same for every run.
        self.params = params
        self.disabled = disabled
        # Set when the viewer quits: a catch-up in progress ends at its next slice (some ms),
        # so quitting never waits for the signs to take in a big file.
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def results(self, jobs: list[DiagnosisJob]) -> Iterator[DiagnosisResult]:
        """One result per job, in order; a sign's bug becomes a message in the panel. Nothing
        more once ``stop`` was called (the interrupted job's result is not given either)."""
        for job in jobs:
            if self.stopping.is_set():
                return
            try:
                result = self.run(job)
            except Exception as exc:
                yield DiagnosisResult(job.key, job.version, [], None, clean(
                    f"diagnosis failed: {type(exc).__name__}: {exc}", 300))
                continue
            if self.stopping.is_set():
                return
            yield result

    def run(self, job: DiagnosisJob) -> DiagnosisResult:
        """Findings for the job's history as it is now (on a snapshot: the reader and the
        render worker never wait, however long the first diagnosis of a huge file takes)."""
        from lstm_top.signs import Diagnoser

        serial = job.version[0]
        known = self._by_key.get(job.key)
        if known is None or known[0] != serial:
            # First look, or a new run in the same file: start over.
            known = self._by_key[job.key] = (serial, Diagnoser(
                job.train_key, job.val_key, params=self.params, disabled=self.disabled))
        diagnoser = known[1]
        frozen = snapshot(job.history)
        findings = diagnoser.update(frozen, stop=self.stopping.is_set)
        note = None
        if diagnoser.skipped_epochs:
            note = (f"signs judged the last {diagnoser.diagnosed_epochs:,} of "
                    f"{diagnoser.epochs_seen:,} epochs")
        # No loss to judge: the panel says so in place of "no warning signs".
        unjudged = (diagnoser.keys.missing_hint()
                    if len(frozen.epochs) and diagnoser.keys is not None else None)
        return DiagnosisResult(job.key, (serial, frozen.epochs.version),
                               [_copy_finding(f) for f in findings], note, unjudged,
                               # No epoch record yet: its steps may make it a step run.
                               unit=frozen.index_unit if len(frozen.epochs) else "step",
                               steps_version=frozen.steps.version)


def _metric_order(names: list[str], keys: LossKeys) -> list[str]:
    """Losses first (train, val, subsets), then everything else in logging order."""
    first = [k for k in (keys.train, keys.val) if k]
    subsets = [keys.subsets[s] for s in sorted(keys.subsets)]
    rest = [n for n in names if n not in first and n not in subsets and not n.startswith("n[")]
    return [n for n in first + subsets + rest if n in names]


class SweepFacts:
    """Each run's ``lstm_top.sweep.RunFacts`` (from a snapshot of its evaluation view), kept
    while its history does not change: a sweep table refreshed while a thousand runs are
    judged one by one re-reads only the runs that changed. UI thread only. Textual-free."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[tuple[object, ...], RunFacts]] = {}

    def entries(self, runs: list[Run], now: float | None = None
                ) -> list[tuple[str, str, RunFacts, list[Finding], str]]:
        """(key, name, facts, findings, shown state) per run, for ``rows_from_facts``."""
        from lstm_top.sweep import run_facts

        entries = []
        for run in runs:
            history = run.history
            # A header alone changes the config but no table version.
            version = (*run.version(), history.headers_seen, len(history.config))
            known = self._known.get(run.key)
            if known is None or known[0] != version:
                known = self._known[run.key] = (version, run_facts(snapshot(history)))
            entries.append((run.key, run.name, known[1], run.findings, run.state(now)))
        return entries


def sweep_signature(runs: list[Run], now: float | None = None) -> tuple[object, ...]:
    """Changes whenever a row of the sweep table would: cheap, so the idle app can skip it."""
    return tuple((run.key, run.version(), run.analysed, len(run.findings),
                  sum(1 for f in run.findings if f.active) if run.findings else 0,
                  run.state(now)) for run in runs)
