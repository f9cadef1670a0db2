"""The Lightning callback with a real ``lightning.Trainer`` fitting a tiny LSTM on CPU.

Every test reads the written file back the way a user would (``read_history`` / ``lstm-top
check``) and compares it with what Lightning itself computed.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lightning", reason="lightning not installed (pip install lstm-top[lightning])")

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from lstm_top import LossStats
from lstm_top.check import run_check
from lstm_top.lightning import LstmTopCallback
from lstm_top.sources.formats import read_history

SEQUENCE_LENGTH = 6


class TinyLstm(pl.LightningModule):
    """Sums a sequence: small enough to fit in a second, real enough to learn."""

    def __init__(self, hidden: int = 8, lr: float = 0.02, fail_at_epoch: int | None = None,
                 log_on_step: bool = True) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.lstm = torch.nn.LSTM(1, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x)[0][:, -1])

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> Any:
        if self.hparams.fail_at_epoch is not None and self.current_epoch + 1 == \
                self.hparams.fail_at_epoch:
            raise RuntimeError("simulated failure inside training_step")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss, on_step=self.hparams.log_on_step, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int,
                        dataloader_idx: int = 0) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        # A decaying learning rate, so the logged lr is seen to follow the scheduler.
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        return [optimizer], [scheduler]


def sequences(count: int, seed: int, length: int = SEQUENCE_LENGTH) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(count, length, 1, generator=generator)
    return TensorDataset(x, x.sum(dim=1))


def loader(dataset: TensorDataset, shuffle: bool = False) -> DataLoader:
    return DataLoader(dataset, batch_size=16, shuffle=shuffle)


def trainer(callbacks: list[Any], epochs: int = 3, **options: Any) -> pl.Trainer:
    settings: dict[str, Any] = {"accelerator": "cpu", "devices": 1, "logger": False,
                                "enable_progress_bar": False, "enable_checkpointing": False,
                                "enable_model_summary": False}
    settings.update(options)
    return pl.Trainer(max_epochs=epochs, callbacks=callbacks, **settings)


class Recorder(pl.Callback):
    """What Lightning itself reports at each epoch end, to compare the file against."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.lr = trainer.optimizers[0].param_groups[0]["lr"]

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        metrics["lr"] = self.lr
        self.epochs.append(metrics)


def fit(callbacks: list[Any], val: Any, epochs: int = 3, module: TinyLstm | None = None,
        **options: Any) -> TinyLstm:
    torch.manual_seed(0)
    module = module or TinyLstm()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*")
        trainer(callbacks, epochs, **options).fit(module, loader(sequences(64, 0), True), val)
    return module


