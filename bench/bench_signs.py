"""Warning-signs update cost per new epoch: 1,000,000-epoch history vs 1,000-epoch history.

Each detector is incremental, so the time to take in one more epoch must not grow with the
length of the run. Goal: long / short <= 1.2. Alone: ``python -m bench.bench_signs [--quick]``.

What is timed, and what is not:

* Setup (not timed): both histories are built with one bulk ``Table.extend``, and a Diagnoser
  takes them in with its first update — for the million-epoch history that is the capped
  catch-up (``MAX_CATCHUP_EPOCHS``), itself reported as a row. The 1k history's Diagnoser is
  capped too (at 500), so in both the start of the run is unseen and the same detectors work
  (train_plateau idles when it never saw the start).
* Appending is not timed. (The table's capacity doubles: 1,000,000 + 3,000 rows fit in the
  2^20 rows it already has, so no copy of a 1M-row table happens between timed updates.)
* Each round appends one epoch to each history (not timed) and times only
  ``Diagnoser.update``; the two histories alternate, and which goes first alternates too, so
  slow drift of the machine (other jobs on a shared box, CPU frequency) hits both equally.
  The medians of the rounds are compared.
"""

from __future__ import annotations

import gc
import sys
import time

import numpy as np

from lstm_top.history import History
from lstm_top.signs import MAX_CATCHUP_EPOCHS, Diagnoser

LONG_EPOCHS = 1_000_000
SHORT_EPOCHS = 1_000
ROUNDS = 3_000
QUICK_ROUNDS = 1_000
GOAL_RATIO = 1.2
SHORT_CATCHUP = SHORT_EPOCHS // 2
# The first update of a million-epoch history (the TUI opening such a file) must not take
# minutes: with the catch-up cap it takes in MAX_CATCHUP_EPOCHS epochs.
CATCHUP_GOAL_SECONDS = 5.0


def _columns(count: int, start: int, rng: np.random.Generator, keras_csv: bool = False
             ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A converged, noisy run with val every epoch, lr, grad_norm and two subsets; or, as a
    Keras CSVLogger writes it, loss, val_loss and a val accuracy of k / 1000 (no n, no std:
    stagnation reads n off the accuracy's granularity)."""
    t = np.arange(start, start + count, dtype=float)
    base = 0.1 + 0.9 * np.exp(-t / 50)
    loss = base * np.exp(rng.normal(0, 0.01, count))
    val = 1.1 * base * np.exp(rng.normal(0, 0.02, count))
    present = np.ones(count, dtype=bool)
    if keras_csv:
        accuracy = rng.integers(600, 900, count).astype(np.float32) / np.float32(1000)
        return {name: (values, present) for name, values in
                {"loss": loss, "val_loss": val,
                 "val_accuracy": accuracy.astype(float)}.items()}
    columns = {"loss": loss, "val_loss": val, "lr": np.full(count, 1e-3),
               "grad_norm": np.exp(rng.normal(0, 0.2, count)),
               "val_loss[a]": val * np.exp(rng.normal(0, 0.02, count)),
               "val_loss[b]": val * np.exp(rng.normal(0, 0.02, count)),
               "n[a]": np.full(count, 500.0), "n[b]": np.full(count, 500.0),
               "val_loss_std[a]": val, "val_loss_std[b]": val}
    return {name: (values, present) for name, values in columns.items()}


class _Run:
    """One history with its Diagnoser, and the epochs still to append to it."""

    def __init__(self, epochs: int, rounds: int, seed: int, max_catchup: int,
                 keras_csv: bool = False) -> None:
        rng = np.random.default_rng(seed)
        self.history = History()
        table = self.history.epochs
        table.extend(np.arange(epochs), np.full(epochs, np.nan),
                     _columns(epochs, 0, rng, keras_csv))
        self.diagnoser = Diagnoser(max_catchup=max_catchup)
        began = time.perf_counter()
        self.diagnoser.update(self.history)
        self.catchup_seconds = time.perf_counter() - began
        new = _columns(rounds, epochs, np.random.default_rng(seed + 1), keras_csv)
        names = list(new)
        self.rows = [{name: float(new[name][0][i]) for name in names} for i in range(rounds)]
        self.next_epoch = epochs
        self.timings: list[float] = []

    def step(self, i: int) -> None:
        self.history.epochs.append(self.next_epoch, None, self.rows[i])
        self.next_epoch += 1
        began = time.perf_counter()
        self.diagnoser.update(self.history)
        self.timings.append(time.perf_counter() - began)


def measure(rounds: int, keras_csv: bool = False) -> tuple[_Run, _Run]:
    # Both diagnosers skip the oldest epochs, so the same detectors do the same work: with
    # the start of a run unseen, train_plateau stays silent and idle (it judges progress since
    # the start), and a 1k history diagnosed in full would time one detector more.
    short = _Run(SHORT_EPOCHS, rounds, seed=0, max_catchup=SHORT_CATCHUP, keras_csv=keras_csv)
    long = _Run(LONG_EPOCHS, rounds, seed=0, max_catchup=MAX_CATCHUP_EPOCHS,
                keras_csv=keras_csv)
    gc.collect()
    gc.disable()  # a collection landing in one history's update would bias that side
    try:
        for i in range(rounds):
            first, second = (short, long) if i % 2 == 0 else (long, short)
            first.step(i)
            second.step(i)
    finally:
        gc.enable()
    return short, long


def run(quick: bool = False) -> list[dict[str, object]]:
    rounds = QUICK_ROUNDS if quick else ROUNDS
    short, long = measure(rounds)
    short_median = float(np.median(short.timings))
    long_median = float(np.median(long.timings))
    detail = f"median of {rounds} interleaved rounds, Diagnoser.update only (8 detectors)"
    csv_short, csv_long = measure(rounds, keras_csv=True)
    csv_ratio = float(np.median(csv_long.timings)) / float(np.median(csv_short.timings))
    return [
        {"name": "signs update per epoch, 1k-epoch history", "value": round(short_median * 1e6, 1),
         "unit": "us", "goal": "", "detail": detail},
        {"name": "signs update per epoch, 1M-epoch history", "value": round(long_median * 1e6, 1),
         "unit": "us", "goal": "", "detail": detail},
        {"name": "signs update cost 1M / 1k epochs", "value": round(long_median / short_median, 3),
         "unit": "x", "goal": f"<= {GOAL_RATIO}",
         "detail": "same run shape, same new epochs, same process"},
        {"name": "signs update cost 1M / 1k, Keras CSV shape", "value": round(csv_ratio, 3),
         "unit": "x", "goal": f"<= {GOAL_RATIO}",
         "detail": "loss, val_loss, val_accuracy k/1000: n read off the accuracy each epoch"},
        {"name": "signs first update, 1M-epoch history", "value": round(long.catchup_seconds, 3),
         "unit": "s", "goal": f"<= {CATCHUP_GOAL_SECONDS}",
         "detail": f"catch-up capped at the newest {MAX_CATCHUP_EPOCHS:,} epochs "
                   f"({long.diagnoser.skipped_epochs:,} skipped)"},
    ]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(f"{row['name']:<45} {row['value']:>10} {row['unit']:<3} goal {row['goal']:<7} "
              f"{row['detail']}")
