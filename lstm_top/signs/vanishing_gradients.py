"""vanishing_gradients: the logged gradient norm collapses while the loss has not converged.

Only when a ``grad_norm`` column is logged. A norm that shrinks because the loss went to ~0 is
convergence, so the training loss must still be a sizeable fraction of its start value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lstm_top.signs.base import Detector, Epoch, Params, Severity, SignContext, fmt
from lstm_top.signs.stats import median, rounded

REMEDY = ("Use LSTM/GRU cells (not plain RNN) and check the forget-gate bias (1.0); use "
          "residual connections or layer normalisation; avoid saturating activations "
          "(sigmoid/tanh stacks) or use He/Glorot initialisation; raise the learning rate; "
          "shorten sequences or use truncated BPTT.")


@dataclass(frozen=True)
class VanishingGradientsParams(Params):
    start_epochs: int = 3
    # 1000x below its start: healthy convergence shrinks gradient norms by 10-100x.
    vanish_factor: float = 1e-3
    # Two consecutive epochs: one tiny norm can be a lucky step.
    consecutive_epochs: int = 2
    # The loss still at 10% of its start or more: the model has not converged, it has stalled.
    unconverged_loss_fraction: float = 0.1
    # A million-fold collapse is critical: nothing upstream of the output is learning.
    critical_factor: float = 1e-6


class VanishingGradients(Detector[VanishingGradientsParams]):
    sign_id = "vanishing_gradients"
    remedy = REMEDY
    params_type = VanishingGradientsParams

    def __init__(self, params: VanishingGradientsParams | None = None) -> None:
        super().__init__(params)
        self.start_norms: list[float] = []
        self.start_losses: list[float] = []
        self.last_loss: float | None = None
        self.low_run = 0

    def observe(self, epoch: Epoch, context: SignContext) -> None:
        p = self.params
        loss = epoch.train
        if loss is not None and math.isfinite(loss):
            self.last_loss = loss
            if len(self.start_losses) < p.start_epochs:
                self.start_losses.append(loss)
        value = epoch.grad_norm
        if value is None or not math.isfinite(value):
            return
        if len(self.start_norms) < p.start_epochs:
            self.start_norms.append(value)
            return
        baseline = median(self.start_norms)
        ratio = value / baseline if baseline > 0 else 1.0
        loss_fraction = None
        if self.start_losses and self.last_loss is not None and median(self.start_losses) > 0:
            loss_fraction = self.last_loss / median(self.start_losses)
        converged = loss_fraction is not None and loss_fraction < p.unconverged_loss_fraction
        if ratio > p.vanish_factor or converged:
            self.low_run = 0
            self.tracker.clear(epoch.epoch)
            return
        self.low_run += 1
        if self.low_run < p.consecutive_epochs:
            return
        severity = Severity.CRITICAL if ratio <= p.critical_factor else Severity.WARNING
        key = context.grad_norm_key or "grad_norm"
        message = (f"{key} {fmt(value)} is {1 / ratio:.3g}x below its start {fmt(baseline)} "
                   f"while the loss is still "
                   + (f"{loss_fraction * 100:.0f}% of its start" if loss_fraction is not None
                      else "unconverged")
                   + ": gradients are vanishing")
        evidence = {"grad_norm": rounded(value), "start_median": rounded(baseline),
                    "ratio_to_start": rounded(ratio, 3), "low_epochs": self.low_run,
                    "loss_fraction_of_start": rounded(loss_fraction, 3)}
        self.tracker.raise_(epoch.epoch, severity, message, evidence)
