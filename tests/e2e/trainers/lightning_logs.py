"""Lightning fit with CSVLogger, TensorBoardLogger and our callback, two validation dataloaders
(the second one far off: a subset gap), pausing after each epoch (for the tmux tests).

``python lightning_logs.py OUT EPOCHS PAUSE``: writes OUT/logs/csv/version_0/metrics.csv,
OUT/logs/tb/version_0/events.*, OUT/run.jsonl and OUT/written ("epoch wall-time" lines).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning_regression import Regression, loaders  # (beside this script)

from lstm_top.lightning import LstmTopCallback

out, epochs, pause = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])


class Pause(pl.Callback):
    def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
        # Lightning has saved metrics.csv and flushed the event file by now; ours writes its
        # epoch record in this same hook, so give it the turn first.
        time.sleep(0.05)
        with (out / "written").open("a") as handle:
            handle.write(f"{trainer.current_epoch} {time.time()}\n")
        time.sleep(pause)


time.sleep(float(os.environ.get("START_DELAY", "0")))
train, validation = loaders()
trainer = pl.Trainer(max_epochs=epochs, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, log_every_n_steps=1,
                     logger=[CSVLogger(str(out / "logs"), name="csv", version=0),
                             TensorBoardLogger(str(out / "logs"), name="tb", version=0)],
                     callbacks=[LstmTopCallback(str(out / "run.jsonl")), Pause()])
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    trainer.fit(Regression(), train, validation)
