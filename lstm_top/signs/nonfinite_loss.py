"""nonfinite_loss: the training or validation loss became NaN or infinite.

Nothing learned after a NaN loss means anything; the weights are usually NaN too. Raised on
the first such epoch, no statistics needed, always critical.
"""

from __future__ import annotations

import math

from lstm_top.signs.base import Detector, Severity, SignContext

REMEDY = ("Lower the learning rate; clip gradients (e.g. clipnorm=1.0 / "
          "clip_grad_norm_); check the data for NaN/inf and the loss for log(0) or division "
          "by zero; use float32 rather than float16, or loss scaling with mixed precision; "
          "restart from the last good checkpoint.")


class NonfiniteLoss(Detector):
    sign_id = "nonfinite_loss"
    remedy = REMEDY

    def __init__(self) -> None:
        super().__init__()
        self.first_bad_epoch: int | None = None
        self.bad_epochs = 0

    def _advance(self, context: SignContext, start: int, stop: int) -> None:
        epochs = context.epochs
        watched = [(name, *context.series(name)) for name in (context.keys.train,
                                                              context.keys.val) if name]
        for row in range(start, stop):
            epoch = int(epochs[row])
            bad = [(name, float(values[row])) for name, values, present in watched
                   if present[row] and not math.isfinite(values[row])]
            logged = any(present[row] for _, _, present in watched)
            if bad:
                self.bad_epochs += 1
                if self.first_bad_epoch is None or self.tracker.current is None:
                    self.first_bad_epoch = epoch
                names = ", ".join(f"{name} = {value}" for name, value in bad)
                self.tracker.raise_(epoch, Severity.CRITICAL,
                                    f"{names} at epoch {epoch}: training has broken down",
                                    {"first_epoch": self.first_bad_epoch,
                                     "nonfinite_epochs": self.bad_epochs,
                                     "values": {name: str(value) for name, value in bad}})
            elif logged:
                self.tracker.clear(epoch)
