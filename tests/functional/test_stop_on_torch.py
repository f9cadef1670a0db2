"""``stop_on=`` / ``restore_best=`` with real PyTorch training: the plain-loop helper
(``lstm_top.torch.EpochLogger``) and the Lightning callback (issue 14)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lstm_top.sources.formats import read_history
from lstm_top.torch import EpochLogger

pytestmark = pytest.mark.slow


def _overfitting_data(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """80 noisy training samples of 30 features: a 256-wide MLP memorises them in a few epochs
    while the loss on 80 fresh samples turns up."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(160, 30, generator=generator)
    y = 0.3 * x @ torch.randn(30, 1, generator=generator) + torch.randn(160, 1,
                                                                          generator=generator)
    return x[:80], y[:80], x[80:], y[80:]


def _mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(30, 256), torch.nn.ReLU(),
                               torch.nn.Linear(256, 256), torch.nn.ReLU(),
                               torch.nn.Linear(256, 1))


def _val_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.nn.functional.mse_loss(model(x), y))


def test_plain_loop_stops_on_overfitting_and_restores_the_best_epoch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x, y, x_val, y_val = _overfitting_data()
    model = _mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    path = tmp_path / "loop.jsonl"
    val_losses = []
    with EpochLogger(str(path), model=model, optimizer=optimizer, stop_on="critical",
                     restore_best=True) as log:
        for epoch in range(1, 201):
            for batch in range(0, 80, 16):
                optimizer.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x[batch:batch + 16]),
                                                    y[batch:batch + 16])
                loss.backward()
                optimizer.step()
            val_losses.append(_val_loss(model, x_val, y_val))
            if log(epoch, loss=_val_loss(model, x, y), val_loss=val_losses[-1]):
                break
    history = read_history(str(path))
    stopped = history.end_stopped_by
    assert stopped is not None and stopped["sign"] == "stagnating_val_loss", stopped
    assert log.should_stop and len(val_losses) == stopped["epoch"] < 200
    assert stopped["since_epoch"] <= stopped["epoch"] <= stopped["since_epoch"] + 3
    best = min(range(len(val_losses)), key=val_losses.__getitem__)
    assert best + 1 < len(val_losses)
    assert _val_loss(model, x_val, y_val) == pytest.approx(val_losses[best], rel=1e-6)


def test_plain_loop_without_stop_on_writes_no_reason(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 1)
    with EpochLogger(str(tmp_path / "run.jsonl"), model=model) as log:
        for epoch in range(1, 4):
            assert log(epoch, loss=1.0 / epoch, val_loss=1.0 / epoch) is False
    assert log.actions is None
    assert read_history(str(tmp_path / "run.jsonl")).end_stopped_by is None
    with pytest.raises(ValueError, match="needs the model"):
        EpochLogger(str(tmp_path / "x.jsonl"), restore_best=True)


def test_lightning_stops_a_run_whose_learning_rate_is_far_too_high(tmp_path: Path) -> None:
    pl = pytest.importorskip("lightning.pytorch")
    from lstm_top.lightning import LstmTopCallback

    class Regression(pl.LightningModule):
        def __init__(self, lr: float) -> None:
            super().__init__()
            self.lr = lr
            self.net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(),
                                           torch.nn.Linear(32, 1))

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            loss = torch.nn.functional.mse_loss(self.net(batch[0]), batch[1])
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(batch[0]), batch[1]))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(512, 8, generator=generator)
    y = x.sum(dim=1, keepdim=True)
    train = DataLoader(TensorDataset(x[:384], y[:384]), batch_size=32)
    val = DataLoader(TensorDataset(x[384:], y[384:]), batch_size=128)

    def fit(lr: float, name: str) -> tuple[Any, Any]:
        torch.manual_seed(0)
        module = Regression(lr)
        callback = LstmTopCallback(str(tmp_path / name), stop_on="critical", restore_best=True)
        trainer = pl.Trainer(max_epochs=30, callbacks=[callback], accelerator="cpu",
                             devices=1, logger=False, enable_progress_bar=False,
                             enable_checkpointing=False, enable_model_summary=False)
        trainer.fit(module, train, val)
        return module, read_history(str(tmp_path / name))

    module, history = fit(0.02, "healthy.jsonl")
    assert history.last_epoch() == 30 and history.end_stopped_by is None
    module, history = fit(0.25, "too_high.jsonl")  # momentum 0.9: the loss grows unbounded
    stopped = history.end_stopped_by
    assert stopped is not None, "the run with a learning rate far too high was not stopped"
    assert stopped["sign"] in ("diverging_loss", "nonfinite_loss")
    assert history.last_epoch() == stopped["epoch"] < 30
    _, val = history.epochs.logged("val_loss")
    best = float(val[torch.tensor(val).nan_to_num(float("inf")).argmin()])
    restored = _val_loss(module.net, x[384:], y[384:])
    assert restored == pytest.approx(best, rel=1e-4)
