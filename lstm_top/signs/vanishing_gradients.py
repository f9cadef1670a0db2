"""vanishing_gradients: the logged gradient norm collapses while the loss has not converged.

Only when a ``grad_norm`` column is logged. A norm that shrinks because the loss went to ~0 is
convergence, so the training loss must still be a sizeable fraction of its start value.
"""

from __future__ import annotations

import math

from lstm_top.signs.base import Detector, Severity, SignContext, fmt, value_at
from lstm_top.signs.stats import find_grad_norm_key, median, rounded

REMEDY = ("Use LSTM/GRU cells (not plain RNN) and check the forget-gate bias (1.0); use "
          "residual connections or layer normalisation; avoid saturating activations "
          "(sigmoid/tanh stacks) or use He/Glorot initialisation; raise the learning rate; "
          "shorten sequences or use truncated BPTT.")

START_WINDOW = 3
# 1000x below its start: healthy convergence shrinks gradient norms by 10-100x.
VANISH_FACTOR = 1e-3
# Two consecutive epochs: one tiny norm can be a lucky step.
CONSECUTIVE_EPOCHS = 2
# The loss still at 10% of its start or more: the model has not converged, it has stalled.
UNCONVERGED_LOSS_FRACTION = 0.1
# A million-fold collapse is critical: nothing upstream of the output is learning.
CRITICAL_FACTOR = 1e-6


class VanishingGradients(Detector):
    sign_id = "vanishing_gradients"
    remedy = REMEDY

    def __init__(self) -> None:
        super().__init__()
        self.start_norms: list[float] = []
        self.start_losses: list[float] = []
        self.last_loss: float | None = None
        self.low_run = 0

    def _advance(self, context: SignContext, start: int, stop: int) -> None:
        key = find_grad_norm_key(context.history.epochs.names)
        if key is None:
            return
        epochs = context.epochs
        values, present = context.series(key)
        loss_values, loss_present = context.series(context.keys.train)
        for row in range(start, stop):
            loss = value_at(loss_values, loss_present, row)
            if loss is not None and math.isfinite(loss):
                self.last_loss = loss
                if len(self.start_losses) < START_WINDOW:
                    self.start_losses.append(loss)
            value = value_at(values, present, row)
            if value is not None and math.isfinite(value):
                self._observe(int(epochs[row]), value, key)

    def _observe(self, epoch: int, value: float, key: str) -> None:
        if len(self.start_norms) < START_WINDOW:
            self.start_norms.append(value)
            return
        baseline = median(self.start_norms)
        ratio = value / baseline if baseline > 0 else 1.0
        loss_fraction = None
        if self.start_losses and self.last_loss is not None and median(self.start_losses) > 0:
            loss_fraction = self.last_loss / median(self.start_losses)
        converged = loss_fraction is not None and loss_fraction < UNCONVERGED_LOSS_FRACTION
        if ratio > VANISH_FACTOR or converged:
            self.low_run = 0
            self.tracker.clear(epoch)
            return
        self.low_run += 1
        if self.low_run < CONSECUTIVE_EPOCHS:
            return
        severity = Severity.CRITICAL if ratio <= CRITICAL_FACTOR else Severity.WARNING
        message = (f"{key} {fmt(value)} is {1 / ratio:.3g}x below its start {fmt(baseline)} "
                   f"while the loss is still "
                   + (f"{loss_fraction * 100:.0f}% of its start" if loss_fraction is not None
                      else "unconverged")
                   + ": gradients are vanishing")
        evidence = {"grad_norm": rounded(value), "start_median": rounded(baseline),
                    "ratio_to_start": rounded(ratio, 3), "low_epochs": self.low_run,
                    "loss_fraction_of_start": rounded(loss_fraction, 3)}
        self.tracker.raise_(epoch, severity, message, evidence)
