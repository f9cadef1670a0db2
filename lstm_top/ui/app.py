"""lstm-top's screen: the app's wiring. ``ui.runs`` holds what is shown, ``ui.view`` builds it,
``ui.components`` draw it. Threads never touch widgets nor read the app's state: a reader thread
adds to ``ChangedRuns`` and posts ``RunsChanged`` when it was empty; the UI thread asks for a frame,
at most ``FRAMES_PER_SECOND``. A frame hands the diagnosis worker the runs whose epochs changed
and the render worker a frozen ``ViewRequest`` (built unless equal to the last; the first change
after a quiet spell, when builds are quick, is built on the UI thread: ``QUICK_BUILD_S``). A new
record is drawn at once, never waiting for the diagnosis: the findings follow in their own
message, 20 ms after the paint, and rebuild the chart only when its markers change. What
can wait for the paint does (``_after_paint``): from a frame's build until then no garbage is
collected, and plotext's figure is cleared for the next chart only after it.
``is_settled``: all on screen.
"""

from __future__ import annotations

import copy
import gc
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Footer
from textual.worker import Worker, get_current_worker

from lstm_top.prefs import Prefs, load_prefs, save_prefs
from lstm_top.sources.base import LiveSource
from lstm_top.sources.follow import FileFollower
from lstm_top.sources.formats import classify
from lstm_top.sources.open import open_target
from lstm_top.ui import chart
from lstm_top.ui import messages as msg
from lstm_top.ui.chart import ChartOptions
from lstm_top.ui.components.main_view import MainView
from lstm_top.ui.components.overlays import OverlayKeys
from lstm_top.ui.components.plot import LossPlot
from lstm_top.ui.components.run_list import RunList
from lstm_top.ui.demo_runner import WATCH_SECONDS, DemoRunner
from lstm_top.ui.frames import FramePacer
from lstm_top.ui.keys import bindings
from lstm_top.ui.run_state import Diagnosers, DiagnosisJob, DiagnosisResult, Run

if TYPE_CHECKING:  # the signs load in the diagnosis worker, after the first paint
    from lstm_top.signs import SignParams
    from lstm_top.ui.first_paint import FirstPaint
    from lstm_top.ui.sweep_paint import SweepPaint
from lstm_top.ui.runs import RunBook
from lstm_top.ui.served import served_to_browser, server_gone
from lstm_top.ui.sweep_table import SWEEP_TABLE_MIN_RUNS, SweepTable
from lstm_top.ui.view import View, ViewBuilder, ViewRequest, settings_from_prefs, store_settings

FRAMES_PER_SECOND = 10  # a rate a person can follow; more is CPU for nothing
# The first paint's chart stands until the reader has read the file, at most this long.
FIRST_PAINT_HOLD_S = 3.0
# While busy, the viewer's whole process keeps to this share of a core (``FramePacer``).
CPU_SHARE = 0.06
# A view whose last build took less CPU time than this is built on the UI thread when it is
# the first change after a quiet spell (an epoch of a run logging a few a second): its way from
# the file to the screen then has no hand-over to the render worker and back (two thread
# wake-ups and GIL hand-overs, 2-4 ms on a busy machine, against a build of 3-6 ms). Streams of
# changes, large or overlaid histories, are built by the worker. CPU time, not wall time: on a
# shared machine one build in seven took over 12 ms of wall time for 5 ms of work, and sent the
# next epoch the slower way.
QUICK_BUILD_S = 0.012
# The diagnosis worker's results reach the UI thread at most this often, together.
FINDINGS_BATCH_S = 0.1
# A painted view's records are judged this long after the paint: the frame is still on its
# way to the terminal (Textual's writer thread needs the GIL to write it, and the signs' pure
# Python would hold it for up to a switch interval, 5 ms, at a time).
JUDGE_AFTER_PAINT_S = 0.02
# Python's cyclic garbage collector is held off from a frame's build until it is painted
# (then JUDGE_AFTER_PAINT_S more), at most about this long: plotext makes thousands of
# objects a chart, and the collections they set off landed on an appended epoch's way to the
# screen (~1 ms an epoch, now and then a 7 ms older-generation pass).
GC_HOLD_MAX_S = 1.0


