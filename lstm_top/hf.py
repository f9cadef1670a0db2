"""Hugging Face ``transformers`` integration: ``Trainer(..., callbacks=[LstmTopCallback(path)])``.

What is written:

* a step record per logging step (``logging_steps``): ``loss``, ``lr`` (the Trainer's
  ``learning_rate``) and ``grad_norm``, at ``state.global_step``;
* a step record per evaluation: ``eval_loss`` and the other ``eval_*`` metrics;
* an epoch record per *epoch* (``eval_strategy`` "epoch" or "no") or per *evaluation*
  (``eval_strategy="steps"``; the header's ``epoch_unit`` then says "evaluation"): the mean of
  the training losses logged since the previous record as ``loss``, the last ``lr``, the mean
  ``grad_norm``, and the evaluation's metrics.

An ``eval_dataset`` dict (``{"short": ds1, "long": ds2}``) is evaluated one set at a time, as
``eval_short_loss``, ``eval_long_loss``: these become validation subsets with their sizes ``n``,
and ``eval_loss`` is their size-weighted mean when the Trainer logged no plain one. Because the
Trainer evaluates the sets one after another with no "all done" event, an epoch record is written
when the next training step (or epoch, or the end of training) begins.

Throughput figures (``*_runtime``, ``*_per_second``) are left out. Only the main process writes
(``per_rank=True``: one file per process). Like the Logger underneath, the callback never raises
into training: a failure is reported once as an ``lstm_top.LoggerWarning``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from lstm_top.format import CONSTANT_GUESS_METRIC, STATUS_COMPLETED, STATUS_CRASHED
from lstm_top.hook.logger import Logger, OnceWarner
from lstm_top.hook.metrics import clean_config, numbers, try_set
from lstm_top.hook.subsets import weighted_means

__all__ = ["LstmTopCallback"]

_THROUGHPUT_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second")
_EVAL_PREFIX = "eval_"


class LstmTopCallback(TrainerCallback):
    """Write a Hugging Face Trainer history for ``lstm-top``.

    Args:
        path: the JSON Lines file to append to.
        run_name: shown by the viewer; default: the Trainer's ``run_name`` or the file name.
        config: extra header configuration, merged over what the callback finds itself.
        per_rank: in a multi-process run, every process writes its own file.
        stop_on: stop training (``control.should_training_stop``) when a warning sign
            appears in the epoch (or evaluation) records: a severity (``"critical"``) or sign
            ids; the sign is written in the end record. Judged when the evaluation ends (with a
            dict ``eval_dataset``: when the next step begins, so one more step runs). Off by
            default.
        restore_best: when training ends, load the weights of the record with the best
            ``monitor`` value (default: ``eval_loss``), copied to host memory at every
            improvement. (The Trainer's own ``load_best_model_at_end`` needs checkpoints.)
        monitor, mode, min_delta: what "best" means for ``restore_best``.
        constant_guess: the loss of the best constant guess on the training targets
            (``lstm_top.constant_guess_loss(y_train, "cross_entropy")``), logged with every
            epoch (or evaluation) record as ``constant_guess_loss``: a model stuck at the class
            frequencies or the mean is then reported as a plateau however it got there.
    """

    def __init__(self, path: str, *, run_name: str | None = None,
                 config: Mapping[str, Any] | None = None, per_rank: bool = False,
                 stop_on: str | Iterable[str] | None = None, restore_best: bool = False,
                 monitor: str | None = None, mode: str = "min",
                 min_delta: float = 0.0, constant_guess: float | None = None) -> None:
        self.path = path
        self.constant_guess = constant_guess
        self.run_name = run_name
        self.extra_config = dict(config or {})
        self.per_rank = per_rank
        self.logger: Logger | None = None
        self._per_evaluation = False
        self._records = 0
        self._last_index = 0
        self._epoch_index: int | None = None
        self._record_due = False
        self._train_losses: list[float] = []
        self._grad_norms: list[float] = []
        self._lr: float | None = None
        self._evaluation: dict[str, float] = {}
        self._subsets: dict[str, dict[str, float]] = {}
        self._warn_once = OnceWarner()
        self._model: Any = None
        self._stop_due = False
        self.actions: Any = None
        if stop_on is not None or restore_best:  # the signs (numpy) load only when asked for
            from lstm_top.actions import EpochActions

            self.actions = EpochActions(stop_on, restore_best=restore_best, monitor=monitor,
                                        mode=mode, min_delta=min_delta, warn=self._warn_once)

    # ------------------------------------------------------------------ Trainer events

    def on_train_begin(self, args: TrainingArguments, state: TrainerState,
                       control: TrainerControl, **kwargs: Any) -> None:
        if self.logger is not None:  # a previous train() with this callback never ended
            self._close(STATUS_CRASHED, "training stopped without on_train_end")
        if not state.is_world_process_zero and not self.per_rank:
            return
        self._per_evaluation = _strategy(args) == "steps"
        self._reset_pending()
        self._records = 0
        self._last_index = 0
        self._model = kwargs.get("model")
        self._stop_due = False
        if self.actions is not None:
            self.actions.begin()
        try:
            self.logger = Logger(self.path, run_name=self.run_name or _run_name(args),
                                 config=self._config(args, state, kwargs.get("model")),
                                 per_rank=self.per_rank, rank=args.process_index)
        except Exception as exc:
            self._warn_once("begin", f"lstm-top: could not start logging ({exc!r})")

    def on_epoch_begin(self, args: TrainingArguments, state: TrainerState,
                       control: TrainerControl, **kwargs: Any) -> None:
        self._write_due_record()
        self._apply_stop(control)

    def on_step_begin(self, args: TrainingArguments, state: TrainerState,
                      control: TrainerControl, **kwargs: Any) -> None:
        self._write_due_record()
        self._apply_stop(control)

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState,
                     control: TrainerControl, **kwargs: Any) -> None:
        if not self._per_evaluation:
            # Written later: the epoch's last training log and its evaluation come after this.
            self._record_due = True
            self._epoch_index = round(state.epoch or 0) or None

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        if self.logger is None or not logs or "loss" not in logs:
            return  # evaluations arrive through on_evaluate; the final summary is not a step
        try:
            metrics = numbers(logs)
            metrics.pop("epoch", None)  # the record's own field, not a metric
            if "learning_rate" in metrics:
                metrics["lr"] = metrics.pop("learning_rate")
                self._lr = metrics["lr"]
            if "loss" in metrics:
                self._train_losses.append(metrics["loss"])
            if "grad_norm" in metrics:
                self._grad_norms.append(metrics["grad_norm"])
            self.logger.log_metrics(metrics, epoch=_epoch_of(state), step=state.global_step)
        except Exception as exc:
            self._warn_once("log", f"lstm-top: could not log a step ({exc!r})")

    def on_evaluate(self, args: TrainingArguments, state: TrainerState,
                    control: TrainerControl, metrics: Mapping[str, Any] | None = None,
                    **kwargs: Any) -> None:
        if self.logger is None or not metrics:
            return
        try:
            prefix = _metric_prefix(metrics)
            values = {name: value for name, value in numbers(metrics).items()
                      if name.startswith(prefix) and not name.endswith(_THROUGHPUT_SUFFIXES)}
            if prefix == _EVAL_PREFIX:
                self._evaluation.update(values)
                self.logger.log_metrics(values, epoch=_epoch_of(state), step=state.global_step)
            else:  # one set of a dict eval_dataset: "eval_long_loss" -> subset "long"
                subset = prefix[len(_EVAL_PREFIX):-1]
                renamed = {_EVAL_PREFIX + name[len(prefix):]: value
                           for name, value in values.items()}
                size = _dataset_size(kwargs.get("eval_dataloader"))
                if size is not None:
                    renamed["n"] = size
                self._subsets[subset] = renamed
                self.logger.log_metrics({}, epoch=_epoch_of(state), step=state.global_step,
                                        subsets={subset: renamed})
            if self._per_evaluation:
                self._record_due = True
            if prefix == _EVAL_PREFIX:
                # One eval set: the record is complete now (the epoch's training logs came
                # before its evaluation), so it is written - and judged, so a stop takes effect
                # before the next step. Only a dict's sets wait for the next step to begin.
                self._write_due_record()
                self._apply_stop(control)
        except Exception as exc:
            self._warn_once("evaluate", f"lstm-top: could not log an evaluation ({exc!r})")

    def on_train_end(self, args: TrainingArguments, state: TrainerState,
                     control: TrainerControl, **kwargs: Any) -> None:
        if not self._per_evaluation and self._train_losses:
            self._record_due = True  # max_steps ended the run inside an epoch
            self._epoch_index = self._epoch_index or _epoch_of(state)
        self._write_due_record()
        model = kwargs.get("model", self._model)
        if self.actions is not None and model is not None:
            self.actions.restore(model.load_state_dict)
        self._close(STATUS_COMPLETED)

    # ------------------------------------------------------------------ internals

    def _write_due_record(self) -> None:
        if not self._record_due or self.logger is None:
            return
        self._records += 1
        index = self._records if self._per_evaluation else (self._epoch_index or self._records)
        # A run stopped inside an epoch ends at a fractional epoch (8.5 rounds to 8): the last
        # record still gets a number of its own.
        index = max(index, self._last_index + 1)
        self._last_index = index
        try:
            metrics: dict[str, float] = dict(self._evaluation)
            if self._train_losses:
                metrics["loss"] = sum(self._train_losses) / len(self._train_losses)
            if self._grad_norms:
                metrics["grad_norm"] = sum(self._grad_norms) / len(self._grad_norms)
            if self._lr is not None:
                metrics["lr"] = self._lr
            for metric, value in weighted_means(self._subsets).items():
                metrics.setdefault(metric, value)
            if self.constant_guess is not None:
                metrics.setdefault(CONSTANT_GUESS_METRIC, self.constant_guess)
            self.logger.log_metrics(metrics, epoch=index, subsets=self._subsets)
            if self.actions is not None and self.actions.after_epoch(
                    index, metrics, self._subsets, snapshot=self._snapshot):
                self._stop_due = True
        except Exception as exc:
            self._warn_once("epoch", f"lstm-top: could not log record {index} ({exc!r})")
        finally:
            self._reset_pending()

    def _apply_stop(self, control: TrainerControl) -> None:
        if self._stop_due:
            control.should_training_stop = True

    def _snapshot(self) -> Any:
        from lstm_top.torch import state_copy

        return state_copy(self._model) if self._model is not None else None

    def _reset_pending(self) -> None:
        self._record_due = False
        self._epoch_index = None
        self._train_losses = []
        self._grad_norms = []
        self._evaluation = {}
        self._subsets = {}

    def _close(self, status: str, error: str | None = None) -> None:
        logger, self.logger = self.logger, None
        if logger is not None:
            stopped_by = self.actions.stopped_by if self.actions is not None else None
            logger.close(status, error, stopped_by=stopped_by)

    def _config(self, args: TrainingArguments, state: TrainerState, model: Any) -> dict[str, Any]:
        config: dict[str, Any] = {
            "framework": "transformers",
            "epoch_unit": "evaluation" if self._per_evaluation else "epoch",
            "lr": args.learning_rate,
            "epochs": args.num_train_epochs,
            "max_steps": state.max_steps or None,
            "batch_size": args.per_device_train_batch_size,
            "gradient_accumulation_steps": args.gradient_accumulation_steps,
            "lr_scheduler": str(getattr(args.lr_scheduler_type, "value",
                                        args.lr_scheduler_type)),
            "world_size": args.world_size,
        }
        if model is not None:
            config["model"] = type(model).__name__
            model_type = getattr(getattr(model, "config", None), "model_type", None)
            if model_type:
                config["model_type"] = model_type
            try_set(config, "params", lambda: sum(p.numel() for p in model.parameters()))
        return clean_config(config, self.extra_config)



def _strategy(args: TrainingArguments) -> str:
    # Renamed from evaluation_strategy in transformers 4.41; an enum or a plain string.
    strategy = getattr(args, "eval_strategy", None) or getattr(args, "evaluation_strategy", "no")
    return str(getattr(strategy, "value", strategy))


def _run_name(args: TrainingArguments) -> str | None:
    name = getattr(args, "run_name", None)
    # The Trainer defaults run_name to output_dir, which names a folder, not a run.
    return name if name and name != args.output_dir else None


def _epoch_of(state: TrainerState) -> int:
    """The 1-based epoch a fractional ``state.epoch`` (0.5, 1.0, 1.5...) falls in."""
    return max(1, math.ceil(state.epoch or 0))


def _metric_prefix(metrics: Mapping[str, Any]) -> str:
    """``eval_`` for one eval set, ``eval_long_`` for the set named "long" of a dict."""
    for name in metrics:
        if name.startswith(_EVAL_PREFIX) and name.endswith("_runtime"):
            return name[: -len("runtime")]
    for name in metrics:
        if name.startswith(_EVAL_PREFIX) and name.endswith("_loss"):
            return name[: -len("loss")]
    return _EVAL_PREFIX


def _dataset_size(dataloader: Any) -> float | None:
    try:
        return float(len(dataloader.dataset))
    except Exception:  # no dataloader, or an iterable dataset without a length
        return None

