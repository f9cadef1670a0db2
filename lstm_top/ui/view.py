"""What the widgets show, from a frozen request: Textual-free, so it is tested without an app.

The UI thread describes what it wants on screen as a ``ViewRequest`` (which runs, their
histories and findings, the chart options and size); the render worker turns it into a ``View``
(chart, legend, metrics, the facts of the status line) with ``ViewBuilder.build``. The request
carries everything the worker reads: the worker never looks at the app's own state, and every
history is read through a snapshot taken in a moment under its lock.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.text import Span, Text

from lstm_top.history import History, LossKeys
from lstm_top.prefs import Prefs
from lstm_top.reduce import MetricSummary
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
from lstm_top.ui.run_state import SnapshotFacts, snapshot, summarise
from lstm_top.ui.text import clean

if TYPE_CHECKING:
    from lstm_top.signs import Finding

WINDOWS: tuple[int | None, ...] = (None, 20, 100)
SMOOTHING_WEIGHTS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
DEFAULT_SMOOTHING = 2
SMOOTHING_STRENGTH_KEY = "smoothing_strength"  # a toggle prefs.py does not know: in ``extra``


@dataclass(frozen=True, slots=True)
class ShownRun:
    """One run the chart draws, as the UI thread saw it when it asked."""

    key: str
    name: str
    history: History  # thread-safe through its lock; read through a snapshot
    version: tuple[int, int]  # Run.version() when asked: (history serial, epochs version)
    findings: tuple[Finding, ...] = ()
    color_slot: int = 0
    train_key: str | None = None
    val_key: str | None = None
    state: str = "live"  # the displayed state (waiting / live / finished / error ...)
    message: str | None = None  # the source's notice (missing file, cannot read...)


@dataclass(frozen=True, slots=True)
class ViewRequest:
    generation: int
    width: int
    height: int
    options: ChartOptions
    runs: tuple[ShownRun, ...] = ()  # the selected run, or the overlay's runs
    overlay: bool = False

    def key(self) -> tuple[object, ...]:
        """Everything that changes the picture; the same key twice needs no new build."""
        return (self.width, self.height, self.options, self.overlay,
                tuple((r.key, r.version, marker_signature(r.findings), r.state, r.message)
                      for r in self.runs))


@dataclass(frozen=True, slots=True)
class StatusFacts:
    """What the status line says; every untrusted piece arrives already cleaned."""

    name: str
    state: str
    epoch: int | None  # of the snapshot the chart and the table show
    elapsed: float | None = None
    seconds_per_epoch: float | None = None
    stalled_for: float | None = None
    paused_unseen: int | None = None  # None: following; else updates not shown yet
    malformed_lines: int = 0
    file_name: str = ""
    unit: str = "epoch"  # "step" for a run judged by its evaluation steps
    stopped_by: str | None = None  # the warning sign that stopped the run (stop_on=)
    loading: float | None = None  # a large file shown from its tail: the fraction read


@dataclass(frozen=True, slots=True)
class RunRow:
    key: str
    name: str  # already cleaned
    color: int | None  # the run's overlay colour (xterm-256), None without colour
    marked: bool  # marked for the overlay
    state: str
    active_warnings: int


@dataclass(frozen=True, slots=True)
class RunSummary:
    version: tuple[int, int]
    keys: LossKeys
    metrics: list[MetricSummary]
    facts: SnapshotFacts


@dataclass(slots=True)
class View:
    generation: int
    chart: Text
    legend: Text
    size: tuple[int, int]
    summaries: dict[str, RunSummary] = field(default_factory=dict)
    chart_lines: list[Text] | None = None  # ``chart``'s lines, when its decoding gave them


def marker_signature(findings: Sequence[Finding]) -> tuple[tuple[object, ...], ...]:
    """What the chart draws of the findings: a marker per active one (the panel shows the rest,
    from the findings themselves): a new message alone needs no new chart."""
    return tuple((f.id, int(f.severity), f.since_epoch) for f in findings if f.active)


class ViewBuilder:
    """Builds views; keeps the incremental smoothers between builds (one build at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._smoothers: dict[tuple[str, int], SmootherCache] = {}  # by (run key, serial)
        # CPU seconds the last build took, its own thread's (none yet: unknown): on a loaded
        # machine the wait for a core or the GIL does not make a quick build look slow.
        self.last_build_cpu_s = float("inf")

    def build(self, request: ViewRequest) -> View:
        with self._lock:
            started = time.thread_time()
            view = View(request.generation, Text(""), Text(""), (request.width, request.height))
            try:
                view.chart, view.legend = self._chart(request, view)
            except Exception as exc:  # a plotting bug must not take the screen down
                view.chart = Text(clean(f"chart unavailable: {type(exc).__name__}: {exc}", 300),
                                  style="red")
            self.last_build_cpu_s = time.thread_time() - started
            return view

    def _summarise(self, run: ShownRun, summaries: dict[str, RunSummary]
                   ) -> tuple[History, LossKeys]:
        frozen = snapshot(run.history)
        keys, metrics = summarise(frozen, run.train_key, run.val_key)
        summaries[run.key] = RunSummary((run.version[0], frozen.epochs.version), keys, metrics,
                                        SnapshotFacts.of(frozen))
        return frozen, keys

    def _chart(self, request: ViewRequest, view: View) -> tuple[Text, Text]:
        """(chart, legend); the summaries of the runs drawn, and the chart's lines when its
        decoding gave them, go into ``view``."""
        options, width, height = request.options, request.width, request.height
        summaries = view.summaries
        if request.overlay:
            chosen = []
            drawn = []
            for run in request.runs:
                frozen, keys = self._summarise(run, summaries)
                chosen.append((run.name, frozen, keys))
                if keys.val or keys.train:
                    drawn.append(run)
            spec = build_overlay_spec(chosen, options, width, height)
            for line, run in zip(spec.lines, drawn, strict=False):
                line.color = RUN_COLORS[run.color_slot % len(RUN_COLORS)]  # stays put
        elif request.runs:
            run = request.runs[0]
            frozen, keys = self._summarise(run, summaries)
            smoothers = self._smoothers.setdefault((run.key, run.version[0]), SmootherCache())
            spec = build_spec(frozen, keys, run.findings, options, width, height, smoothers)
            if run.state == "error":
                spec.empty_message = run.message or "cannot read this file"
            elif not len(frozen.epochs):
                name = clean(os.path.basename(run.key), 60)
                if run.state == "waiting":
                    spec.empty_message = run.message or f"waiting for {name}…"
                elif run.state not in ("live", "stalled"):
                    problems = frozen.problem_count
                    spec.empty_message = f"{name}: no epoch records" + (
                        f" ({problems} unreadable lines)" if problems else "")
        else:
            return Text("no run — press d to start a demo", style="dim"), Text("")
        legend = legend_text(spec, request.overlay)
        if spec.empty_message is not None:
            return Text(clean(spec.empty_message, 300), style="dim"), legend
        ansi = render(spec)
        if options.color:
            chart, view.chart_lines = chart_text(ansi)
            return chart, legend
        return Text(ansi, no_wrap=True, overflow="crop"), legend

    def forget(self, key: str, serial: int) -> None:
        """A run's history was replaced: its smoothers are of no more use."""
        with self._lock:
            self._smoothers.pop((key, serial), None)


_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_CONTROL = re.compile(r"[\x07\x08\x0b\x0c\r]")  # rich removes these: its way
# (style before, SGR parameters) -> style after, as rich's AnsiDecoder works it out.
_SGR_STYLES: dict[tuple[Style, str], Style] = {}


def chart_text(ansi: str) -> tuple[Text, list[Text] | None]:
    """The chart's ANSI text as a ``Text``: what ``Text.from_ansi(ansi, no_wrap=True,
    overflow="crop")`` gives (the same characters and spans, the same ``Style`` objects), for
    a fraction of its time on an appended epoch's way to the screen; and its lines, as
    ``Text.split("\\n")`` would give them (the chart widget draws a line at a time). plotext
    writes colour codes (SGR) only; anything else goes rich's way (and no lines)."""
    if _CONTROL.search(ansi) or ansi.count("\x1b") != len(_SGR.findall(ansi)):
        return Text.from_ansi(ansi, no_wrap=True, overflow="crop"), None
    from rich.ansi import AnsiDecoder

    style = Style.null()  # carried from line to line, as rich's decoder carries it
    spans: list[Span] = []
    plain: list[str] = []
    lines: list[Text] = []
    offset = 0
    for number, line in enumerate(ansi.split("\n")):
        if number:
            plain.append("\n")
            offset += 1
        line_plain: list[str] = []
        line_spans: list[Span] = []
        line_offset = 0
        for index, piece in enumerate(_SGR.split(line)):
            if index % 2:  # SGR parameters
                key = (style, piece)
                after = _SGR_STYLES.get(key)
                if after is None:
                    if len(_SGR_STYLES) > 1024:
                        _SGR_STYLES.clear()
                    decoder = AnsiDecoder()
                    decoder.style = style
                    decoder.decode_line(f"\x1b[{piece}m")
                    after = _SGR_STYLES[key] = decoder.style
                style = after
            elif piece:
                line_plain.append(piece)
                if style:
                    line_spans.append(Span(line_offset, line_offset + len(piece), style))
                line_offset += len(piece)
        text = "".join(line_plain)
        plain.append(text)
        spans += [Span(offset + s.start, offset + s.end, s.style) for s in line_spans]
        offset += line_offset
        lines.append(Text(text, no_wrap=True, overflow="crop", spans=line_spans))
    return Text("".join(plain), no_wrap=True, overflow="crop", spans=spans), lines


def legend_text(spec: ChartSpec, overlay: bool) -> Text:
    """The line under the chart: the view's flags, then one entry per series and marker."""
    options = spec.options
    legend = Text(no_wrap=False)
    flags = []
    if overlay:
        flags.append("overlay val loss")
    if options.log_y:
        flags.append("log")
    if options.smoothing:
        flags.append(f"ema {options.smoothing:g}")
    if options.window:
        flags.append(f"last {options.window}")
    if options.series != SERIES_MODES[0]:
        flags.append(options.series)
    if flags:
        legend.append("[" + " · ".join(flags) + "] ", style="bold")
    for i, (piece, color) in enumerate(legend_entries(spec)):
        if i:
            legend.append("  ")
        legend.append(clean(piece, 80), style=f"color({color})" if color is not None else "")
    return legend


def warnings_waiting(*, state: str, message: str | None, key: str, epochs: int,
                     diagnosis_error: str | None, diagnosed: bool,
                     loading: float | None = None) -> str | None:
    """What the warnings panel says instead of findings, or None when the findings stand."""
    if state == "error":
        return f"cannot read: {message or key}"
    if loading is not None:  # the signs judge the whole run, not its preview
        return f"reading the whole run… {loading:.0%}; the warning signs follow"
    if not epochs:
        return message or "waiting for the first epoch…"
    if diagnosis_error:
        return diagnosis_error
    if not diagnosed:
        return f"diagnosing… ({epochs} epochs)"
    return None


# ---------------------------------------------------------------------------- preferences

@dataclass(frozen=True, slots=True)
class ViewSettings:
    """The chart options and the positions of the cycling keys (smoothing strength, window).
    One method per key that changes the view; each returns the new settings."""

    options: ChartOptions
    smoothing_index: int = DEFAULT_SMOOTHING
    window_index: int = 0

    def _with(self, **changes: Any) -> ViewSettings:
        return replace(self, options=replace(self.options, **changes))

    def toggled_log(self) -> ViewSettings:
        return self._with(log_y=not self.options.log_y)

    def toggled_smoothing(self) -> ViewSettings:
        on = self.options.smoothing is None
        return self._with(smoothing=SMOOTHING_WEIGHTS[self.smoothing_index] if on else None)

    def smoothing_stepped(self, step: int) -> ViewSettings:
        index = max(0, min(len(SMOOTHING_WEIGHTS) - 1, self.smoothing_index + step))
        return replace(self, smoothing_index=index)._with(smoothing=SMOOTHING_WEIGHTS[index])

    def more_smoothing(self) -> ViewSettings:
        return self.smoothing_stepped(1)

    def less_smoothing(self) -> ViewSettings:
        return self.smoothing_stepped(-1)

    def next_window(self) -> ViewSettings:
        index = (self.window_index + 1) % len(WINDOWS)
        return replace(self, window_index=index)._with(window=WINDOWS[index])

    def next_series(self) -> ViewSettings:
        at = SERIES_MODES.index(self.options.series)
        return self._with(series=SERIES_MODES[(at + 1) % len(SERIES_MODES)])


def settings_from_prefs(prefs: Prefs, color: bool) -> ViewSettings:
    """Log scale, smoothing (on/off and strength), window and series as saved last time."""
    smoothing_index = DEFAULT_SMOOTHING
    strength = prefs.smoothing or prefs.extra.get(SMOOTHING_STRENGTH_KEY)
    if isinstance(strength, int | float) and not isinstance(strength, bool) and strength > 0:
        smoothing_index = min(range(len(SMOOTHING_WEIGHTS)),
                              key=lambda i: abs(SMOOTHING_WEIGHTS[i] - strength))
    window = prefs.window or None
    window_index = WINDOWS.index(window) if window in WINDOWS else 0
    series = prefs.series if prefs.series in SERIES_MODES else SERIES_MODES[0]
    options = ChartOptions(log_y=prefs.log_scale,
                           smoothing=SMOOTHING_WEIGHTS[smoothing_index] if prefs.smoothing
                           else None,
                           window=WINDOWS[window_index], series=series, color=color)
    return ViewSettings(options, smoothing_index, window_index)


def store_settings(settings: ViewSettings, prefs: Prefs) -> None:
    """Write the settings into ``prefs`` (saved by the caller)."""
    options = settings.options
    prefs.log_scale = options.log_y
    prefs.smoothing = options.smoothing or 0.0
    # The strength is kept while smoothing is off, so "s" brings back the same curve.
    prefs.extra[SMOOTHING_STRENGTH_KEY] = SMOOTHING_WEIGHTS[settings.smoothing_index]
    prefs.window = options.window or 0
    prefs.series = options.series


# ---------------------------------------------------------------------------- a warning's detail

@dataclass(frozen=True, slots=True)
class DetailRequest:
    """The chart of one warning: its run, zoomed to its episode, its evidence marked."""

    run: ShownRun
    finding: Finding
    width: int
    height: int
    color: bool = True


def detail_marks(finding: Finding, last_epoch: int | None) -> tuple[list[tuple[float, str]],
                                                                     tuple[float, float]]:
    """(marks, x range): since / until and what the evidence points at, and the epochs around
    them worth seeing."""
    from lstm_top.ui.findings import marked_epochs

    marks = [(float(finding.since_epoch), "since")]
    if finding.until_epoch is not None:
        marks.append((float(finding.until_epoch), "until"))
    marks += marked_epochs(finding)
    end = finding.until_epoch if finding.until_epoch is not None else last_epoch
    lo = min(epoch for epoch, _ in marks)
    hi = max([epoch for epoch, _ in marks] + ([float(end)] if end is not None else []))
    pad = max(3.0, (hi - lo) * 0.15)
    return marks, (lo - pad, hi + pad)


def build_detail(request: DetailRequest) -> tuple[Text, Text]:
    """The zoomed chart and its legend (worker thread: reads only the request)."""
    from lstm_top.ui.findings import focused_subset

    run = request.run
    frozen = snapshot(run.history)
    keys, _ = summarise(frozen, run.train_key, run.val_key)
    marks, x_range = detail_marks(request.finding, frozen.last_epoch())
    options = ChartOptions(color=request.color, x_range=x_range,
                           focus_subset=focused_subset(request.finding))
    spec = build_spec(frozen, keys, [], options, request.width, request.height, None, marks)
    legend = legend_text(spec, overlay=False)
    if spec.empty_message is not None:
        return Text(clean(spec.empty_message, 300), style="dim"), legend
    ansi = render(spec)
    chart = chart_text(ansi)[0] if request.color else Text(
        ansi, no_wrap=True, overflow="crop")
    return chart, legend
