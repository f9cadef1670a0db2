"""exploding_gradients: the logged gradient norm jumps far above its recent level or overflows.

Only when a ``grad_norm`` column is logged. Compared with the median of the previous ten
epochs, so a norm that drifts up slowly over training (common and harmless) does not count.
"""

from __future__ import annotations

import math
from collections import deque

from lstm_top.signs.base import Detector, Severity, SignContext, fmt, value_at
from lstm_top.signs.stats import find_grad_norm_key, median, rounded

REMEDY = ("Clip gradients (clipnorm=1.0 in Keras, torch.nn.utils.clip_grad_norm_); lower the "
          "learning rate or add warm-up; check for unnormalised inputs or targets; for RNNs "
          "prefer LSTM/GRU over plain RNN cells and keep sequences to a trainable length.")

BASELINE_WINDOW = 10
# 10x the recent median: healthy runs vary their gradient norm by a few x across epochs.
EXPLODE_FACTOR = 10.0
# 100x (or a non-finite norm) means the update itself is destroying the weights.
CRITICAL_FACTOR = 100.0
# Back under 3x the baseline counts as recovered.
RECOVERED_FACTOR = 3.0
MIN_BASELINE_EPOCHS = 3


class ExplodingGradients(Detector):
    sign_id = "exploding_gradients"
    remedy = REMEDY

    def __init__(self) -> None:
        super().__init__()
        self.window: deque[float] = deque(maxlen=BASELINE_WINDOW)

    def _advance(self, context: SignContext, start: int, stop: int) -> None:
        key = find_grad_norm_key(context.history.epochs.names)
        if key is None:
            return
        epochs = context.epochs
        values, present = context.series(key)
        for row in range(start, stop):
            value = value_at(values, present, row)
            if value is not None:
                self._observe(context, row, int(epochs[row]), value, key)

    def _observe(self, context: SignContext, row: int, epoch: int, value: float,
                 key: str) -> None:
        if len(self.window) < MIN_BASELINE_EPOCHS:
            if math.isfinite(value):
                self.window.append(value)
            return
        baseline = median(self.window)
        finite = math.isfinite(value)
        ratio = value / baseline if finite and baseline > 0 else math.inf
        if finite and ratio < EXPLODE_FACTOR:
            self.window.append(value)
            if ratio < RECOVERED_FACTOR:
                self.tracker.clear(epoch)
            return
        # The spike itself stays out of the baseline, so a run of spikes keeps counting.
        severity = Severity.CRITICAL if ratio >= CRITICAL_FACTOR else Severity.WARNING
        lr = context.lr_at(row)
        message = (f"{key} {fmt(value)} is "
                   + (f"{ratio:.0f}x" if finite else "non-finite, vs")
                   + f" its recent median {fmt(baseline)}: gradients are exploding")
        evidence = {"grad_norm": rounded(value) if finite else str(value),
                    "baseline_median": rounded(baseline), "ratio": rounded(ratio, 3),
                    "lr": rounded(lr) if lr is not None else None}
        self.tracker.raise_(epoch, severity, message, evidence)
