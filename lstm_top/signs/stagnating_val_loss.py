"""stagnating_val_loss: validation loss stopped improving while training loss keeps falling.

The model is memorising the training set: the generalisation gap widens. Judged in log space so
the same rule holds for a loss of 1e-4 and of 1e4. Following Prechelt's generalisation loss,
the reference is the best validation loss so far; on top of "no new best for a while", the
training loss must have fallen since that best and the log-gap between the two curves must have
grown by clearly more than the validation noise — that is what keeps ordinary noise, slow late
convergence and a learning-rate drop (both curves fall together) silent.
"""

from __future__ import annotations

import math
from collections import deque

from lstm_top.signs.base import Detector, Severity, SignContext, fmt, value_at
from lstm_top.signs.stats import log_or_none, median, noise_sigma, rounded
from lstm_top.signs.swings import SwingCounter

REMEDY = ("Regularise: dropout / recurrent dropout, L1-L2 weight decay; use a smaller model; "
          "stop early and restore the best epoch (EarlyStopping(restore_best_weights=True)); "
          "get more (or augmented) training data.")

# Fewer validation epochs without a new best than this is indistinguishable from noise on a
# converging curve, and Keras' EarlyStopping(patience=10) waits 10: 3 leaves room to be earlier.
MIN_EPOCHS_SINCE_BEST = 3
# Training loss must have fallen by at least ~3% since the best validation epoch: a flat training
# loss with a flat validation loss is convergence (or a plateau), not overfitting.
MIN_TRAIN_DROP = 0.03
# ... and by 3 of its own noise sigmas: a training loss logged from single noisy batches can
# "fall" 10% between two epochs by chance. (4 sigmas was tried: no fewer false alarms on the
# noisy healthy runs once the noise window was 24 epochs, but later warnings: the real runs'
# lead over EarlyStopping fell from 7/7 to 6/7.)
TRAIN_DROP_NOISE_SIGMAS = 3.0
# Over the last 10 validation epochs (half the run, at least 5, on short runs: a longer window
# would reach back into the first epochs' steep descent) the validation loss must have kept
# less than a quarter of the training loss's pace: slow late convergence has both curves
# falling, just at a ratio, and over 5 epochs noise can hide that.
PACE_WINDOW = 10
MIN_PACE_WINDOW = 5
MAX_VAL_PACE = 0.25
# The log-gap between validation and training loss must have grown by at least ~8% since the
# best epoch; smaller growth is within what healthy runs show as both curves flatten.
MIN_GAP_GROWTH = 0.08
# ... and by this many validation noise sigmas: a noisy curve needs a larger gap; 5 keeps the
# excursions of a strongly oscillating curve from reading as a widening gap.
GAP_NOISE_SIGMAS = 5.0
# The validation level must sit this many noise sigmas (or ~1%) above its best: a curve that is
# still making near-best values is still converging, whatever the training loss does.
VAL_RISE_NOISE_SIGMAS = 1.0
MIN_VAL_RISE = 0.01
# Gap growth above log(1.5) (validation/train ratio 50% worse than at the best epoch) reached
# within 10 validation epochs of the best is the "early and large" gap the seed note warns about.
CRITICAL_GAP_GROWTH = math.log(1.5)
CRITICAL_WITHIN_EPOCHS = 10
# Median of the last few points: enough to ignore one odd epoch, few enough to react quickly.
LEVEL_WINDOW = 3
# Noise sigmas from the last 24 epochs: a median of 10 second differences (a 12-epoch window)
# came out at a third to a half of the true noise often enough to open false episodes on noisy
# runs; 24 halves that spread, and second differences keep a converging trend out of it.
NOISE_WINDOW = 24
EARLY_STOPPING_PATIENCE = 10
# Stepping back for oscillation: while the validation loss has swung clearly up and down at
# least twice in the swing window (see swings.py; oscillating_val_loss raises at three), its
# distance from "the best so far" measures where in a swing the curve is, not a widening gap —
# the best is a trough. No new stagnation episode opens then; oscillating_val_loss speaks.
OSCILLATION_PEAKS = 2


