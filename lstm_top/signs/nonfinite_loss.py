"""nonfinite_loss: the training or validation loss became NaN or infinite.

Nothing learned after a NaN loss means anything; the weights are usually NaN too. Raised on
the first such epoch, no statistics needed, always critical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lstm_top.signs.base import Detector, Epoch, Params, Severity, SignContext

REMEDY = ("Lower the learning rate; clip gradients (e.g. clipnorm=1.0 / "
          "clip_grad_norm_); check the data for NaN/inf and the loss for log(0) or division "
          "by zero; use float32 rather than float16, or loss scaling with mixed precision; "
          "restart from the last good checkpoint.")


@dataclass(frozen=True)
class NonfiniteParams(Params):
    """No thresholds: a NaN is a NaN."""


class NonfiniteLoss(Detector[NonfiniteParams]):
    sign_id = "nonfinite_loss"
    remedy = REMEDY
    params_type = NonfiniteParams

    def __init__(self, params: NonfiniteParams | None = None) -> None:
        super().__init__(params)
        self.first_bad_epoch: int | None = None
        self.bad_epochs = 0

    def observe(self, epoch: Epoch, context: SignContext) -> None:
        watched = [(context.keys.train, epoch.train), (context.keys.val, epoch.val)]
        bad = [(name, value) for name, value in watched
               if name and value is not None and not math.isfinite(value)]
        if bad:
            self.bad_epochs += 1
            if self.first_bad_epoch is None or self.tracker.current is None:
                self.first_bad_epoch = epoch.epoch
            names = ", ".join(f"{name} = {value}" for name, value in bad)
            self.tracker.raise_(epoch.epoch, Severity.CRITICAL,
                                f"{names} at epoch {epoch.epoch}: training has broken down",
                                {"first_epoch": self.first_bad_epoch,
                                 "nonfinite_epochs": self.bad_epochs,
                                 "values": {name: str(value) for name, value in bad}})
        elif any(value is not None for _, value in watched):
            self.tracker.clear(epoch.epoch)
