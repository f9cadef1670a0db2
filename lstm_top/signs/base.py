"""What every warning sign shares: the finding it reports and the episode bookkeeping.

A detector is incremental: ``update`` looks only at the epochs that arrived since its last
call, keeping whatever running state it needs, so the cost of a new epoch does not grow with
the length of the run. Detectors never look ahead: a finding that starts at epoch E would have
been reported by a live run at epoch E.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from lstm_top.history import History, LossKeys


class Severity(IntEnum):
    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass
class Finding:
    """One episode of one warning sign."""

    id: str
    severity: Severity
    since_epoch: int
    until_epoch: int | None  # None while still active
    message: str
    evidence: dict[str, Any]
    remedy: str

    @property
    def active(self) -> bool:
        return self.until_epoch is None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity.label, "since_epoch": self.since_epoch,
                "until_epoch": self.until_epoch, "message": self.message,
                "evidence": self.evidence, "remedy": self.remedy}


@dataclass
class SignContext:
    """The columns a detector reads, resolved once per update."""

    history: History
    keys: LossKeys
    # Column of the logged learning rate, if any: oscillation and divergence evidence cite it.
    lr_key: str | None = None

    @property
    def epochs(self) -> np.ndarray:
        return self.history.epochs.index

    def series(self, name: str | None) -> tuple[np.ndarray, np.ndarray]:
        """(values, present) of an epoch column; all-missing when name is None."""
        table = self.history.epochs
        if name is None or name not in table:
            return _missing_column(len(table))
        return table.column(name), table.present(name)

    def lr_at(self, row: int) -> float | None:
        """The learning rate logged at ``row`` (or None)."""
        if self.lr_key is None:
            return None
        table = self.history.epochs
        if row < len(table) and table.present(self.lr_key)[row]:
            return float(table.column(self.lr_key)[row])
        return None


_missing_cache: list[tuple[np.ndarray, np.ndarray]] = []


def _missing_column(length: int) -> tuple[np.ndarray, np.ndarray]:
    """An all-missing column of ``length`` rows, reallocated only when a longer one is needed
    (doubling), so asking for an absent column costs O(1) amortised per epoch."""
    if not _missing_cache or len(_missing_cache[0][0]) < length:
        capacity = max(64, 2 * length)
        _missing_cache[:] = [(np.full(capacity, np.nan), np.zeros(capacity, dtype=bool))]
    values, present = _missing_cache[0]
    return values[:length], present[:length]


def value_at(values: np.ndarray, present: np.ndarray, row: int) -> float | None:
    """A logged value as a float, None where the metric was not logged (missing is not NaN)."""
    return float(values[row]) if present[row] else None


@dataclass
class EpisodeTracker:
    """Opens, updates and closes the episodes of one sign."""

    sign_id: str
    remedy: str
    episodes: list[Finding] = field(default_factory=list)

    @property
    def current(self) -> Finding | None:
        if self.episodes and self.episodes[-1].active:
            return self.episodes[-1]
        return None

    def raise_(self, epoch: int, severity: Severity, message: str,
               evidence: dict[str, Any]) -> None:
        """The sign holds at ``epoch``: open an episode or refresh the open one."""
        current = self.current
        if current is None:
            self.episodes.append(Finding(self.sign_id, severity, epoch, None, message,
                                         evidence, self.remedy))
            return
        current.severity = max(current.severity, severity)
        current.message = message
        current.evidence = evidence

    def clear(self, epoch: int) -> None:
        """The sign no longer holds: close the open episode at ``epoch``."""
        current = self.current
        if current is not None:
            current.until_epoch = epoch


class Detector(ABC):
    """One warning sign. Subclasses set ``sign_id`` and ``remedy`` and implement ``_advance``."""

    sign_id: str = ""
    remedy: str = ""

    def __init__(self) -> None:
        self.tracker = EpisodeTracker(self.sign_id, self.remedy)
        self.next_row = 0  # first epoch row not yet looked at
        # True when older epochs were skipped (the Diagnoser's catch-up cap): the run's start
        # was never seen, so "since the start" judgements (train_plateau) cannot be made.
        self.started_late = False

    def skip_to(self, row: int) -> None:
        """Continue at ``row`` as if the epochs before it had not been logged."""
        if row > self.next_row:
            self.next_row = row
            self.started_late = True

    def update(self, context: SignContext) -> None:
        rows = len(context.history.epochs)
        if rows > self.next_row:
            self._advance(context, self.next_row, rows)
            self.next_row = rows

    @abstractmethod
    def _advance(self, context: SignContext, start: int, stop: int) -> None:
        """Consume epoch rows ``start..stop-1``, in order, as a live run would."""

    def findings(self) -> list[Finding]:
        return list(self.tracker.episodes)


def fmt(value: float) -> str:
    """A loss for a message: 4 significant digits whatever the scale (1e-6 .. 1e5)."""
    if value != value:
        return "NaN"
    return f"{value:.4g}"
