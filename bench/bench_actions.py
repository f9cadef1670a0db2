"""What ``stop_on=`` costs training: the signs judged in-process, per epoch, at 1,000 epochs.

A callback with ``stop_on`` feeds every epoch's metrics to a ``StopRule`` (lstm_top/actions.py):
one row into an in-memory History and one ``Diagnoser.update``. Timed here on a healthy
1,000-epoch run (so it never stops and every epoch is judged) with the metrics a Keras or
Lightning callback logs (loss, val_loss, lr, grad_norm, two validation subsets). The baseline,
in the same process: ``Logger.log_metrics`` of the same metrics, which every callback pays
anyway. Goal: <= 1 ms per epoch at 1,000 epochs. Alone: ``python -m bench.bench_actions``.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import time

import numpy as np

from lstm_top import Logger
from lstm_top.actions import StopRule

EPOCHS = 1_000
GOAL_MS = 1.0


def _rows(epochs: int, seed: int = 0) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    t = np.arange(epochs, dtype=float)
    base = 0.1 + 0.9 * np.exp(-t / 200)
    rows = []
    for i in range(epochs):
        val = float(1.1 * base[i] * np.exp(rng.normal(0, 0.02)))
        rows.append({"loss": float(base[i] * np.exp(rng.normal(0, 0.01))), "val_loss": val,
                     "lr": 1e-3, "grad_norm": float(np.exp(rng.normal(0, 0.2))),
                     "val_loss[short]": val * float(np.exp(rng.normal(0, 0.02))),
                     "val_loss[long]": val * float(np.exp(rng.normal(0, 0.02))),
                     "n[short]": 500.0, "n[long]": 500.0})
    return rows


def measure(epochs: int = EPOCHS) -> tuple[list[float], list[float], StopRule]:
    rows = _rows(epochs)
    rule = StopRule("critical")
    judge: list[float] = []
    log: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        logger = Logger(os.path.join(folder, "run.jsonl"))
        gc.collect()
        gc.disable()
        try:
            for epoch, row in enumerate(rows, start=1):
                began = time.perf_counter()
                logger.log_metrics(row, epoch=epoch)
                middle = time.perf_counter()
                decision = rule.observe(epoch, row)
                judge.append(time.perf_counter() - middle)
                log.append(middle - began)
                if decision.stop:
                    raise RuntimeError(f"a healthy run was stopped: {rule.stopped_by}")
        finally:
            gc.enable()
            logger.close()
    return judge, log, rule


def run(quick: bool = False) -> list[dict[str, object]]:
    judge, log, rule = measure()
    last = judge[-100:]  # "at 1,000 epochs": the epochs 901-1,000
    at_1000 = statistics.median(last) * 1e3
    mean_all = statistics.fmean(judge) * 1e3
    logger_ms = statistics.median(log[-100:]) * 1e3
    return [
        {"name": "stop_on cost per epoch at 1,000 epochs", "value": round(at_1000, 4),
         "unit": "ms", "goal": f"<= {GOAL_MS}",
         "detail": f"median of epochs 901-1000, StopRule('critical').observe (History row + "
                   f"8 signs); mean over all {len(judge)} epochs {mean_all:.4f} ms; "
                   f"max {max(judge) * 1e3:.3f} ms"},
        {"name": "stop_on cost / Logger.log_metrics cost", "value": round(at_1000 / logger_ms, 2),
         "unit": "x", "goal": "",
         "detail": f"same epochs, same process: log_metrics {logger_ms * 1e3:.1f} us per "
                   f"epoch (one os.write); never stopped: {rule.stopped_by is None}"},
    ]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(f"{row['name']:<45} {row['value']:>10} {row['unit']:<3} goal {row['goal']:<7} "
              f"{row['detail']}")
