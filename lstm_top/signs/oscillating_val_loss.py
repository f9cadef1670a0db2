"""oscillating_val_loss: validation loss swings up and down instead of settling.

Counted as peaks (see ``swings.py``): a validation epoch that rose clearly above the one or two
before it and fell clearly within the next one or two. One spike is an odd batch; three within
20 validation epochs is an optimiser bouncing around the loss landscape. Swings are measured in
log space (relative size), and the smallest swing that counts grows with the noise the run
itself shows — the training loss's epoch-to-epoch jitter, and the validation set's standard
error where its size and per-sample std are logged — so a run whose losses are all noisy (tiny
batches, single-batch train logging, a 90-sample validation set) is not mistaken for an unstable
one. A single zig-zag where the validation loss doubles and halves while the training loss does
not follow counts too. Independent of the other signs: a run that oscillates and over-fits (or
later diverges) reports both. The logged learning rate is cited, never used to decide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lstm_top.signs.base import Detector, Epoch, Params, Severity, SignContext, fmt
from lstm_top.signs.stats import log_or_none, median, rounded
from lstm_top.signs.swings import SwingCounter, SwingParams

REMEDY = ("Lower the learning rate (or add a decay schedule / warm-up); clip gradients "
          "(clipnorm=1.0 / clip_grad_norm_); use a larger batch; check that validation data "
          "is shuffled and large enough to give a stable loss.")


@dataclass(frozen=True)
class OscillationParams(Params):
    swings: SwingParams = field(default_factory=SwingParams)
    # Three peaks within the swing window: two can be a pair of unlucky batches, three is a
    # pattern. Two raised 3 more runs labelled "no" on the oracle calibration part and 10 more
    # on the public calibration halves (found 3 more oracle ones); four lost 4 of the 15
    # oracle calibration oscillations and 6 of the founding note's 10.
    min_peaks: int = 3
    # Hysteresis: an open episode stays open while two peaks remain in the window, so a run
    # that keeps spiking every 8-10 epochs is one episode, not a string of open/close flickers.
    keep_open_peaks: int = 2
    # Oscillation in the first 15 validation epochs with swings over 50% is the seed note's
    # "critical" case: training may never converge without a lower learning rate.
    early_val_epochs: int = 15
    severe_swing: float = math.log(1.5)


class OscillatingValLoss(Detector[OscillationParams]):
    sign_id = "oscillating_val_loss"
    remedy = REMEDY
    params_type = OscillationParams

    def __init__(self, params: OscillationParams | None = None) -> None:
        super().__init__(params)
        self.swings = SwingCounter(self.params.swings)

    def observe(self, epoch: Epoch, context: SignContext) -> None:
        train_log = log_or_none(epoch.train)
        if train_log is not None:
            self.swings.observe_train(train_log)
        val_log = log_or_none(epoch.val)
        if val_log is not None and epoch.val is not None:
            self._judge(epoch, val_log, epoch.val)

    def _judge(self, epoch: Epoch, val_log: float, val: float) -> None:
        p = self.params
        swings = self.swings
        swings.observe_val(epoch.epoch, val_log, epoch.val_standard_error_log)
        current = self.tracker.current
        needed = p.min_peaks if current is None else p.keep_open_peaks
        if len(swings.peaks) < needed and not swings.big_peaks:
            self.tracker.clear(epoch.epoch)
            return
        found = swings.peaks if len(swings.peaks) >= needed else swings.big_peaks
        sizes = [swing for _, _, swing in found]
        typical = median(sizes)
        # "Worse early": the largest doubling-and-halving excursion counts towards severity too.
        severe = max([typical] + [swing for _, _, swing in swings.big_peaks])
        at_start = swings.val_count if current is None else current.evidence["val_epochs_at_start"]
        started_early = at_start <= p.early_val_epochs
        severity = Severity.WARNING
        if started_early and severe >= p.severe_swing:
            severity = Severity.CRITICAL
        percent = math.expm1(typical) * 100
        window = p.swings.window_epochs
        how = (f"swung up and down {len(found)} times in the last {window} epochs"
               if found is swings.peaks else
               f"rose and fell {math.exp(typical):.1f}x (train loss did not)")
        message = (f"val loss {how} by ~{percent:.0f}% (now {fmt(val)})"
                   + (f" at lr {fmt(epoch.lr)}" if epoch.lr is not None else "")
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
            "window_epochs": window,
            "val_epochs_at_start": at_start,
            "lr": rounded(epoch.lr) if epoch.lr is not None else None,
        }
        self.tracker.raise_(epoch.epoch, severity, message, evidence)
