"""Helpers for a plain PyTorch training loop (torch is imported here only).

    from lstm_top import Logger
    from lstm_top.torch import grad_norm, log_epoch

    with Logger("run.jsonl", config={"lr": 1e-3}) as logger:
        for epoch in range(1, epochs + 1):
            for x, y in loader:
                optimizer.zero_grad()
                loss_fn(model(x), y).backward()
                norm = grad_norm(model)              # before clipping: the honest size
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
            stats = LossStats()                      # the validation loss with its noise
            with torch.no_grad():
                for x, y in val_loader:
                    stats.add(loss_fn(model(x), y, reduction="none"))
            log_epoch(logger, epoch, optimizer=optimizer, grad_norm=norm,
                      loss=train_loss, **stats.metrics())  # val_loss, val_loss_std, val_n
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from lstm_top.format import CONSTANT_GUESS_METRIC
from lstm_top.hook import metrics as _metrics
from lstm_top.hook.logger import Logger
from lstm_top.hook.loss_stats import LossStats

__all__ = ["EpochLogger", "LossStats", "grad_norm", "learning_rate", "log_epoch", "state_copy",
           "total_grad_norm"]

ParamsLike = torch.nn.Module | torch.Tensor | Iterable[torch.Tensor]


def _parameters(model_or_params: ParamsLike) -> list[torch.Tensor]:
    if isinstance(model_or_params, torch.nn.Module):
        return list(model_or_params.parameters())
    if isinstance(model_or_params, torch.Tensor):
        return [model_or_params]
    return list(model_or_params)


def total_grad_norm(model_or_params: ParamsLike, norm_type: float = 2.0) -> torch.Tensor | None:
    """Global norm of all gradients together, as ``clip_grad_norm_`` computes it, as one
    tensor on the gradients' device (no host sync: a callback can sum it over the steps of an
    epoch and read it once). None when no parameter has a gradient; sparse gradients skipped.
    """
    norm_type = float(norm_type)
    # Per-tensor norms first (as torch does), then the norm of those: same result, and it
    # never concatenates the whole model into one buffer.
    norms = [torch.linalg.vector_norm(p.grad.detach(), norm_type, dtype=torch.float32)
             for p in _parameters(model_or_params)
             if p.grad is not None and not p.grad.is_sparse]
    if not norms:
        return None
    device = norms[0].device  # model parallel: gather the per-tensor norms on one device
    return torch.linalg.vector_norm(torch.stack([norm.to(device) for norm in norms]), norm_type)


def grad_norm(model_or_params: ParamsLike, norm_type: float = 2.0) -> float:
    """Global norm of all gradients together, as a float (one device sync per call).

    Call it after ``backward()`` and before clipping: after clipping you would only ever see
    the clip threshold. Parameters without a gradient are skipped; NaN/inf come back as such
    (an exploding gradient is exactly what this is for); 0.0 when there is no gradient.
    """
    norm = total_grad_norm(model_or_params, norm_type)
    return 0.0 if norm is None else float(norm.item())


def learning_rate(optimizer: torch.optim.Optimizer) -> float | None:
    """The optimizer's current learning rate: of its first param group (schedulers included)."""
    return _metrics.learning_rate(optimizer)


def log_epoch(logger: Logger, epoch: int, model: torch.nn.Module | None = None,
              optimizer: torch.optim.Optimizer | None = None, *,
              subsets: Mapping[str, Mapping[str, Any]] | None = None,
              **metrics: Any) -> dict[str, float]:
    """Write one epoch record: ``metrics`` plus ``lr`` from the optimizer; returns what was
    written.

    ``grad_norm=`` is logged as given (measure it per step with :func:`grad_norm`; pass the
    epoch's mean or max). With ``model`` and no ``grad_norm`` metric, the norm of the gradients
    currently held by the model (the last batch's) is logged. Tensors are unwrapped. Never
    raises: a failure to compute ``lr`` or the norm leaves that value out.
    """
    values = _metrics.numbers(metrics)
    if optimizer is not None and "lr" not in values:
        try:
            lr = learning_rate(optimizer)
        except Exception:
            lr = None
        if lr is not None:
            values["lr"] = lr
    if model is not None and "grad_norm" not in values:
        try:
            if any(p.grad is not None for p in model.parameters()):
                values["grad_norm"] = grad_norm(model)
        except Exception:
            pass
    logger.log_metrics(values, epoch=epoch, subsets=subsets)
    return values


