"""Keras integration: ``model.fit(..., callbacks=[LstmTopCallback("run.jsonl")])``.

Works with Keras 3 (any backend) and, when standalone ``keras`` is missing, ``tf.keras``.
Everything Keras puts in the epoch ``logs`` is written, plus the optimiser's current learning
rate as ``lr`` (schedules included), plus optional named validation subsets evaluated at every
epoch end. Like the Logger underneath, the callback never raises into training: a failure is
reported once as an ``lstm_top.LoggerWarning`` and that part of the logging is skipped.

How the run ends (the ``end`` record's status):

* ``completed`` — ``on_train_end`` ran (also after EarlyStopping or ``stop_training``);
* ``interrupted`` / ``crashed`` — Keras has no exception hook, so an exception leaving ``fit``
  skips ``on_train_end``. The callback notices it in two places: an exception that reaches the
  top of the program (``sys.excepthook``, then ``atexit``) ends the run as ``interrupted`` for
  Ctrl-C and ``crashed`` with the error otherwise; a later ``fit`` with the same callback ends the
  abandoned run as ``crashed`` before starting the new one; ``sys.exit`` from inside training
  ends it as ``crashed`` ("process exited during training").
* no end record — a process killed with SIGKILL, or an exception caught inside a notebook that
  keeps running: the viewer shows the run as not finished (every record written is intact).
"""

from __future__ import annotations

import atexit
import sys
import threading
import weakref
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from lstm_top.format import (
    CONSTANT_GUESS_METRIC,
    STATUS_COMPLETED,
    STATUS_CRASHED,
    STATUS_INTERRUPTED,
)
from lstm_top.hook.logger import Logger, OnceWarner
from lstm_top.hook.loss_stats import LossStats
from lstm_top.hook.metrics import clean_config, is_tensor_like, learning_rate, numbers, try_set

try:
    import keras as _keras
except ImportError:  # pragma: no cover - only on TF 2.x installs without standalone keras
    from tensorflow import keras as _keras

__all__ = ["LstmTopCallback"]

# A subset is (x, y) or (x, y, sample_weight) arrays, or a dataset yielding such batches.
SubsetData = Any


