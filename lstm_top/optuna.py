"""Optuna integration: prune a trial when its curves show a warning sign.

    import optuna
    from lstm_top.optuna import SignsPruner, report

    def objective(trial):
        model = build(lr=trial.suggest_float("lr", 1e-4, 1.0, log=True))
        for epoch in range(1, 101):
            train_loss, val_loss = train_one_epoch(model), evaluate(model)
            report(trial, epoch, val_loss, loss=train_loss)   # or trial.report(val_loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return val_loss

    study = optuna.create_study(pruner=SignsPruner(), storage="sqlite:///sweep.db")

``trial.report`` gives the pruner the validation loss only (Optuna keeps one number per step):
enough for an oscillating or non-finite validation loss. Over-fitting is a widening gap between
the training and validation loss, so ``report(trial, epoch, val_loss, loss=...)`` also stores the
epoch's other metrics as a trial user attribute (``lstm_top:<epoch>``, in the study's storage, so
a pruner in another worker process sees them too).

``SignsPruner()`` prunes when a critical sign shows *or* a ``MedianPruner(n_startup_trials=5,
n_warmup_steps=5)`` says so: Optuna's median rule (its default pruner, with the usual warm-up)
plus the signs, so a trial whose loss went non-finite, or that over-fits early and hard, is
pruned at once rather than when it falls below the median, and a slow trial is still pruned by
the median. ``wrapped=`` another pruner, or ``None`` for the signs alone.

Why not the signs alone at ``"warning"``? They train fewer epochs still, but a trial pruned
after its best epoch leaves Optuna's ``study.best_trial`` (completed trials only), and a big
model that peaks early and then over-fits is often the sweep's best trial: in
``python -m bench --only sweep`` it is (the bench prints both). The sign that pruned a trial
is kept as its user attribute
``lstm_top:stopped_by`` (sign, severity, since_epoch, epoch, message). With ``history_dir=``
every trial's epochs are also written as an lstm-top history (``trial-0007.jsonl``), so
``lstm-top DIR`` watches the sweep (pass the pruner as a study callback too,
``study.optimize(objective, callbacks=[pruner])``, to end each file when its trial ends).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import optuna

from lstm_top.actions import DEFAULT_STOP_ON, StopRule, parse_stop_on
from lstm_top.hook.metrics import numbers

__all__ = ["DEFAULT_WRAPPED", "METRICS_ATTR_PREFIX", "STOPPED_BY_ATTR", "SignsPruner", "report"]

METRICS_ATTR_PREFIX = "lstm_top:"
# What ``SignsPruner()`` also asks: Optuna's default pruner, with MedianPruner's usual warm-up
# (5 trials complete before it prunes, no trial is pruned in its first 5 steps).
DEFAULT_WRAPPED: Literal["median"] = "median"
STOPPED_BY_ATTR = "lstm_top:stopped_by"


def report(trial: optuna.trial.Trial, step: int, value: float, **metrics: Any) -> None:
    """``trial.report(value, step)`` plus the epoch's other metrics (``loss=`` the training
    loss, ``lr=``...) for :class:`SignsPruner`."""
    extra = numbers(metrics)
    if extra:
        # Non-finite values as text: the storage holds JSON, which has no NaN.
        trial.set_user_attr(f"{METRICS_ATTR_PREFIX}{int(step)}",
                            {name: _json_number(number) for name, number in extra.items()})
    trial.report(value, step)


class SignsPruner(optuna.pruners.BasePruner):
    """Prunes a trial when its intermediate values (and :func:`report`'s metrics) show a
    warning sign in ``stop_on``.

    Args:
        stop_on: a severity (``"critical"``, the default and the strictest) or sign ids.
        wrapped: another pruner, also asked; the trial is pruned when either says so. Default
            ``"median"``: ``MedianPruner(n_startup_trials=5, n_warmup_steps=5)``; ``None``:
            the signs alone.
        value_key: what the intermediate value is, for the signs: ``"val_loss"`` (default) or
            ``"loss"`` when the objective reports a training loss. For ``direction="maximize"``
            studies (accuracy) the signs do not apply: report a loss with :func:`report`.
        history_dir: write every trial's epochs as ``trial-NNNN.jsonl`` there.
    """

    def __init__(self, stop_on: str | Iterable[str] = DEFAULT_STOP_ON, *,
                 wrapped: optuna.pruners.BasePruner | Literal["median"] | None = DEFAULT_WRAPPED,
                 value_key: str = "val_loss",
                 history_dir: str | os.PathLike[str] | None = None) -> None:
        parse_stop_on(stop_on)  # a typo fails now, not in the first trial
        self.stop_on = stop_on
        if isinstance(wrapped, str):
            if wrapped != DEFAULT_WRAPPED:
                raise ValueError(f"wrapped: a pruner, None or {DEFAULT_WRAPPED!r}, not {wrapped!r}")
            wrapped = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
        self.wrapped: optuna.pruners.BasePruner | None = wrapped
        self.value_key = value_key
        self.history_dir = None if history_dir is None else os.fspath(history_dir)
        self._lock = threading.Lock()  # n_jobs > 1 calls prune() from several threads
        self._trials: dict[int, _TrialState] = {}

    def prune(self, study: optuna.study.Study, trial: optuna.trial.FrozenTrial) -> bool:
        with self._lock:
            state = self._trials.get(trial.number)
            if state is None:
                state = self._trials[trial.number] = _TrialState(
                    StopRule(self.stop_on), self._open_history(study, trial))
            reason = state.feed(trial, self.value_key)
        if reason is not None:
            if not state.recorded:
                state.recorded = True
                _set_user_attr(study, trial, STOPPED_BY_ATTR, reason)
                state.close(reason)
            return True
        return self.wrapped is not None and bool(self.wrapped.prune(study, trial))

    def __call__(self, study: optuna.study.Study, trial: optuna.trial.FrozenTrial) -> None:
        """As a study callback (``study.optimize(..., callbacks=[pruner])``): ends the trial's
        history file when the trial ends, pruned or not."""
        with self._lock:
            state = self._trials.get(trial.number)
        if state is not None:
            state.close(self.stopped_by(trial.number))

    def stopped_by(self, trial_number: int) -> dict[str, Any] | None:
        """The sign that pruned a trial (this process's view), or None."""
        state = self._trials.get(trial_number)
        reason = state.rule.stopped_by if state is not None else None
        return reason.to_record() if reason is not None else None

    def _open_history(self, study: optuna.study.Study, trial: optuna.trial.FrozenTrial) -> Any:
        if self.history_dir is None:
            return None
        from lstm_top import Logger

        os.makedirs(self.history_dir, exist_ok=True)
        return Logger(os.path.join(self.history_dir, f"trial-{trial.number:04d}.jsonl"),
                      run_name=f"{study.study_name} #{trial.number}",
                      config={"framework": "optuna", "study": study.study_name,
                              "trial": trial.number, **_plain(trial.params)})


class _TrialState:
    """One trial's StopRule and how many of its steps it has taken in."""

    def __init__(self, rule: StopRule, logger: Any) -> None:
        self.rule = rule
        self.logger = logger
        self.last_step: int | None = None
        self.recorded = False

    def feed(self, trial: optuna.trial.FrozenTrial, value_key: str) -> dict[str, Any] | None:
        for step in sorted(trial.intermediate_values):
            if self.last_step is not None and step <= self.last_step:
                continue
            self.last_step = step
            row = {value_key: float(trial.intermediate_values[step])}
            extra = trial.user_attrs.get(f"{METRICS_ATTR_PREFIX}{step}")
            if isinstance(extra, Mapping):
                for name, value in extra.items():
                    number = _from_json_number(value)
                    if number is not None:
                        row[str(name)] = number
            if self.logger is not None:
                self.logger.log_metrics(row, epoch=int(step))
            self.rule.observe(int(step), row)
        reason = self.rule.stopped_by
        return reason.to_record() if reason is not None else None

    def close(self, stopped_by: dict[str, Any] | None) -> None:
        if self.logger is not None:
            self.logger.close(stopped_by=stopped_by)
            self.logger = None


def _set_user_attr(study: optuna.study.Study, trial: optuna.trial.FrozenTrial, key: str,
                   value: Any) -> None:
    """A pruner sees a FrozenTrial (read-only); the reason goes to the storage directly."""
    try:
        study._storage.set_trial_user_attr(trial._trial_id, key, value)
    except Exception:
        pass  # the reason is a courtesy: pruning must not fail because of it


def _json_number(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _from_json_number(value: Any) -> float | None:
    if isinstance(value, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in params.items() if isinstance(v, str | int | float | bool)}

