"""A CSV whose column names the run (``model,epoch,loss,val_loss`` for several models one after
another, a ``fold`` column of a cross-validation): each value is a run, and the file shows its
last run with a note saying where it starts — rather than one curve through every run's rows.
The files are what real training scripts write: PyTorch loops writing rows with ``csv``, and a
pandas table of a cross-validation's histories."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lstm_top.sources.base import LIVE
from lstm_top.sources.formats import read_history
from tests.functional.formats_support import LIVE_WITHIN_S, Followed
from tests.waiting import poll_until

pytestmark = pytest.mark.slow
EPOCHS = 5


def _train(kind: str, seed: int, epochs: int = EPOCHS) -> list[tuple[float, float]]:
    """(train loss, val loss) per epoch of a small recurrent model on a toy sequence task."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    x = torch.randn(160, 8, 2)
    y = x[:, :, :1].sum(1)
    cell = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](2, 8, batch_first=True)
    head = torch.nn.Linear(8, 1)
    params = [*cell.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=0.02)

    def loss_on(part: slice) -> Any:
        out, _ = cell(x[part])
        return torch.nn.functional.mse_loss(head(out[:, -1]), y[part])

    losses = []
    for _ in range(epochs):
        loss = loss_on(slice(0, 120))
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            val = loss_on(slice(120, 160))
        losses.append((loss.item(), val.item()))
    return losses


def _check(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lstm_top", "check", str(path), *extra],
                          capture_output=True, text=True, timeout=120)


def test_models_one_after_another_show_the_last_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    runs = {}
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "epoch", "loss", "val_loss"])
        for seed, kind in enumerate(("lstm", "gru"), 1):
            runs[kind] = _train(kind, seed)
            for epoch, (loss, val) in enumerate(runs[kind], 1):
                writer.writerow([kind, epoch, f"{loss:.6f}", f"{val:.6f}"])
    read = read_history(path)
    assert read.epochs.index.tolist() == list(range(1, EPOCHS + 1))
    np.testing.assert_allclose(read.epochs.column("val_loss"), [v for _, v in runs["gru"]],
                               atol=1e-6)
    assert "model" not in read.epochs.names and read.malformed_lines == 0
    text = _check(path).stdout
    assert f"epochs   {EPOCHS} (epoch 1 .. {EPOCHS})" in text
    assert (f"line {EPOCHS + 2}: a new run starts here (model 'gru' after 'lstm'); the "
            f"{EPOCHS} epochs before it are not shown") in text
    assert "is not a number" not in text


def test_a_file_growing_run_by_run_starts_a_new_run_in_the_viewer(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("model,epoch,loss,val_loss\n")
    followed = Followed(str(path))
    try:
        for kind, seed in (("lstm", 1), ("gru", 2)):
            for epoch, (loss, val) in enumerate(_train(kind, seed, 3), 1):
                with open(path, "a", newline="") as handle:
                    csv.writer(handle).writerow([kind, epoch, loss, val])
                assert followed.wait_rows(epoch) < LIVE_WITHIN_S
                assert poll_until(lambda e=epoch: len(followed.history.epochs) == e)
        assert followed.new_runs() == 1 and followed.source.state == LIVE
        assert followed.history.epochs.index.tolist() == [1, 2, 3]
    finally:
        followed.stop()


def test_interleaved_folds_keep_the_last_runs_rows_and_say_so(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    folds = {fold: _train("lstm", 10 + fold) for fold in range(3)}
    # Long format sorted by epoch, as ``pd.concat(...).sort_values("epoch")`` leaves it: the
    # folds take turns, a row each.
    table = pandas.concat(
        pandas.DataFrame({"fold": fold, "epoch": range(1, EPOCHS + 1),
                          "loss": [t for t, _ in losses], "val_loss": [v for _, v in losses]})
        for fold, losses in folds.items()).sort_values(["epoch", "fold"], kind="stable")
    path = tmp_path / "cv_history.csv"
    table.to_csv(path, index=False)
    rows = path.read_text().splitlines()
    assert rows[0] == "fold,epoch,loss,val_loss"
    assert [row.split(",")[:2] for row in rows[1:5]] == [["0", "1"], ["1", "1"], ["2", "1"],
                                                         ["0", "2"]]
    read = read_history(path)
    assert read.epochs.index.tolist() == list(range(1, EPOCHS + 1))
    np.testing.assert_allclose(read.epochs.column("val_loss"), [v for _, v in folds[2]])
    report = json.loads(_check(path, "--json").stdout)
    assert report["epochs"] == EPOCHS
    text = _check(path).stdout
    assert ("line 2: rows of 3 runs interleave (fold '0', '1', '2'): showing the last, "
            f"fold '2' ({EPOCHS} rows); the other {2 * EPOCHS} rows are not shown") in text


def test_interleaved_runs_growing_stay_on_the_run_that_started_last(tmp_path: Path) -> None:
    """Two trials appending to one file in turn: each look shows the same run (the one that
    started last) growing, not a new run at every row of the other."""
    from lstm_top.sources.snapshot import relation

    path = tmp_path / "trials.csv"
    path.write_text("trial,epoch,loss,val_loss\na,1,1.0,1.1\nb,1,2.0,2.1\na,2,0.9,1.0\n")
    before = read_history(path)
    with open(path, "a") as handle:
        handle.write("b,2,1.9,2.0\na,3,0.8,0.9\n")
    after = read_history(path)
    assert before.epochs.column("val_loss").tolist() == [2.1]
    assert after.epochs.column("val_loss").tolist() == [2.1, 2.0]
    assert relation(before, after) == "extends"
    assert "showing the last, trial 'b' (2 rows)" in after.problems[0].reason