def state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights, copied to host memory (a GPU model's copy costs no GPU memory)."""
    return {name: tensor.detach().to("cpu", copy=True)
            for name, tensor in model.state_dict().items()}


class EpochLogger:
    """``log_epoch`` bound to one logger, model and optimizer; also a context manager that
    ends the run (completed, crashed with the error, or interrupted on Ctrl-C).

    ``constant_guess``: the loss of the best constant guess on the training targets
    (``lstm_top.hook.baseline.constant_guess_loss(y_train, "cross_entropy")``), logged with
    every epoch so that a model stuck at the class frequencies or the mean is reported as a
    plateau however it got there.

    ``stop_on="critical"`` (or sign ids) judges every epoch with the warning signs; calling
    the logger returns True when training should stop (``should_stop`` stays True), and the
    sign is written in the end record. ``restore_best=True`` (needs ``model``) copies the
    weights at every new best ``monitor`` value (default: the validation loss) and loads them
    back when the run ends normally (``close()`` or leaving the ``with`` block)::

        with EpochLogger("run.jsonl", model=model, optimizer=opt, stop_on="critical",
                         restore_best=True) as log:
            for epoch in range(1, 101):
                ...
                if log(epoch, loss=train_loss, val_loss=val_loss):
                    break
    """

    def __init__(self, path_or_logger: str | Logger, *, model: torch.nn.Module | None = None,
                 optimizer: torch.optim.Optimizer | None = None, run_name: str | None = None,
                 config: Mapping[str, Any] | None = None,
                 stop_on: str | Iterable[str] | None = None, restore_best: bool = False,
                 monitor: str | None = None, mode: str = "min", min_delta: float = 0.0,
                 constant_guess: float | None = None) -> None:
        if restore_best and model is None:
            raise ValueError("restore_best=True needs the model (EpochLogger(..., model=model))")
        self.actions: Any = None
        if stop_on is not None or restore_best:
            from lstm_top.actions import EpochActions

            self.actions = EpochActions(stop_on, restore_best=restore_best, monitor=monitor,
                                        mode=mode, min_delta=min_delta)
            self.actions.begin()
        if isinstance(path_or_logger, Logger):
            self.logger = path_or_logger
        else:
            self.logger = Logger(path_or_logger, run_name=run_name, config=config)
        self.model = model
        self.optimizer = optimizer
        self.should_stop = False
        # Logged with every epoch: train_plateau then knows the level of "nothing learned".
        self.constant_guess = constant_guess

    def __call__(self, epoch: int, *, subsets: Mapping[str, Mapping[str, Any]] | None = None,
                 **metrics: Any) -> bool:
        """Log one epoch; True when a warning sign in ``stop_on`` says to stop."""
        if self.constant_guess is not None:
            metrics.setdefault(CONSTANT_GUESS_METRIC, self.constant_guess)
        values = log_epoch(self.logger, epoch, self.model, self.optimizer, subsets=subsets,
                           **metrics)
        if self.actions is not None:
            model = self.model
            snapshot = (lambda: state_copy(model)) if model is not None else None
            if self.actions.after_epoch(epoch, values, subsets, snapshot=snapshot):
                self.should_stop = True
        return self.should_stop

    def log_step(self, step: int, epoch: int | None = None, **metrics: Any) -> None:
        self.logger.log_metrics(_metrics.numbers(metrics), epoch=epoch, step=step)

    def close(self, status: str = "completed", error: str | None = None) -> None:
        stopped_by = None
        if self.actions is not None:
            model = self.model
            if status == "completed" and model is not None:
                self.actions.restore(model.load_state_dict)
            stopped_by = self.actions.stopped_by
        self.logger.close(status, error, stopped_by=stopped_by)

    def __enter__(self) -> EpochLogger:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.logger.__exit__(exc_type, *exc_info)
