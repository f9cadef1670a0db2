"""Acting on a diagnosis inside training: stop when a warning sign appears, keep the best epoch.

The framework-free core behind ``stop_on=`` / ``restore_best=`` of the Keras, Lightning and
Hugging Face callbacks and the PyTorch helper (each a thin adapter that feeds it the metrics it
logs and does what it says: set the framework's stop flag, copy or restore the weights).

    rule = StopRule("critical")             # or {"diverging_loss", "nonfinite_loss"}
    for epoch in ...:
        decision = rule.observe(epoch, {"loss": ..., "val_loss": ...})
        if decision.improved:
            best_weights = copy_of(model)
        if decision.stop:
            restore(model, best_weights); break
    logger.close(stopped_by=rule.stopped_by.to_record())

The signs are the same detectors the viewer runs (``lstm_top.signs.Diagnoser``), fed the run's
own epochs in-process, so a run stops at the epoch the viewer would have shown the warning.
This module imports only the standard library at import time; numpy and the signs are loaded
when a rule is built, so importing a callback stays cheap for runs that never stop.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["SEVERITIES", "Decision", "EpochActions", "StopReason", "StopRule", "describe",
           "parse_stop_on"]

SEVERITIES = ("info", "warning", "critical")
# The strictest trigger is the default: stopping a healthy run is worse than not stopping a bad one.
DEFAULT_STOP_ON = "critical"


@dataclass(frozen=True)
class StopReason:
    """Why a run was stopped: written as ``stopped_by`` in the run's end record."""

    sign: str
    severity: str
    since_epoch: int  # the sign's episode began here
    epoch: int  # the epoch after which training stopped
    message: str

    def to_record(self) -> dict[str, Any]:
        return {"sign": self.sign, "severity": self.severity, "since_epoch": self.since_epoch,
                "epoch": self.epoch, "message": self.message}


@dataclass(frozen=True)
class Decision:
    """What an adapter does after an epoch: copy the weights (``improved``) and/or stop."""

    stop: bool = False
    improved: bool = False
    reason: StopReason | None = None


def parse_stop_on(stop_on: str | Iterable[str]) -> tuple[int | None, frozenset[str]]:
    """``"critical"`` -> (lowest severity, no ids); ``{"diverging_loss"}`` -> (None, ids).

    A single string is a severity or one sign id; an iterable holds sign ids (severities
    allowed too: the lowest one named applies). Unknown names raise ValueError at once, in the
    callback's constructor, not after an hour of training.
    """
    from lstm_top.signs import SIGN_IDS

    names = [stop_on] if isinstance(stop_on, str) else list(stop_on)
    if not names:
        raise ValueError("stop_on is empty: give a severity ('critical') or sign ids")
    severity: int | None = None
    ids: set[str] = set()
    for name in names:
        name = str(name).strip().lower()
        if name in SEVERITIES:
            level = SEVERITIES.index(name) + 1
            severity = level if severity is None else min(severity, level)
        elif name in SIGN_IDS:
            ids.add(name)
        else:
            raise ValueError(f"stop_on: unknown sign or severity {name!r}; severities: "
                             f"{', '.join(SEVERITIES)}; signs: {', '.join(SIGN_IDS)}")
    return severity, frozenset(ids)


class StopRule:
    """Feeds each epoch's metrics to the warning signs and says when to stop.

    Args:
        stop_on: a severity (``"critical"``, ``"warning"``, ``"info"``: any sign at least that
            severe) or sign ids (``{"diverging_loss", "nonfinite_loss"}``: those signs at any
            severity), or both in one set.
        monitor: the metric whose best epoch ``restore_best`` keeps (Keras' ``monitor``);
            default: the validation loss the signs find (``val_loss``, ``eval_loss``...), else
            the training loss.
        mode: ``"min"`` or ``"max"`` for ``monitor``.
        min_delta: an improvement smaller than this is not one (Keras' ``min_delta``).
        train_key, val_key: the loss columns, when the signs cannot guess them.
    """

    def __init__(self, stop_on: str | Iterable[str] | None = DEFAULT_STOP_ON, *,
                 monitor: str | None = None, mode: str = "min", min_delta: float = 0.0,
                 train_key: str | None = None, val_key: str | None = None) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        from lstm_top.history import History
        from lstm_top.signs import Diagnoser

        # None: never stop, only keep track of the best epoch (restore_best alone).
        self.min_severity, self.sign_ids = (None, frozenset()) if stop_on is None else \
            parse_stop_on(stop_on)
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(float(min_delta))
        self.history = History(source="in-process", source_kind="jsonl")
        self.diagnoser = Diagnoser(train_key, val_key) if stop_on is not None else None
        self._train_key, self._val_key = train_key, val_key
        self._monitor_key: str | None = None
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.stopped_by: StopReason | None = None
        self.seconds = 0.0  # time spent in observe(), for the cost per epoch

    def observe(self, epoch: int, metrics: Mapping[str, Any],
                subsets: Mapping[str, Mapping[str, Any]] | None = None) -> Decision:
        """Take in one epoch's metrics (plain floats; subsets as the Logger takes them)."""
        started = time.perf_counter()
        try:
            return self._observe(epoch, metrics, subsets)
        finally:
            self.seconds += time.perf_counter() - started

    def _observe(self, epoch: int, metrics: Mapping[str, Any],
                 subsets: Mapping[str, Mapping[str, Any]] | None) -> Decision:
        row = {str(name): float(value) for name, value in metrics.items()
               if isinstance(value, int | float) and not isinstance(value, bool)}
        for subset, values in (subsets or {}).items():
            for name, value in values.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    row[f"{name}[{subset}]"] = float(value)
        with self.history.lock:
            self.history.epochs.append(int(epoch), None, row)
        improved = self._note_best(int(epoch), row)
        if self.stopped_by is not None:  # already told to stop; the framework may run on
            return Decision(stop=True, improved=improved, reason=self.stopped_by)
        if self.diagnoser is None:
            return Decision(improved=improved)
        for finding in self.diagnoser.update(self.history):
            if finding.active and self._triggers(finding.id, int(finding.severity)):
                self.stopped_by = StopReason(finding.id, finding.severity.label,
                                             int(finding.since_epoch), int(epoch),
                                             finding.message)
                return Decision(stop=True, improved=improved, reason=self.stopped_by)
        return Decision(improved=improved)

    def _triggers(self, sign: str, severity: int) -> bool:
        if sign in self.sign_ids:
            return True
        return self.min_severity is not None and severity >= self.min_severity

    def _monitored_key(self, row: Mapping[str, float]) -> str | None:
        if self.monitor is not None:
            return self.monitor
        if self._monitor_key is None:
            from lstm_top.history import resolve_loss_keys

            keys = resolve_loss_keys(row, self._train_key, self._val_key)
            if keys.val is not None:  # once a validation loss is seen, it is what counts
                self._monitor_key = keys.val
            return keys.val or keys.train
        return self._monitor_key

    def _note_best(self, epoch: int, row: Mapping[str, float]) -> bool:
        key = self._monitored_key(row)
        value = row.get(key) if key is not None else None
        if value is None or not math.isfinite(value):
            return False
        if self.best_value is None:
            better = True
        elif self.mode == "min":
            better = value < self.best_value - self.min_delta
        else:
            better = value > self.best_value + self.min_delta
        if better:
            self.best_value, self.best_epoch = value, epoch
        return better

    @property
    def epochs(self) -> int:
        return len(self.history.epochs)