class StagnatingValLoss(Detector):
    sign_id = "stagnating_val_loss"
    remedy = REMEDY

    def __init__(self) -> None:
        super().__init__()
        self.train_recent: deque[float] = deque(maxlen=LEVEL_WINDOW)
        self.val_recent: deque[float] = deque(maxlen=LEVEL_WINDOW)
        self.val_noise_window: deque[float] = deque(maxlen=NOISE_WINDOW)
        self.train_noise_window: deque[float] = deque(maxlen=NOISE_WINDOW)
        # (val level, train level) at each validation epoch, for the pace comparison.
        self.levels: deque[tuple[float, float | None]] = deque(maxlen=PACE_WINDOW + 1)
        self.val_count = 0
        self.best_log = math.inf
        self.best_value = math.nan
        self.best_epoch = 0
        self.best_index = 0
        self.train_at_best: float | None = None
        self.swings = SwingCounter()

    def _advance(self, context: SignContext, start: int, stop: int) -> None:
        epochs = context.epochs
        train_values, train_present = context.series(context.keys.train)
        val_values, val_present = context.series(context.keys.val)
        for row in range(start, stop):
            train = value_at(train_values, train_present, row)
            train_log = log_or_none(train)
            if train_log is not None:
                self.train_recent.append(train_log)
                self.train_noise_window.append(train_log)
                self.swings.observe_train(train_log)
            val = value_at(val_values, val_present, row)
            val_log = log_or_none(val)
            if val is not None and val_log is not None:
                self._observe(int(epochs[row]), val_log, float(val))

    def _observe(self, epoch: int, val_log: float, val: float) -> None:
        self.val_count += 1
        self.swings.observe_val(epoch, val_log)
        self.val_recent.append(val_log)
        self.val_noise_window.append(val_log)
        train_level = median(self.train_recent) if self.train_recent else None
        self.levels.append((median(self.val_recent), train_level))
        if val_log < self.best_log:
            self.best_log, self.best_value = val_log, val
            self.best_epoch, self.best_index = epoch, self.val_count
            # The reference training level: median of the last three epochs, or the latest
            # alone before there are three (a median of two is a mean, and the first epoch's
            # loss is often ten times the second's).
            self.train_at_best = (train_level if len(self.train_recent) == LEVEL_WINDOW
                                  else self.train_recent[-1] if self.train_recent else None)
            self.tracker.clear(epoch)
            return
        since = self.val_count - self.best_index
        if since < MIN_EPOCHS_SINCE_BEST or train_level is None or self.train_at_best is None:
            return
        sigma = noise_sigma(self.val_noise_window)
        sigma = 0.0 if math.isnan(sigma) else sigma
        train_sigma = noise_sigma(self.train_noise_window)
        train_sigma = 0.0 if math.isnan(train_sigma) else train_sigma
        val_rise = median(self.val_recent) - self.best_log
        train_drop = self.train_at_best - train_level
        gap_growth = val_rise + train_drop
        pace_window = min(PACE_WINDOW, max(MIN_PACE_WINDOW, self.val_count // 2))
        val_then, train_then = self.levels[max(0, len(self.levels) - 1 - pace_window)]
        val_pace = val_then - self.levels[-1][0]
        train_pace = (train_then - train_level) if train_then is not None else 0.0
        keeping_pace = train_pace > 0 and val_pace > MAX_VAL_PACE * train_pace
        holds = (train_drop >= max(MIN_TRAIN_DROP, TRAIN_DROP_NOISE_SIGMAS * train_sigma)
                 and val_rise >= max(MIN_VAL_RISE, VAL_RISE_NOISE_SIGMAS * sigma)
                 and gap_growth >= max(MIN_GAP_GROWTH, GAP_NOISE_SIGMAS * sigma)
                 and not keeping_pace)
        if not holds:
            if self.tracker.current is not None and train_drop < MIN_TRAIN_DROP / 2:
                self.tracker.clear(epoch)
            return
        severity = Severity.WARNING
        if gap_growth >= CRITICAL_GAP_GROWTH and since <= CRITICAL_WITHIN_EPOCHS:
            severity = Severity.CRITICAL
        current = self.tracker.current
        swinging = (len(self.swings.peaks) >= OSCILLATION_PEAKS
                    or len(self.swings.big_peaks) > 0)
        if current is None and swinging:
            return
        first_epoch = epoch if current is None else current.since_epoch
        # Keras' EarlyStopping(patience=10) stops at the 10th validation epoch after the best.
        stops_in = EARLY_STOPPING_PATIENCE - since
        val_change = math.expm1(val_rise) * 100
        train_change = -math.expm1(-train_drop) * 100
        message = (f"val loss {fmt(math.exp(median(self.val_recent)))} is {val_change:.0f}% above "
                   f"its best {fmt(self.best_value)} (epoch {self.best_epoch}, {since} epochs ago) "
                   f"while train loss fell {train_change:.0f}%: the gap is widening")
        evidence = {
            "best_val_epoch": self.best_epoch,
            "best_val_loss": rounded(self.best_value),
            "epochs_since_best": since,
            "val_above_best_pct": rounded(val_change, 3),
            "train_drop_since_best_pct": rounded(train_change, 3),
            "gap_growth_log": rounded(gap_growth, 3),
            "val_noise_log_sigma": rounded(sigma, 3),
            "train_noise_log_sigma": rounded(train_sigma, 3),
            "val_vs_train_pace_last_epochs": rounded(val_pace / train_pace, 3)
            if train_pace > 0 else None,
            "first_fired_epoch": first_epoch,
            "early_stopping_patience10_stops_in_epochs": max(stops_in, 0),
        }
        if current is None:
            evidence["epochs_before_early_stopping"] = stops_in
        else:
            evidence["epochs_before_early_stopping"] = current.evidence.get(
                "epochs_before_early_stopping", stops_in)
        self.tracker.raise_(epoch, severity, message, evidence)