class LstmTopCallback(_keras.callbacks.Callback):
    """Write a Keras training history for ``lstm-top``.

    Args:
        path: the JSON Lines file to append to (created with its directory's permissions).
        validation_subsets: ``{"name": (x, y), ...}`` evaluated after every epoch with
            ``model.evaluate(verbose=0, return_dict=True)``; each is logged as subset metrics
            (``val_loss``, ``val_<metric>``, ``n`` samples and, for a single-output model with a
            per-sample loss, ``val_loss_std`` across samples).
        validation_stats: the validation data given to ``fit`` (``(x, y)``), measured once
            more after every epoch for ``val_loss_std`` (the per-sample spread) and ``val_n``:
            the noise the warning signs weigh a change in ``val_loss`` against. Opt-in: it
            costs one extra forward pass over that data per epoch.
        run_name: shown by the viewer; default: the file name without extension.
        config: extra header configuration, merged over what the callback finds itself
            (optimizer, learning rate, epochs, parameter count, backend).
        log_steps: also write one step record per training batch (Keras' running averages).
        stop_on: stop training when a warning sign appears: a severity (``"critical"``: any
            sign at least that severe) or sign ids (``{"diverging_loss", "nonfinite_loss"}``).
            The signs run in-process on the epochs this callback logs; the sign that stopped
            the run is written in the end record (``stopped_by``). Off by default.
        restore_best: at the end of training, load the weights of the epoch with the best
            ``monitor`` value (Keras' ``restore_best_weights``): copied at every improvement.
        monitor, mode, min_delta: what "best" means for ``restore_best`` (default: the
            validation loss, lower is better).
        constant_guess: the loss of the best constant guess on the training targets
            (``lstm_top.hook.baseline.constant_guess_loss(y_train, model_loss_name)``), logged
            with every epoch: a model stuck at the class frequencies or the mean is then
            reported as a plateau however it got there.

    Each ``fit`` is one run: a second ``fit`` with the same callback appends a new header
    (epochs keep Keras' numbering, so ``initial_epoch`` continues the curve).
    """

    def __init__(self, path: str, *, validation_subsets: Mapping[str, SubsetData] | None = None,
                 validation_stats: SubsetData | None = None, run_name: str | None = None,
                 config: Mapping[str, Any] | None = None,
                 log_steps: bool = False, stop_on: str | Iterable[str] | None = None,
                 restore_best: bool = False, monitor: str | None = None, mode: str = "min",
                 min_delta: float = 0.0, constant_guess: float | None = None) -> None:
        super().__init__()
        self.path = path
        self.validation_subsets = dict(validation_subsets or {})
        self.validation_stats = validation_stats
        self.run_name = run_name
        self.extra_config = dict(config or {})
        self.log_steps = log_steps
        self.constant_guess = constant_guess
        self.logger: Logger | None = None
        self._epoch = 0
        self._step = 0
        self._warn_once = OnceWarner()
        self.actions: Any = None
        if stop_on is not None or restore_best:  # the signs (numpy) load only when asked for
            from lstm_top.actions import EpochActions

            self.actions = EpochActions(stop_on, restore_best=restore_best, monitor=monitor,
                                        mode=mode, min_delta=min_delta, warn=self._warn_once)

    # ------------------------------------------------------------------ Keras hooks

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        try:
            if self.logger is not None:  # the previous fit left by an exception
                self.logger.close(STATUS_CRASHED, "training stopped without on_train_end")
            self.logger = Logger(self.path, run_name=self.run_name, config=self._config())
            self._step = 0
            if self.actions is not None:
                self.actions.begin()
            _OPEN_CALLBACKS.add(self)
            _install_exit_hooks()
        except Exception as exc:
            self._warn_once("begin", f"lstm-top: could not start logging ({exc!r})")

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if not self.log_steps or self.logger is None:
            return
        self._step += 1
        try:
            self.logger.log_metrics(numbers(logs), epoch=self._epoch + 1, step=self._step)
        except Exception as exc:
            self._warn_once("step", f"lstm-top: could not log a step ({exc!r})")

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.logger is None:
            return
        try:
            metrics = numbers(logs)
            lr = self._learning_rate()
            if lr is not None:
                metrics["lr"] = lr
            subsets = {name: self._evaluate_subset(name, data)
                       for name, data in self.validation_subsets.items()}
            subsets = {k: v for k, v in subsets.items() if v}
            if self.validation_stats is not None:
                metrics.update(self._loss_spread(self.validation_stats))
            if self.constant_guess is not None:
                metrics.setdefault(CONSTANT_GUESS_METRIC, self.constant_guess)
            # Keras epochs count from 0; lstm-top's (like the progress bar's) from 1.
            self.logger.log_metrics(metrics, epoch=epoch + 1, subsets=subsets)
        except Exception as exc:
            self._warn_once("epoch", f"lstm-top: could not log epoch {epoch + 1} ({exc!r})")
            return
        if self.actions is not None and self.actions.after_epoch(
                epoch + 1, metrics, subsets, snapshot=self.model.get_weights):
            self.model.stop_training = True

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self.actions is not None:
            self.actions.restore(self.model.set_weights)
        self._close(STATUS_COMPLETED)

    # ------------------------------------------------------------------ internals

    def _close(self, status: str, error: str | None = None) -> None:
        logger, self.logger = self.logger, None
        _OPEN_CALLBACKS.discard(self)
        if logger is not None:
            stopped_by = self.actions.stopped_by if self.actions is not None else None
            logger.close(status, error, stopped_by=stopped_by)

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"framework": "keras"}
        try_set(config, "keras_backend", lambda: _keras.backend.backend())
        params = self.params or {}
        for key in ("epochs", "steps", "batch_size", "samples"):
            if params.get(key) is not None:
                config[key] = params[key]
        model = self.model
        if model is not None:
            try_set(config, "model", lambda: model.name)
            # count_params() only reads shapes of built weights: cheap, but fails unbuilt.
            try_set(config, "params", lambda: int(model.count_params()))
            optimizer = getattr(model, "optimizer", None)
            if optimizer is not None:
                try_set(config, "optimizer", lambda: type(optimizer).__name__)
                try_set(config, "lr", self._learning_rate)
                learning_rate = getattr(optimizer, "_learning_rate", None)
                if learning_rate is not None and not is_tensor_like(learning_rate):
                    config["lr_schedule"] = type(learning_rate).__name__
            try_set(config, "loss", lambda: _loss_name(model.loss))
        return clean_config(config, self.extra_config)

    def _learning_rate(self) -> float | None:
        return learning_rate(getattr(self.model, "optimizer", None))

    def _evaluate_subset(self, name: str, data: SubsetData) -> dict[str, float]:
        model = self.model
        try:
            x, y, sample_weight = _unpack(data)
            if y is None:  # a dataset yielding (x, y) batches
                results = model.evaluate(x, verbose=0, return_dict=True)
            else:
                results = model.evaluate(x, y, sample_weight=sample_weight, verbose=0,
                                         return_dict=True)
        except Exception as exc:
            self._warn_once(f"subset:{name}", f"lstm-top: could not evaluate validation "
                                              f"subset {name!r} ({exc!r}); not logged")
            return {}
        values = {(k if k.startswith("val_") else f"val_{k}"): v
                  for k, v in numbers(results).items()}
        count = _sample_count(x)
        if count is not None:
            values["n"] = count
        if y is not None and sample_weight is None:
            std = self._per_sample_loss_std(x, y)
            if std is not None:
                values["val_loss_std"] = std
        return values

    def _loss_spread(self, data: SubsetData) -> dict[str, float]:
        """``val_loss_std`` and ``val_n`` of the whole validation set (one forward pass)."""
        x, y, sample_weight = _unpack(data)
        if y is None or sample_weight is not None:
            self._warn_once("validation_stats", "lstm-top: validation_stats needs (x, y) "
                                                "without sample weights; not measured")
            return {}
        losses = self._per_sample_losses(x, y)
        if losses is None:
            self._warn_once("validation_stats", "lstm-top: no per-sample loss for this model's "
                                                "loss; val_loss_std not measured")
            return {}
        stats = LossStats()
        stats.add(losses)
        spread = stats.metrics()
        return {"val_loss_std": spread["val_loss_std"], "val_n": spread["val_n"]} if spread else {}

    def _per_sample_loss_std(self, x: Any, y: Any) -> float | None:
        """Spread of the loss across the subset's samples (the sample std, as LossStats gives
        for the whole set): one extra forward pass."""
        losses = self._per_sample_losses(x, y)
        if losses is None or not losses.size:
            return None
        stats = LossStats()
        stats.add(losses)
        return stats.std

    def _per_sample_losses(self, x: Any, y: Any) -> Any:
        """The compiled loss of each sample (a numpy array), or None where that is unclear."""
        try:
            per_sample = _per_sample_loss_fn(self.model.loss)
            if per_sample is None:
                return None
            import numpy as np

            predictions = self.model.predict(x, verbose=0)
            if not hasattr(predictions, "shape"):
                return None  # several outputs: which loss is "the" loss is not clear
            predictions = np.asarray(predictions)
            # Loss functions accept numpy arrays on every backend (and in tf.keras).
            losses = _to_numpy(per_sample(np.asarray(y, dtype=predictions.dtype), predictions))
            return losses.reshape(len(losses), -1).mean(axis=1) if losses.ndim > 1 else losses
        except Exception:
            return None



