"""The loss chart as data (``ChartSpec``) and its plotext rendering (an ANSI string).

Building the spec reads the History (under its lock) and reduces every series to what the
chart's width can show, so the cost of a redraw does not grow with the run. Rendering calls
plotext, whose figure is process-global: ``render`` holds a module lock so two workers can
never draw into the same figure at once. Nothing here imports Textual.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lstm_top.history import History, LossKeys, resolve_loss_keys
from lstm_top.reduce import (
    DOTS_PER_CELL,
    IncrementalEma,
    finite_points,
    format_value,
    reduce_minmax,
    window,
)
from lstm_top.ui.plotext_import import plotext

if TYPE_CHECKING:
    from lstm_top.signs import Finding

# xterm-256 palette indexes: no truecolor needed.
TRAIN_COLOR = 39  # blue
VAL_COLOR = 208  # orange
SUBSET_COLORS = (141, 114, 220, 175, 81, 203)
RUN_COLORS = (208, 39, 114, 141, 220, 175, 81, 203)  # overlay: stable colour per run
BEST_COLOR = 46
MARK_COLOR = 81  # evidence marks of a warning's detail
FAINT_COLOR = 240
# By severity (critical, warning, info); the signs themselves load after the first paint.
SEVERITY_COLORS = {3: 196, 2: 214, 1: 81}
# Without colour the series must still be told apart: one glyph each.
MONO_MARKERS = ("•", "+", "x", "o", "*", "#", "=", "~")

SERIES_MODES = ("train + val + subsets", "train + val", "val + subsets")
_PLOT_LOCK = threading.Lock()
# The figure holds the last render until ``tidy`` clears it, once that frame is on screen:
# clearing plotext's figure (and finalising the thousands of objects of the last one) is a
# tenth of a render, taken off an appended epoch's way to the screen. True: clear first.
_figure_used = True
_WHITE_BACKGROUND = "\x1b[48;5;15m"


@dataclass(frozen=True, slots=True)
class ChartOptions:
    log_y: bool = False
    smoothing: float | None = None  # EMA weight of the previous value; None = raw
    window: int | None = None  # last N epochs; None = all
    series: str = SERIES_MODES[0]
    color: bool = True
    x_range: tuple[float, float] | None = None  # only these epochs (a warning's detail)
    focus_subset: str | None = None  # this subset bold, the others faint (a subset gap)


@dataclass(slots=True)
class Line:
    label: str
    x: np.ndarray
    y: np.ndarray
    color: int
    glyph: str  # legend / monochrome marker
    faint: bool = False
    in_legend: bool = False  # a faint line that still gets a legend entry (the per-step loss)


@dataclass(slots=True)
class VerticalMarker:
    epoch: float
    label: str  # short: the number shown at the top of the line
    title: str  # for the legend
    color: int


@dataclass(slots=True)
class ChartSpec:
    width: int
    height: int
    options: ChartOptions
    lines: list[Line] = field(default_factory=list)
    markers: list[VerticalMarker] = field(default_factory=list)
    best: tuple[float, float] | None = None  # (epoch, value) of the best val loss
    empty_message: str | None = None
    points_in: int = 0  # points before reduction, for the benchmark's curiosity


@dataclass
class SmootherCache:
    """One incremental EMA per series name; reset when the weight changes."""

    weight: float = 0.0
    by_name: dict[str, IncrementalEma] = field(default_factory=dict)

    def smooth(self, name: str, values: np.ndarray, weight: float) -> np.ndarray:
        if weight != self.weight:
            self.weight, self.by_name = weight, {}
        smoother = self.by_name.get(name)
        if smoother is None:
            smoother = self.by_name[name] = IncrementalEma(weight)
        return smoother.update(values)


def chart_buckets(width: int) -> int:
    """Reduction buckets for a chart ``width`` cells wide. Each M4 bucket keeps four points
    (first, min, max, last): one bucket per four braille dot columns is a point per dot column,
    all the chart can show (more only costs plotext ~25 us a point, every frame)."""
    return max(8, width * DOTS_PER_CELL // 4)


def _cut(x: np.ndarray, y: np.ndarray, options: ChartOptions) -> tuple[np.ndarray, np.ndarray]:
    x, y = window(x, y, options.window)
    if options.x_range is not None:
        keep = (x >= options.x_range[0]) & (x <= options.x_range[1])
        x, y = x[keep], y[keep]
    return x, y


def _series(history: History, name: str, options: ChartOptions, buckets: int,
            smoothers: SmootherCache | None) -> tuple[tuple[np.ndarray, np.ndarray] | None,
                                                      tuple[np.ndarray, np.ndarray] | None, int]:
    """(raw, smoothed) reduced series of one epoch column; each None when not drawable."""
    table = history.epochs
    present = table.present(name)
    values = table.column(name)
    index = table.index
    if not present.all():
        index, values = index[present], values[present]
    count = len(values)
    smoothed = None
    if options.smoothing and smoothers is not None and count:
        # Smooth over the whole run (the EMA needs its past), then cut the window.
        full = smoothers.smooth(name, table.column(name), options.smoothing)
        full_x = table.index
        if not present.all():
            full, full_x = full[present], full_x[present]
        sx, sy = _cut(full_x, full, options)
        sx, sy = finite_points(sx, sy, options.log_y)
        smoothed = reduce_minmax(sx, sy, buckets) if len(sx) else None
    x, y = _cut(index, values, options)
    x, y = finite_points(x, y, options.log_y)
    raw = reduce_minmax(x, y, buckets) if len(x) else None
    return raw, smoothed, count


def build_spec(history: History, keys: LossKeys, findings: Sequence[Finding],
               options: ChartOptions, width: int, height: int,
               smoothers: SmootherCache | None = None,
               marks: Sequence[tuple[float, str]] = ()) -> ChartSpec:
    """Everything the chart shows, reduced to the chart's width. Call holding history.lock.
    ``marks``: (epoch, label) drawn as extra vertical lines (a warning's evidence)."""
    spec = ChartSpec(width, height, options)
    buckets = chart_buckets(width)
    wanted: list[tuple[str, str, int]] = []
    mode = options.series
    if keys.train and mode != "val + subsets":
        wanted.append((keys.train, "train", TRAIN_COLOR))
    if keys.val:
        wanted.append((keys.val, "val", VAL_COLOR))
    if mode != "train + val":
        for i, (subset, column) in enumerate(sorted(keys.subsets.items())):
            faint = options.focus_subset is not None and subset != options.focus_subset
            wanted.append((column, f"val[{subset}]",
                           FAINT_COLOR if faint else SUBSET_COLORS[i % len(SUBSET_COLORS)]))
    if not wanted:
        names = [n for n in history.epochs.names if "[" not in n][:2]
        wanted = [(n, n, c) for n, c in zip(names, (TRAIN_COLOR, VAL_COLOR), strict=False)]
    for i, (column, label, color) in enumerate(wanted):
        raw, smoothed, count = _series(history, column, options, buckets, smoothers)
        spec.points_in += count
        glyph = MONO_MARKERS[i % len(MONO_MARKERS)]
        if smoothed is not None and raw is not None:
            spec.lines.append(Line(f"{label} raw", raw[0], raw[1], FAINT_COLOR, glyph, faint=True))
            spec.lines.append(Line(label, smoothed[0], smoothed[1], color, glyph))
        elif raw is not None:
            spec.lines.append(Line(label, raw[0], raw[1], color, glyph))
    if not spec.lines:
        spec.empty_message = ("waiting for the first epoch…" if not len(history.epochs)
                              else "no loss column to plot (try --train-key / --val-key)")
        return spec
    first_x = min(float(line.x[0]) for line in spec.lines if len(line.x))
    last_x = max(float(line.x[-1]) for line in spec.lines if len(line.x))
    if mode != "val + subsets":
        steps_line = _per_step_line(history, keys, options, buckets, first_x)
        if steps_line is not None:
            spec.lines.insert(0, steps_line)  # drawn first: behind the epoch curves
    if keys.val:
        spec.best = _best(history, keys.val, first_x, options.log_y)
        if spec.best is not None and spec.best[0] > last_x:
            spec.best = None  # outside a detail's range
    for number, finding in enumerate((f for f in findings if f.active), start=1):
        if finding.since_epoch >= first_x:
            spec.markers.append(VerticalMarker(
                float(finding.since_epoch), str(number),
                f"{number} {finding.id.replace('_', ' ')} since {finding.since_epoch}",
                SEVERITY_COLORS.get(int(finding.severity), 214)))
    for epoch, label in marks:
        if first_x <= epoch <= last_x:
            spec.markers.append(VerticalMarker(epoch, label, f"{label} @{epoch:g}", MARK_COLOR))
    return spec


def _per_step_line(history: History, keys: LossKeys, options: ChartOptions, buckets: int,
                   first_x: float) -> Line | None:
    """A mixed run (epoch records and more step records): its per-step training loss as a
    faint line on the epoch axis. A run judged by steps has its steps on the axis already."""
    steps = history.steps
    if history.index_unit != "epoch" or len(steps) <= len(history.epochs):
        return None
    column = keys.train if keys.train in steps else resolve_loss_keys(steps.names).train
    if column is None or column not in steps:
        return None
    from lstm_top.steps import steps_on_epoch_axis

    x, y = steps_on_epoch_axis(history), steps.column(column)
    present = steps.present(column)
    x, y = x[present], y[present]
    # The epoch curves' range (their window or detail range) minus the epoch that leads to it.
    low = first_x - 1 if options.window is not None or options.x_range is not None else -np.inf
    high = options.x_range[1] if options.x_range is not None else np.inf
    keep = (x > low) & (x <= high)
    x, y = finite_points(x[keep], y[keep], options.log_y)
    if not len(x):
        return None
    rx, ry = reduce_minmax(x, y, buckets)
    return Line("train per step", rx, ry, FAINT_COLOR, "·", faint=True, in_legend=True)


def _best(history: History, column: str, first_x: float, log_y: bool
          ) -> tuple[float, float] | None:
    values = history.epochs.column(column)
    present = history.epochs.present(column) & np.isfinite(values)
    if log_y:
        present &= values > 0
    if not present.any():
        return None
    masked = np.where(present, values, np.inf)
    at = int(np.argmin(masked))
    epoch = float(history.epochs.index[at])
    return (epoch, float(values[at])) if epoch >= first_x else None


def build_overlay_spec(runs: Iterable[tuple[str, History, LossKeys]], options: ChartOptions,
                       width: int, height: int) -> ChartSpec:
    """Val loss of several runs on one chart; colours by run position, so they stay stable."""
    spec = ChartSpec(width, height, options)
    buckets = chart_buckets(width)
    raw_options = ChartOptions(options.log_y, None, options.window, options.series,
                               options.color)
    for i, (name, history, keys) in enumerate(runs):
        column = keys.val or keys.train
        if column is None:
            continue
        with history.lock:
            raw, _, count = _series(history, column, raw_options, buckets, None)
        spec.points_in += count
        if raw is not None:
            spec.lines.append(Line(name, raw[0], raw[1], RUN_COLORS[i % len(RUN_COLORS)],
                                   MONO_MARKERS[i % len(MONO_MARKERS)]))
    if not spec.lines:
        spec.empty_message = "no run has a validation loss yet"
    return spec


def _nice_ticks(lo: float, hi: float, count: int) -> list[int]:
    """Integer epoch ticks at a round step."""
    span = max(1.0, hi - lo)
    raw_step = span / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw_step)) if raw_step > 0 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    step = max(1, int(step))
    first = int(math.ceil(lo / step) * step)
    return list(range(first, int(hi) + 1, step))


