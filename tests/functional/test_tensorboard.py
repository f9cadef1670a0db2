"""Real TensorBoard event files, written by ``torch.utils.tensorboard`` (and by Lightning's
TensorBoardLogger), read by ``lstm-top check`` and compared with our JSONL of the same run.

The W&B history reader shares the step-to-epoch mapping and is tested at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorboard", reason="tensorboard not installed "
                                          "(pip install lstm-top[tensorboard])")

import torch
from torch.utils.tensorboard import SummaryWriter

from lstm_top import Logger
from lstm_top.history import History
from lstm_top.sources.formats import SourceError, read_history
from lstm_top.sources.tensorboard import read_tensorboard

EPOCHS = 3


def check_json(path: Path) -> dict:
    """``lstm-top check PATH --json`` as a user runs it."""
    result = subprocess.run([sys.executable, "-m", "lstm_top", "check", str(path), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def assert_same_curves(ours: History, theirs: History, names: dict[str, str],
                       epoch_offset: int = 0) -> None:
    """Same epochs and, for every ``ours -> theirs`` column pair, the same values (TensorBoard
    stores float32, so equal to float32 precision)."""
    assert list(ours.epochs.index) == [i + epoch_offset for i in theirs.epochs.index]
    for our_name, their_name in names.items():
        assert list(theirs.epochs.present(their_name)) == list(ours.epochs.present(our_name))
        np.testing.assert_allclose(theirs.epochs.column(their_name),
                                   ours.epochs.column(our_name), rtol=1e-6)


def train_tiny_lstm_logging_both_ways(folder: Path) -> None:
    """A plain PyTorch loop: every epoch's numbers go to TensorBoard and to our Logger."""
    torch.manual_seed(0)
    x = torch.randn(48, 5, 1)
    y = x.sum(dim=1)
    lstm, head = torch.nn.LSTM(1, 8, batch_first=True), torch.nn.Linear(8, 1)
    parameters = [*lstm.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=0.02)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    writer = SummaryWriter(log_dir=str(folder / "tb"))
    with Logger(folder / "run.jsonl", run_name="tiny") as logger:
        for epoch in range(1, EPOCHS + 1):
            losses = []
            for start in range(0, 32, 8):
                loss = torch.nn.functional.mse_loss(
                    head(lstm(x[start:start + 8])[0][:, -1]), y[start:start + 8])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            with torch.no_grad():
                val_loss = torch.nn.functional.mse_loss(head(lstm(x[32:])[0][:, -1]),
                                                        y[32:]).item()
            metrics = {"train/loss": sum(losses) / len(losses), "val/loss": val_loss,
                       "lr": scheduler.get_last_lr()[0]}
            if epoch == EPOCHS:
                metrics["val/loss"] = float("nan")  # a diverged last epoch: NaN survives both
            for tag, value in metrics.items():
                writer.add_scalar(tag, value, epoch)
            logger.log(epoch=epoch, **metrics)
            scheduler.step()
    writer.close()


@pytest.fixture(scope="module")
def same_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tensorboard")
    train_tiny_lstm_logging_both_ways(folder)
    return folder


def test_event_folder_shows_the_same_curves_as_our_jsonl(same_run: Path) -> None:
    ours = read_history(same_run / "run.jsonl")
    theirs = read_history(same_run / "tb")  # a folder goes to the TensorBoard reader
    assert theirs.source_kind == "tensorboard"
    assert_same_curves(ours, theirs, {"train/loss": "train/loss", "val/loss": "val/loss",
                                      "lr": "lr"})
    assert np.isnan(theirs.epochs.column("val/loss")[-1])


def test_event_file_path_and_check_cli(same_run: Path) -> None:
    event_files = sorted((same_run / "tb").glob("events.out.tfevents.*"))
    assert len(event_files) == 1
    report = check_json(event_files[0])
    ours = check_json(same_run / "run.jsonl")
    assert report["epochs"] == ours["epochs"] == EPOCHS
    assert report["summary"]["train_key"] == "train/loss"
    assert report["summary"]["val_key"] == "val/loss"
    assert report["summary"]["best_val_loss"] == pytest.approx(ours["summary"]["best_val_loss"],
                                                               rel=1e-6)
    assert report["summary"]["best_val_epoch"] == ours["summary"]["best_val_epoch"]
    # The NaN in the last epoch is the same warning both ways.
    assert [s["id"] for s in report["signs"]] == [s["id"] for s in ours["signs"]]


def test_add_scalars_subfolders_become_prefixed_tags(tmp_path: Path) -> None:
    writer = SummaryWriter(log_dir=str(tmp_path))
    for epoch in range(1, 4):
        writer.add_scalars("loss", {"train": 1.0 / epoch, "val": 2.0 / epoch}, epoch)
    writer.close()
    history = read_tensorboard(tmp_path)
    assert {"loss_train/loss", "loss_val/loss"} <= set(history.epochs.names)
    np.testing.assert_allclose(history.epochs.column("loss_val/loss"), [2.0, 1.0, 2 / 3],
                               rtol=1e-6)


