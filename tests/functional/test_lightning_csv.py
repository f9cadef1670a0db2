"""A real Lightning ``CSVLogger`` ``metrics.csv`` (step rows with holes) read by ``lstm-top
check``, compared with our callback's JSONL written by the same run."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lightning", reason="lightning not installed (pip install lstm-top[lightning])")

import torch
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger

from lstm_top.lightning import LstmTopCallback
from lstm_top.sources.formats import read_history
from tests.functional.test_lightning import TinyLstm, loader, sequences, trainer

EPOCHS = 3


@pytest.fixture(scope="module")
def same_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lightning_csv")
    torch.manual_seed(0)
    csv_logger = CSVLogger(str(folder), name="csv", version=0)
    callbacks = [LstmTopCallback(str(folder / "run.jsonl")),
                 LearningRateMonitor(logging_interval="epoch")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer(callbacks, EPOCHS, logger=csv_logger, log_every_n_steps=1).fit(
            TinyLstm(), loader(sequences(64, 0)), loader(sequences(32, 1)))
    return folder


def metrics_csv(folder: Path) -> Path:
    return folder / "csv" / "version_0" / "metrics.csv"


def test_metrics_csv_has_step_rows_with_holes(same_run: Path) -> None:
    lines = metrics_csv(same_run).read_text().splitlines()
    header = lines[0].split(",")
    assert {"epoch", "step", "train_loss_step", "train_loss_epoch", "val_loss"} <= set(header)
    assert len(lines) - 1 > EPOCHS  # many more rows than epochs: the reader must merge them
    assert any(",," in line for line in lines[1:])


def test_metrics_csv_shows_the_same_curves_as_our_jsonl(same_run: Path) -> None:
    ours = read_history(same_run / "run.jsonl").epochs
    theirs = read_history(metrics_csv(same_run)).epochs
    # Lightning's epoch column counts from 0, our callback from 1.
    assert list(ours.index) == [1, 2, 3]
    assert list(theirs.index) == [0, 1, 2]
    np.testing.assert_allclose(theirs.column("train_loss_epoch"), ours.column("train_loss"),
                               rtol=1e-6)
    np.testing.assert_allclose(theirs.column("val_loss"), ours.column("val_loss"), rtol=1e-6)
    # LearningRateMonitor's lr-Adam is the same learning rate our callback records.
    np.testing.assert_allclose(theirs.column("lr-Adam"), ours.column("lr"), rtol=1e-9)


def test_a_step_logged_loss_becomes_the_epochs_mean(same_run: Path) -> None:
    # train_loss_step is one batch's loss per row; the epoch's value is their mean, which is
    # what Lightning itself reports as train_loss_epoch (equal batches), not the last batch's.
    theirs = read_history(metrics_csv(same_run)).epochs
    np.testing.assert_allclose(theirs.column("train_loss_step"),
                               theirs.column("train_loss_epoch"), rtol=1e-5)


def test_check_reads_metrics_csv_like_our_file(same_run: Path) -> None:
    reports = {}
    for name, path in {"csv": metrics_csv(same_run), "ours": same_run / "run.jsonl"}.items():
        result = subprocess.run([sys.executable, "-m", "lstm_top", "check", str(path), "--json"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode in (0, 1), result.stderr
        reports[name] = json.loads(result.stdout)
    csv_summary, our_summary = reports["csv"]["summary"], reports["ours"]["summary"]
    assert reports["csv"]["epochs"] == reports["ours"]["epochs"] == EPOCHS
    # LearningRateMonitor's rows have an empty epoch cell: merged, not reported as malformed.
    assert reports["csv"]["malformed_lines"] == 0 and reports["csv"]["problems"] == []
    assert csv_summary["train_key"] == "train_loss_epoch"
    assert csv_summary["val_key"] == "val_loss"
    assert csv_summary["best_val_loss"] == pytest.approx(our_summary["best_val_loss"], rel=1e-6)
    assert csv_summary["best_val_epoch"] + 1 == our_summary["best_val_epoch"]
    assert [s["id"] for s in reports["csv"]["signs"]] == [s["id"] for s in reports["ours"]["signs"]]


def test_a_validate_after_fit_is_not_read_as_one_more_epoch(tmp_path: Path) -> None:
    """``trainer.validate(ckpt_path="best")`` after ``fit`` writes one more row: the best
    checkpoint's validation, at the next epoch number and with no training loss. Read as an
    epoch it would be a new last point repeating an old value (and "last" would show it)."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    torch.manual_seed(1)
    csv_logger = CSVLogger(str(tmp_path), name="csv", version=0)
    checkpoint = ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), monitor="val_loss")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = trainer([checkpoint], EPOCHS, logger=csv_logger, log_every_n_steps=1,
                      enable_checkpointing=True)
        run.fit(TinyLstm(), loader(sequences(64, 0)), loader(sequences(32, 1)))
        run.validate(dataloaders=loader(sequences(32, 1)), ckpt_path="best", verbose=False)
    path = metrics_csv(tmp_path)
    last = path.read_text().splitlines()[-1].split(",")
    header = path.read_text().splitlines()[0].split(",")
    assert int(last[header.index("epoch")]) == EPOCHS  # the row is there, one past the last
    history = read_history(path)
    assert list(history.epochs.index) == list(range(EPOCHS))
    best = int(np.argmin(history.epochs.column("val_loss")))
    assert [p.reason for p in history.problems] == [
        f"the last row, epoch {EPOCHS}, has no training loss and repeats epoch {best}'s "
        f"validation exactly: a re-validation of a checkpoint (trainer.validate), not an "
        f"epoch; not read"]
