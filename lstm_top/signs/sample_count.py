"""The size of a validation set read off its accuracy's granularity.

A validation accuracy is a count over a count: k correct of n samples. Keras' CSVLogger,
Lightning's epoch-level metrics and most hand-written loops log it as exactly k/n (to float32
precision), so the set of values a run logs tells n: the smallest n for which every one of them
is a whole number of samples. Where a history logs no ``val_n`` (a Keras CSV), that is how big
the validation set is, and so how far its loss can wander by sampling alone.

Kept strict, because a wrong n is worse than none: every value must be k/n to within four
float32 ulps, at least four distinct values must agree before an n is given, and n is at most
``MAX_COUNT`` (beyond it the grid is finer than float32 can show). An accuracy averaged over
batches of unequal size, or over a set re-drawn each epoch, fits no common n and gives None.
"""

from __future__ import annotations

import math

MAX_COUNT = 5000
MIN_DISTINCT_VALUES = 4
# float32 keeps 24 bits: a value k/n is off by at most ~6e-8 relatively, 4 ulps to be safe.
FLOAT32_SLACK = 2.4e-7


def whole_counts(value: float, candidates: range | set[int]) -> set[int]:
    """The n among ``candidates`` for which ``value`` is k/n (k whole) to float32 precision."""
    return {n for n in candidates
            if abs(value * n - round(value * n)) <= FLOAT32_SLACK * n + 1e-9}


class SampleCount:
    """Running inference of n from the accuracies seen so far (causal, bounded cost: the
    candidates are found once, from the first value, and only shrink)."""

    def __init__(self) -> None:
        self.candidates: set[int] | None = None
        self.distinct: set[float] = set()
        self.failed = False

    def observe(self, accuracy: float) -> None:
        if self.failed or accuracy in self.distinct:
            return
        if not (0.0 < accuracy < 1.0) or not math.isfinite(accuracy):
            if accuracy not in (0.0, 1.0):  # an accuracy outside [0, 1] is not a share
                self.failed = True
            return
        self.distinct.add(accuracy)
        pool = range(2, MAX_COUNT + 1) if self.candidates is None else self.candidates
        self.candidates = whole_counts(accuracy, pool)
        if not self.candidates:
            self.failed = True

    @property
    def count(self) -> int | None:
        """The validation set's size, once enough distinct values agree on one; else None."""
        if self.failed or not self.candidates or len(self.distinct) < MIN_DISTINCT_VALUES:
            return None
        return min(self.candidates)
