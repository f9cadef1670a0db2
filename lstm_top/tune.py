"""Ray Tune integration: stop trials on warning signs, and write each trial's history.

    from ray import tune
    from lstm_top.tune import SignsStopper

    stopper = SignsStopper("critical", history_dir="runs/sweep")
    tuner = tune.Tuner(train, param_space={"lr": tune.loguniform(1e-4, 1.0)},
                       run_config=tune.RunConfig(stop=stopper, callbacks=[stopper.callback]))
    tuner.fit()

and, while it runs, ``lstm-top runs/sweep`` shows every trial as a run (one file per trial,
``<trial_id>.jsonl``, with the trial's config in the header). The trainable reports one result per
epoch, ``tune.report({"loss": train_loss, "val_loss": val_loss})``; the stopper takes every
numeric metric of the result (Tune's own bookkeeping - times, pid, iteration counters - left
out) and judges it with the same signs as the viewer. A trial stopped by a sign ends its file
with ``stopped_by`` (sign, severity, since_epoch, epoch, message); ``stopper.stopped`` maps trial
ids to those reasons. ``stopper.callback`` ends the files of trials that finish or fail.

The stopper and its callback run in the Tune driver process, not in the trials: the trainable
needs nothing of lstm-top.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from ray import tune

from lstm_top.actions import DEFAULT_STOP_ON, StopRule, parse_stop_on
from lstm_top.format import STATUS_COMPLETED, STATUS_CRASHED
from lstm_top.hook.metrics import numbers

__all__ = ["SignsStopper"]

# What Tune adds to every result: bookkeeping, not metrics of the model.
TUNE_BOOKKEEPING = frozenset({
    "training_iteration", "timestamp", "time_this_iter_s", "time_total_s", "time_since_restore",
    "iterations_since_restore", "timesteps_total", "timesteps_since_restore",
    "episodes_total", "pid", "done", "warmup_time", "should_checkpoint",
})
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


class SignsStopper(tune.Stopper):
    """A Tune ``Stopper`` that stops a trial when its results show a sign in ``stop_on``.

    Args:
        stop_on: a severity (``"critical"``, the default and the strictest) or sign ids.
        history_dir: write every trial's results there as lstm-top histories.
        epoch_key: the result field numbering epochs (default: Tune's ``training_iteration``).
        metrics: the result fields to judge and write (default: every numeric one but Tune's
            bookkeeping).
    """

    def __init__(self, stop_on: str | Iterable[str] = DEFAULT_STOP_ON, *,
                 history_dir: str | os.PathLike[str] | None = None,
                 epoch_key: str = "training_iteration",
                 metrics: Iterable[str] | None = None) -> None:
        parse_stop_on(stop_on)  # a typo fails now, not in the first trial
        self.stop_on = stop_on
        self.history_dir = None if history_dir is None else os.fspath(history_dir)
        self.epoch_key = epoch_key
        self.metrics = None if metrics is None else frozenset(metrics)
        self.stopped: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._trials: dict[str, _Trial] = {}

    # Tune saves its run config (stopper included) with pickle: only the settings travel.
    def __getstate__(self) -> dict[str, Any]:
        return {"stop_on": self.stop_on, "history_dir": self.history_dir,
                "epoch_key": self.epoch_key, "metrics": self.metrics,
                "stopped": dict(self.stopped)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._trials = {}

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        try:
            return self._judge(str(trial_id), result)
        except Exception:  # judging must never fail the sweep
            return False

    def stop_all(self) -> bool:
        return False

    @property
    def callback(self) -> tune.Callback:
        """The Tune callback that ends the history files of trials that finish or fail."""
        return _EndHistories(self)

    def _judge(self, trial_id: str, result: Mapping[str, Any]) -> bool:
        with self._lock:
            trial = self._trials.get(trial_id)
            if trial is None:
                trial = self._trials[trial_id] = _Trial(StopRule(self.stop_on),
                                                        self._open_history(trial_id, result))
            if trial_id in self.stopped:
                return True
            epoch = result.get(self.epoch_key)
            if not isinstance(epoch, int) or isinstance(epoch, bool):
                epoch = trial.last_epoch + 1
            if epoch <= trial.last_epoch:
                return False  # Tune repeats a trial's last result when it ends (done=True)
            trial.last_epoch = epoch
            chosen = {name: value for name, value in result.items()
                      if (name in self.metrics if self.metrics is not None
                          else name not in TUNE_BOOKKEEPING and name != self.epoch_key)}
            values = numbers(chosen)
            if trial.logger is not None:
                trial.logger.log_metrics(values, epoch=epoch)
            decision = trial.rule.observe(epoch, values)
            if decision.stop and decision.reason is not None:
                self.stopped[trial_id] = decision.reason.to_record()
                trial.close(STATUS_COMPLETED, stopped_by=self.stopped[trial_id])
                return True
            return False

    def _open_history(self, trial_id: str, result: Mapping[str, Any]) -> Any:
        if self.history_dir is None:
            return None
        from lstm_top import Logger

        os.makedirs(self.history_dir, exist_ok=True)
        config = result.get("config")
        header: dict[str, Any] = {"framework": "ray-tune", "trial_id": trial_id}
        if isinstance(config, Mapping):
            header.update({str(k): v for k, v in config.items()
                           if isinstance(v, str | int | float | bool)})
        name = _SAFE_NAME.sub("_", trial_id)[:100] or "trial"
        return Logger(os.path.join(self.history_dir, f"{name}.jsonl"), run_name=trial_id,
                      config=header)

    def _end(self, trial_id: str, status: str, error: str | None = None) -> None:
        with self._lock:
            trial = self._trials.get(trial_id)
            if trial is not None:
                trial.close(status, error, stopped_by=self.stopped.get(trial_id))


class _Trial:
    def __init__(self, rule: StopRule, logger: Any) -> None:
        self.rule = rule
        self.logger = logger
        self.last_epoch = 0

    def close(self, status: str, error: str | None = None, *,
              stopped_by: Mapping[str, Any] | None = None) -> None:
        if self.logger is not None:
            self.logger.close(status, error, stopped_by=stopped_by)
            self.logger = None


class _EndHistories(tune.Callback):
    def __init__(self, stopper: SignsStopper) -> None:
        self.stopper = stopper

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any,
                          **info: Any) -> None:
        self.stopper._end(str(trial.trial_id), STATUS_COMPLETED)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.stopper._end(str(trial.trial_id), STATUS_CRASHED, "the trial failed (see Ray's log)")
