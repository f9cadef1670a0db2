"""train_plateau: the training loss is not moving — the model has learned (almost) nothing.

Not "the loss flattened after learning" (that is convergence): the loss is still within ~10% of
where it started. Reported at info level after a few epochs and at warning level once it has
lasted long enough that slow starters (warm-up, a noisy first phase) have had their chance.
A plateau at ln(k) for a small integer k is reported as chance level for k classes.
"""

from __future__ import annotations

import math
from collections import deque

from lstm_top.signs.base import Detector, Severity, SignContext, fmt, value_at
from lstm_top.signs.stats import log_or_none, median, rounded, theil_sen_slope

REMEDY = ("Raise the learning rate (try 3-10x) or use a schedule with warm-up; check the "
          "initialisation and for dead units (ReLU) or saturated gates; verify that labels "
          "match inputs and the loss matches the output layer (logits vs probabilities); "
          "try to overfit a single batch to test the pipeline.")

START_WINDOW = 3
LEVEL_WINDOW = 5
# Less than ~5% below the start level: nothing a user would call learning (a real run that
# crept 7-10% in its first 30 epochs, then learned, was seen; it is not a plateau).
MAX_PROGRESS = 0.05
# ... and still not moving: the Theil-Sen trend over the last 10 epochs adds up to under 2%
# (a slow but steady descent is learning, however slow).
TREND_WINDOW = 10
MAX_TREND_CHANGE = 0.02
# After 8 epochs a flat loss is worth a hint; after 20 a warning — real runs that start slowly
# (warm-up, a hard first phase) have been seen flat for ~15 epochs and then learn.
INFO_AFTER_EPOCHS = 8
WARNING_AFTER_EPOCHS = 20
# A plateau within 1% of ln(k) is called chance level for k classes.
CHANCE_TOLERANCE = 0.01
MAX_CHANCE_CLASSES = 1000


def chance_classes(loss: float) -> int | None:
    """k when the loss equals ln(k) (cross-entropy of a uniform guess over k classes)."""
    if not 0.5 < loss < math.log(MAX_CHANCE_CLASSES) + 0.1:
        return None
    classes = round(math.exp(loss))
    if classes >= 2 and abs(math.log(classes) - loss) <= CHANCE_TOLERANCE * loss:
        return classes
    return None


class TrainPlateau(Detector):
    sign_id = "train_plateau"
    remedy = REMEDY

    def __init__(self) -> None:
        super().__init__()
        self.start: list[float] = []
        self.recent: deque[float] = deque(maxlen=LEVEL_WINDOW)
        self.trend_window: deque[float] = deque(maxlen=TREND_WINDOW)
        self.count = 0
        self.best_log = math.inf

    def _advance(self, context: SignContext, start: int, stop: int) -> None:
        if self.started_late:
            return  # the start of the run was skipped: "no progress since the start" is unknown
        epochs = context.epochs
        values, present = context.series(context.keys.train)
        for row in range(start, stop):
            value = value_at(values, present, row)
            value_log = log_or_none(value)
            if value_log is not None:
                self._observe(int(epochs[row]), value_log)

    def _observe(self, epoch: int, value_log: float) -> None:
        self.count += 1
        if len(self.start) < START_WINDOW:
            self.start.append(value_log)
        self.recent.append(value_log)
        self.trend_window.append(value_log)
        self.best_log = min(self.best_log, value_log)
        if self.count < INFO_AFTER_EPOCHS:
            return
        start_level = median(self.start)
        level = median(self.recent)
        progress = start_level - level
        # A run that learned and then came back up is diverging, not stuck.
        learned_once = start_level - self.best_log > 2 * MAX_PROGRESS
        trend_change = theil_sen_slope(self.trend_window) * (len(self.trend_window) - 1)
        # Hysteresis: an open plateau closes only on clearly more progress than opened it, so
        # a loss hovering at the bar does not flap between open and closed.
        slack = 1.5 if self.tracker.current is not None else 1.0
        if (progress >= slack * MAX_PROGRESS or learned_once
                or abs(trend_change) >= slack * MAX_TREND_CHANGE):
            self.tracker.clear(epoch)
            return
        severity = Severity.WARNING if self.count >= WARNING_AFTER_EPOCHS else Severity.INFO
        loss = math.exp(level)
        classes = chance_classes(loss)
        chance = f", ln({classes}) = chance level for {classes} classes" if classes else ""
        message = (f"train loss {fmt(loss)} is only {max(progress, 0) * 100:.1f}% below where "
                   f"it started ({fmt(math.exp(start_level))}) after {self.count} epochs"
                   f"{chance}")
        evidence = {"start_level": rounded(math.exp(start_level)), "level": rounded(loss),
                    "progress_pct": rounded(progress * 100, 3), "epochs": self.count,
                    "trend_last_epochs_pct": rounded(trend_change * 100, 3),
                    "chance_level_classes": classes}
        self.tracker.raise_(epoch, severity, message, evidence)