class LstmTopApp(OverlayKeys):
    CSS_PATH = "lstm_top.tcss"
    # Typed as Textual declares it (an instance attribute there, so not ClassVar here).
    HORIZONTAL_BREAKPOINTS: list[tuple[int, str]] | None = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012
    TITLE = "lstm-top"
    AUTO_FOCUS = "#warnings"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = bindings()

    def __init__(self, targets: list[str] | None = None, *, demo: str | None = None,
                 runs_dir: str | None = None, train_key: str | None = None,
                 val_key: str | None = None, clock: Callable[[], float] = time.time,
                 export_dir: str | None = None, demo_epochs: int | None = None,
                 demo_epoch_delay: float | None = None,
                 demo_watch_seconds: float | None = None,
                 first_paint: FirstPaint | None = None,
                 sweep_paint: SweepPaint | None = None) -> None:
        super().__init__()
        # The chart the command line painted before Textual loaded: the first frame shows it.
        self.first_paint = first_paint
        # The sweep table the command line painted, and the runs it read for it (taken over).
        self.sweep_paint = sweep_paint
        self.targets, self.start_demo = list(targets or []), demo
        self.export_dir, self.clock = export_dir or ".", clock  # the clock: tests freeze it
        self.demo_epochs, self.demo_epoch_delay = demo_epochs, demo_epoch_delay
        self.book = RunBook(train_key, val_key)
        self.runs: dict[str, Run] = self.book.runs  # the same dict, never replaced
        self.prefs = load_prefs()  # never raises; XDG_CONFIG_HOME decides where
        self.settings = settings_from_prefs(self.prefs, color=not self.no_color)
        self.demos = DemoRunner(runs_dir or "runs", watch_seconds=demo_watch_seconds)
        self._directory_watchers: list[Any] = []  # DirectoryWatcher, loaded for a folder
        self._arrived: list[tuple[str, LiveSource]] = []  # runs found, not yet added
        self._arrived_lock = threading.Lock()
        self._changed_runs = msg.ChangedRuns(self.post_message)  # the readers' news
        self._views = ViewBuilder()  # the render worker's tool (one build at a time)
        self._diagnosers = Diagnosers()  # the diagnosis worker's (one pass at a time)
        self.frames = FramePacer(self._frame, self.set_timer, FRAMES_PER_SECOND,
                                 cpu_share=CPU_SHARE)
        self._generation = self._shown_generation = 0
        self._requested: tuple[object, ...] | None = None  # key of the last request built
        self._rendered_size: tuple[int, int] = (0, 0)
        self._render_worker: Worker[None] | None = None
        self._diagnosis_worker: Worker[None] | None = None
        self.renders_done = self.diagnoses_done = 0  # for tests and the benchmark
        # The first view is on the terminal: only then may the diagnosis (importing the signs,
        # judging every run) take the GIL from Textual's first paint.
        self.first_view_painted = False
        self.sweep = SweepTable(self)
        self.shutting_down = False  # set by ``shutdown``: quitting
        self._parent_pid = os.getppid()  # --web: the server; see ui.served
        self._gc_held_since: float | None = None  # gc disabled here (``_hold_gc``) since

    @property
    def selected(self) -> str | None:
        return self.book.selected

    @property
    def options(self) -> ChartOptions:
        return self.settings.options

    def compose(self) -> ComposeResult:
        yield MainView()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        # The width's class now, not at the screen's first resize (after its first frame): the
        # panels would be laid out wide, then again narrow — a visible jump and a restyle.
        width = self.size.width
        for threshold, name in self.HORIZONTAL_BREAKPOINTS or []:
            self.screen.set_class(threshold <= width and not any(
                threshold < other <= width for other, _ in self.HORIZONTAL_BREAKPOINTS or []),
                name)
        self._mounted_at = time.monotonic()
        # Held once: ``query_one`` searches the *active* screen, which may be a modal.
        self.main_view = main = self.query_one(MainView)
        self.status_header, self.loss_plot, self.run_list = \
            main.status_header, main.loss_plot, main.run_list
        self.warnings_panel, self.metrics_table = main.warnings_panel, main.metrics_table
        if self.first_paint is not None:
            main.show_first_paint(self.first_paint)
        for target in self.targets:
            if os.path.isdir(target) and classify(target) is None:  # a folder of runs
                self.watch_directory(target)
            else:
                self.add_run(target)
        if self.start_demo:
            self.launch_demo(self.start_demo)
        elif not self.targets:
            self.action_demo()
        self._show_panels()
        self.set_interval(1.0, self._tick)
        self.request_frame()

    def add_run(self, target: str, select: bool = False, source: LiveSource | None = None,
                show: bool = True, in_sweep: bool = False) -> Run:
        """``show=False``: one of a batch, shown once the batch is in."""
        run = self.book.find(target)
        if run is None:
            run = self.book.add(target, source or open_target(target), select, in_sweep)
            start = run.source.start
            relay = self._changed_runs.relay(target)
            if self.first_paint is not None and self.first_paint.key == target:
                preview = self.first_paint.preview
                if preview is not None and isinstance(run.source, FileFollower):
                    run.source.use_preview(*preview)  # its tail is read: not a second time
                # Its chart is on the screen already: the reader waits until Textual's first
                # frame is painted, rather than take the GIL from it.
                self.call_after_refresh(start, relay)
            else:
                start(relay)
            if show:
                self._changed()
        return run

    def on_run_replaced(self, message: msg.RunReplaced) -> None:
        live = self.runs.get(message.run_key)
        if live is not None and self.book.add_earlier(message.run_key, message.history):
            self._views.forget(live.key, live.rendered[0])
            self._changed()

    def on_runs_changed(self, message: msg.RunsChanged) -> None:
        if self.shutting_down:
            return
        status = urgent = changed = False
        for key, notice in self._changed_runs.take().items():
            run = self.runs.get(key)
            if run is None:
                continue
            run.message = notice
            if self.book.frozen(run):
                self.book.unseen_updates += 1
                status = True
                continue
            # The progress bar of a large file's reading moves, the chart stays.
            status = status or run.source.loading is not None
            # Nothing of this history on screen yet (a file just opened, its preview, the
            # whole run replacing it): drawn at once, whatever the busy budget says.
            urgent = urgent or run.rendered[0] != run.version()[0]
            changed = True
        if status:
            self.main_view.show_status(self.book, self.clock())
        if changed:
            self.request_frame(urgent=urgent)

    def watch_directory(self, folder: str) -> None:
        """Every history file in the folder, then new ones as they appear."""
        from lstm_top.sources.directory import DirectoryWatcher

        watcher = DirectoryWatcher(folder)
        painted, self.sweep_paint = self.sweep_paint, None
        if painted is not None and painted.folder == watcher.path:
            # The runs the first paint found and read: followed from where it left them, and
            # the table opens on them at once (Textual's first frame paints over the same).
            for path, source in painted.sources:
                watcher.reported.add(path)
                self.add_run(path, source=source, show=False, in_sweep=True)
            self.sweep.runs_arrived(len(self.runs), more_coming=False)
        # Opened in the watcher's thread: a sweep's thousand runs cost the UI thread no file
        # system calls (each waits for the GIL while the readers parse). They wait in a batch
        # that one message asks the UI thread to take: a message per run queued a thousand
        # behind the readers' own, and each cost a look at every run.
        watcher.start(self._run_found, lambda: self.post_message(msg.RunFilesAppeared()))
        self._directory_watchers.append(watcher)
        self.book.more_coming = self._more_runs_coming

    def _run_found(self, path: str) -> None:
        """The watcher's thread: ``path`` is a new run."""
        source = open_target(str(path))
        with self._arrived_lock:
            self._arrived.append((str(path), source))
            first = len(self._arrived) == 1
        if first:  # otherwise the message asking for the batch is on its way already
            self.post_message(msg.RunFilesAppeared())

    def _more_runs_coming(self) -> bool:
        return bool(self._arrived) or any(w.walking for w in self._directory_watchers)

    def on_run_files_appeared(self, message: msg.RunFilesAppeared) -> None:
        with self._arrived_lock:
            arrived, self._arrived = self._arrived, []
        in_sweep = len(self.runs) + len(arrived) >= SWEEP_TABLE_MIN_RUNS
        for path, source in arrived:
            self.add_run(path, source=source, show=False, in_sweep=in_sweep)
        # The table opens with these rows in it (its first paint shows them), once the walk
        # has found the rest or a moment has passed.
        self.sweep.runs_arrived(len(self.runs), self._more_runs_coming())
        self._changed()  # also when a walk ended: the signs' wait for the sweep may be over

    def toggle_overlay_mark(self, key: str | None) -> None:
        if key is not None:
            self.book.marks.symmetric_difference_update({key})
            self._changed()

    def on_option_list_option_highlighted(self, event: RunList.OptionHighlighted) -> None:
        key = event.option.id
        if isinstance(event.option_list, RunList) and key in self.runs and key != self.selected:
            self.book.selected = key
            self._changed()

    def request_frame(self, soon: bool = False, urgent: bool = False) -> None:
        """``urgent``: what a person did (a key, a resize): only the frame rate applies."""
        # Not mounted yet: on_mount asks. Nothing to do: no frame waits on the budget for it.
        if hasattr(self, "loss_plot") and (urgent or self._frame_needed()):
            self.frames.request(soon, urgent)

    def _frame_needed(self) -> bool:
        """A frame now would start a diagnosis or change the picture."""
        if not self._diagnosis_running() and self.book.undiagnosed():
            return True
        request = self.book.view_request(0, self.loss_plot.chart_size(), self.options,
                                         self.clock())
        return request.key() != self._requested

    def _frame(self) -> None:
        """Draw what changed; only when there is nothing new to draw, judge (so a new record
        is on screen before the signs take the GIL: ``_view_on_screen`` judges it next)."""
        size = self.loss_plot.chart_size()
        if self._first_paint_stands():
            return  # the reader has not read what the first paint shows: nothing newer to draw
        if size[0] > 0 and size[1] > 0:  # else not laid out yet: the plot's Resize asks again
            self._generation += 1
            request = self.book.view_request(self._generation, size, self.options,
                                             self.clock())
            key = request.key()
            if key != self._requested:
                self._requested = key
                self._hold_gc()
                quick = self.frames.calm and not request.overlay and \
                    self._views.last_build_cpu_s < QUICK_BUILD_S and not self._render_running()
                self.frames.drawn()
                if quick:
                    # Built here, now: nothing can have changed meanwhile (no request_frame).
                    self._show_view(self._views.build(request))
                else:
                    self._render_worker = self._render(self._views, request)
                return
        self._start_diagnosis()

    def _first_paint_stands(self) -> bool:
        """The first paint's chart is still the newest picture of its run: the reader has not
        read the file yet (for at most FIRST_PAINT_HOLD_S, in case it never has anything)."""
        first = self.first_paint
        if first is None:
            return False
        run = self.runs.get(first.key)
        held = time.monotonic() - self._mounted_at < FIRST_PAINT_HOLD_S
        if run is not None and held and run.shown is None and run.source.state in (
                "waiting", "live") and not (len(run.history.epochs) or len(run.history.steps)):
            return True
        self.first_paint = None  # from now on, the app's own views
        return False

    def _start_diagnosis(self) -> None:
        if self.first_view_painted and not self.shutting_down and \
                not self._diagnosis_running() and (jobs := self.book.diagnosis_jobs()):
            self._diagnosis_worker = self._diagnose(self._diagnosers, jobs)

    @work(thread=True, exclusive=True, group="render")
    def _render(self, builder: ViewBuilder, request: ViewRequest) -> None:
        """Worker thread: only the request and the builder, never the app's state."""
        view = builder.build(request)
        if not get_current_worker().is_cancelled:
            self.post_message(msg.ViewReady(view))

    def on_view_ready(self, message: msg.ViewReady) -> None:
        if self._show_view(message.view):
            self.request_frame()  # whatever changed while the worker built it

    def _show_view(self, view: View) -> bool:
        """Put a built view on screen (False: an older build that finished late)."""
        if view.generation < self._shown_generation or self.shutting_down:
            return False
        self._shown_generation = view.generation
        self.renders_done += 1
        self._rendered_size = view.size
        self.book.apply_view(view)
        self.main_view.show_view(view)
        self._show_panels()
        self.call_after_refresh(self._view_on_screen)
        return True

    def _view_on_screen(self) -> None:
        """The view is painted: now the records it shows may be judged (once the frame is
        written to the terminal)."""
        self.first_view_painted = True
        self.set_timer(JUDGE_AFTER_PAINT_S, self._after_paint)

    def _after_paint(self) -> None:
        """The frame is on the terminal: the work put off for it is done now (the chart's
        figure cleared for the next one, garbage collected), then the records are judged."""
        chart.tidy()
        self._release_gc()
        self._start_diagnosis()

    def _hold_gc(self) -> None:
        """No cyclic garbage collection until the frame being made is painted
        (``_after_paint``, at most GC_HOLD_MAX_S: ``_tick`` ends a longer hold)."""
        if self._gc_held_since is None and gc.isenabled():  # never re-enable another's off
            gc.disable()
            self._gc_held_since = time.monotonic()

    def _release_gc(self) -> None:
        if self._gc_held_since is not None:
            self._gc_held_since = None
            gc.enable()

    def on_loss_plot_resized(self, message: LossPlot.Resized) -> None:
        self.request_frame(urgent=True)

    def _render_running(self) -> bool:
        return self._render_worker is not None and not self._render_worker.is_finished

    def _diagnosis_running(self) -> bool:
        return self._diagnosis_worker is not None and not self._diagnosis_worker.is_finished

    @work(thread=True, exclusive=True, group="diagnose")
    def _diagnose(self, diagnosers: Diagnosers, jobs: list[DiagnosisJob]) -> None:
        worker = get_current_worker()
        batch: list[DiagnosisResult] = []
        posted = 0.0  # the first result (the run on screen) goes at once, then batches
        for result in diagnosers.results(jobs):
            if worker.is_cancelled:
                return  # the app is going away: leave no thread behind
            batch.append(result)
            if time.monotonic() - posted >= FINDINGS_BATCH_S:
                self.post_message(msg.FindingsUpdated(batch))
                batch, posted = [], time.monotonic()
        if batch:
            self.post_message(msg.FindingsUpdated(batch))
        self.post_message(msg.DiagnosisDone())

    def on_findings_updated(self, message: msg.FindingsUpdated) -> None:
        applied = [run for result in message.results
                   if (run := self.book.apply_findings(result)) is not None]
        if applied:
            self._show_panels()
            self.request_frame(soon=True)  # the chart's markers, or the frame held for them

    def on_diagnosis_done(self, message: msg.DiagnosisDone) -> None:
        self.diagnoses_done += 1
        self._diagnosis_worker = None
        self.request_frame(soon=True)

    def is_settled(self) -> bool:
        """Everything asked for is done and shown: no frame, render or diagnosis due or
        running, the chart drawn at the plot's size from the latest history, the findings of
        every run up to date, the status line current. Tests wait for this, never sleep."""
        if not hasattr(self, "loss_plot") or self.frames.due:
            return False
        if self._diagnosis_running() or self.book.undiagnosed() or self.book.loading():
            return False
        if self._render_worker is not None and not self._render_worker.is_finished:
            return False
        if self.loss_plot.chart_size() != self._rendered_size or self._frame_needed():
            return False
        return self.book.notices_current() and \
            self.main_view.status_current(self.book, self.clock())

    def _changed(self, urgent: bool = True) -> None:
        self._show_panels()
        self.request_frame(urgent=urgent)

    def _show_panels(self) -> None:
        if self.shutting_down:
            return
        if self.sweep.screen() is not None or self.sweep.holding:
            # The main view is under the table; with hundreds of runs rebuilding its run list
            # on every update would cost more than everything else. The table is refreshed.
            return self.sweep.schedule()
        self.main_view.show_book(self.book, self.clock(), self.options.color)

    def _tick(self) -> None:
        """Once a second: elapsed time and stalled state. Repaints only if the text changed."""
        if served_to_browser() and server_gone(self._driver, self._parent_pid):
            return self.exit(0)  # on_unmount stops the readers and demos
        held = self._gc_held_since
        if held is not None and time.monotonic() - held > GC_HOLD_MAX_S:
            self._release_gc()  # a frame that never came to be painted
        self._changed(urgent=False)  # a state change (live → stalled) changes an empty chart

    def action_run_table(self) -> None:
        self.sweep.open()

    def show_runs(self, keys: set[str] | None, overlay: bool) -> None:
        """From the sweep table: open one run, or overlay the marked ones (all when none)."""
        self.sweep.close(keys, overlay)
        self._changed()

    def action_view(self, change: str) -> None:
        """A key that changes how the chart looks (``ViewSettings``' method ``change``)."""
        self.settings = getattr(self.settings, change)()
        self.request_frame(urgent=True)
        store_settings(self.settings, self.prefs)
        self._save_prefs(copy.deepcopy(self.prefs))

    @work(thread=True, exclusive=True, group="prefs")
    def _save_prefs(self, prefs: Prefs) -> None:
        """Off the UI thread: an atomic write with fsync. A read-only home only costs memory."""
        save_prefs(prefs)

    def action_toggle_overlay(self) -> None:
        if len(self.runs) < 2:
            self.notify("overlay needs at least two runs", markup=False)
            return
        self.book.overlay = not self.book.overlay
        self.request_frame(urgent=True)

    def action_toggle_follow(self) -> None:
        self.book.following = not self.book.following
        self.book.unseen_updates = 0
        self.request_frame(urgent=True)
        self.main_view.show_status(self.book, self.clock())

    async def action_quit(self) -> None:
        self.shutdown()
        self.exit(0)

    def shutdown(self) -> None:
        """Stop every reader and every demo process started here (idempotent)."""
        # Results and changes still queued are dropped unseen: the widgets are going away.
        self.shutting_down = True
        self._release_gc()
        self.workers.cancel_group(self, "diagnose")
        self._diagnosers.stop()  # a catch-up in progress ends within a slice
        for run in self.runs.values():
            run.source.stop(timeout=1.0)
        for watcher in self._directory_watchers:
            watcher.stop()
        self.demos.stop_all()

    def on_unmount(self) -> None:
        self.shutdown()


