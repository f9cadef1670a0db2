"""Warning signs: pure, incremental functions of a History — no UI, no files.

``Diagnoser`` keeps one detector per sign and is fed the same History as it grows;
``diagnose(history)`` is the one-shot form used by ``lstm-top check``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from lstm_top.history import History, LossKeys, resolve_loss_keys
from lstm_top.signs.base import Detector, Epoch, Finding, Params, Severity, SignContext
from lstm_top.signs.diverging_loss import DivergingLoss, DivergingParams
from lstm_top.signs.exploding_gradients import ExplodingGradients, ExplodingGradientsParams
from lstm_top.signs.nonfinite_loss import NonfiniteLoss, NonfiniteParams
from lstm_top.signs.oscillating_val_loss import OscillatingValLoss, OscillationParams
from lstm_top.signs.stagnating_val_loss import StagnatingValLoss, StagnationParams
from lstm_top.signs.stats import find_grad_norm_key, find_lr_key, find_val_accuracy_key
from lstm_top.signs.subset_gap import SubsetGap, SubsetGapParams
from lstm_top.signs.train_plateau import PlateauParams, TrainPlateau
from lstm_top.signs.vanishing_gradients import VanishingGradients, VanishingGradientsParams

DETECTORS: dict[str, type[Detector]] = {detector.sign_id: detector for detector in (
    StagnatingValLoss, OscillatingValLoss, SubsetGap, NonfiniteLoss, DivergingLoss,
    TrainPlateau, ExplodingGradients, VanishingGradients)}
SIGN_IDS = tuple(DETECTORS)

SignParams = Mapping[str, Params]
"""Sign id -> its parameters object (the defaults are the calibrated values)."""


def default_params() -> dict[str, Params]:
    return {sign: detector.params_type() for sign, detector in DETECTORS.items()}


def all_detectors(params: SignParams | None = None,
                  disabled: frozenset[str] = frozenset()) -> list[Detector]:
    """One detector per sign, with the given parameters where given; ``disabled`` left out."""
    params = params or {}
    return [detector(params.get(sign)) for sign, detector in DETECTORS.items()
            if sign not in disabled]


# Catch-up cap: when more than this many epochs are new in one update (opening a file with a
# million epochs), the detectors take in only the newest MAX_CATCHUP_EPOCHS, as if the older ones
# had not been logged. Every detector's windows span at most a few dozen epochs, so 20,000
# epochs warm them fully (references such as "the best val so far" restart at the window's
# start); taking them in costs ~1 s of pure Python, against 50-80 s for a million.
# ``Diagnoser.skipped_epochs`` says how many were left out, for the UI and check to show
# ("diagnosed the last 20,000 of 1,000,000 epochs"). None disables the cap.
MAX_CATCHUP_EPOCHS = 20_000
# A catch-up is taken in slices of this many rows, all detectors per slice, so a caller that
# wants it to end (the viewer quitting) is asked between slices, some ms apart, not after ~1 s.
CATCHUP_SLICE_EPOCHS = 1_000


class Diagnoser:
    """Live diagnosis of one run: call ``update`` whenever the history has grown."""

    def __init__(self, train_key: str | None = None, val_key: str | None = None,
                 max_catchup: int | None = MAX_CATCHUP_EPOCHS,
                 params: SignParams | None = None,
                 disabled: frozenset[str] = frozenset()) -> None:
        self.train_key = train_key
        self.val_key = val_key
        self.max_catchup = max_catchup
        self.detectors = all_detectors(params, disabled)
        self.skipped_epochs = 0  # epoch rows never looked at because of the catch-up cap
        self.epochs_seen = 0  # rows of the history as of the last update
        self.interrupted = False  # the last update stopped early (``stop`` said so)
        self.unit = "epoch"  # what the rows of the last history counted (``History.index_unit``)
        self.keys: LossKeys | None = None  # the loss columns judged, once there were rows

    @property
    def diagnosed_epochs(self) -> int:
        return self.epochs_seen - self.skipped_epochs

    def update(self, history: History, stop: Callable[[], bool] | None = None
               ) -> list[Finding]:
        """Take in the rows added since the last update; the findings as of now.

        ``stop`` is asked between slices of ``CATCHUP_SLICE_EPOCHS`` rows: when it says True
        the update ends there (``interrupted``), the detectors consistent up to that row, and
        the next update goes on from it."""
        self.interrupted = False
        self.unit = history.index_unit
        with history.lock:
            table = history.epochs
            rows = len(table)
            start = min(detector.next_row for detector in self.detectors)
            if self.max_catchup is not None and rows - start > self.max_catchup:
                skip_to = rows - self.max_catchup
                self.skipped_epochs += skip_to - start
                for detector in self.detectors:
                    detector.skip_to(skip_to)
            self.epochs_seen = rows
            if rows > start:
                names = table.names
                keys = self.keys = resolve_loss_keys(names, self.train_key, self.val_key)
                context = SignContext(history, keys, find_lr_key(names),
                                      find_grad_norm_key(names), find_val_accuracy_key(names))
                for until in range(start + CATCHUP_SLICE_EPOCHS, rows + CATCHUP_SLICE_EPOCHS,
                                   CATCHUP_SLICE_EPOCHS):
                    for detector in self.detectors:
                        detector.update(context, min(until, rows))
                    if until < rows and stop is not None and stop():
                        self.interrupted = True
                        self.epochs_seen = until
                        break
        return self.findings()

    def findings(self) -> list[Finding]:
        found = [f for detector in self.detectors for f in detector.findings()]
        for finding in found:
            finding.unit = self.unit
        return sorted(found, key=lambda f: (not f.active, -f.severity, f.since_epoch))


def diagnose(history: History, train_key: str | None = None, val_key: str | None = None,
             max_catchup: int | None = MAX_CATCHUP_EPOCHS, params: SignParams | None = None,
             disabled: frozenset[str] = frozenset()) -> list[Finding]:
    """One-shot diagnosis (``lstm-top check``); capped like a Diagnoser's first update."""
    return Diagnoser(train_key, val_key, max_catchup, params, disabled).update(history)


__all__ = ["DETECTORS", "MAX_CATCHUP_EPOCHS", "SIGN_IDS", "Diagnoser", "DivergingParams",
           "Epoch", "ExplodingGradientsParams", "Finding", "NonfiniteParams", "OscillationParams",
           "Params", "PlateauParams", "Severity", "SignParams", "StagnationParams",
           "SubsetGapParams", "VanishingGradientsParams", "default_params", "diagnose"]
