"""The runs on screen and how they are looked at: the UI thread's state, Textual-free.

Which run is selected, which are overlaid, whether the view follows new records; from these,
the frozen requests the workers get (``view_request``, ``diagnosis_jobs``) and what the status
line, run list and panels say. Only the UI thread uses a ``RunBook``; the workers' results come
back through ``apply_view`` and ``apply_findings``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from lstm_top.history import History
from lstm_top.sources.base import LiveSource
from lstm_top.ui.chart import RUN_COLORS, ChartOptions
from lstm_top.ui.run_state import DiagnosisJob, DiagnosisResult, Run
from lstm_top.ui.text import clean
from lstm_top.ui.view import (
    DetailRequest,
    RunRow,
    ShownRun,
    StatusFacts,
    View,
    ViewRequest,
    warnings_waiting,
)

if TYPE_CHECKING:
    from lstm_top.notify import Notifier
    from lstm_top.reduce import MetricSummary
    from lstm_top.signs import Finding


# Beyond this many runs each run's file is polled less often (file events still come at once).
MANY_RUNS = 50
MANY_RUNS_POLL_S = 10.0
# While a sweep's runs are still arriving (one added less than ARRIVAL_QUIET_S ago), their
# diagnosis waits — the table first: the signs' pure Python would take the GIL from the UI
# thread adding the rows — but never longer than ARRIVAL_HOLD_MAX_S.
ARRIVAL_QUIET_S = 0.3
ARRIVAL_HOLD_MAX_S = 3.0
# While a folder watcher is still walking the sweep it found (``more_coming``), the hold lasts
# until its walk is over, but no longer than this, from the sweep table's first rows on.
WALK_HOLD_MAX_S = 10.0
WALK_HOLD_MIN_RUNS = 10


class RunBook:
    def __init__(self, train_key: str | None = None, val_key: str | None = None) -> None:
        self.train_key, self.val_key = train_key, val_key
        self.runs: dict[str, Run] = {}
        self.selected: str | None = None
        self.overlay = False
        self.marks: set[str] = set()  # marked for the overlay (none marked: all of them)
        self.following = True
        self.unseen_updates = 0  # updates of the selected run while paused
        self._replaced = 0
        self._by_path: dict[str, Run] = {}
        self.findings_applied = 0  # results taken in, ever (with the sources' updates: a change)
        self._last_added = self._arrivals_began = -1e9  # time.monotonic() of adds
        self._undiagnosed: tuple[tuple[object, ...], list[Run]] | None = None
        # A folder watcher is still reporting the runs of its walk (the app sets it).
        self.more_coming: Callable[[], bool] = lambda: False
        # Bell, terminal title and --notify on a new warning (run_app sets it; tests need not).
        self.notifier: Notifier | None = None

    # ------------------------------------------------------------------ membership

    def find(self, target: str) -> Run | None:
        """One run per file, however it was named (argument, folder listing, demo)."""
        # A dict, not a scan: a sweep adds a thousand runs, each looked up first.
        return self._by_path.get(os.path.abspath(target))

    def add(self, target: str, source: LiveSource, select: bool = False,
            in_sweep: bool = False) -> Run:
        """``in_sweep``: one of a folder's many runs (followed by the shared pool's thread
        from the first: starting a thread each cost the UI thread milliseconds per run)."""
        if len(self.runs) >= MANY_RUNS and hasattr(source, "poll_interval"):
            # File events keep a sweep's runs prompt; their safety-net polls, a thousand of
            # them a second, would keep the idle viewer busy.
            source.poll_interval = max(source.poll_interval, MANY_RUNS_POLL_S)
        if in_sweep or len(self.runs) >= MANY_RUNS:
            # Loaded here: the first paint uses a RunBook before any file is followed.
            from lstm_top.sources.pool import FollowerPool, PooledSource

            if isinstance(source, PooledSource):
                source.pool = FollowerPool.shared()  # one thread for the sweep, not one each
        now = time.monotonic()
        # A walk's runs come in batches, far apart when the UI thread is busy: one arrival.
        if now - self._last_added > ARRIVAL_QUIET_S and (
                not self.more_coming() or self._last_added < 0):
            self._arrivals_began = now
        self._last_added = now
        run = Run(target, source, self.train_key, self.val_key, color_slot=len(self.runs))
        self.runs[target] = run
        self._by_path.setdefault(run.path, run)
        if self.selected is None or select:
            self.selected = target
        return run

    def add_earlier(self, key: str, history: History) -> Run | None:
        """Another run started in ``key``'s file: the earlier one stays in the list, as it was."""
        if key not in self.runs:
            return None
        from lstm_top.sources.open import FrozenSource

        self._replaced += 1
        source = FrozenSource(key, history)
        earlier = Run(f"{key}#{self._replaced}", source, self.train_key, self.val_key,
                      color_slot=len(self.runs), label="(earlier)", message=source.message)
        self.runs[earlier.key] = earlier
        return earlier

    @property
    def current(self) -> Run | None:
        return self.runs.get(self.selected) if self.selected else None

    @property
    def overlaying(self) -> bool:
        return self.overlay and len(self.runs) > 1

    def shown(self) -> list[Run]:
        """The runs the chart draws: the selected one, or the overlay's."""
        if self.overlaying:
            keys = self.marks or set(self.runs)
            return [r for r in self.runs.values() if r.key in keys]
        run = self.current
        return [run] if run is not None else []

    def frozen(self, run: Run) -> bool:
        """Paused on this run: its new records wait until following resumes."""
        return not self.following and run.key == self.selected

    # ------------------------------------------------------------------ requests

    def view_request(self, generation: int, size: tuple[int, int], options: ChartOptions,
                     now: float) -> ViewRequest:
        return ViewRequest(generation, size[0], size[1], options,
                           tuple(self._shown_run(run, now) for run in self.shown()),
                           overlay=self.overlaying)

    def _shown_run(self, run: Run, now: float) -> ShownRun:
        version = run.rendered if self.frozen(run) else run.version()
        findings = tuple(run.findings) if run.analysed[0] == version[0] else ()
        state = "error" if run.source.state == "error" else run.state(now)
        return ShownRun(run.key, run.name, run.history, version, findings, run.color_slot,
                        self.train_key, self.val_key, state, run.message)

    def detail_request(self, number: int, now: float, color: bool) -> DetailRequest | None:
        """The detail of the selected run's active warning ``number`` (from 1), if there is
        one; the screen sizes the chart."""
        run = self.current
        active = [f for f in run.findings if f.active] if run is not None else []
        if run is None or not 1 <= number <= len(active):
            return None
        return DetailRequest(self._shown_run(run, now), active[number - 1], 0, 0, color)

    def changes(self) -> tuple[object, ...]:
        """Moves whenever any run's history, state or findings may have: one comparison
        instead of a look at each of a sweep's thousand runs, every frame."""
        return (LiveSource.updates_emitted, self.findings_applied, len(self.runs),
                self.selected, self.following)

    def undiagnosed(self) -> list[Run]:
        """Runs whose findings are behind their history (the paused one excepted)."""
        changes = self.changes()
        if self._undiagnosed is not None and self._undiagnosed[0] == changes:
            return list(self._undiagnosed[1])
        # A run shown from its tail while the whole file loads is judged once it is read.
        runs = [r for r in self.runs.values()
                if not r.diagnosed and not self.frozen(r) and r.source.loading is None]
        self._undiagnosed = (changes, runs)
        return list(runs)

    def loading(self) -> bool:
        """A run is still being read behind the preview of its newest part."""
        return any(r.source.loading is not None for r in self.runs.values())

    def arriving(self) -> bool:
        """A sweep's runs are being added still: diagnosing them waits a moment."""
        now, began = time.monotonic(), self._arrivals_began
        if len(self.runs) >= WALK_HOLD_MIN_RUNS and self.more_coming():
            return now - began < WALK_HOLD_MAX_S
        return len(self.runs) >= MANY_RUNS and now - self._last_added < ARRIVAL_QUIET_S \
            and now - began < ARRIVAL_HOLD_MAX_S

    def diagnosis_jobs(self) -> list[DiagnosisJob]:
        if self.arriving():
            return []
        runs = sorted(self.undiagnosed(), key=lambda r: r.key != self.selected)  # on screen first
        return [DiagnosisJob(r.key, r.version(), r.history, self.train_key, self.val_key)
                for r in runs]

    def notices_current(self) -> bool:
        """Every run's notice is its source's: no ``RunsChanged`` is still on its way."""
        return all(r.message == (clean(r.source.message, 200) if r.source.message else None)
                   for r in self.runs.values())

    # ------------------------------------------------------------------ results

    def apply_view(self, view: View) -> None:
        for key, summary in view.summaries.items():
            run = self.runs.get(key)
            if run is not None:
                run.rendered, run.keys, run.metrics = summary.version, summary.keys, \
                    summary.metrics
                run.shown = summary.facts

    def apply_findings(self, result: DiagnosisResult) -> Run | None:
        run = self.runs.get(result.key)
        self.findings_applied += 1
        if run is not None:
            run.findings, run.analysed = result.findings, result.version
            run.analysed_unit, run.analysed_steps = result.unit, result.steps_version
            run.diagnosis_error, run.diagnosis_note = result.error, result.note
            if self.notifier is not None:  # a new warning: bell, title, --notify
                self.notifier.findings(run.name, run.key, run.findings)
        return run

    # ------------------------------------------------------------------ what the widgets say

    def status_facts(self, now: float) -> StatusFacts | None:
        run = self.current
        if run is None:
            return None
        # The epoch and pace of the snapshot on screen, so status, chart and table agree.
        shown = run.shown if run.rendered[0] == run.version()[0] else None
        return StatusFacts(
            run.name, run.state(now), shown.last_epoch if shown else None, run.elapsed(now),
            shown.seconds_per_epoch if shown else None, run.stalled_for(now),
            None if self.following else self.unseen_updates,
            shown.malformed_lines if shown else run.history.malformed_lines,
            clean(os.path.basename(run.source.target.rstrip("/")), 40),
            shown.unit if shown else "epoch", shown.stopped_by if shown else None,
            run.source.loading)

    def panels(self) -> tuple[list[Finding], str | None, str | None, list[MetricSummary]]:
        """(findings, what the warnings panel says instead, its footnote, metrics rows)."""
        run = self.current
        if run is None:
            return [], "no run selected", None, []
        serial = run.version()[0]
        # The rows the signs judge: a run logged by step has its evaluations, no epochs.
        shown = run.shown if run.rendered[0] == serial else None
        history = run.history
        rows = shown.epoch_count if shown is not None else len(history.epochs) or len(
            history.steps)
        waiting = warnings_waiting(
            state=run.source.state, message=run.message, key=run.key,
            epochs=rows, diagnosis_error=run.diagnosis_error,
            diagnosed=run.analysed[0] == serial, loading=run.source.loading)
        notes = [note for note in (run.diagnosis_note, shown.reading_note if shown else None)
                 if note]
        return (run.findings if run.analysed[0] == serial else [], waiting,
                "\n".join(notes) or None, run.metrics if run.rendered[0] == serial else [])

    def rows(self, now: float, color: bool) -> list[RunRow]:
        return [RunRow(run.key, run.name,
                       RUN_COLORS[run.color_slot % len(RUN_COLORS)] if color else None,
                       run.key in self.marks, run.state(now),
                       sum(1 for f in run.findings if f.active))
                for run in self.runs.values()]
