"""subset_gap: validation loss differs across named validation subsets by more than noise.

Subsets are logged as ``val_loss[NAME]`` with sample counts ``n[NAME]`` and, optionally, the
per-sample standard deviation ``val_loss_std[NAME]``. Each epoch the worst subset is compared
with the others pooled: with n and std logged, by Welch's t-test (the gap must be unlikely as
sampling noise); without them, by its ratio alone with a stricter bar. The gap must also be big
enough to matter and hold for consecutive epochs. A gap that keeps widening is reported too.
"""

from __future__ import annotations

import math
from collections import deque

from lstm_top.signs.base import Detector, Severity, SignContext, fmt
from lstm_top.signs.stats import rounded, theil_sen_slope, welch_t

REMEDY = ("Inspect the composition of the worst subset (length, source, class balance, time "
          "period) against the training data; use stratified train/validation splits; "
          "re-weight or over-sample the under-served group; augment data for it; report "
          "per-subset metrics, not just the average.")

# |t| above 4: with a handful of subsets watched over many epochs, a looser bar (2, i.e. 5%)
# would be crossed by chance sooner or later.
WELCH_T_MIN = 4.0
# The worst subset at least 10% above the others: a smaller gap may be real but rarely matters.
MIN_RATIO_TESTED = 1.10
# Without std/n there is no test: demand a 25% gap.
MIN_RATIO_UNTESTED = 1.25
# Two consecutive validation epochs (three untested): one odd evaluation is not a pattern.
CONSECUTIVE_TESTED = 2
CONSECUTIVE_UNTESTED = 3
# The gap widening: its log-ratio trend over the last 8 epochs adds 20% over that window.
DRIFT_WINDOW = 8
DRIFT_MIN = math.log(1.2)
# A subset twice as bad as the rest is critical: the average hides a failing group.
CRITICAL_RATIO = 2.0


def _pooled(stats: list[tuple[float, float | None, float | None]]
            ) -> tuple[float, float | None, float | None]:
    """Mean, std and n of the union of subsets given each one's (mean, std, n)."""
    if all(n is not None and n > 0 for _, _, n in stats):
        total = sum(n for _, _, n in stats if n is not None)
        mean = sum(m * n for m, _, n in stats if n is not None) / total
        if all(s is not None for _, s, _ in stats):
            second = sum(n * (s * s + m * m) for m, s, n in stats
                         if n is not None and s is not None) / total
            return mean, math.sqrt(max(second - mean * mean, 0.0)), total
        return mean, None, total
    return sum(m for m, _, _ in stats) / len(stats), None, None


class SubsetGap(Detector):
    sign_id = "subset_gap"
    remedy = REMEDY

    def __init__(self) -> None:
        super().__init__()
        self.consecutive = 0
        self.worst_name: str | None = None
        self.log_ratios: deque[float] = deque(maxlen=DRIFT_WINDOW)
        self.first_ratio: float | None = None

    def _advance(self, context: SignContext, start: int, stop: int) -> None:
        subsets = context.keys.subsets
        if len(subsets) < 2:
            return
        epochs = context.epochs
        names = sorted(subsets)
        table = context.history.epochs
        columns = []
        for name in names:
            std_column = context.keys.subset_std_column(name) or ""
            columns.append((name, *context.series(subsets[name]),
                            *context.series(context.keys.subset_count_column(name)
                                            if context.keys.subset_count_column(name) in table
                                            else None),
                            *context.series(std_column if std_column in table else None)))
        for row in range(start, stop):
            stats = {}
            for name, loss, loss_ok, count, count_ok, std, std_ok in columns:
                if loss_ok[row] and math.isfinite(loss[row]):
                    stats[name] = (float(loss[row]),
                                   float(std[row]) if std_ok[row] else None,
                                   float(count[row]) if count_ok[row] else None)
            if len(stats) >= 2:
                self._observe(int(epochs[row]), stats)

    def _observe(self, epoch: int, stats: dict[str, tuple[float, float | None, float | None]]
                 ) -> None:
        worst = max(stats, key=lambda name: stats[name][0])
        mean, std, count = stats[worst]
        rest_mean, rest_std, rest_count = _pooled([v for k, v in stats.items() if k != worst])
        ratio = mean / rest_mean if rest_mean > 0 else math.inf
        tested = False
        t_stat: float | None = None
        if (std is not None and count is not None and rest_std is not None
                and rest_count is not None and count > 1 and rest_count > 1):
            tested = True
            t_stat = welch_t(mean, std, count, rest_mean, rest_std, rest_count)
        if math.isfinite(ratio) and ratio > 0:
            self.log_ratios.append(math.log(ratio))
            if self.first_ratio is None:
                self.first_ratio = ratio
        drift = (theil_sen_slope(self.log_ratios) * (len(self.log_ratios) - 1)
                 if len(self.log_ratios) == DRIFT_WINDOW else 0.0)
        if tested:
            gap = t_stat is not None and t_stat >= WELCH_T_MIN and ratio >= MIN_RATIO_TESTED
            needed = CONSECUTIVE_TESTED
        else:
            gap = ratio >= MIN_RATIO_UNTESTED
            needed = CONSECUTIVE_UNTESTED
        widening = drift >= DRIFT_MIN and ratio >= MIN_RATIO_TESTED and (not tested or gap)
        if (gap or widening) and (self.worst_name in (None, worst)):
            self.consecutive += 1
        elif gap or widening:
            self.consecutive = 1
        else:
            self.consecutive = 0
        self.worst_name = worst
        if self.consecutive < needed:
            if self.consecutive == 0:
                self.tracker.clear(epoch)
            return
        others = ", ".join(f"{name} {fmt(value[0])}" for name, value in sorted(stats.items())
                           if name != worst)
        severity = Severity.CRITICAL if ratio >= CRITICAL_RATIO else Severity.WARNING
        how = (f"Welch t = {t_stat:.1f}" if t_stat is not None and math.isfinite(t_stat)
               else "std/n not logged: ratio only")
        message = (f"subset '{worst}' val loss {fmt(mean)} is {ratio:.2f}x the others "
                   f"({others}); {how}" + ("; the gap is widening" if widening else ""))
        evidence = {"worst_subset": worst, "worst_loss": rounded(mean),
                    "others_loss": rounded(rest_mean), "ratio": rounded(ratio, 3),
                    "welch_t": rounded(t_stat, 3) if t_stat is not None else None,
                    "n_worst": count, "n_others": rest_count,
                    "first_ratio": rounded(self.first_ratio, 3),
                    "drift_log_ratio_last_epochs": rounded(drift, 3),
                    "widening": widening}
        self.tracker.raise_(epoch, severity, message, evidence)
