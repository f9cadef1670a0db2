"""Keras fit with CSVLogger and our callback, pausing after each epoch (for the tmux tests).

``python keras_csv.py OUT EPOCHS PAUSE``: writes OUT/training.log (CSVLogger), OUT/run.jsonl
(ours) and OUT/written (one "epoch wall-time" line once both files hold the epoch). The learning
rate is far too high: the loss blows up, so a warning sign is raised.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

from lstm_top.keras import LstmTopCallback

out, epochs, pause = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])


class Pause(keras.callbacks.Callback):
    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        with (out / "written").open("a") as handle:
            handle.write(f"{epoch} {time.time()}\n")
        time.sleep(pause)


time.sleep(float(os.environ.get("START_DELAY", "0")))
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x.sum(axis=1, keepdims=True) * 10).astype("float32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="mse")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model.fit(x, y, validation_split=0.25, epochs=epochs, batch_size=16, verbose=0,
              callbacks=[keras.callbacks.CSVLogger(str(out / "training.log")),
                         LstmTopCallback(str(out / "run.jsonl")), Pause()])