def test_lightning_tensorboard_logger_maps_steps_to_epochs(tmp_path: Path) -> None:
    """Lightning writes at global steps with an ``epoch`` scalar beside: rows are epochs."""
    pytest.importorskip("lightning", reason="lightning not installed")
    from lightning.pytorch.loggers import TensorBoardLogger

    from lstm_top.lightning import LstmTopCallback
    from tests.functional.test_lightning import TinyLstm, loader, sequences, trainer

    torch.manual_seed(0)
    board = TensorBoardLogger(str(tmp_path), name="tb", version=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer([LstmTopCallback(str(tmp_path / "run.jsonl"))], EPOCHS, logger=board,
                log_every_n_steps=1).fit(TinyLstm(), loader(sequences(64, 0)),
                                         loader(sequences(32, 1)))
    ours = read_history(tmp_path / "run.jsonl")
    theirs = read_history(tmp_path / "tb")
    # Lightning's epoch scalar counts from 0, our callback from 1.
    assert_same_curves(ours, theirs, {"train_loss": "train_loss_epoch", "val_loss": "val_loss"},
                       epoch_offset=1)
    # Per-step values went to the step table: 4 steps per epoch.
    assert len(theirs.steps.logged("train_loss_step")[0]) == 4 * EPOCHS


def test_missing_folder_and_folder_without_events(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        read_tensorboard(tmp_path / "absent")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SourceError, match="without TensorBoard event files") as raised:
        read_history(tmp_path)
    assert "instead" not in str(raised.value)
    # A Lightning CSVLogger folder: the message names the file to pass.
    (tmp_path / "version_0").mkdir()
    (tmp_path / "version_0" / "metrics.csv").write_text("epoch,step,val_loss\n0,3,1.0\n")
    with pytest.raises(SourceError, match=r"pass a history file instead, e\.g\. .*metrics\.csv"):
        read_history(tmp_path)


def test_missing_tensorboard_package_says_what_to_install(
        same_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard.backend.event_processing", None)
    with pytest.raises(SourceError, match=r"pip install 'lstm-top\[tensorboard\]'"):
        read_history(same_run / "tb")


# ---------------------------------------------------------------- W&B history JSONL


def test_wandb_history_with_epoch_merges_steps_into_epochs(tmp_path: Path) -> None:
    """As Lightning's WandbLogger writes it: per-step rows, an epoch key, val once an epoch."""
    path = tmp_path / "wandb" / "run-20250101_000000-abc" / "files" / "wandb-history.jsonl"
    path.parent.mkdir(parents=True)
    rows = []
    for step in range(6):
        epoch = step // 2
        row = {"_step": step, "_timestamp": 1700000000.0 + step, "_runtime": step,
               "train_loss_step": 1.0 / (step + 1), "epoch": epoch,
               "trainer/global_step": step, "histogram": {"_type": "histogram"}}
        if step % 2 == 1:
            row.update({"val_loss": 2.0 / (epoch + 1), "train_loss_epoch": 1.5 / (epoch + 1)})
        rows.append(json.dumps(row))
    rows.append("{not json")
    path.write_text("\n".join(rows) + "\n")
    history = read_history(path)
    assert history.run_name == "run-20250101_000000-abc"
    assert list(history.epochs.index) == [0, 1, 2]
    np.testing.assert_allclose(history.epochs.column("val_loss"), [2.0, 1.0, 2 / 3])
    np.testing.assert_allclose(history.epochs.column("train_loss_epoch"), [1.5, 0.75, 0.5])
    assert list(history.steps.index) == list(range(6))
    assert history.malformed_lines == 1
    report = check_json(path)
    assert (report["summary"]["train_key"], report["summary"]["val_key"]) == \
        ("train_loss_epoch", "val_loss")


def test_wandb_history_from_hugging_face_uses_its_fractional_epoch(tmp_path: Path) -> None:
    path = tmp_path / "wandb-history.jsonl"
    rows = [{"_step": 0, "train/loss": 3.0, "train/epoch": 0.5, "train/global_step": 2},
            {"_step": 1, "train/loss": 2.0, "train/epoch": 1.0, "train/global_step": 4},
            {"_step": 2, "eval/loss": 2.5, "train/epoch": 1.0, "train/global_step": 4},
            {"_step": 3, "train/loss": 1.0, "train/epoch": 2.0, "train/global_step": 8},
            {"_step": 4, "eval/loss": 2.2, "train/epoch": 2.0, "train/global_step": 8}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    history = read_history(path)
    assert list(history.epochs.index) == [1, 2]
    np.testing.assert_allclose(history.epochs.column("eval/loss"), [2.5, 2.2])
    report = check_json(path)
    assert (report["summary"]["train_key"], report["summary"]["val_key"]) == \
        ("train/loss", "eval/loss")


def test_a_tensorboard_folder_opens_as_one_run_in_the_viewer(same_run: Path) -> None:
    """`lstm-top tb/` shows the run; `lstm-top runs/` (history files inside) stays a folder."""
    from lstm_top.sources.open import open_source
    from lstm_top.sources.tensorboard import is_tensorboard_folder

    assert is_tensorboard_folder(str(same_run / "tb"))
    assert not is_tensorboard_folder(str(same_run))  # holds run.jsonl: a folder of runs
    source = open_source(str(same_run / "tb"))
    updates: list[object] = []
    source.start(updates.append)
    try:
        deadline = time.monotonic() + 30
        while len(source.history.epochs) < EPOCHS and time.monotonic() < deadline:
            time.sleep(0.05)
        assert source.state == "live", source.message  # followed: more may come
        assert len(source.history.epochs) == EPOCHS
        assert "val/loss" in source.history.epochs.names
    finally:
        source.stop()
