"""PyTorch Lightning integration: ``Trainer(callbacks=[LstmTopCallback("run.jsonl")])``.

One epoch record per training epoch with everything the module logged at epoch level
(``self.log(..., on_epoch=True)`` and validation metrics), the learning rate in effect during
the epoch as ``lr`` (read when the epoch starts) and the gradient norm (``grad_norm``: mean of
the epoch's per-step total L2 norms; ``grad_norm_max``). A metric logged on step only appears
with its last step's value, as in Lightning's progress bar: log it with ``on_epoch=True``.

Several validation dataloaders become validation subsets: Lightning names their metrics
``val_loss/dataloader_idx_1``; the callback writes them as subset ``long``'s ``val_loss`` with
the subset's size ``n``. Names come from ``validation_subsets=["short", "long"]``, or from the
keys when ``val_dataloaders`` is a dict, else ``dataloader_0``, ``dataloader_1``... When no plain
``val_loss`` was logged, the callback writes the size-weighted mean over the subsets, which is the
loss over all validation samples (Lightning's epoch reduction is a batch-size-weighted mean).

Works with ``lightning`` (``lightning.pytorch``) or the older ``pytorch_lightning`` package.
Only global rank 0 writes (``per_rank=True``: one file per rank, ``run.rank1.jsonl``). Like the
Logger underneath, the callback never raises into training: a failure is reported once as an
``lstm_top.LoggerWarning`` and that part of the logging is skipped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from lstm_top.actions import EpochActions
from lstm_top.format import (
    CONSTANT_GUESS_METRIC,
    STATUS_COMPLETED,
    STATUS_CRASHED,
    STATUS_INTERRUPTED,
)
from lstm_top.hook.logger import Logger, OnceWarner
from lstm_top.hook.loss_stats import pooled_loss_stats
from lstm_top.hook.metrics import clean_config, learning_rates, numbers, try_set
from lstm_top.hook.subsets import weighted_means
from lstm_top.torch import state_copy, total_grad_norm

try:
    import lightning.pytorch as _pl
except ImportError:  # the standalone package from before Lightning 2.0's rename
    import pytorch_lightning as _pl  # type: ignore[no-redef]

__all__ = ["LstmTopCallback"]

# Lightning's name for a metric logged under several validation dataloaders.
_DATALOADER_SUFFIX = re.compile(r"^(?P<metric>.+)/dataloader_idx_(?P<index>\d+)$")


class LstmTopCallback(_pl.Callback):
    """Write a Lightning training history for ``lstm-top``.

    Args:
        path: the JSON Lines file to append to.
        validation_subsets: names of the validation dataloaders, in order.
        run_name: shown by the viewer; default: the file name without extension.
        config: extra header configuration, merged over what the callback finds itself.
        log_every_n_steps: also write a step record every n optimizer steps (the module's
            step-level metrics and ``lr``); None writes epoch records only.
        grad_norm: compute the gradient norm before every optimizer step (one small reduction
            per step, read back once per epoch).
        per_rank: in a multi-process run, every rank writes its own file.
        stop_on: stop training (``trainer.should_stop``) when a warning sign appears: a
            severity (``"critical"``) or sign ids; the sign is written in the end record.
            Judged on rank 0's epochs; Lightning's strategy broadcasts the stop. Off by default.
        restore_best: when fit ends, load the weights of the epoch with the best ``monitor``
            value (default: the validation loss), copied to host memory at every improvement.
        monitor, mode, min_delta: what "best" means for ``restore_best``.
        constant_guess: the loss of the best constant guess on the training targets
            (``lstm_top.constant_guess_loss(y_train, "cross_entropy")``), logged with every
            epoch record as ``constant_guess_loss``: a model stuck at the class frequencies or
            the mean is then reported as a plateau however it got there.
    """

    def __init__(self, path: str, *, validation_subsets: Sequence[str] | None = None,
                 run_name: str | None = None, config: Mapping[str, Any] | None = None,
                 log_every_n_steps: int | None = None, grad_norm: bool = True,
                 per_rank: bool = False, stop_on: str | Iterable[str] | None = None,
                 restore_best: bool = False, monitor: str | None = None, mode: str = "min",
                 min_delta: float = 0.0, constant_guess: float | None = None) -> None:
        super().__init__()
        self.path = path
        self.validation_subsets = list(validation_subsets or [])
        self.constant_guess = constant_guess
        self.run_name = run_name
        self.extra_config = dict(config or {})
        self.log_every_n_steps = log_every_n_steps
        self.grad_norm = grad_norm
        self.per_rank = per_rank
        self.logger: Logger | None = None
        self._warn_once = OnceWarner()
        # Names ever set by a validation loop: the rest of callback_metrics is training's.
        self._validation_keys: set[str] = set()
        self._before_validation: dict[str, float] = {}
        # Validation results of this epoch; None when validation did not run in it.
        self._validation: dict[str, float] | None = None
        self._grad_sum: torch.Tensor | None = None
        self._grad_max: torch.Tensor | None = None
        self._grad_steps = 0
        self._epoch_lr: dict[str, float] = {}
        self.actions: EpochActions | None = None
        if stop_on is not None or restore_best:
            self.actions = EpochActions(stop_on, restore_best=restore_best, monitor=monitor,
                                        mode=mode, min_delta=min_delta, warn=self._warn_once)

    # ------------------------------------------------------------------ Lightning hooks

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if self.logger is not None:  # a previous fit with this callback never finished
            self._close(STATUS_CRASHED, "training stopped without on_fit_end")
        if self.actions is not None:
            self.actions.begin()
        if not trainer.is_global_zero and not self.per_rank:
            return
        try:
            self.logger = Logger(self.path, run_name=self.run_name,
                                 config=self._config(trainer, pl_module),
                                 per_rank=self.per_rank, rank=trainer.global_rank)
        except Exception as exc:
            self._warn_once("begin", f"lstm-top: could not start logging ({exc!r})")

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        # Read now: an epoch-interval scheduler steps before on_train_epoch_end runs, so the
        # rate found there is the next epoch's.
        self._epoch_lr = _learning_rates(trainer) if self._watching else {}

    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if not self._watching:
            return
        self._before_validation = numbers(trainer.callback_metrics)

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not self._watching or trainer.sanity_checking:
            return
        try:
            after = numbers(trainer.callback_metrics)
            # New names, or names whose value changed, were set by this validation loop.
            changed = {name for name, value in after.items()
                       if not _same(self._before_validation.get(name), value)}
            self._validation_keys |= changed
            self._validation = {name: after[name] for name in self._validation_keys
                                if name in after}
        except Exception as exc:
            self._warn_once("validation", f"lstm-top: could not read validation ({exc!r})")

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        if self.logger is None or not self.grad_norm:
            return
        try:
            norm = total_grad_norm(pl_module.parameters())
            if norm is None:
                return
            # Kept as tensors: reading a GPU value every step would stall the device.
            if self._grad_sum is None or self._grad_max is None:
                self._grad_sum, self._grad_max = norm.clone(), norm.clone()
            else:
                self._grad_sum += norm
                self._grad_max = torch.maximum(self._grad_max, norm)
            self._grad_steps += 1
        except Exception as exc:
            self._warn_once("grad", f"lstm-top: could not compute the gradient norm ({exc!r})")

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        every = self.log_every_n_steps
        if self.logger is None or not every or trainer.global_step % every:
            return
        try:
            metrics = {}
            for name, value in numbers(trainer.callback_metrics).items():
                if name in self._validation_keys or name.endswith("_epoch"):
                    continue
                metrics[name.removesuffix("_step")] = value
            metrics.update(_learning_rates(trainer))
            self.logger.log_metrics(metrics, epoch=trainer.current_epoch + 1,
                                    step=trainer.global_step)
        except Exception as exc:
            self._warn_once("step", f"lstm-top: could not log a step ({exc!r})")

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not self._watching:
            return
        epoch = trainer.current_epoch + 1  # Lightning counts from 0; lstm-top from 1
        stop = False
        try:
            metrics, subsets = self._epoch_metrics(trainer)
            if self.logger is not None:
                self.logger.log_metrics(metrics, epoch=epoch, subsets=subsets)
            if self.actions is not None:
                # Every rank keeps its own best weights; rank 0's signs decide the stop.
                stop = self.actions.after_epoch(epoch, metrics, subsets,
                                                snapshot=lambda: state_copy(pl_module))
        except Exception as exc:
            self._warn_once("epoch", f"lstm-top: could not log epoch {epoch} ({exc!r})")
        finally:
            self._validation = None
            self._grad_sum = self._grad_max = None
            self._grad_steps = 0
        if self.actions is not None and self.actions.stop_on is not None:
            if trainer.world_size > 1:
                stop = bool(trainer.strategy.broadcast(stop, src=0))
            if stop:
                trainer.should_stop = True

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self.actions is not None:
            self.actions.restore(pl_module.load_state_dict)
        self._close(STATUS_COMPLETED)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt):
            self._close(STATUS_INTERRUPTED)
        else:
            self._close(STATUS_CRASHED, f"{type(exception).__name__}: {exception}"[:500])

    # ------------------------------------------------------------------ internals

    @property
    def _watching(self) -> bool:
        """This rank reads the epoch's metrics: it writes them, or judges them (stop_on)."""
        return self.logger is not None or self.actions is not None

    def _epoch_metrics(self, trainer: Any) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        current = numbers(trainer.callback_metrics)
        training = {name: value for name, value in current.items()
                    if name not in self._validation_keys}
        metrics = _epoch_level(training)
        subsets: dict[str, dict[str, float]] = {}
        names = self._subset_names(trainer)
        sizes = _dataloader_sizes(trainer.val_dataloaders)
        for name, value in (self._validation or {}).items():
            match = _DATALOADER_SUFFIX.match(name)
            if match is None:
                metrics[name] = value
                continue
            index = int(match["index"])
            subset = names[index] if index < len(names) else f"dataloader_{index}"
            values = subsets.setdefault(subset, {})
            values[match["metric"]] = value
            size = sizes[index] if index < len(sizes) else None
            if size is not None:
                values["n"] = size
        # The dataloaders together are the validation set: its mean, and its spread and size
        # where each dataloader's val_loss_std was logged (LossStats), with no extra pass.
        for metric, value in {**weighted_means(subsets), **pooled_loss_stats(subsets)}.items():
            metrics.setdefault(metric, value)
        metrics.update(self._epoch_lr)
        if self._grad_steps and self._grad_sum is not None and self._grad_max is not None:
            metrics["grad_norm"] = float(self._grad_sum) / self._grad_steps
            metrics["grad_norm_max"] = float(self._grad_max)
        if self.constant_guess is not None:
            metrics.setdefault(CONSTANT_GUESS_METRIC, self.constant_guess)
        return metrics, subsets

    def _subset_names(self, trainer: Any) -> list[str]:
        if self.validation_subsets:
            return self.validation_subsets
        loaders = trainer.val_dataloaders
        if isinstance(loaders, Mapping):
            return [str(key) for key in loaders]
        return []

    def _close(self, status: str, error: str | None = None) -> None:
        logger, self.logger = self.logger, None
        if logger is not None:
            stopped_by = self.actions.stopped_by if self.actions is not None else None
            logger.close(status, error, stopped_by=stopped_by)

    def _config(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        config: dict[str, Any] = {"framework": "lightning", "lightning": _pl.__version__,
                                  "model": type(pl_module).__name__,
                                  "max_epochs": trainer.max_epochs,
                                  "world_size": trainer.world_size,
                                  "precision": str(trainer.precision)}
        try_set(config, "params", lambda: sum(p.numel() for p in pl_module.parameters()))
        try_set(config, "hparams", lambda: dict(pl_module.hparams) or None)
        if self.validation_subsets:
            config["validation_subsets"] = self.validation_subsets
        return clean_config(config, self.extra_config)



def _same(before: float | None, after: float) -> bool:
    if before is None:
        return False
    return before == after or (math.isnan(before) and math.isnan(after))


def _epoch_level(metrics: dict[str, float]) -> dict[str, float]:
    """Drop step values; ``x_epoch`` becomes ``x`` when ``x`` was logged on step and epoch."""
    result: dict[str, float] = {}
    for name, value in metrics.items():
        if name.endswith("_step") and f"{name.removesuffix('_step')}_epoch" in metrics:
            continue
        if name.endswith("_epoch") and f"{name.removesuffix('_epoch')}_step" in metrics:
            result[name.removesuffix("_epoch")] = value
            continue
        result.setdefault(name, value)
    return result



def _dataloader_sizes(loaders: Any) -> list[float | None]:
    if loaders is None:
        return []
    if isinstance(loaders, Mapping):
        loaders = list(loaders.values())
    elif not isinstance(loaders, list | tuple):
        loaders = [loaders]
    sizes: list[float | None] = []
    for loader in loaders:
        try:
            sizes.append(float(len(loader.dataset)))
        except Exception:  # an IterableDataset has no length
            sizes.append(None)
    return sizes


def _learning_rates(trainer: Any) -> dict[str, float]:
    return learning_rates(getattr(trainer, "optimizers", None) or [])
