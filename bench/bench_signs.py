"""Warning-signs update cost per new epoch: 1,000,000-epoch history vs 1,000-epoch history.

Each detector is incremental, so the time to take in one more epoch must not grow with the
length of the run. Both histories are fed to a Diagnoser in full first (that is setup, not
measured), then the same NEW_EPOCHS epochs are appended one at a time and each ``update`` is
timed. Goal: long / short <= 1.2. Run alone: ``python bench/bench_signs.py``.
"""

from __future__ import annotations

import time

import numpy as np

from lstm_top.history import History
from lstm_top.signs import Diagnoser

LONG_EPOCHS = 1_000_000
SHORT_EPOCHS = 1_000
NEW_EPOCHS = 2_000
GOAL_RATIO = 1.2


def _columns(count: int, start: int, rng: np.random.Generator
             ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A converged, noisy run with val every epoch, lr, grad_norm and two subsets."""
    t = np.arange(start, start + count, dtype=float)
    base = 0.1 + 0.9 * np.exp(-t / 50)
    loss = base * np.exp(rng.normal(0, 0.01, count))
    val = 1.1 * base * np.exp(rng.normal(0, 0.02, count))
    present = np.ones(count, dtype=bool)
    columns = {"loss": loss, "val_loss": val, "lr": np.full(count, 1e-3),
               "grad_norm": np.exp(rng.normal(0, 0.2, count)),
               "val_loss[a]": val * np.exp(rng.normal(0, 0.02, count)),
               "val_loss[b]": val * np.exp(rng.normal(0, 0.02, count)),
               "n[a]": np.full(count, 500.0), "n[b]": np.full(count, 500.0),
               "val_loss_std[a]": val, "val_loss_std[b]": val}
    return {name: (values, present) for name, values in columns.items()}


def _fed(epochs: int, seed: int) -> tuple[History, Diagnoser]:
    rng = np.random.default_rng(seed)
    history = History()
    history.epochs.extend(np.arange(epochs), np.full(epochs, np.nan), _columns(epochs, 0, rng))
    diagnoser = Diagnoser()
    diagnoser.update(history)
    return history, diagnoser


def seconds_per_new_epoch(epochs: int, seed: int = 0) -> float:
    history, diagnoser = _fed(epochs, seed)
    rng = np.random.default_rng(seed + 1)
    new = _columns(NEW_EPOCHS, epochs, rng)
    timings = []
    for i in range(NEW_EPOCHS):
        metrics = {name: float(values[i]) for name, (values, _) in new.items()}
        history.epochs.append(epochs + i, None, metrics)
        began = time.perf_counter()
        diagnoser.update(history)
        timings.append(time.perf_counter() - began)
    # The median: robust to a garbage collection or a scheduler hiccup on a shared machine.
    return float(np.median(timings))


def run() -> list[dict[str, object]]:
    short = seconds_per_new_epoch(SHORT_EPOCHS)
    long = seconds_per_new_epoch(LONG_EPOCHS)
    return [
        {"name": "signs update per epoch, 1k-epoch history", "value": round(short * 1e6, 1),
         "unit": "us", "goal": "", "detail": f"median of {NEW_EPOCHS} appended epochs"},
        {"name": "signs update per epoch, 1M-epoch history", "value": round(long * 1e6, 1),
         "unit": "us", "goal": "", "detail": f"median of {NEW_EPOCHS} appended epochs"},
        {"name": "signs update cost 1M / 1k epochs", "value": round(long / short, 3),
         "unit": "x", "goal": f"<= {GOAL_RATIO}",
         "detail": "all 8 detectors via Diagnoser.update, same run in the same process"},
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<45} {row['value']:>10} {row['unit']:<3} goal {row['goal']}  "
              f"{row['detail']}")
