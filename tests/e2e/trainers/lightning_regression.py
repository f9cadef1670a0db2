"""The Lightning model and data of the Lightning format tests (the tmux trainer script and the
live-follow test): a linear regression with two validation dataloaders, the second one's
targets far off (a gap no model can close: the subset-gap sign)."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Regression(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(4, 1)

    def training_step(self, batch: Any, index: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch: Any, index: int, dataloader_idx: int = 0) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.05)


def loaders() -> tuple[DataLoader[Any], list[DataLoader[Any]]]:
    """(train, [easy validation, hard validation])."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(96, 4, generator=generator)
    y = x.sum(1, keepdim=True)
    train = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16)
    easy = DataLoader(TensorDataset(x[64:80], y[64:80]), batch_size=16)
    hard = DataLoader(TensorDataset(x[80:], y[80:] * 4 + 3), batch_size=16)
    return train, [easy, hard]