def test_two_named_validation_dataloaders_become_subsets(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    recorder = Recorder()
    val = [loader(sequences(20, 1, length=3)), loader(sequences(40, 2, length=12))]
    fit([LstmTopCallback(str(path), validation_subsets=["short", "long"]), recorder], val)

    history = read_history(path)
    assert history.end_status == "completed"
    assert history.config["framework"] == "lightning"
    assert history.config["hparams"]["hidden"] == 8
    assert list(history.epochs.index) == [1, 2, 3]
    table = history.epochs
    for row, seen in enumerate(recorder.epochs):
        assert table.column("train_loss")[row] == pytest.approx(seen["train_loss_epoch"])
        assert table.column("val_loss[short]")[row] == pytest.approx(
            seen["val_loss/dataloader_idx_0"])
        assert table.column("val_loss[long]")[row] == pytest.approx(
            seen["val_loss/dataloader_idx_1"])
        assert table.column("lr")[row] == pytest.approx(seen["lr"])
        # The plain val_loss is the loss over all 60 validation samples.
        expected = (20 * seen["val_loss/dataloader_idx_0"]
                    + 40 * seen["val_loss/dataloader_idx_1"]) / 60
        assert table.column("val_loss")[row] == pytest.approx(expected)
    assert list(table.column("n[short]")) == [20, 20, 20]
    assert list(table.column("n[long]")) == [40, 40, 40]
    assert list(table.column("lr")) == pytest.approx([0.02, 0.01, 0.005])
    grad = table.column("grad_norm")
    assert all(math.isfinite(g) and g > 0 for g in grad)
    assert all(table.column("grad_norm_max") >= grad)
    # Step values are not epoch values: no train_loss_step / _epoch columns in epoch records.
    assert not any(name.endswith(("_step", "_epoch")) for name in table.names)

    out = io.StringIO()
    status = run_check(str(path), as_json=True, out=out, err=io.StringIO())
    assert status in (0, 1)
    report = json.loads(out.getvalue())
    assert report["epochs"] == 3
    assert report["summary"]["train_key"] == "train_loss"
    assert report["summary"]["val_key"] == "val_loss"
    assert report["summary"]["subsets"] == ["long", "short"]
    assert report["summary"]["status"] == "completed"


def test_dict_of_validation_dataloaders_names_the_subsets(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    val = {"easy": loader(sequences(16, 3, length=2)), "hard": loader(sequences(24, 4))}
    fit([LstmTopCallback(str(path))], val, epochs=2)
    table = read_history(path).epochs
    assert {"val_loss[easy]", "val_loss[hard]", "n[easy]", "n[hard]"} <= set(table.names)
    assert list(table.column("n[hard]")) == [24, 24]


def test_epochs_without_validation_carry_no_stale_validation_values(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    fit([LstmTopCallback(str(path))], loader(sequences(32, 5)), epochs=4,
        check_val_every_n_epoch=2)
    table = read_history(path).epochs
    assert list(table.index) == [1, 2, 3, 4]
    assert list(table.present("val_loss")) == [False, True, False, True]
    assert all(table.present("train_loss"))


def test_step_records_every_n_steps(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    fit([LstmTopCallback(str(path), log_every_n_steps=2)], loader(sequences(32, 5)), epochs=2)
    history = read_history(path)
    # 64 samples / batch 16 = 4 steps per epoch, 8 in all; every second one is written.
    assert list(history.steps.index) == [2, 4, 6, 8]
    assert "train_loss" in history.steps.names and "lr" in history.steps.names
    assert "val_loss" not in history.steps.names


def test_exception_in_training_ends_the_run_as_crashed(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with pytest.raises(RuntimeError, match="simulated failure"):
        fit([LstmTopCallback(str(path))], loader(sequences(32, 5)), epochs=3,
            module=TinyLstm(fail_at_epoch=2))
    history = read_history(path)
    assert list(history.epochs.index) == [1]
    assert history.end_status == "crashed"
    assert "simulated failure" in (history.end_error or "")
    err = io.StringIO()
    run_check(str(path), out=io.StringIO(), err=err)
    assert err.getvalue() == ""


class TinyLstmWithLossStats(TinyLstm):
    """Logs the validation loss with its noise (val_loss_std, val_n) through LossStats."""

    def on_validation_epoch_start(self) -> None:
        self.val_stats = LossStats()
        self.per_sample: list[torch.Tensor] = []

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int,
                        dataloader_idx: int = 0) -> None:
        x, y = batch
        losses = torch.nn.functional.mse_loss(self(x), y, reduction="none").mean(dim=1)
        self.val_stats.add(losses)
        self.per_sample.append(losses)
        self.log("val_loss", losses.mean())

    def on_validation_epoch_end(self) -> None:
        spread = self.val_stats.metrics()
        self.log_dict({"val_loss_std": spread["val_loss_std"], "val_n": spread["val_n"]})


def test_loss_stats_logged_by_the_module_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    module = TinyLstmWithLossStats()
    fit([LstmTopCallback(str(path))], loader(sequences(50, 5)), epochs=3, module=module)
    table = read_history(path).epochs
    assert list(table.column("val_n")) == [50, 50, 50]
    last = torch.cat(module.per_sample)  # the last validation pass, sample by sample
    assert table.column("val_loss_std")[-1] == pytest.approx(float(last.std()), rel=1e-5)
    assert table.column("val_loss")[-1] == pytest.approx(float(last.mean()), rel=1e-5)


def test_dataloaders_with_their_spread_give_the_whole_sets_spread(tmp_path: Path) -> None:
    # Each dataloader's val_loss_std (logged per dataloader) pools into the whole set's.
    class PerLoader(TinyLstm):
        def on_validation_epoch_start(self) -> None:
            self.losses: dict[int, list[torch.Tensor]] = {0: [], 1: []}

        def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int,
                            dataloader_idx: int = 0) -> None:
            x, y = batch
            losses = torch.nn.functional.mse_loss(self(x), y, reduction="none").mean(dim=1)
            self.losses[dataloader_idx].append(losses)
            self.log("val_loss", losses.mean())
            self.log("val_loss_std", losses.std())  # one batch per dataloader: exact

    path = tmp_path / "run.jsonl"
    module = PerLoader()
    val = [DataLoader(sequences(20, 1, length=3), batch_size=20),
           DataLoader(sequences(40, 2, length=12), batch_size=40)]
    fit([LstmTopCallback(str(path), validation_subsets=["short", "long"])], val, epochs=2,
        module=module)
    table = read_history(path).epochs
    everything = torch.cat([torch.cat(module.losses[0]), torch.cat(module.losses[1])])
    assert table.column("val_n")[-1] == 60
    assert table.column("val_loss_std")[-1] == pytest.approx(float(everything.std()), rel=1e-4)


def test_the_constant_guess_is_logged_with_every_epoch(tmp_path: Path) -> None:
    """``constant_guess=``: the loss of predicting the training targets' mean, logged with
    every epoch as the Keras callback and EpochLogger do; ``check`` shows it."""
    from lstm_top import constant_guess_loss

    path = tmp_path / "run.jsonl"
    targets = sequences(64, 0).tensors[1]  # what fit() trains on
    guess = constant_guess_loss(targets, "mse")
    assert guess == pytest.approx(float(targets.var(unbiased=False)), rel=1e-6)
    fit([LstmTopCallback(str(path), constant_guess=guess)], loader(sequences(32, 1)), epochs=3)
    epochs = read_history(path).epochs
    assert list(epochs.index) == [1, 2, 3]
    assert list(epochs.column("constant_guess_loss")) == [guess] * 3
    out = io.StringIO()
    run_check(str(path), out=out, err=io.StringIO())
    assert f"constant_guess_loss={guess:.6g}" in out.getvalue()
