"""oscillating_val_loss: validation loss swings up and down instead of settling.

Counted as peaks: a validation epoch that rose clearly above the one or two before it and fell
clearly at the next. One spike is an odd batch; several within a short window is an optimiser
bouncing around the loss landscape. Swings are measured in log space (relative size), and the
smallest swing that counts grows with the training loss's own noise, so a run whose losses are
all noisy (tiny batches, single-batch train logging) is not mistaken for an unstable one.
"""

from __future__ import annotations

import math
from collections import deque

from lstm_top.signs.base import Detector, Severity, SignContext, fmt, value_at
from lstm_top.signs.stats import log_or_none, median, noise_sigma, rounded

REMEDY = ("Lower the learning rate (or add a decay schedule / warm-up); clip gradients "
          "(clipnorm=1.0 / clip_grad_norm_); use a larger batch; check that validation data "
          "is shuffled and large enough to give a stable loss.")

# A swing must be at least 8% up and 8% down (log 0.08): healthy validation curves jitter by a
# few percent per epoch; real unstable runs swing by 10-100%.
MIN_SWING = 0.08
# ... and at least 4 training-noise sigmas: when even the epoch-averaged training loss jitters,
# the validation loss is expected to jitter more.
TRAIN_NOISE_SIGMAS = 4.0
# Three peaks within twelve validation epochs: two can be a pair of unlucky batches.
MIN_PEAKS = 3
WINDOW_EPOCHS = 12
# A peak's rise may span two epochs (a climb of two steps before the drop).
RISE_LOOKBACK = 2
TRAIN_NOISE_WINDOW = 12
# A second, slower pattern: one excursion where the validation loss at least doubles and then
# halves again (zig-zag legs of log 2), while the training loss moved less than half as much
# over the same epochs — a wave the training loss does not share. A spike shared by both curves
# is the whole model jumping (diverging_loss's business), not validation oscillation.
BIG_SWING = math.log(2.0)
MAX_TRAIN_SHARE = 0.5
# Oscillation in the first 15 validation epochs with swings over 50% is the seed note's
# "critical" case: training may never converge without a lower learning rate.
EARLY_VAL_EPOCHS = 15
SEVERE_SWING = math.log(1.5)