def render(spec: ChartSpec) -> str:
    """The chart as text with ANSI colour codes (plain text when colour is off)."""
    if spec.empty_message is not None or spec.width < 10 or spec.height < 4:
        return spec.empty_message or ""
    global _figure_used
    color = spec.options.color
    with _PLOT_LOCK:
        fig = plotext.figure
        if _figure_used:  # not tidied since the last render
            fig.clear()
        _figure_used = True
        fig.plot_size(spec.width, spec.height)
        fig.theme("simple" if color else "colorless")
        fig.legend(active=False)
        lo = min(float(line.x[0]) for line in spec.lines if len(line.x))
        hi = max(float(line.x[-1]) for line in spec.lines if len(line.x))
        for line in spec.lines:
            if color:
                marker = plotext.marker("braille", pixel=plotext.pixel(foreground=line.color))
            else:
                marker = plotext.marker(line.glyph if not line.faint else "·")
            signal = fig.signal(line.x.tolist(), line.y.tolist(), marker=marker)
            if color or line.faint:
                signal.lines()
            fig.draw(signal)
        for mark in spec.markers:
            pixel = plotext.pixel(foreground=mark.color) if color else plotext.pixel()
            fig.line(mark.epoch, orientation="vertical", pixel=pixel, style="dotted")
        if spec.best is not None:
            best_pixel = plotext.pixel(foreground=BEST_COLOR) if color else plotext.pixel()
            fig.draw(fig.signal([spec.best[0]], [spec.best[1]],
                                marker=plotext.marker("◆", pixel=best_pixel)))
        if spec.options.log_y:
            fig.ruler("y").scale("log")
        ticks = _nice_ticks(lo, hi, max(2, spec.width // 12))
        if ticks:
            fig.ruler("x").ticks([float(t) for t in ticks], [str(t) for t in ticks])
        if hi <= lo:  # a single epoch: give the axis some room
            fig.ruler("x").lim(lo - 1, hi + 1)
        _flat_y_axis(fig, spec)
        text: str = fig.build().string(colorless=not color)
    # plotext 6 paints full-canvas lines on a white background whatever pixel is given; on a
    # dark terminal that is a glaring bar, so the background code is dropped.
    return text.replace(_WHITE_BACKGROUND, "")


def tidy() -> None:
    """Clear the figure of the last render now, ahead of the next one (which then need not).
    Never waits: while a render is in progress, that render's successor clears it itself."""
    global _figure_used
    if not _PLOT_LOCK.acquire(blocking=False):
        return
    try:
        if _figure_used:
            plotext.figure.clear()
            _figure_used = False
    finally:
        _PLOT_LOCK.release()


def _flat_y_axis(fig: Any, spec: ChartSpec) -> None:
    """One value on the whole y axis (a single finite point, a flat line): plotext labels
    its degenerate range with every digit ("300296228044800.8", 17 columns of an 80-column
    chart); the value gets room around it and one label in the metrics table's words."""
    finite = [y[np.isfinite(y)] for y in (line.y for line in spec.lines) if len(y)]
    values = np.concatenate(finite) if finite else np.empty(0)
    if not len(values):
        return
    lo, hi = float(values.min()), float(values.max())
    if hi - lo > 1e-9 * max(abs(lo), abs(hi)):
        return
    if spec.options.log_y and lo > 0:  # plotext takes a log axis' limits as log10
        fig.ruler("y").lim(math.log10(lo / 2), math.log10(lo * 2))
    else:
        pad = abs(lo) * 0.1 or 1.0
        fig.ruler("y").lim(lo - pad, lo + pad)
    fig.ruler("y").ticks([lo], [format_value(lo)])


def legend_entries(spec: ChartSpec) -> list[tuple[str, int | None]]:
    """(text, colour) pieces of the legend line under the chart."""
    entries: list[tuple[str, int | None]] = []
    color = spec.options.color
    for line in spec.lines:
        if line.faint and not line.in_legend:
            continue
        glyph = ("┈┈" if line.faint else "━━") if color else line.glyph * 2
        entries.append((f"{glyph} {line.label}", line.color if color else None))
    if spec.best is not None:
        entries.append((f"◆ best val {format_value(spec.best[1])} @{int(spec.best[0])}",
                        BEST_COLOR if color else None))
    for mark in spec.markers:
        entries.append((f"┊{mark.title}", mark.color if color else None))
    return entries

