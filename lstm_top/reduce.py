"""Display reduction: make a series of any length cheap to draw, without hiding what matters.

A plot ``width`` cells wide (two braille dots per cell) cannot show more than ``2 * width``
distinct x positions, so a series is cut into that many buckets and each bucket keeps its
minimum and its maximum, in the order they occurred. A one-epoch spike therefore survives the
reduction, and the cost of drawing no longer depends on how long the run is.

Smoothing is an exponential moving average kept incrementally: a new epoch costs one step, not a
pass over the whole history. Everything here is numpy only — no Textual, no plotext.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Two braille dots per terminal cell horizontally.
DOTS_PER_CELL = 2


def finite_points(x: np.ndarray, y: np.ndarray, positive_only: bool = False
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Drop NaN/inf (and, for a log axis, values <= 0): they cannot be placed on the chart."""
    keep = np.isfinite(y)
    if positive_only:
        keep &= y > 0
    if keep.all():
        return x, y
    return x[keep], y[keep]


def reduce_minmax(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``4 * buckets`` points: per bucket of equal x-extent, its first, min, max and
    last values (the "M4" reduction), so spikes survive and lines join where they should.

    ``x`` must be sorted ascending (epoch numbers are) and ``y`` finite. Short inputs are
    returned as they are. Vectorised: a million points take a few milliseconds.
    """
    count = len(x)
    if buckets <= 0 or count <= 4 * buckets:
        return x, y
    lo, hi = float(x[0]), float(x[-1])
    if hi <= lo:
        return x[:1], y[:1]
    # Bucket by x value, not by position, so gaps in the epochs keep their width.
    edges = np.linspace(lo, hi, buckets + 1)
    starts = _distinct_sorted(np.searchsorted(x, edges[:-1], side="left"))
    starts = starts[starts < count]
    ends = np.append(starts[1:], count) - 1
    mins = np.minimum.reduceat(y, starts)
    maxs = np.maximum.reduceat(y, starts)
    middle = (x[starts] + x[ends]) / 2.0
    out_x = np.column_stack((x[starts], middle, middle, x[ends])).ravel().astype(float)
    out_y = np.column_stack((y[starts], mins, maxs, y[ends])).ravel()
    return out_x, out_y


def _distinct_sorted(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of an ascending array, without its masked-array check: that imports
    ``numpy.ma`` (tens of milliseconds), on the way to a large file's first frame."""
    if len(values) < 2:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def window(x: np.ndarray, y: np.ndarray, last: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The last ``last`` epochs (by epoch number, not by count of logged points); None = all."""
    if last is None or not len(x):
        return x, y
    start = np.searchsorted(x, x[-1] - last + 1, side="left")
    return x[start:], y[start:]


@dataclass
class IncrementalEma:
    """EMA of one growing series; ``update`` only walks the values that arrived since last time.

    ``weight`` is the share of the previous smoothed value (0 = no smoothing). NaN values are
    skipped: the smoothed line carries its last value through them, as a reader's eye would.
    """

    weight: float
    _values: np.ndarray = field(default_factory=lambda: np.empty(0))
    _done: int = 0
    _last: float = math.nan

    def update(self, values: np.ndarray) -> np.ndarray:
        count = len(values)
        if count < self._done:  # the series was replaced (a new run): start over
            self._done, self._last = 0, math.nan
        if len(self._values) < count:
            grown = np.empty(max(count, 2 * len(self._values), 64))
            grown[: self._done] = self._values[: self._done]
            self._values = grown
        weight, last = self.weight, self._last
        out = self._values
        # A plain loop: the recurrence is sequential, and it only ever runs over new values.
        for i in range(self._done, count):
            value = float(values[i])
            if math.isfinite(value):
                last = value if last != last else weight * last + (1.0 - weight) * value
            out[i] = last
        self._done, self._last = count, last
        return out[:count]


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """One-shot EMA (see IncrementalEma)."""
    return IncrementalEma(weight).update(values).copy()


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """One row of the metrics table."""

    name: str
    latest: float | None
    latest_epoch: int | None
    best: float | None
    best_epoch: int | None
    change: float | None  # latest minus the value ``lookback`` logged points earlier
    higher_is_better: bool


_HIGHER_IS_BETTER_HINTS = ("acc", "auc", "f1", "precision", "recall", "iou", "dice", "r2",
                           "bleu", "map", "score")
_NEUTRAL_HINTS = ("lr", "learning_rate", "grad", "norm", "n[", "time", "epoch", "momentum",
                  "_std")


# What a history logs beside a loss to describe it, not to be improved: the validation set's
# size and per-sample spread (val_n, n[...], val_loss_std, ...) and the constant guess's loss
# (format.CONSTANT_GUESS_METRIC). A "best" of those would read as progress.
_DESCRIPTIVE_SUFFIXES = ("_std", "_n", "constant_guess_loss")


def higher_is_better(name: str) -> bool | None:
    """True for accuracies and scores, False for losses and errors, None for neither (lr, a
    sample count, a spread, a reference level)."""
    lower = name.lower()
    base = lower.split("[", 1)[0]  # a subset's column: n[rare], val_loss_std[rare]
    if base in ("n", "val_n") or base.endswith(_DESCRIPTIVE_SUFFIXES):
        return None
    if any(hint in lower for hint in _NEUTRAL_HINTS) and "loss" not in lower:
        return None
    return "loss" not in lower and any(hint in lower for hint in _HIGHER_IS_BETTER_HINTS)


def summarize(name: str, index: np.ndarray, values: np.ndarray, present: np.ndarray,
              lookback: int = 5) -> MetricSummary:
    """Latest value, best value and its epoch, and the change over the last ``lookback``."""
    logged = values[present]
    epochs = index[present]
    direction = higher_is_better(name)
    if not len(logged):
        return MetricSummary(name, None, None, None, None, None, bool(direction))
    latest = float(logged[-1])
    best = best_epoch = None
    finite = np.isfinite(logged)
    if direction is not None and finite.any():
        masked = np.where(finite, logged, -np.inf if direction else np.inf)
        at = int(np.argmax(masked) if direction else np.argmin(masked))
        best, best_epoch = float(logged[at]), int(epochs[at])
    change = None
    if len(logged) > 1:
        earlier = float(logged[max(0, len(logged) - 1 - lookback)])
        if math.isfinite(earlier) and math.isfinite(latest):
            change = latest - earlier
    return MetricSummary(name, latest, int(epochs[-1]), best, best_epoch, change,
                         bool(direction))


def format_value(value: float | None, digits: int = 4) -> str:
    """``digits`` significant digits whatever the scale (losses span 1e-6 .. 1e5); at most
    three in exponent form, which fits a 7-cell column."""
    if value is None:
        return "–"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        # "6.8e-5", not "6.80e-05": table columns are 7 cells wide
        mantissa, exponent = f"{value:.{min(digits, 3) - 1}e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    if abs(value) >= 10 ** digits:  # 1000 with 3 digits reads "1000", not "1e+03"
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def format_age(seconds: float | None) -> str:
    """How long ago, roughly: "40 s", "12 min", "5 h", "3 d"."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
