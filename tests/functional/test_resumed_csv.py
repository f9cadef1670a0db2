"""A Keras run resumed from its checkpoint into the same CSVLogger file.

Training crashes after epoch 5; the script is run again with ``fit(initial_epoch=3)`` (the
last checkpoint), appending to the same file, as ``CSVLogger(append=True)`` does. The file
then holds epochs 0-5 and 3-9: the viewer and ``check`` must show one run of epochs 0-9, the
resumed attempt's values for 3-9, and say what was replaced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lstm_top.sources.formats import read_history
from lstm_top.ui.app import LstmTopApp
from lstm_top.ui.components.status import StatusHeader
from lstm_top.ui.components.warnings import WarningsPanel
from tests.functional.histories import STARTED
from tests.functional.pilots import settled, wait_until

os.environ.setdefault("KERAS_BACKEND", "torch")


def resumed_keras_log(tmp_path: Path) -> Path:
    """A real Keras CSVLogger file: epochs 0-5, a crash, then 3-9 resumed from a checkpoint."""
    keras = pytest.importorskip("keras")
    log = tmp_path / "training.log"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32"))[:, None]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if epoch == 5:
                raise RuntimeError("the machine went away")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError):
            model.fit(x, y, validation_split=0.25, epochs=10, verbose=0,
                      callbacks=[keras.callbacks.CSVLogger(str(log), append=True), Crash()])
        resumed: dict[int, float] = {}

        class Record(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                resumed[epoch] = float((logs or {})["val_loss"])

        model.fit(x, y, validation_split=0.25, epochs=10, initial_epoch=3, verbose=0,
                  callbacks=[keras.callbacks.CSVLogger(str(log), append=True), Record()])
    lines = log.read_text().splitlines()
    epochs_written = [int(line.split(",")[0]) for line in lines[1:]]
    assert epochs_written == [0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8, 9], epochs_written
    (tmp_path / "resumed.json").write_text(json.dumps(resumed))
    return log


def test_a_resumed_keras_run_appended_to_its_csvlogger_file_reads_as_one_run(
        tmp_path: Path) -> None:
    log = resumed_keras_log(tmp_path)
    resumed = {int(k): v for k, v in json.loads((tmp_path / "resumed.json").read_text()).items()}
    history = read_history(str(log))
    assert list(history.epochs.index) == list(range(10))
    val = history.epochs.column("val_loss")
    assert list(val[3:]) == pytest.approx([resumed[e] for e in range(3, 10)], rel=1e-6)
    notes = [problem.reason for problem in history.problems]
    assert any("resumed at epoch 3 after 5: the 3 epochs from 3 on" in n for n in notes), notes

    shown = subprocess.run([sys.executable, "-m", "lstm_top", "check", str(log)],
                           capture_output=True, text=True, timeout=120)
    assert "epochs   10 (epoch 0 .. 9)" in shown.stdout, shown.stdout
    assert "resumed at epoch 3 after 5" in shown.stdout, shown.stdout


@pytest.mark.anyio
async def test_the_viewer_says_the_run_was_resumed(tmp_path: Path) -> None:
    """The screen shows one run of epochs 0-9 and, under the warnings, that the interrupted
    attempt's epochs were replaced: what ``check`` says, where a viewer's user reads it."""
    log = resumed_keras_log(tmp_path)
    app = LstmTopApp([str(log)], clock=lambda: STARTED + 10_000.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        shown = app.query_one("#warnings", WarningsPanel).plain
        assert "line 8: resumed at epoch 3 after 5: the 3 epochs from 3 on" in shown, shown
        assert "epoch 9" in getattr(app.query_one("#status", StatusHeader), "_shown", "")


@pytest.mark.anyio
async def test_a_run_resumed_while_followed_stays_one_run(tmp_path: Path) -> None:
    """The viewer follows the CSVLogger file through the crash and the resume: the resumed
    attempt's rows replace the interrupted one's in the same run, not a second "(earlier)"
    run beside it."""
    written = resumed_keras_log(tmp_path).read_text().splitlines(keepends=True)
    live = tmp_path / "live" / "training.log"
    live.parent.mkdir()
    live.write_text("".join(written[:7]))  # the header and epochs 0-5: then the crash
    app = LstmTopApp([str(live)], clock=lambda: STARTED + 10_000.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        assert "epoch 5" in getattr(app.query_one("#status", StatusHeader), "_shown", "")
        with open(live, "a") as handle:  # the resumed fit() appends epochs 3-9
            handle.write("".join(written[7:]))
        await wait_until(pilot, lambda: "resumed at epoch 3" in app.query_one(
            "#warnings", WarningsPanel).plain, what="the resume noted")
        await settled(pilot)
        assert len(app.runs) == 1, [run.label for run in app.runs.values()]
        run = next(iter(app.runs.values()))
        assert run.history.epochs.index.tolist() == list(range(10))
        assert "epoch 9" in getattr(app.query_one("#status", StatusHeader), "_shown", "")
