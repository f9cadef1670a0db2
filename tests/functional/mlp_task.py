"""The small real training the sweep integrations' tests run in every trial (Optuna, Ray
Tune): a one-hidden-layer MLP on a noisy regression task, SGD with momentum. Seeded: the same
trial gives the same curve on every run."""

from __future__ import annotations

import torch

TRAIN = 100  # the first 100 of the 400 samples train; the rest validate
BATCH = 20


def regression_task() -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y), and torch seeded for the model built next."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(400, 20, generator=generator)
    y = torch.tanh(x @ torch.randn(20, 1, generator=generator) / 4.5) * 2 \
        + 0.3 * torch.randn(400, 1, generator=generator)
    torch.manual_seed(0)
    return x, y


def mlp(width: int, lr: float, weight_decay: float
        ) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = torch.nn.Sequential(torch.nn.Linear(20, width), torch.nn.ReLU(),
                                torch.nn.Linear(width, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9,
                                weight_decay=weight_decay)
    return model, optimizer


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                y: torch.Tensor, order: torch.Generator) -> tuple[float, float]:
    """One epoch of mini-batches in the order ``order`` draws; (train loss, val loss)."""
    mse = torch.nn.functional.mse_loss
    permutation = torch.randperm(TRAIN, generator=order)
    for start in range(0, TRAIN, BATCH):
        index = permutation[start:start + BATCH]
        optimizer.zero_grad()
        mse(model(x[index]), y[index]).backward()
        optimizer.step()
    with torch.no_grad():
        return float(mse(model(x[:TRAIN]), y[:TRAIN])), float(mse(model(x[TRAIN:]), y[TRAIN:]))