class OscillatingValLoss(Detector):
    sign_id = "oscillating_val_loss"
    remedy = REMEDY

    def __init__(self) -> None:
        super().__init__()
        self.val_recent: deque[tuple[int, float, float]] = deque(maxlen=RISE_LOOKBACK + 3)
        self.train_window: deque[float] = deque(maxlen=TRAIN_NOISE_WINDOW)
        # (validation index, epoch, swing) of recent peaks; old ones fall out of the window.
        self.peaks: deque[tuple[int, int, float]] = deque()
        self.val_count = 0
        self.last_train_log: float | None = None
        # Zig-zag state: direction of the current leg, its extreme, and the last turning point,
        # each as (log val, train log then, epoch, validation index).
        self.direction = -1
        self.extreme: tuple[float, float | None, int, int] | None = None
        self.turn: tuple[float, float | None, int, int] | None = None
        self.big_peaks: deque[tuple[int, int, float]] = deque()

    def _advance(self, context: SignContext, start: int, stop: int) -> None:
        epochs = context.epochs
        train_values, train_present = context.series(context.keys.train)
        val_values, val_present = context.series(context.keys.val)
        for row in range(start, stop):
            train = value_at(train_values, train_present, row)
            train_log = log_or_none(train) if train is not None else None
            if train_log is not None:
                self.train_window.append(train_log)
                self.last_train_log = train_log
            val = value_at(val_values, val_present, row)
            val_log = log_or_none(val) if val is not None else None
            if val_log is not None:
                self._observe(context, row, int(epochs[row]), val_log, float(val))

    def min_swing(self) -> float:
        sigma = noise_sigma(self.train_window)
        return MIN_SWING if math.isnan(sigma) else max(MIN_SWING, TRAIN_NOISE_SIGMAS * sigma)

    def _observe(self, context: SignContext, row: int, epoch: int, val_log: float,
                 val: float) -> None:
        self.val_count += 1
        recent = self.val_recent
        recent.append((epoch, val_log, val))
        threshold = self.min_swing()
        # A candidate peak is one or two epochs back; its fall may take one or two epochs.
        entries = list(recent)
        for back in (2, 3):
            if len(entries) < back + 1:
                continue
            peak_index = self.val_count - back + 1
            if self.peaks and self.peaks[-1][0] >= peak_index:
                continue
            peak_epoch, peak_log, _ = entries[-back]
            before = [entry[1] for entry in entries[:-back][-RISE_LOOKBACK:]]
            after = [entry[1] for entry in entries[-back + 1:]]
            rise = peak_log - min(before)
            fall = peak_log - min(after)
            if (peak_log >= before[-1] and peak_log >= max(after) and rise >= threshold
                    and fall >= threshold):
                self.peaks.append((peak_index, peak_epoch, min(rise, fall)))
        self._zigzag(epoch, val_log)
        for peaks in (self.peaks, self.big_peaks):
            while peaks and peaks[0][0] <= self.val_count - WINDOW_EPOCHS:
                peaks.popleft()
        if len(self.peaks) < MIN_PEAKS and not self.big_peaks:
            self.tracker.clear(epoch)
            return
        found = self.peaks if len(self.peaks) >= MIN_PEAKS else self.big_peaks
        swings = [swing for _, _, swing in found]
        typical = median(swings)
        current = self.tracker.current
        started_early = (self.val_count if current is None
                         else current.evidence["val_epochs_at_start"]) <= EARLY_VAL_EPOCHS
        severity = Severity.WARNING
        if started_early and typical >= SEVERE_SWING:
            severity = Severity.CRITICAL
        percent = math.expm1(typical) * 100
        lr = context.lr_at(row)
        how = (f"swung up and down {len(found)} times in the last {WINDOW_EPOCHS} epochs"
               if found is self.peaks else
               f"rose and fell {math.exp(typical):.1f}x (train loss did not)")
        message = (f"val loss {how} by ~{percent:.0f}% (now {fmt(val)})"
                   + (f" at lr {fmt(lr)}" if lr is not None else "")
                   + (": early in training" if started_early else ""))
        evidence = {
            "peaks_in_window": len(found),
            "peak_epochs": [peak_epoch for _, peak_epoch, _ in found],
            "pattern": "repeated swings" if found is self.peaks else "large excursion",
            "typical_swing_pct": rounded(percent, 3),
            "largest_swing_pct": rounded(math.expm1(max(swings)) * 100, 3),
            "min_swing_counted_pct": rounded(math.expm1(threshold) * 100, 3),
            "window_epochs": WINDOW_EPOCHS,
            "val_epochs_at_start": (self.val_count if current is None
                                    else current.evidence["val_epochs_at_start"]),
            "lr": rounded(lr) if lr is not None else None,
        }
        self.tracker.raise_(epoch, severity, message, evidence)

    def _zigzag(self, epoch: int, val_log: float) -> None:
        """Track turning points that differ by at least BIG_SWING; record confirmed big peaks."""
        point = (val_log, self.last_train_log, epoch, self.val_count)
        if self.extreme is None:
            self.extreme = self.turn = point
            return
        if (val_log - self.extreme[0]) * self.direction >= 0:
            self.extreme = point  # the leg goes on
            return
        if abs(val_log - self.extreme[0]) < BIG_SWING:
            return
        # Reversal confirmed: the extreme is a turning point.
        previous_turn, turning = self.turn, self.extreme
        if self.direction > 0 and previous_turn is not None:
            up = turning[0] - previous_turn[0]
            down = turning[0] - val_log
            if (up >= BIG_SWING and self._train_moved_less(previous_turn, turning, up)
                    and self._train_moved_less(turning, point, down)):
                self.big_peaks.append((turning[3], turning[2], min(up, down)))
        self.turn = turning
        self.extreme = point
        self.direction = -self.direction

    def _train_moved_less(self, start: tuple[float, float | None, int, int],
                          end: tuple[float, float | None, int, int], val_move: float) -> bool:
        if start[1] is None or end[1] is None:
            return True  # no training loss logged: the validation curve speaks for itself
        return abs(end[1] - start[1]) <= MAX_TRAIN_SHARE * val_move
