"""diverging_loss: the training loss climbs far above its best and keeps rising, or blows up.

Judged on the training loss (the validation loss when no training loss is logged): a rising
validation loss alone is overfitting or oscillation, not divergence. The level is the median of
the last three epochs, so a single spike does not count; "far above" compares that level with
the lowest level seen so far. A loss that should be non-negative and instead runs off towards
minus infinity (a broken loss function, e.g. a log of a probability above one) counts too.
"""

from __future__ import annotations

import math
from collections import deque

from lstm_top.signs.base import Detector, Severity, SignContext, fmt, value_at
from lstm_top.signs.stats import log_or_none, median, noise_sigma, rounded

REMEDY = ("Lower the learning rate (often 3-10x); clip gradients (clipnorm=1.0 / "
          "clip_grad_norm_); add learning-rate warm-up; check the loss function for sign "
          "errors or unbounded terms (a loss that goes negative without bound is broken); "
          "normalise inputs and targets; restart from the last good checkpoint.")

LEVEL_WINDOW = 3
# Level 3x above its best: beyond any bump a healthy run shows after its first epochs, while
# learning-rate spikes of a few tens of percent stay well below.
DIVERGE_FACTOR = 3.0
# ... and 4 noise sigmas of the (log) training loss above it: a loss that jumps 5x between
# epochs as a matter of course is noisy, not diverging.
NOISE_SIGMAS = 4.0
NOISE_WINDOW = 12
# ... 30x above its best is past recovery by itself: critical.
CRITICAL_FACTOR = 30.0
# A magnitude 1000x the start value is an explosion whatever the sign.
EXPLODE_FACTOR = 1000.0
# Negative and 10x the start magnitude, and still growing: the loss has no lower bound.
NEGATIVE_FACTOR = 10.0


class _Watch:
    """Running state of one watched loss column."""

    def __init__(self) -> None:
        self.recent: deque[float] = deque(maxlen=LEVEL_WINDOW)
        self.log_window: deque[float] = deque(maxlen=NOISE_WINDOW)
        self.previous_level: float | None = None
        self.best_level = math.inf
        self.best_epoch = 0
        self.start_magnitude: float | None = None
        self.count = 0


class DivergingLoss(Detector):
    sign_id = "diverging_loss"
    remedy = REMEDY

    def __init__(self) -> None:
        super().__init__()
        self.train_watch = _Watch()
        self.val_watch = _Watch()
        self.train_seen = False

    def _advance(self, context: SignContext, start: int, stop: int) -> None:
        epochs = context.epochs
        train_values, train_present = context.series(context.keys.train)
        val_values, val_present = context.series(context.keys.val)
        for row in range(start, stop):
            # The training loss decides; the validation loss stands in only while no training
            # loss has been logged at all (decided row by row, so a live run and a file agree).
            train = value_at(train_values, train_present, row)
            if train is not None:
                self.train_seen = True
                if math.isfinite(train):  # NaN/inf is nonfinite_loss's finding
                    self._observe(context, row, int(epochs[row]), train, self.train_watch,
                                  context.keys.train or "loss")
                continue
            val = value_at(val_values, val_present, row)
            if not self.train_seen and val is not None and math.isfinite(val):
                self._observe(context, row, int(epochs[row]), val, self.val_watch,
                              context.keys.val or "val_loss")

    def _observe(self, context: SignContext, row: int, epoch: int, value: float,
                 watch: _Watch, key: str) -> None:
        watch.count += 1
        watch.recent.append(value)
        value_log = log_or_none(value)
        if value_log is not None:
            watch.log_window.append(value_log)
        if watch.count < LEVEL_WINDOW:
            return
        level = median(watch.recent)
        if watch.start_magnitude is None:
            watch.start_magnitude = abs(level)
        rising = watch.previous_level is not None and level > watch.previous_level
        falling = watch.previous_level is not None and level < watch.previous_level
        watch.previous_level = level
        if level < watch.best_level:
            watch.best_level, watch.best_epoch = level, epoch
        start = watch.start_magnitude
        exploded = start > 0 and abs(level) >= EXPLODE_FACTOR * start
        unbounded_negative = level < 0 and start > 0 and -level >= NEGATIVE_FACTOR * start \
            and falling
        sigma = noise_sigma(watch.log_window)
        factor = DIVERGE_FACTOR if math.isnan(sigma) else max(DIVERGE_FACTOR,
                                                              math.exp(NOISE_SIGMAS * sigma))
        far_above = (watch.best_level > 0 and level >= factor * watch.best_level and rising)
        if not (exploded or unbounded_negative or far_above):
            if self.tracker.current is not None and not (
                    watch.best_level > 0 and level >= factor * watch.best_level):
                self.tracker.clear(epoch)
            return
        ratio = level / watch.best_level if watch.best_level > 0 else math.inf
        severity = Severity.WARNING
        if exploded or unbounded_negative or ratio >= CRITICAL_FACTOR:
            severity = Severity.CRITICAL
        lr = context.lr_at(row)
        if unbounded_negative:
            message = (f"{key} {fmt(value)} is negative and still falling, {(-level / start):.0f}x "
                       f"its starting magnitude: the loss has no lower bound")
        elif exploded and not far_above:
            message = (f"{key} magnitude {fmt(abs(level))} is {abs(level) / start:.0f}x its "
                       f"starting value: the loss is exploding")
        else:
            message = (f"{key} {fmt(value)} is {ratio:.1f}x its best {fmt(watch.best_level)} "
                       f"(epoch {watch.best_epoch}) and rising: training is diverging")
        evidence = {
            "loss_key": key,
            "level": rounded(level),
            "best_level": rounded(watch.best_level),
            "best_epoch": watch.best_epoch,
            "ratio_to_best": rounded(ratio, 3),
            "start_magnitude": rounded(start),
            "lr": rounded(lr) if lr is not None else None,
        }
        self.tracker.raise_(epoch, severity, message, evidence)
