"""Warning signs: pure, incremental functions of a History — no UI, no files.

``Diagnoser`` keeps one detector per sign and is fed the same History as it grows;
``diagnose(history)`` is the one-shot form used by ``lstm-top check``.
"""

from __future__ import annotations

from lstm_top.history import History, resolve_loss_keys
from lstm_top.signs.base import Detector, Finding, Severity, SignContext
from lstm_top.signs.diverging_loss import DivergingLoss
from lstm_top.signs.exploding_gradients import ExplodingGradients
from lstm_top.signs.nonfinite_loss import NonfiniteLoss
from lstm_top.signs.oscillating_val_loss import OscillatingValLoss
from lstm_top.signs.stagnating_val_loss import StagnatingValLoss
from lstm_top.signs.stats import find_lr_key
from lstm_top.signs.subset_gap import SubsetGap
from lstm_top.signs.train_plateau import TrainPlateau
from lstm_top.signs.vanishing_gradients import VanishingGradients

SIGN_IDS = ("stagnating_val_loss", "oscillating_val_loss", "subset_gap", "nonfinite_loss",
            "diverging_loss", "train_plateau", "exploding_gradients", "vanishing_gradients")


def all_detectors() -> list[Detector]:
    return [StagnatingValLoss(), OscillatingValLoss(), SubsetGap(), NonfiniteLoss(),
            DivergingLoss(), TrainPlateau(), ExplodingGradients(), VanishingGradients()]


class Diagnoser:
    """Live diagnosis of one run: call ``update`` whenever the history has grown."""

    def __init__(self, train_key: str | None = None, val_key: str | None = None) -> None:
        self.train_key = train_key
        self.val_key = val_key
        self.detectors = all_detectors()

    def update(self, history: History) -> list[Finding]:
        with history.lock:
            names = history.epochs.names
            keys = resolve_loss_keys(names, self.train_key, self.val_key)
            context = SignContext(history, keys, find_lr_key(names))
            for detector in self.detectors:
                detector.update(context)
        return self.findings()

    def findings(self) -> list[Finding]:
        found = [f for detector in self.detectors for f in detector.findings()]
        return sorted(found, key=lambda f: (not f.active, -f.severity, f.since_epoch))


def diagnose(history: History, train_key: str | None = None,
             val_key: str | None = None) -> list[Finding]:
    return Diagnoser(train_key, val_key).update(history)


__all__ = ["SIGN_IDS", "Diagnoser", "Finding", "Severity", "diagnose"]