def run_app(targets: list[str], demo: str | None = None, runs_dir: str | None = None,
            train_key: str | None = None, val_key: str | None = None,
            notify: str | None = None, bell: bool = True,
            sign_params: SignParams | None = None,
            disabled_signs: frozenset[str] = frozenset(),
            first_paint: FirstPaint | None = None,
            sweep_paint: SweepPaint | None = None) -> int:
    """``first_paint``: the chart already on the terminal (``ui.first_paint``);
    ``sweep_paint``: a sweep's table (``ui.sweep_paint``)."""
    app = LstmTopApp(targets, demo=demo, runs_dir=runs_dir, train_key=train_key,
                     val_key=val_key, demo_watch_seconds=WATCH_SECONDS, first_paint=first_paint,
                     sweep_paint=sweep_paint)
    painted = first_paint if first_paint is not None and first_paint.painted else \
        sweep_paint if sweep_paint is not None and sweep_paint.painted else None
    if painted is not None:
        from lstm_top.ui.handover import handover_driver

        app.driver_class = handover_driver(painted)
    from lstm_top.notify import Notifier, terminal_writer

    app._diagnosers = Diagnosers(sign_params, disabled_signs)
    app.book.notifier = Notifier(command=notify, bell=bell, write=terminal_writer(app))
    try:
        result = app.run()
    finally:
        app.shutdown()
    return int(result or 0)
