"""A Keras run resumed from its checkpoint into the same CSVLogger file.

Training crashes after epoch 5; the script is run again with ``fit(initial_epoch=3)`` (the
last checkpoint), appending to the same file, as ``CSVLogger(append=True)`` does. The file
then holds epochs 0-5 and 3-9: the viewer and ``check`` must show one run of epochs 0-9, the
resumed attempt's values for 3-9, and say what was replaced.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lstm_top.sources.formats import read_history

os.environ.setdefault("KERAS_BACKEND", "torch")


def test_a_resumed_keras_run_appended_to_its_csvlogger_file_reads_as_one_run(
        tmp_path: Path) -> None:
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