class EpochActions:
    """What a framework callback holds for ``stop_on=`` / ``restore_best=``: a StopRule per run,
    the best epoch's weights, and the never-raise guard (a failure is reported once and
    training goes on as if the option were off).

    The adapter passes two functions of its framework: ``snapshot()`` -> a copy of the
    weights (Keras ``get_weights``, a cloned ``state_dict``) and ``restore(copy)``.
    """

    def __init__(self, stop_on: str | Iterable[str] | None = None, *, restore_best: bool = False,
                 monitor: str | None = None, mode: str = "min", min_delta: float = 0.0,
                 warn: Callable[[str, str], None] | None = None, announce: bool = True) -> None:
        if stop_on is not None:
            parse_stop_on(stop_on)  # a typo fails in the callback's constructor
        self.stop_on = stop_on
        self.restore_best = restore_best
        self._rule_options: dict[str, Any] = {"monitor": monitor, "mode": mode,
                                              "min_delta": min_delta}
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        self._warn = warn or (lambda key, message: None)
        self.announce = announce
        self.rule: StopRule | None = None
        self.best_weights: Any = None
        self._announced = False

    @property
    def enabled(self) -> bool:
        return self.stop_on is not None or self.restore_best

    def begin(self) -> None:
        """A new run (``fit``) starts: forget the previous one."""
        self.rule = None
        self.best_weights = None
        self._announced = False
        if not self.enabled:
            return
        try:
            self.rule = StopRule(self.stop_on, **self._rule_options)
        except Exception as exc:
            self._warn("actions", f"lstm-top: stop_on/restore_best are off for this run ({exc!r})")

    def after_epoch(self, epoch: int, metrics: Mapping[str, Any],
                    subsets: Mapping[str, Mapping[str, Any]] | None = None,
                    snapshot: Callable[[], Any] | None = None) -> bool:
        """Take in one epoch; True when training should stop now."""
        if self.rule is None:
            return False
        try:
            decision = self.rule.observe(epoch, metrics, subsets)
            if decision.improved and self.restore_best and snapshot is not None:
                self.best_weights = snapshot()
        except Exception as exc:
            self._warn("actions", f"lstm-top: could not judge epoch {epoch} ({exc!r})")
            return False
        if self.announce and decision.stop and decision.reason is not None and not self._announced:
            self._announced = True
            _announce(decision.reason)
        return decision.stop and self.stop_on is not None

    def restore(self, apply: Callable[[Any], None]) -> int | None:
        """Load the best epoch's weights (``restore_best``); the epoch restored, or None."""
        if not self.restore_best or self.best_weights is None or self.rule is None:
            return None
        try:
            apply(self.best_weights)
        except Exception as exc:
            self._warn("restore", f"lstm-top: could not restore the best weights ({exc!r})")
            return None
        return self.rule.best_epoch

    @property
    def stopped_by(self) -> dict[str, Any] | None:
        reason = self.rule.stopped_by if self.rule is not None else None
        return reason.to_record() if reason is not None else None


def describe(reason: StopReason | Mapping[str, Any]) -> str:
    """The reason for a person, to follow "stopped": ``after epoch 14 by diverging_loss
    (critical, since epoch 12): train loss 9.1 is 31x its best ...``."""
    record = reason.to_record() if isinstance(reason, StopReason) else dict(reason)
    detail = ", ".join(part for part in (
        record.get("severity"),
        f"since epoch {record['since_epoch']}" if record.get("since_epoch") is not None else None,
    ) if part)
    text = f"by {record.get('sign')}" + (f" ({detail})" if detail else "")
    if record.get("epoch") is not None:
        text = f"after epoch {record['epoch']} {text}"
    message = record.get("message")
    return f"{text}: {message}" if message else text


def _announce(reason: StopReason) -> None:
    try:
        print(f"lstm-top: stopped {describe(reason)}", file=sys.stderr, flush=True)
    except Exception:
        pass
