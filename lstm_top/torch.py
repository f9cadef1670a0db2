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
            log_epoch(logger, epoch, optimizer=optimizer, grad_norm=norm,
                      loss=train_loss, val_loss=val_loss)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from lstm_top.hook.logger import Logger

__all__ = ["EpochLogger", "grad_norm", "learning_rate", "log_epoch"]

ParamsLike = torch.nn.Module | torch.Tensor | Iterable[torch.Tensor]


def _parameters(model_or_params: ParamsLike) -> list[torch.Tensor]:
    if isinstance(model_or_params, torch.nn.Module):
        return list(model_or_params.parameters())
    if isinstance(model_or_params, torch.Tensor):
        return [model_or_params]
    return list(model_or_params)


def grad_norm(model_or_params: ParamsLike, norm_type: float = 2.0) -> float:
    """Global norm of all gradients together, as ``clip_grad_norm_`` computes it.

    Call it after ``backward()`` and before clipping: after clipping you would only ever see
    the clip threshold. Parameters without a gradient are skipped; NaN/inf come back as such
    (an exploding gradient is exactly what this is for). One device sync per call.
    """
    grads = [p.grad.detach() for p in _parameters(model_or_params) if p.grad is not None]
    if not grads:
        return 0.0
    norm_type = float(norm_type)
    # Per-tensor norms first (as torch does), then the norm of those: same result, and it
    # never concatenates the whole model into one buffer.
    per_tensor = torch.stack([torch.linalg.vector_norm(g, norm_type).to(grads[0].device)
                              for g in grads])
    return float(torch.linalg.vector_norm(per_tensor, norm_type).item())


def learning_rate(optimizer: torch.optim.Optimizer) -> float | None:
    """The optimizer's current learning rate: of its first param group (schedulers included)."""
    groups = getattr(optimizer, "param_groups", None)
    if not groups:
        return None
    value = groups[0].get("lr")
    if isinstance(value, torch.Tensor):  # lr may be a tensor (capturable / fused optimizers)
        value = value.item()
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _as_metric(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().float().item() if value.numel() == 1 else math.nan
    return value


def log_epoch(logger: Logger, epoch: int, model: torch.nn.Module | None = None,
              optimizer: torch.optim.Optimizer | None = None, *,
              subsets: Mapping[str, Mapping[str, Any]] | None = None,
              **metrics: Any) -> None:
    """Write one epoch record: ``metrics`` plus ``lr`` from the optimizer.

    ``grad_norm=`` is logged as given (measure it per step with :func:`grad_norm`; pass the
    epoch's mean or max). With ``model`` and no ``grad_norm`` metric, the norm of the gradients
    currently held by the model (the last batch's) is logged. Tensors are unwrapped. Never
    raises: a failure to compute ``lr`` or the norm leaves that value out.
    """
    values = {name: _as_metric(value) for name, value in metrics.items()}
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
    logger.log(epoch=epoch, subsets=subsets, **values)


class EpochLogger:
    """``log_epoch`` bound to one logger, model and optimizer; also a context manager that
    ends the run (completed, crashed with the error, or interrupted on Ctrl-C)."""

    def __init__(self, path_or_logger: str | Logger, *, model: torch.nn.Module | None = None,
                 optimizer: torch.optim.Optimizer | None = None, run_name: str | None = None,
                 config: Mapping[str, Any] | None = None) -> None:
        if isinstance(path_or_logger, Logger):
            self.logger = path_or_logger
        else:
            self.logger = Logger(path_or_logger, run_name=run_name, config=config)
        self.model = model
        self.optimizer = optimizer

    def __call__(self, epoch: int, **metrics: Any) -> None:
        log_epoch(self.logger, epoch, self.model, self.optimizer, **metrics)

    def log_step(self, step: int, epoch: int | None = None, **metrics: Any) -> None:
        self.logger.log(epoch=epoch, step=step,
                        **{name: _as_metric(value) for name, value in metrics.items()})

    def close(self, status: str = "completed", error: str | None = None) -> None:
        self.logger.close(status, error)

    def __enter__(self) -> EpochLogger:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.logger.__exit__(*exc_info)
