"""Small robust statistics the detectors share, all on short fixed-size windows.

Every function here takes a window the caller keeps bounded (a ``deque(maxlen=...)``), so a
detector's cost per new epoch stays constant however long the run is.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

# For Gaussian noise the median absolute deviation is 0.6745 standard deviations.
MAD_TO_SIGMA = 1 / 0.6745
# A second difference x[i] - 2 x[i-1] + x[i-2] of i.i.d. noise has standard deviation sigma*sqrt(6);
# it cancels a locally linear trend, so a falling loss does not read as noise.
SECOND_DIFF_SCALE = math.sqrt(6.0)

LR_KEYS = ("lr", "learning_rate", "Learning Rate", "learning-rate", "lr-Adam", "lr-SGD",
           "lr-AdamW", "optimizer/lr")


def log_or_none(value: float | None) -> float | None:
    """Natural log of a positive finite loss; None for a missing value and for anything a log
    scale cannot hold."""
    if value is not None and value > 0 and math.isfinite(value):
        return math.log(value)
    return None


def median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    count = len(ordered)
    if count == 0:
        return math.nan
    middle = count // 2
    if count % 2:
        return ordered[middle]
    return 0.5 * (ordered[middle - 1] + ordered[middle])


def noise_sigma(window: Sequence[float]) -> float:
    """Robust noise level of a series from its second differences (NaN below 4 points).

    Second differences cancel a linear trend and the median ignores a few spikes, so this
    measures ordinary epoch-to-epoch jitter, not learning progress or one outlier.
    """
    if len(window) < 4:
        return math.nan
    values = list(window)
    triples = zip(values[2:], values[1:-1], values[:-2], strict=True)
    diffs = sorted([abs(a - 2 * b + c) for a, b, c in triples])
    count = len(diffs)
    middle = count // 2
    centre = diffs[middle] if count % 2 else 0.5 * (diffs[middle - 1] + diffs[middle])
    return centre * MAD_TO_SIGMA / SECOND_DIFF_SCALE


def back_and_forth(values: Sequence[float]) -> float:
    """Mean step-to-step movement beyond the net change over ``values``: 0 for a monotone
    series, however steep; large for one that goes up and down."""
    if len(values) < 3:
        return 0.0
    steps = [b - a for a, b in itertools.pairwise(values)]
    return (sum(abs(step) for step in steps) - abs(sum(steps))) / len(steps)


def theil_sen_slope(values: Sequence[float]) -> float:
    """Median of pairwise slopes of equally spaced points: a trend a few outliers cannot bend."""
    count = len(values)
    slopes = [(values[j] - values[i]) / (j - i) for i in range(count) for j in range(i + 1, count)]
    return median(slopes) if slopes else math.nan


def mann_kendall_z(values: Sequence[float]) -> float:
    """Mann–Kendall trend statistic as a z-score (no tie correction; short windows only)."""
    count = len(values)
    if count < 3:
        return 0.0
    s = 0
    for i in range(count):
        for j in range(i + 1, count):
            s += (values[j] > values[i]) - (values[j] < values[i])
    variance = count * (count - 1) * (2 * count + 5) / 18
    if s == 0:
        return 0.0
    return (s - math.copysign(1, s)) / math.sqrt(variance)


def welch_t(mean_a: float, std_a: float, n_a: float, mean_b: float, std_b: float,
            n_b: float) -> float:
    """Welch's t statistic for two sample means with their own variances."""
    standard_error = math.sqrt(std_a * std_a / n_a + std_b * std_b / n_b)
    if standard_error == 0:
        return math.inf if mean_a != mean_b else 0.0
    return (mean_a - mean_b) / standard_error


def find_lr_key(names: Iterable[str]) -> str | None:
    name_set = set(names)
    return next((key for key in LR_KEYS if key in name_set), None)


def rounded(value: float | None, digits: int = 4) -> float | None:
    """A figure for the evidence: a few significant digits, None for missing."""
    if value is None or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


GRAD_NORM_KEYS = ("grad_norm", "gradient_norm", "grad_norm/total", "global_grad_norm",
                  "grad_norm_total", "gradnorm")


def find_grad_norm_key(names: Iterable[str]) -> str | None:
    name_set = set(names)
    return next((key for key in GRAD_NORM_KEYS if key in name_set), None)


# Validation accuracy columns, in the order they are looked for (sample_count.py reads the
# validation set's size off them).
VAL_ACCURACY_KEYS = ("val_accuracy", "val_acc", "val_binary_accuracy",
                     "val_categorical_accuracy", "val_sparse_categorical_accuracy")


def find_val_accuracy_key(names: Iterable[str]) -> str | None:
    name_set = set(names)
    return next((key for key in VAL_ACCURACY_KEYS if key in name_set), None)


def pooled_stats(stats: list[tuple[float, float | None, float | None]]
            ) -> tuple[float, float | None, float | None]:
    """Mean, std and n of the union of subsets given each one's (mean, std, n)."""
    counts = [n for _, _, n in stats]
    if all(n is not None and n > 0 for n in counts):
        total = sum(n for n in counts if n is not None)
        mean = sum(m * n for m, _, n in stats if n is not None) / total
        if all(s is not None for _, s, _ in stats):
            second = sum(n * (s * s + m * m) for m, s, n in stats
                         if n is not None and s is not None) / total
            return mean, math.sqrt(max(second - mean * mean, 0.0)), total
        return mean, None, total
    return sum(m for m, _, _ in stats) / len(stats), None, None
