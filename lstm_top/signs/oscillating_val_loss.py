"""oscillating_val_loss: validation loss swings up and down instead of settling.

Counted as peaks (see ``swings.py``): a validation epoch that rose clearly above the one or two
before it and fell clearly within the next one or two. One spike is an odd batch; three within
20 validation epochs is an optimiser bouncing around the loss landscape. Swings are measured in
log space (relative size), and the smallest swing that counts grows with the training loss's own
noise, so a run whose losses are all noisy (tiny batches, single-batch train logging) is not
mistaken for an unstable one. A single zig-zag where the validation loss doubles and halves
while the training loss does not follow counts too. The logged learning rate is cited in the
evidence only; it never decides.
"""

from __future__ import annotations

import math

from lstm_top.signs.base import Detector, Severity, SignContext, fmt, value_at
from lstm_top.signs.stats import log_or_none, median, rounded
from lstm_top.signs.swings import WINDOW_EPOCHS, SwingCounter

REMEDY = ("Lower the learning rate (or add a decay schedule / warm-up); clip gradients "
          "(clipnorm=1.0 / clip_grad_norm_); use a larger batch; check that validation data "
          "is shuffled and large enough to give a stable loss.")

# Three peaks within the swing window: two can be a pair of unlucky batches (healthy real runs
# show two isolated 10-30% bumps), three is a pattern.
MIN_PEAKS = 3
# Hysteresis: an open episode stays open while two peaks remain in the window, so a run that
# keeps spiking every 8-10 epochs is one episode, not a string of open/close flickers.
KEEP_OPEN_PEAKS = 2
# Oscillation in the first 15 validation epochs with swings over 50% is the seed note's
# "critical" case: training may never converge without a lower learning rate.
EARLY_VAL_EPOCHS = 15
SEVERE_SWING = math.log(1.5)


class OscillatingValLoss(Detector):
    sign_id = "oscillating_val_loss"
    remedy = REMEDY

    def __init__(self) -> None:
        super().__init__()
        self.swings = SwingCounter()

    def _advance(self, context: SignContext, start: int, stop: int) -> None:
        epochs = context.epochs
        train_values, train_present = context.series(context.keys.train)
        val_values, val_present = context.series(context.keys.val)
        for row in range(start, stop):
            train = value_at(train_values, train_present, row)
            train_log = log_or_none(train)
            if train_log is not None:
                self.swings.observe_train(train_log)
            val = value_at(val_values, val_present, row)
            val_log = log_or_none(val)
            if val is not None and val_log is not None:
                self._observe(context, row, int(epochs[row]), val_log, float(val))

    def _observe(self, context: SignContext, row: int, epoch: int, val_log: float,
                 val: float) -> None:
        swings = self.swings
        swings.observe_val(epoch, val_log)
        current = self.tracker.current
        needed = MIN_PEAKS if current is None else KEEP_OPEN_PEAKS
        if len(swings.peaks) < needed and not swings.big_peaks:
            self.tracker.clear(epoch)
            return
        found = swings.peaks if len(swings.peaks) >= needed else swings.big_peaks
        sizes = [swing for _, _, swing in found]
        typical = median(sizes)
        # "Worse early": the largest doubling-and-halving excursion counts towards severity too.
        severe = max([typical] + [swing for _, _, swing in swings.big_peaks])
        at_start = swings.val_count if current is None else current.evidence["val_epochs_at_start"]
        started_early = at_start <= EARLY_VAL_EPOCHS
        severity = Severity.WARNING
        if started_early and severe >= SEVERE_SWING:
            severity = Severity.CRITICAL
        percent = math.expm1(typical) * 100
        lr = context.lr_at(row)
        how = (f"swung up and down {len(found)} times in the last {WINDOW_EPOCHS} epochs"
               if found is swings.peaks else
               f"rose and fell {math.exp(typical):.1f}x (train loss did not)")
        message = (f"val loss {how} by ~{percent:.0f}% (now {fmt(val)})"
                   + (f" at lr {fmt(lr)}" if lr is not None else "")
                   + (": early in training" if started_early else ""))
        train_sigma = swings.train_sigma()
        evidence = {
            "peaks_in_window": len(found),
            "peak_epochs": [peak_epoch for _, peak_epoch, _ in found],
            "pattern": "repeated swings" if found is swings.peaks else "large excursion",
            "typical_swing_pct": rounded(percent, 3),
            "largest_swing_pct": rounded(math.expm1(max(sizes)) * 100, 3),
            "min_swing_counted_pct": rounded(math.expm1(swings.threshold) * 100, 3),
            "train_noise_pct": (rounded(math.expm1(train_sigma) * 100, 3)
                                if not math.isnan(train_sigma) else None),
            "window_epochs": WINDOW_EPOCHS,
            "val_epochs_at_start": at_start,
            "lr": rounded(lr) if lr is not None else None,
        }
        self.tracker.raise_(epoch, severity, message, evidence)
