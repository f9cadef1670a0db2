"""exploding_gradients: the logged gradient norm jumps far above its recent level or overflows.

Only when a ``grad_norm`` column is logged. Compared with the median of the previous ten
epochs, so a norm that drifts up slowly over training (common and harmless) does not count.

A non-finite norm beside a finite training loss is an overflow that was skipped, not an
explosion: mixed-precision training's loss scaler (``torch.amp.GradScaler``, the HF Trainer's
fp16, apex) starts at a high scale, skips the step whose scaled gradients overflow and halves
the scale, so "grad_norm: nan" now and then is routine — in fp32 the same step would have
written NaN into the weights and the next loss would say so (``nonfinite_loss``). Only an
overflow at every logged step for a while, every update skipped, is a warning.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from lstm_top.signs.base import Detector, Epoch, Params, Severity, SignContext, fmt
from lstm_top.signs.stats import median, rounded

REMEDY = ("Clip gradients (clipnorm=1.0 in Keras, torch.nn.utils.clip_grad_norm_); lower the "
          "learning rate or add warm-up; check for unnormalised inputs or targets; for RNNs "
          "prefer LSTM/GRU over plain RNN cells and keep sequences to a trainable length.")


@dataclass(frozen=True)
class ExplodingGradientsParams(Params):
    baseline_epochs: int = 10
    # 10x the recent median: healthy runs vary their gradient norm by a few x across epochs.
    explode_factor: float = 10.0
    # 100x (or a non-finite norm) means the update itself is destroying the weights.
    critical_factor: float = 100.0
    # Back under 3x the baseline counts as recovered.
    recovered_factor: float = 3.0
    min_baseline_epochs: int = 3
    # Non-finite norms with the training loss finite: info, until this many logged norms in a
    # row are non-finite (no update applied for that long). A loss scaler calibrating its
    # scale overflows the first few steps; the one HF fp16 run in the public corpora (healthy,
    # eye-labelled) logged one NaN norm among 450 and was raised critical without this.
    overflow_streak_warning: int = 10


class ExplodingGradients(Detector[ExplodingGradientsParams]):
    sign_id = "exploding_gradients"
    remedy = REMEDY
    params_type = ExplodingGradientsParams

    def __init__(self, params: ExplodingGradientsParams | None = None) -> None:
        super().__init__(params)
        self.window: deque[float] = deque(maxlen=self.params.baseline_epochs)
        self.overflow_streak = 0  # consecutive non-finite norms
        self.train_finite = True  # the latest logged training loss was finite

    def observe(self, epoch: Epoch, context: SignContext) -> None:
        if epoch.train is not None:
            self.train_finite = math.isfinite(epoch.train)
        value = epoch.grad_norm
        if value is None:
            return
        p = self.params
        if not math.isfinite(value):
            self.overflow_streak += 1
            if self.train_finite:
                self._overflow(epoch, context, value)
                return
        else:
            self.overflow_streak = 0
        if len(self.window) < p.min_baseline_epochs:
            if math.isfinite(value):
                self.window.append(value)
            return
        baseline = median(self.window)
        finite = math.isfinite(value)
        ratio = value / baseline if finite and baseline > 0 else math.inf
        if finite and ratio < p.explode_factor:
            self.window.append(value)
            if ratio < p.recovered_factor:
                self.tracker.clear(epoch.epoch)
            return
        # The spike itself stays out of the baseline, so a run of spikes keeps counting.
        severity = Severity.CRITICAL if ratio >= p.critical_factor else Severity.WARNING
        key = context.grad_norm_key or "grad_norm"
        message = (f"{key} {fmt(value)} is "
                   + (f"{ratio:.0f}x" if finite else "non-finite, vs")
                   + f" its recent median {fmt(baseline)}: gradients are exploding")
        evidence = {"grad_norm": rounded(value) if finite else str(value),
                    "baseline_median": rounded(baseline), "ratio": rounded(ratio, 3),
                    "lr": rounded(epoch.lr) if epoch.lr is not None else None}
        self.tracker.raise_(epoch.epoch, severity, message, evidence)

    def _overflow(self, epoch: Epoch, context: SignContext, value: float) -> None:
        """A non-finite norm while the training loss stays finite: a skipped step."""
        p = self.params
        streak = self.overflow_streak
        severity = Severity.WARNING if streak >= p.overflow_streak_warning else Severity.INFO
        key = context.grad_norm_key or "grad_norm"
        if severity is Severity.WARNING:
            message = (f"{key} has been non-finite for {streak} epochs in a row with the loss "
                       f"finite: every update is being skipped (a loss scaler that cannot "
                       f"find a scale that does not overflow)")
        else:
            message = (f"{key} {fmt(value)} with the loss finite: a gradient overflow, which "
                       f"mixed precision's loss scaler skips; harmless unless it keeps "
                       f"happening")
        evidence = {"grad_norm": str(value), "non_finite_in_a_row": streak,
                    "lr": rounded(epoch.lr) if epoch.lr is not None else None}
        self.tracker.raise_(epoch.epoch, severity, message, evidence)
