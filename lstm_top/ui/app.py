"""lstm-top's screen: status line, loss chart, warnings panel, metrics table, run list.

Threads never touch widgets. A source's reader thread posts ``RunChanged`` (at most one pending
per run, so a burst of appends is one update); the UI thread then asks for a render and for a
diagnosis. Each has one worker at a time, and a request that comes while it runs is remembered
and done once, afterwards (coalescing):

* the render worker takes a snapshot of the history, builds the chart string and the metrics
  table and posts ``ViewReady``; it is cheap, whatever the length of the run;
* the diagnosis worker runs the warning signs (slow on the first look at a huge file) and posts
  ``FindingsUpdated`` per run; the chart and metrics never wait for it, and the warnings panel
  says "diagnosing…" until the first result.

``is_settled`` tells when everything asked for is on screen, for tests and screenshots.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer
from textual.worker import get_current_worker

from lstm_top.history import History, LossKeys
from lstm_top.prefs import Prefs, load_prefs, save_prefs
from lstm_top.reduce import MetricSummary, format_duration, format_value
from lstm_top.sanitize import truncate
from lstm_top.sources.base import SourceUpdate
from lstm_top.sources.directory import DirectoryWatcher
from lstm_top.sources.formats import classify
from lstm_top.sources.open import FrozenSource, open_target
from lstm_top.steps import is_step_run
from lstm_top.sweep import sweep_rows
from lstm_top.ui.chart import (
    RUN_COLORS,
    SERIES_MODES,
    ChartOptions,
    ChartSpec,
    SmootherCache,
    build_overlay_spec,
    build_spec,
    legend_entries,
    render,
)
from lstm_top.ui.components.demo_picker import DemoPicker
from lstm_top.ui.components.help import HelpScreen
from lstm_top.ui.components.metrics import MetricsTable
from lstm_top.ui.components.plot import LossPlot
from lstm_top.ui.components.run_list import RunList
from lstm_top.ui.components.run_table import RunTableScreen
from lstm_top.ui.components.status import STATE_STYLES, StatusHeader
from lstm_top.ui.components.warnings import WarningsPanel
from lstm_top.ui.demo_runner import WATCH_SECONDS, DemoRunner, list_scenarios
from lstm_top.ui.messages import (
    DiagnosisDone,
    FindingsUpdated,
    RunChanged,
    RunFileAppeared,
    RunReplaced,
    ViewReady,
)
from lstm_top.ui.run_state import Run, snapshot, sweep_entries, sweep_signature
from lstm_top.ui.text import clean

# A folder with this many runs opens on the sweep table.
SWEEP_TABLE_MIN_RUNS = 10
TABLE_REFRESH_S = 0.5
# Beyond this many runs each run's file is polled less often (events still come at once).
MANY_RUNS = 50
MANY_RUNS_POLL_S = 10.0

if TYPE_CHECKING:
    from lstm_top.signs import Finding

WINDOWS: tuple[int | None, ...] = (None, 20, 100)
SMOOTHING_WEIGHTS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
DEFAULT_SMOOTHING = 2
# The run name's share of the status line; state, epoch, elapsed and pace always fit.
SMOOTHING_STRENGTH_KEY = "smoothing_strength"  # a toggle prefs.py does not know: in ``extra``
STATUS_NAME_MIN = 12
STATUS_NAME_SHARE = 0.4


class LstmTopApp(App[int]):
    CSS_PATH = "lstm_top.tcss"
    # Typed as Textual declares it (an instance attribute there, so not ClassVar here).
    HORIZONTAL_BREAKPOINTS: list[tuple[int, str]] | None = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012
    TITLE = "lstm-top"
    AUTO_FOCUS = "#warnings"
    ENABLE_COMMAND_PALETTE = False
    # Colour and severity come from the chart and the panels; keep Textual's own palette calm.
    BINDINGS: ClassVar[list[Binding | tuple[str, str, str]]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("l", "toggle_log", "Log"),
        Binding("s", "toggle_smoothing", "Smooth"),
        Binding("plus,equals_sign", "smoothing(1)", "More smoothing", show=False),
        Binding("minus,underscore", "smoothing(-1)", "Less smoothing", show=False),
        Binding("w", "cycle_window", "Window"),
        Binding("v", "cycle_series", "Series"),
        Binding("o", "toggle_overlay", "Overlay", show=False),
        Binding("f", "toggle_follow", "Pause"),
        Binding("e", "export", "Export"),
        Binding("d", "demo", "Demo"),
        Binding("x", "stop_demo", "Stop demo", show=False),
        Binding("t", "run_table", "Runs table", show=False),
    ]

    def __init__(self, targets: list[str] | None = None, *, demo: str | None = None,
                 runs_dir: str | None = None, train_key: str | None = None,
                 val_key: str | None = None, clock: Callable[[], float] = time.time,
                 export_dir: str | None = None, demo_epochs: int | None = None,
                 demo_epoch_delay: float | None = None,
                 demo_watch_seconds: float | None = None) -> None:
        super().__init__()
        self.targets = list(targets or [])
        self.start_demo = demo
        self.runs_dir = runs_dir or "runs"
        self.export_dir = export_dir or "."
        self.train_key, self.val_key = train_key, val_key
        self.clock = clock  # wall clock for elapsed time; tests freeze it
        self.demo_epochs = demo_epochs
        self.demo_epoch_delay = demo_epoch_delay
        self.runs: dict[str, Run] = {}
        self.selected: str | None = None
        self.options = ChartOptions(color=not self.no_color)
        self.smoothing_index = DEFAULT_SMOOTHING
        self.window_index = 0
        self.prefs = load_prefs()  # never raises; XDG_CONFIG_HOME decides where
        self._apply_prefs(self.prefs)
        self.overlay = False
        self.overlay_marks: set[str] = set()
        self.following = True
        self.unseen_updates = 0
        self.demos = DemoRunner(self.runs_dir, watch_seconds=demo_watch_seconds)
        self._directory_watchers: list[DirectoryWatcher] = []
        self._mounted = False
        self._render_busy = False
        self._render_again = False
        self._rendered_size: tuple[int, int] = (0, 0)
        self._generation = 0
        self._diagnose_busy = False
        self._diagnose_pending: set[str] = set()
        self._smoothers: dict[tuple[str, int], SmootherCache] = {}
        self._replaced = 0
        self._shutting_down = False  # not "_closing": Textual's MessagePump owns that name
        self._sweep_shown: tuple[object, ...] | None = None
        self._sweep_opened = False
        self._run_paths: dict[str, Run] = {}
        self._table_next_at = 0.0
        self._table_refresh_pending = False
        self.renders_done = 0  # for tests and the benchmark
        self.diagnoses_done = 0

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="status")
        with Horizontal(id="body"):
            yield RunList(id="runs")
            with Vertical(id="main"):
                yield LossPlot(id="plot")
                with Horizontal(id="lower"):
                    yield WarningsPanel(id="warnings")
                    yield MetricsTable(id="metrics")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        # Held once: ``query_one`` searches the *active* screen, which may be a modal.
        self.status_header = self.query_one("#status", StatusHeader)
        self.loss_plot = self.query_one("#plot", LossPlot)
        self.warnings_panel = self.query_one("#warnings", WarningsPanel)
        self.metrics_table = self.query_one("#metrics", MetricsTable)
        self.run_list = self.query_one("#runs", RunList)
        self.warnings_panel.border_title = "warnings"
        self.metrics_table.border_title = "metrics"
        self._mounted = True
        for target in self.targets:
            if os.path.isdir(target) and classify(target) is None:  # a folder of runs
                self.watch_directory(target)
            else:
                self.add_run(target)
        if self.start_demo:
            self.launch_demo(self.start_demo)
        elif not self.targets:
            self.action_demo()
        self._update_run_list()
        self.set_interval(1.0, self._tick)
        self.request_render()

    # ------------------------------------------------------------------ runs

    def add_run(self, target: str, select: bool = False) -> Run:
        # One run per file, however it was named (argument, folder listing, demo).
        # A dict, not a scan of the runs: a sweep adds a thousand of them.
        by_path = {run.path: run for run in self.runs.values()} \
            if len(self._run_paths) != len(self.runs) else self._run_paths
        existing = by_path.get(os.path.abspath(target))
        if existing is not None:
            return existing
        source = open_target(target)
        run = Run(target, source, self.train_key, self.val_key, color_slot=len(self.runs))
        self.runs[target] = run
        self._run_paths = by_path
        self._run_paths[run.path] = run
        if self.selected is None or select:
            self.selected = target
        if len(self.runs) > MANY_RUNS and hasattr(source, "poll_interval"):
            # File events keep a sweep's runs prompt; their safety-net polls, a thousand of
            # them a second, would keep the idle viewer busy.
            source.poll_interval = max(source.poll_interval, MANY_RUNS_POLL_S)
        source.start(lambda update, run=run: self._on_source_update(run, update))
        self.request_diagnosis(target)
        self._update_run_list()
        return run

    def _on_source_update(self, run: Run, update: SourceUpdate) -> None:
        """Reader thread: one pending message per run is enough (coalescing)."""
        # The source's current notice, also when it was cleared (the file appeared, the socket
        # reconnected): the update only carries a message when there is a new one.
        notice = update.source.message
        run.message = clean(notice, 200) if notice else None
        previous = run.seen_history
        run.seen_history = update.history
        if update.new_run and previous is not None and previous is not update.history:
            self.post_message(RunReplaced(run.key, previous))
        if not run.update_posted:
            run.update_posted = True
            self.post_message(RunChanged(run.key))

    def on_run_replaced(self, message: RunReplaced) -> None:
        """Another run started in the same file: the earlier one stays in the list, as it was."""
        live = self.runs.get(message.run_key)
        if live is None:
            return
        self._replaced += 1
        key = f"{message.run_key}#{self._replaced}"
        source = FrozenSource(message.run_key, message.history)
        earlier = Run(key, source, self.train_key, self.val_key, color_slot=len(self.runs),
                      label="(earlier)")
        earlier.seen_history = message.history
        self.runs[key] = earlier
        self._smoothers.pop((live.key, id(message.history)), None)
        self.request_diagnosis(key)
        self._update_run_list()
        self.request_render()

    def on_run_changed(self, message: RunChanged) -> None:
        run = self.runs.get(message.run_key)
        if run is None:
            return
        run.update_posted = False
        if not self.following and run.key == self.selected:
            self.unseen_updates += 1
            self._update_status()
            return
        self.request_diagnosis(run.key)
        self.request_render()

    def watch_directory(self, folder: str) -> None:
        """Every history file in the folder, then new ones as they appear."""
        watcher = DirectoryWatcher(folder)
        watcher.start(lambda path: self.post_message(RunFileAppeared(str(path))))
        self._directory_watchers.append(watcher)

    def on_run_file_appeared(self, message: RunFileAppeared) -> None:
        if (not self._sweep_opened and len(self.runs) + 1 >= SWEEP_TABLE_MIN_RUNS
                and self._directory_watchers):
            # A sweep: open on the table before adding the rest, so the hidden run list is
            # not rebuilt once per run.
            self._sweep_opened = True
            self.action_run_table()
        self.add_run(message.path)
        self._schedule_table_refresh()
        self.request_render()

    def toggle_overlay_mark(self, key: str | None) -> None:
        if key is None:
            return
        self.overlay_marks.symmetric_difference_update({key})
        self._update_run_list()
        if self.overlay:
            self.request_render()

    def on_option_list_option_highlighted(self, event: RunList.OptionHighlighted) -> None:
        key = event.option.id
        if isinstance(event.option_list, RunList) and key in self.runs and key != self.selected:
            self.selected = key
            self.request_render()

    # ------------------------------------------------------------------ rendering

    def request_render(self) -> None:
        if not self._mounted:
            return
        width, height = self.loss_plot.chart_size()
        if width <= 0 or height <= 0:
            return  # not laid out yet: the plot's own Resize asks again
        if self._render_busy:
            self._render_again = True
            return
        self._render_busy = True
        self._generation += 1
        self._render(self._generation, width, height)

    @work(thread=True, exclusive=True, group="render")
    def _render(self, generation: int, width: int, height: int) -> None:
        """Worker thread: chart, legend and metrics from a snapshot, with the findings known so
        far. Never waits for the diagnosis; never holds a history lock for more than a copy."""
        summaries: dict[str, tuple[tuple[int, int], LossKeys, list[MetricSummary]]] = {}
        try:
            chart, legend = self._build_view(width, height, summaries)
        except Exception as exc:  # a plotting bug must not take the screen down
            chart = Text(clean(f"chart unavailable: {type(exc).__name__}: {exc}", 300),
                         style="red")
            legend = Text("")
        self.post_message(ViewReady(generation, chart, legend, (width, height), summaries))

    def _summarise(self, run: Run, summaries: dict[str, tuple[tuple[int, int], LossKeys,
                                                               list[MetricSummary]]]
                   ) -> tuple[History, LossKeys]:
        history = run.history
        frozen = snapshot(history)
        keys, metrics = run.summarise(frozen)
        summaries[run.key] = ((id(history), frozen.epochs.version), keys, metrics)
        return frozen, keys

    def _build_view(self, width: int, height: int,
                    summaries: dict[str, tuple[tuple[int, int], LossKeys, list[MetricSummary]]]
                    ) -> tuple[Text, Text]:
        options = self.options
        runs = list(self.runs.values())
        run = self.runs.get(self.selected) if self.selected else None
        if self.overlay and len(runs) > 1:
            keys_wanted = self.overlay_marks or {r.key for r in runs}
            chosen_runs = [r for r in runs if r.key in keys_wanted]
            chosen = []
            for other in chosen_runs:
                frozen, keys = self._summarise(other, summaries)
                chosen.append((other.name, frozen, keys))
            spec = build_overlay_spec(chosen, options, width, height)
            # Colours follow each run's slot, so they stay put.
            for line, other in zip(spec.lines, [r for r, (_, _, k) in zip(
                    chosen_runs, chosen, strict=True) if k.val or k.train], strict=False):
                line.color = RUN_COLORS[other.color_slot % len(RUN_COLORS)]
        elif run is not None:
            frozen, keys = self._summarise(run, summaries)
            smoothers = self._smoothers.setdefault((run.key, id(run.history)), SmootherCache())
            spec = build_spec(frozen, keys, run.findings, options, width, height, smoothers)
            if run.source.state == "error":
                spec.empty_message = run.message or "cannot read this file"
            elif not len(frozen.epochs):
                state = run.state(self.clock())
                name = clean(os.path.basename(run.key), 60)
                if state == "waiting":
                    spec.empty_message = run.message or f"waiting for {name}…"
                elif state not in ("live", "stalled"):
                    problems = frozen.problem_count
                    spec.empty_message = f"{name}: no epoch records" + (
                        f" ({problems} unreadable lines)" if problems else "")
        else:
            return Text("no run — press d to start a demo", style="dim"), Text("")
        if spec.empty_message is not None:
            return Text(clean(spec.empty_message, 300), style="dim"), self._legend(spec)
        ansi = render(spec)
        if options.color:
            chart = Text.from_ansi(ansi, no_wrap=True, overflow="crop")
        else:
            chart = Text(ansi, no_wrap=True, overflow="crop")
        return chart, self._legend(spec)

    def _legend(self, spec: ChartSpec) -> Text:
        legend = Text(no_wrap=False)
        flags = []
        if self.overlay and len(self.runs) > 1:
            flags.append("overlay val loss")
        if self.options.log_y:
            flags.append("log")
        if self.options.smoothing:
            flags.append(f"ema {self.options.smoothing:g}")
        if self.options.window:
            flags.append(f"last {self.options.window}")
        if self.options.series != SERIES_MODES[0]:
            flags.append(self.options.series)
        if flags:
            legend.append("[" + " · ".join(flags) + "] ", style="bold")
        for i, (piece, color) in enumerate(legend_entries(spec)):
            if i:
                legend.append("  ")
            legend.append(clean(piece, 80), style=f"color({color})" if color is not None else "")
        return legend

    def on_view_ready(self, message: ViewReady) -> None:
        self._render_busy = False
        if not self.screen_stack:
            return  # closing
        self.renders_done += 1
        self._rendered_size = message.size
        for key, (version, keys, metrics) in message.summaries.items():
            run = self.runs.get(key)
            if run is not None:
                run.rendered, run.keys, run.metrics = version, keys, metrics
        self.loss_plot.show(message.chart, message.legend)
        self._show_panels()
        if self._render_again:
            self._render_again = False
            self.request_render()

    # ------------------------------------------------------------------ diagnosis

    def request_diagnosis(self, key: str | None = None) -> None:
        """Bring the findings of one run (default: all) up to date, off the UI thread."""
        self._diagnose_pending.update([key] if key is not None else list(self.runs))
        if not self._diagnose_busy:
            self._start_diagnosis()

    def _start_diagnosis(self) -> None:
        keys = [k for k in self._diagnose_pending if k in self.runs]
        self._diagnose_pending.clear()
        runs = [self.runs[k] for k in keys if not self.runs[k].diagnosed]
        if not runs:
            return
        runs.sort(key=lambda r: r.key != self.selected)  # what is on screen first
        self._diagnose_busy = True
        self._diagnose(runs)

    @work(thread=True, exclusive=True, group="diagnose")
    def _diagnose(self, runs: list[Run]) -> None:
        worker = get_current_worker()
        for run in runs:
            if worker.is_cancelled or self._shutting_down:
                return  # the app is going away: leave no thread behind
            try:
                version, findings = run.diagnose()
                error = None
            except Exception as exc:  # a sign's bug: say so in the panel, keep the screen
                version, findings = run.version(), []
                error = clean(f"diagnosis failed: {type(exc).__name__}: {exc}", 300)
            self.post_message(FindingsUpdated(run.key, version, findings, error))
        self.post_message(DiagnosisDone())

    def on_findings_updated(self, message: FindingsUpdated) -> None:
        run = self.runs.get(message.run_key)
        if run is None:
            return
        before = _finding_signature(run.findings)
        run.findings, run.analysed = message.findings, message.version
        run.diagnosis_error = message.error
        if run.key == self.selected or self.overlay:
            self._show_panels()
        if _finding_signature(run.findings) != before:
            self.request_render()  # the chart's markers
        self._update_run_list()

    def on_diagnosis_done(self, message: DiagnosisDone) -> None:
        self._diagnose_busy = False
        self.diagnoses_done += 1
        if self._diagnose_pending:
            self._start_diagnosis()

    # ------------------------------------------------------------------ settled

    def is_settled(self) -> bool:
        """Everything asked for is done and shown: no render or diagnosis running or queued,
        no source update waiting, the chart drawn at the plot's current size from the latest
        history, findings of every run up to date, and the status line current.

        Tests and screenshots wait for this instead of sleeping."""
        if not self._mounted or self._render_busy or self._render_again:
            return False
        if self._diagnose_busy or self._diagnose_pending:
            return False
        size = self.loss_plot.chart_size()
        if size[0] <= 0 or size[1] <= 0 or size != self._rendered_size:
            return False
        shown = self._shown_runs()
        for run in self.runs.values():
            if run.update_posted or not run.diagnosed:
                return False
            if run in shown and run.rendered != run.version():
                return False
        return self.status_header.plain_text == self._status_text().plain

    def _shown_runs(self) -> list[Run]:
        if self.overlay and len(self.runs) > 1:
            keys = self.overlay_marks or set(self.runs)
            return [r for r in self.runs.values() if r.key in keys]
        run = self.runs.get(self.selected) if self.selected else None
        return [run] if run is not None else []

    def _show_panels(self) -> None:
        run = self.runs.get(self.selected) if self.selected else None
        warnings = self.warnings_panel
        metrics = self.metrics_table
        if run is None:
            warnings.show([], "no run selected")
            metrics.show([])
        else:
            history = run.history
            findings = run.findings if run.analysed[0] == id(history) else []
            waiting = None
            if run.source.state == "error":
                waiting = f"cannot read: {run.message or run.key}"
            elif not len(history.epochs):
                waiting = run.message or "waiting for the first epoch…"
            elif run.diagnosis_error:
                waiting = run.diagnosis_error
            elif run.analysed[0] != id(history):
                waiting = f"diagnosing… ({len(history.epochs)} epochs)"
            warnings.show(findings, waiting, _catch_up_note(run))
            metrics.show(run.metrics if run.rendered[0] == id(history) else [])
        self._update_status()
        self._update_run_list()

    def on_resize(self) -> None:
        self.request_render()

    def on_loss_plot_resized(self, message: LossPlot.Resized) -> None:
        self.request_render()

    # ------------------------------------------------------------------ the sweep table

    def _run_table(self) -> RunTableScreen | None:
        """The sweep table when it is the screen on top (never raises, also while closing)."""
        stack = self.screen_stack
        return stack[-1] if stack and isinstance(stack[-1], RunTableScreen) else None

    def action_run_table(self) -> None:
        if self._run_table() is None and self.screen_stack:
            self.push_screen(RunTableScreen(self.overlay_marks))
            self._sweep_shown = None
            self._refresh_run_table()

    def _refresh_run_table(self) -> None:
        screen = self._run_table()
        if screen is None:
            return
        runs = list(self.runs.values())
        now = self.clock()
        if time.monotonic() < self._table_next_at:
            self._schedule_table_refresh()  # too soon after the last one: later
            return
        signature = sweep_signature(runs, now)
        if signature == self._sweep_shown:
            return
        began = time.monotonic()
        self._sweep_shown = signature
        screen.show_rows(*sweep_rows(sweep_entries(runs, now)))
        # A thousand rows take a while to rebuild: the table gets at most a fifth of the time.
        self._table_next_at = time.monotonic() + 4 * (time.monotonic() - began)

    def show_runs(self, keys: set[str] | None, overlay: bool) -> None:
        """From the sweep table: open one run, or overlay the marked ones (all when none)."""
        table = self._run_table()
        if table is not None:
            self.overlay_marks = set(table.marks)
            self.pop_screen()
        if keys and not overlay:
            self.selected = next(iter(keys))
        self.overlay = overlay and len(self.runs) > 1
        if overlay and keys:
            self.overlay_marks = set(keys)
        self._update_run_list()
        self._update_status()
        self.request_render()

    def _schedule_table_refresh(self) -> None:
        """Soon, once: many runs appearing or changing at once make one table update."""
        if not self._table_refresh_pending:
            self._table_refresh_pending = True
            self.set_timer(TABLE_REFRESH_S, self._table_refresh_due)

    def _table_refresh_due(self) -> None:
        self._table_refresh_pending = False
        if (not self._sweep_opened and len(self.runs) >= SWEEP_TABLE_MIN_RUNS
                and self._directory_watchers):
            self._sweep_opened = True  # a sweep: open on the table, once
            self.action_run_table()
        self._refresh_run_table()

    def _tick(self) -> None:
        """Once a second: elapsed time and stalled state. Repaints only if the text changed."""
        if not self._mounted:
            return
        self._table_refresh_due()
        self._update_status()
        self._update_run_list()

    def _update_status(self) -> None:
        self.status_header.show_text(self._status_text())

    def _status_text(self) -> Text:
        run = self.runs.get(self.selected) if self.selected else None
        if run is None:
            return StatusHeader.compose_text([("lstm-top", "bold"), ("no run", "dim")])
        history = run.history
        now = self.clock()
        state = run.state(now)
        label = state
        quiet = run.stalled_for(now)
        if state == "stalled" and quiet is not None:
            label = f"stalled {format_duration(quiet)}"
        facts = [(f"● {label}", STATE_STYLES.get(state, ""))]
        if is_step_run(history):  # judged by its evaluation points: the x axis is steps
            facts.append((f"step {int(history.steps.index[-1])} · steps", ""))
        else:
            last = history.last_epoch()
            facts.append((f"epoch {last if last is not None else '–'}", ""))
        facts.append((f"elapsed {format_duration(run.elapsed(now))}", ""))
        per_epoch = history.seconds_per_epoch()
        if per_epoch is not None:
            facts.append((f"{format_value(per_epoch)} s/epoch", ""))
        if not self.following:
            facts.append((f"⏸ paused (+{self.unseen_updates})", "bold reverse"))
        if history.malformed_lines:
            facts.append((f"{history.malformed_lines} bad lines", "yellow"))
        # The name gets a bounded share: what follows it (state, epoch, ...) must always show.
        width = self.status_header.size.width or self.size.width
        needed = sum(len(piece) + 3 for piece, _ in facts) + 2  # separators, padding
        budget = max(STATUS_NAME_MIN, min(int(width * STATUS_NAME_SHARE), width - needed))
        parts = [(truncate(run.name, budget), "bold"), *facts]
        file_name = clean(os.path.basename(run.source.target.rstrip("/")), 40)
        if file_name != run.name:
            parts.append((file_name, "dim"))
        return StatusHeader.compose_text(parts)

    def _update_run_list(self) -> None:
        if not self.screen_stack:
            return  # closing: the screens are gone, the messages still come
        if self._run_table() is not None:
            # The list is hidden under the table; with hundreds of runs rebuilding it on every
            # update would cost more than everything else. The table is refreshed instead.
            self._schedule_table_refresh()
            return
        run_list = self.run_list
        # One run needs no list (the status line names it) and its columns go to the warnings.
        visible = len(self.runs) > 1
        run_list.display = visible
        if not visible:
            return
        rows = []
        for run in self.runs.values():
            label = Text()
            color = RUN_COLORS[run.color_slot % len(RUN_COLORS)]
            mark = "◉" if run.key in self.overlay_marks else "━"
            label.append(f"{mark} ", style=f"color({color})" if self.options.color else "")
            label.append(truncate(run.name, 13 if self.screen.has_class("-narrow") else 18))
            state = run.state(self.clock())
            active = sum(1 for f in run.findings if f.active)
            label.append(f"\n  {state}", style=STATE_STYLES.get(state, "dim"))
            if active:
                label.append(f" ⚠{active}", style="yellow")
            rows.append((run.key, label))
        run_list.show(rows, self.selected)

    # ------------------------------------------------------------------ actions

    def _apply_prefs(self, prefs: Prefs) -> None:
        """Log scale, smoothing (on/off and strength), window and series as saved last time."""
        strength = prefs.smoothing or prefs.extra.get(SMOOTHING_STRENGTH_KEY)
        if isinstance(strength, int | float) and not isinstance(strength, bool) and strength > 0:
            self.smoothing_index = min(range(len(SMOOTHING_WEIGHTS)),
                                       key=lambda i: abs(SMOOTHING_WEIGHTS[i] - strength))
        window = prefs.window or None
        if window in WINDOWS:
            self.window_index = WINDOWS.index(window)
        series = prefs.series if prefs.series in SERIES_MODES else SERIES_MODES[0]
        self.options = ChartOptions(
            log_y=prefs.log_scale,
            smoothing=SMOOTHING_WEIGHTS[self.smoothing_index] if prefs.smoothing else None,
            window=window, series=series, color=self.options.color)

    def _set_options(self, **changes: object) -> None:
        values = {"log_y": self.options.log_y, "smoothing": self.options.smoothing,
                  "window": self.options.window, "series": self.options.series,
                  "color": self.options.color}
        values.update(changes)
        self.options = ChartOptions(**values)  # type: ignore[arg-type]
        self.request_render()
        prefs = self.prefs
        prefs.log_scale = self.options.log_y
        prefs.smoothing = self.options.smoothing or 0.0
        # The strength is kept while smoothing is off, so "s" brings back the same curve.
        prefs.extra[SMOOTHING_STRENGTH_KEY] = SMOOTHING_WEIGHTS[self.smoothing_index]
        prefs.window = self.options.window or 0
        prefs.series = self.options.series
        self._save_prefs(copy.deepcopy(prefs))

    @work(thread=True, exclusive=True, group="prefs")
    def _save_prefs(self, prefs: Prefs) -> None:
        """Off the UI thread: an atomic write with fsync. A read-only home only costs memory."""
        save_prefs(prefs)

    def action_toggle_log(self) -> None:
        self._set_options(log_y=not self.options.log_y)

    def action_toggle_smoothing(self) -> None:
        on = self.options.smoothing is None
        self._set_options(smoothing=SMOOTHING_WEIGHTS[self.smoothing_index] if on else None)

    def action_smoothing(self, step: int) -> None:
        self.smoothing_index = max(0, min(len(SMOOTHING_WEIGHTS) - 1,
                                          self.smoothing_index + step))
        self._set_options(smoothing=SMOOTHING_WEIGHTS[self.smoothing_index])

    def action_cycle_window(self) -> None:
        self.window_index = (self.window_index + 1) % len(WINDOWS)
        self._set_options(window=WINDOWS[self.window_index])

    def action_cycle_series(self) -> None:
        at = SERIES_MODES.index(self.options.series)
        self._set_options(series=SERIES_MODES[(at + 1) % len(SERIES_MODES)])

    def action_toggle_overlay(self) -> None:
        if len(self.runs) < 2:
            self.notify("overlay needs at least two runs", markup=False)
            return
        self.overlay = not self.overlay
        self.request_render()

    def action_toggle_follow(self) -> None:
        self.following = not self.following
        if self.following:
            self.unseen_updates = 0
            self.request_diagnosis()
            self.request_render()
        self._update_status()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_export(self) -> None:
        run = self.runs.get(self.selected) if self.selected else None
        name = "".join(c if c.isalnum() or c in "-_." else "_"
                       for c in (run.name if run else "lstm-top"))[:40]
        stem = f"lstm-top-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        folder = Path(self.export_dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            svg = self.save_screenshot(f"{stem}.svg", str(folder))
            text_path = folder / f"{stem}.txt"
            text_path.write_text(self.snapshot_text(), encoding="utf-8")
        except OSError as exc:
            self.notify(f"export failed: {exc}", severity="error", markup=False)
            return
        self.last_export = (svg, str(text_path))
        self.notify(f"saved {svg} and {text_path.name}", markup=False)

    def snapshot_text(self) -> str:
        """The screen's content as plain text: status, chart, warnings, metrics."""
        header = self.status_header
        lines = [header.plain_text, "", self.loss_plot.plain, "",
                 "warnings:", self.warnings_panel.plain, "", "metrics:"]
        run = self.runs.get(self.selected) if self.selected else None
        for row in run.metrics if run else []:
            best = "–" if row.best is None else f"{format_value(row.best)} @{row.best_epoch}"
            lines.append(f"  {clean(row.name, 40):<24} {format_value(row.latest):>10} "
                         f"{best:>16} {format_value(row.change):>10}")
        return "\n".join(lines) + "\n"

    def action_demo(self) -> None:
        self.push_screen(DemoPicker(list_scenarios()), self._demo_chosen)

    def _demo_chosen(self, scenario: str | None) -> None:
        if scenario:
            self.launch_demo(scenario)

    def launch_demo(self, scenario: str) -> None:
        known = {s.name for s in list_scenarios()}
        if scenario not in known:
            self.notify(f"unknown demo scenario {clean(scenario, 40)!r}", severity="error",
                        markup=False)
            return
        try:
            demo = self.demos.start(scenario, self.demo_epochs, self.demo_epoch_delay)
        except OSError as exc:
            self.notify(f"cannot start the demo: {exc}", severity="error", markup=False)
            return
        self.add_run(str(demo.path), select=True)
        self.notify(f"demo {scenario} started → {demo.path}", markup=False)
        self.request_render()

    def action_stop_demo(self) -> None:
        demo = self.demos.find(self.selected) if self.selected else None
        if demo is None:
            self.notify("the selected run is not a demo started here", markup=False)
            return
        if self.demos.stop(demo):
            self.notify(f"stopping demo {demo.scenario}", markup=False)

    async def action_quit(self) -> None:
        self.shutdown()
        self.exit(0)

    def shutdown(self) -> None:
        """Stop every reader and every demo process started here (idempotent)."""
        self._shutting_down = True
        for run in self.runs.values():
            run.source.stop(timeout=1.0)
        for watcher in self._directory_watchers:
            watcher.stop()
        self.demos.stop_all()

    def on_unmount(self) -> None:
        self.shutdown()


def _catch_up_note(run: Run) -> str | None:
    """Say so when the signs judged only the newest epochs of a huge history."""
    diagnoser = run.diagnoser
    if diagnoser is None or not diagnoser.skipped_epochs:
        return None
    return (f"signs judged the last {diagnoser.diagnosed_epochs:,} of "
            f"{diagnoser.epochs_seen:,} epochs")


def _finding_signature(findings: list[Finding]) -> list[tuple[object, ...]]:
    """What the chart draws of the findings (markers) and the panel lists."""
    return [(f.id, int(f.severity), f.since_epoch, f.until_epoch, f.message) for f in findings]


def run_app(targets: list[str], demo: str | None = None, runs_dir: str | None = None,
            train_key: str | None = None, val_key: str | None = None) -> int:
    app = LstmTopApp(targets, demo=demo, runs_dir=runs_dir, train_key=train_key,
                     val_key=val_key, demo_watch_seconds=WATCH_SECONDS)
    try:
        result = app.run()
    finally:
        app.shutdown()
    return int(result or 0)