# ---------------------------------------------------------------------------- helpers


def _to_numpy(value: Any) -> Any:
    """A backend tensor as a float64 numpy array (Keras 3 ops, else tf's ``.numpy()``)."""
    import numpy as np

    ops = getattr(_keras, "ops", None)  # Keras 3; tf.keras 2 has no ops module
    if ops is not None:
        value = ops.convert_to_numpy(value)
    elif hasattr(value, "numpy"):
        value = value.numpy()
    return np.asarray(value, dtype=np.float64)


def _loss_name(loss: Any) -> str | None:
    if loss is None:
        return None
    if isinstance(loss, str):
        return loss
    return getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__


def _per_sample_loss_fn(loss: Any) -> Any:
    """A function (y_true, y_pred) -> one loss per sample, for a single compiled loss."""
    if loss is None or isinstance(loss, list | tuple | Mapping):
        return None
    if isinstance(loss, str):
        try:
            return _keras.losses.get(loss)  # the plain function: reduces the last axis only
        except Exception:
            return None
    # A Loss object's call() is its unreduced per-sample function (LossFunctionWrapper and
    # subclasses); a plain function already returns per-sample values.
    call = getattr(loss, "call", None)
    if isinstance(loss, _keras.losses.Loss) and call is not None:
        return call
    return loss if callable(loss) else None


def _unpack(data: SubsetData) -> tuple[Any, Any, Any]:
    if isinstance(data, tuple | list) and len(data) in (2, 3):
        return data[0], data[1], data[2] if len(data) == 3 else None
    return data, None, None


def _sample_count(x: Any) -> int | None:
    first = x
    if isinstance(x, Mapping):
        first = next(iter(x.values()), None)
    elif isinstance(x, list | tuple) and x and hasattr(x[0], "shape"):
        first = x[0]
    shape = getattr(first, "shape", None)
    if shape is not None and len(shape) and shape[0] is not None:
        return int(shape[0])
    return None


# ---------------------------------------------------------------------------- ending runs

_OPEN_CALLBACKS: weakref.WeakSet[LstmTopCallback] = weakref.WeakSet()
_hooks_lock = threading.Lock()
_hooks_installed = False
_uncaught: BaseException | None = None


def _install_exit_hooks() -> None:
    """Once per process: remember an uncaught exception, and end open runs at exit."""
    global _hooks_installed
    with _hooks_lock:
        if _hooks_installed:
            return
        _hooks_installed = True
        previous = sys.excepthook

        def remember_uncaught(exc_type: type[BaseException], exc: BaseException,
                              tb: TracebackType | None) -> None:
            global _uncaught
            _uncaught = exc
            previous(exc_type, exc, tb)

        sys.excepthook = remember_uncaught
        atexit.register(_end_open_runs)


def _end_open_runs() -> None:
    exc = _uncaught
    for callback in list(_OPEN_CALLBACKS):
        try:
            if isinstance(exc, KeyboardInterrupt):
                callback._close(STATUS_INTERRUPTED)
            elif exc is not None:
                callback._close(STATUS_CRASHED, f"{type(exc).__name__}: {exc}"[:500])
            else:
                callback._close(STATUS_CRASHED, "process exited during training")
        except Exception:
            pass
