"""What every warning sign shares: the finding it reports and the episode bookkeeping.

A detector is incremental: ``update`` hands it only the epochs that arrived since its last
call (the per-row loop lives here, once), and it keeps whatever bounded running state it needs,
so the cost of a new epoch does not grow with the length of the run. Its thresholds are a frozen
``Params`` object whose defaults are the calibrated values. Detectors never look ahead: a
finding that starts at epoch E would have been reported by a live run at epoch E.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import Any, Generic, TypeVar

import numpy as np

from lstm_top.history import History, LossKeys
from lstm_top.signs.stats import pooled_stats

SubsetStats = dict[str, tuple[float, float | None, float | None]]  # name -> (mean, std, n)


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
    since_epoch: int  # the first epoch at which it would have been raised live, at any severity
    until_epoch: int | None  # None while still active
    message: str
    evidence: dict[str, Any]
    remedy: str
    # The first epoch at which the episode reached warning (or critical) severity: an episode
    # that opens as info and escalates later says when. None while it is only info.
    warning_since: int | None = None
    # What ``since_epoch``/``until_epoch`` and the epoch numbers in the message count: "step"
    # for a run judged by its evaluation steps (set by the Diagnoser from the history it saw;
    # the detectors themselves always speak of epochs, see ``lstm_top.steps.reworded``).
    unit: str = "epoch"

    @property
    def active(self) -> bool:
        return self.until_epoch is None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity.label, "since_epoch": self.since_epoch,
                "warning_since": self.warning_since, "until_epoch": self.until_epoch,
                "message": self.message, "evidence": self.evidence, "remedy": self.remedy}


@dataclass(frozen=True, slots=True)
class Epoch:
    """What one logged epoch tells the detectors: built once per row, shared by all of them.

    A value that was not logged is None (missing is not NaN); a logged NaN stays NaN.
    """

    row: int
    epoch: int
    train: float | None
    val: float | None
    # Size and per-sample standard deviation of the validation set behind ``val``, where the
    # training script logged them (``val_n`` / ``n``, ``val_loss_std``): the measurement's noise.
    val_n: float | None
    val_std: float | None
    lr: float | None
    grad_norm: float | None

    @property
    def val_standard_error_log(self) -> float | None:
        """Standard error of log(val) from the logged n and std (delta method), or None."""
        if (self.val_n is None or self.val_std is None or self.val is None or self.val <= 0
                or self.val_n < 2 or not math.isfinite(self.val_std)):
            return None
        return self.val_std / math.sqrt(self.val_n) / self.val


VAL_COUNT_KEYS = ("val_n", "n", "val_samples", "val_count")
VAL_STD_KEYS = ("val_loss_std", "val_std")
# Where the validation set's n and std are not logged but every subset's are, and the
# subsets' pooled mean is the validation loss (they partition the set: our Logger's
# ``subsets=``), the pooled n and std are the set's. Within 1%: a validation loss that also
# holds a regularisation term (Keras adds it) or subsets that overlap do not match.
POOLED_VAL_TOLERANCE = 0.01


@dataclass
class SignContext:
    """The columns a detector reads, resolved once per update, and the epochs built from them."""

    history: History
    keys: LossKeys
    # Column of the logged learning rate, if any: oscillation and divergence evidence cite it.
    lr_key: str | None = None
    grad_norm_key: str | None = None
    # Column of the validation accuracy, if any: stagnation reads n off its granularity.
    val_accuracy_key: str | None = None
    _rows: dict[int, Epoch] = field(default_factory=dict, repr=False)
    # Per-update memo for what a detector resolves once per update (e.g. subset columns).
    memo: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def epochs(self) -> np.ndarray:
        return self.history.epochs.index

    def series(self, name: str | None) -> tuple[np.ndarray, np.ndarray]:
        """(values, present) of an epoch column; all-missing when name is None."""
        table = self.history.epochs
        if name is None or name not in table:
            return _missing_column(len(table))
        return table.column(name), table.present(name)

    def rows(self, start: int, stop: int) -> list[Epoch]:
        """The epochs of rows ``start..stop-1``, built once per update for all detectors."""
        missing = [row for row in range(start, stop) if row not in self._rows]
        if missing:
            names = set(self.history.epochs.names)
            count_key = next((key for key in VAL_COUNT_KEYS if key in names), None)
            std_key = next((key for key in VAL_STD_KEYS if key in names), None)
            columns = [self.series(name) for name in (self.keys.train, self.keys.val, count_key,
                                                      std_key, self.lr_key, self.grad_norm_key)]
            pool = (count_key is None or std_key is None) and len(self.keys.subsets) >= 2
            index = self.epochs
            for row in missing:
                values = [float(v[row]) if p[row] else None for v, p in columns]
                epoch = Epoch(row, int(index[row]), *values)
                if pool and (epoch.val_n is None or epoch.val_std is None):
                    epoch = self._with_pooled_noise(epoch)
                self._rows[row] = epoch
        return [self._rows[row] for row in range(start, stop)]

    def _with_pooled_noise(self, epoch: Epoch) -> Epoch:
        """``epoch`` with the validation set's n and std pooled from its subsets' (see
        POOLED_VAL_TOLERANCE), or as it is."""
        stats = list(self.subset_stats(epoch.row).values())
        if (epoch.val is None or not math.isfinite(epoch.val) or len(stats) < 2
                or any(std is None or n is None for _, std, n in stats)):
            return epoch
        mean, std, n = pooled_stats(stats)
        if std is None or abs(mean - epoch.val) > POOLED_VAL_TOLERANCE * abs(epoch.val):
            return epoch
        return dataclasses.replace(epoch, val_n=n, val_std=std)

    def subset_stats(self, row: int) -> SubsetStats:
        """Each logged subset's (loss, std, n) at ``row``; the columns are resolved once per
        update."""
        columns = self.memo.get("subset_columns")
        if columns is None:
            columns = []
            for name in sorted(self.keys.subsets):
                # series() gives an all-missing column for a name that was never logged
                columns.append((name, *self.series(self.keys.subsets[name]),
                                *self.series(self.keys.subset_count_column(name)),
                                *self.series(self.keys.subset_std_column(name))))
            self.memo["subset_columns"] = columns
        stats: SubsetStats = {}
        for name, loss, loss_ok, count, count_ok, std, std_ok in columns:
            if loss_ok[row] and math.isfinite(loss[row]):
                stats[name] = (float(loss[row]), float(std[row]) if std_ok[row] else None,
                               float(count[row]) if count_ok[row] else None)
        return stats


_missing_cache: list[tuple[np.ndarray, np.ndarray]] = []


def _missing_column(length: int) -> tuple[np.ndarray, np.ndarray]:
    """An all-missing column of ``length`` rows, reallocated only when a longer one is needed
    (doubling), so asking for an absent column costs O(1) amortised per epoch."""
    if not _missing_cache or len(_missing_cache[0][0]) < length:
        capacity = max(64, 2 * length)
        _missing_cache[:] = [(np.full(capacity, np.nan), np.zeros(capacity, dtype=bool))]
    values, present = _missing_cache[0]
    return values[:length], present[:length]


@dataclass
class EpisodeTracker:
    """Opens, updates and closes the episodes of one sign."""

    sign_id: str
    remedy: str
    episodes: list[Finding] = field(default_factory=list)
    # An episode that closed at most this many epochs ago is reopened instead of a new one
    # started: a sign that flickers around its bar is one episode, not a string of them.
    rejoin_within: int = 0

    @property
    def current(self) -> Finding | None:
        if self.episodes and self.episodes[-1].active:
            return self.episodes[-1]
        return None

    def raise_(self, epoch: int, severity: Severity, message: str,
               evidence: dict[str, Any]) -> None:
        """The sign holds at ``epoch``: open an episode or refresh the open one."""
        current = self.current
        if (current is None and self.rejoin_within > 0 and self.episodes
                and self.episodes[-1].until_epoch is not None
                and epoch - self.episodes[-1].until_epoch <= self.rejoin_within):
            current = self.episodes[-1]
            current.until_epoch = None
        if current is None:
            self.episodes.append(Finding(self.sign_id, severity, epoch, None, message,
                                         evidence, self.remedy,
                                         epoch if severity >= Severity.WARNING else None))
            return
        current.severity = max(current.severity, severity)
        if current.warning_since is None and severity >= Severity.WARNING:
            current.warning_since = epoch
        current.message = message
        current.evidence = evidence

    def clear(self, epoch: int) -> None:
        """The sign no longer holds: close the open episode at ``epoch``."""
        current = self.current
        if current is not None:
            # Never before it opened: a history whose epoch numbers go back (a log holding a
            # rerun or a resume no reader told apart) showed "epochs 41-31".
            current.until_epoch = max(epoch, current.since_epoch)


@dataclass(frozen=True)
class Params:
    """A sign's thresholds. Each sign subclasses this with its calibrated defaults; a user
    overrides them like Keras EarlyStopping's ``patience``: ``StagnationParams(patience=5)``."""

    def replace(self, **changes: Any) -> Params:
        """A copy with some options changed; values may be text; ``"swings.min_swing"`` reaches
        into a nested parameters object."""
        nested: dict[str, dict[str, Any]] = {}
        for key in [key for key in changes if "." in key]:
            head, _, rest = key.partition(".")
            nested.setdefault(head, {})[rest] = changes.pop(key)
        for head, inner in nested.items():
            child = getattr(self, head, None)
            if not isinstance(child, Params):
                raise ValueError(f"unknown option group {head!r}")
            changes[head] = child.replace(**inner)
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)}; "
                             f"known: {[f.name for f in fields(self)]}")
        converted = {}
        for item in fields(self):
            if item.name in changes:
                converted[item.name] = _convert(changes[item.name], getattr(self, item.name))
        return dataclasses.replace(self, **converted)


