"""Warning signs: pure, incremental functions of a History — no UI, no files.

``Diagnoser`` keeps one detector per sign and is fed the same History as it grows;
``diagnose(history)`` is the one-shot form used by ``lstm-top check``.
"""

from __future__ import annotations

from lstm_top.history import History, resolve_loss_keys
from lstm_top.signs.base import Detector, Finding, Severity, SignContext
from lstm_top.signs.nonfinite_loss import NonfiniteLoss

SIGN_IDS = ("stagnating_val_loss", "oscillating_val_loss", "subset_gap", "nonfinite_loss",
            "diverging_loss", "train_plateau", "exploding_gradients", "vanishing_gradients")


def all_detectors() -> list[Detector]:
    return [NonfiniteLoss()]


class Diagnoser:
    """Live diagnosis of one run: call ``update`` whenever the history has grown."""

    def __init__(self, train_key: str | None = None, val_key: str | None = None) -> None:
        self.train_key = train_key
        self.val_key = val_key
        self.detectors = all_detectors()

    def update(self, history: History) -> list[Finding]:
        keys = resolve_loss_keys(history.epochs.names, self.train_key, self.val_key)
        context = SignContext(history, keys)
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