def _convert(value: Any, default: Any) -> Any:
    """A value given as text (command line, config file) in the type of the default."""
    if not isinstance(value, str) or isinstance(default, str):
        return value
    if isinstance(default, bool):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a boolean: {value!r}")
    if isinstance(default, int):
        return int(value)
    return float(value)


P = TypeVar("P", bound=Params)


class Detector(ABC, Generic[P]):
    """One warning sign. Subclasses set ``sign_id``, ``remedy`` and ``params_type`` and
    implement ``observe``, which sees each epoch once, in order, as a live run would."""

    sign_id: str = ""
    remedy: str = ""
    params_type: type[Params] = Params

    def __init__(self, params: P | None = None) -> None:
        self.params: P = params if params is not None else self.params_type()  # type: ignore[assignment]
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

    def update(self, context: SignContext, until: int | None = None) -> None:
        """Observe the rows not seen yet, up to ``until`` (default: all of them)."""
        rows = len(context.history.epochs) if until is None else until
        if rows > self.next_row:
            for epoch in context.rows(self.next_row, rows):
                self.observe(epoch, context)
            self.next_row = rows

    @abstractmethod
    def observe(self, epoch: Epoch, context: SignContext) -> None:
        """Take in one epoch row (after all earlier ones)."""

    def findings(self) -> list[Finding]:
        return list(self.tracker.episodes)


def fmt(value: float) -> str:
    """A loss for a message: 4 significant digits whatever the scale (1e-6 .. 1e5)."""
    if value != value:
        return "NaN"
    return f"{value:.4g}"
