"""Objective labels for the oracle corpus: what each run *really* did, read off the loss on a
large oracle set (10,000 samples of the run's own distribution) that the detectors never see.

Each sign gets ``yes`` (with the epoch from which it held), ``no`` or ``gray``: between "clearly
yes" and "clearly no" a run is left unscored for that sign, so no threshold is tuned on cases
where reasonable people would disagree. The rules (docs/SIGNS.md repeats them):

* **stagnating_val_loss** (over-fitting): yes from the first epoch at which the oracle loss
  (median of 3) sits >= 5% above its best so far while the training loss has fallen >= 10%
  since that best — or the oracle has not improved by 1% for 10 epochs while the training loss
  fell >= 20% over them — and this holds at >= 80% of the later epochs. No when the oracle loss
  ends within 2% of its best and no such flat stretch exists, or the training loss did not fall
  after the oracle's best. Gray otherwise.
* **oscillating_val_loss**: the oracle loss itself swings (the weights are unstable, not the
  measurement). Yes when >= 3 oracle peaks of >= 10% up and down (within 1-2 epochs each way)
  fall within 20 epochs; no when no 20-epoch window holds more than one peak of >= 5%.
* **diverging_loss**: yes when for >= 3 consecutive epochs both the training loss and the oracle
  loss are >= 2x their best so far; no when the training loss never sits >= 1.5x its best so
  far for 2 consecutive epochs. (A run that goes non-finite is nonfinite_loss, divergence then
  allowed.)
* **nonfinite_loss**: a logged training or validation loss is NaN or infinite.
* **train_plateau**: yes when for >= 12 consecutive epochs (from epoch 2) both the oracle and
  the training loss are >= 95% of the best constant predictor's loss (the mean, the class
  frequencies) and over 12 of them the oracle loss moved by under 5%: nothing learned, and
  sitting there. Stuck above that level but still falling is gray (learning slowly from worse
  than a constant guess: a warning there is not wrong, silence is not either). No when the
  oracle loss is <= 85% of it by epoch 10 and never back above 93% for 12 epochs. Gray
  otherwise.
* **subset_gap**: on the oracle's subsets (worst vs the rest pooled): yes when the ratio is
  >= 1.3 for >= 3 consecutive epochs; no when it stays <= 1.1 from epoch 2 on.

A run is **healthy** when every sign is ``no``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

YES, NO, GRAY = "yes", "no", "gray"

# Over-fitting
OVERFIT_RISE = math.log(1.05)
OVERFIT_TRAIN_DROP = math.log(1 / 0.9)
FLAT_EPOCHS = 10
FLAT_IMPROVEMENT = math.log(1.01)
FLAT_TRAIN_DROP = math.log(1 / 0.8)
OVERFIT_PERSIST = 0.8
HEALTHY_END_WITHIN = math.log(1.02)
# Oscillation
SWING_YES = math.log(1.10)
SWING_NO = math.log(1.05)
SWING_WINDOW = 20
SWING_PEAKS = 3
# Divergence
DIVERGE_FACTOR = math.log(2.0)
DIVERGE_EPOCHS = 3
DIVERGE_NO_FACTOR = math.log(1.5)
# Plateau
PLATEAU_LEVEL = 0.95
PLATEAU_EPOCHS = 12
PLATEAU_NO_LEVEL = 0.85
PLATEAU_NO_BY_EPOCH = 10
PLATEAU_NO_RETURN = 0.93
PLATEAU_MAX_MOVE = 0.05
# Subset gap
GAP_YES = 1.3
GAP_NO = 1.1
GAP_EPOCHS = 3


@dataclass
class Label:
    verdict: str
    onset_epoch: int | None = None


@dataclass
class OracleRun:
    name: str
    family: str
    config: dict[str, Any]
    epochs: list[int]
    oracle: np.ndarray
    train: np.ndarray
    val: np.ndarray
    subsets: dict[str, np.ndarray]
    constant_loss: float
    labels: dict[str, Label] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return all(label.verdict == NO for label in self.labels.values())


def load(path: Path) -> OracleRun:
    data = json.loads(path.read_text())
    run = OracleRun(path.name.removesuffix(".oracle.json"), data["config"]["family"],
                    data["config"], list(data["epochs"]),
                    np.array(data["oracle_loss"], float), np.array(data["train_loss_eval"], float),
                    np.array(data["val_loss"], float),
                    {k: np.array(v, float) for k, v in data["oracle_subsets"].items()},
                    float(data["constant_loss"]))
    run.labels = label_run(run)
    return run


def _log(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((values > 0) & np.isfinite(values), np.log(np.maximum(values, 1e-300)),
                        np.nan)


def _median3(values: np.ndarray) -> np.ndarray:
    out = values.copy()
    for i in range(len(values)):
        window = values[max(0, i - 2):i + 1]
        window = window[np.isfinite(window)]
        out[i] = np.median(window) if len(window) else np.nan
    return out


def label_run(run: OracleRun) -> dict[str, Label]:
    nonfinite = not (np.isfinite(run.train).all() and np.isfinite(run.val).all())
    finite_rows = len(run.epochs)
    if nonfinite:
        bad = ~(np.isfinite(run.train) & np.isfinite(run.val))
        finite_rows = int(np.argmax(bad))
    labels = {"nonfinite_loss": Label(YES, run.epochs[finite_rows]) if nonfinite else Label(NO)}
    oracle = _log(run.oracle[:finite_rows])
    train = _log(run.train[:finite_rows])
    epochs = run.epochs[:finite_rows]
    labels["diverging_loss"] = _diverging(epochs, oracle, train)
    if nonfinite and labels["diverging_loss"].verdict == NO:
        labels["diverging_loss"] = Label(GRAY)  # it blew up in the end, whatever came before
    labels["oscillating_val_loss"] = _oscillating(epochs, oracle)
    labels["stagnating_val_loss"] = _overfitting(epochs, oracle, train)
    if labels["diverging_loss"].verdict != NO and labels["stagnating_val_loss"].verdict == YES:
        labels["stagnating_val_loss"] = Label(GRAY)
    labels["train_plateau"] = _plateau(epochs, run.oracle[:finite_rows],
                                       run.train[:finite_rows], run.constant_loss)
    labels["subset_gap"] = _subset_gap(epochs, {k: v[:finite_rows]
                                                for k, v in run.subsets.items()})
    return labels


def _diverging(epochs: list[int], oracle: np.ndarray, train: np.ndarray) -> Label:
    best_train = np.fmin.accumulate(np.where(np.isfinite(train), train, np.inf))
    best_oracle = np.fmin.accumulate(np.where(np.isfinite(oracle), oracle, np.inf))
    both = (train - best_train >= DIVERGE_FACTOR) & (oracle - best_oracle >= DIVERGE_FACTOR)
    run = 0
    for i, flag in enumerate(both):
        run = run + 1 if flag else 0
        if run >= DIVERGE_EPOCHS:
            return Label(YES, epochs[i - DIVERGE_EPOCHS + 1])
    high = train - best_train >= DIVERGE_NO_FACTOR
    if np.any(high[1:] & high[:-1]):
        return Label(GRAY)
    return Label(NO)


def _peaks(oracle: np.ndarray, size: float) -> list[tuple[int, int]]:
    """(index of the peak, index where its fall completed) of swings >= size up and down."""
    found: list[tuple[int, int]] = []
    for i in range(1, len(oracle) - 1):
        before = oracle[max(0, i - 2):i]
        after = oracle[i + 1:i + 3]
        if not (np.isfinite(before).all() and np.isfinite(after).all()) or not len(after):
            continue
        if oracle[i] < oracle[i - 1] or oracle[i] < np.max(after):
            continue
        if oracle[i] - np.min(before) >= size and oracle[i] - np.min(after) >= size:
            fall_at = i + 1 + int(np.argmax(oracle[i] - after >= size))
            if not found or found[-1][0] < i - 1:
                found.append((i, fall_at))
    return found


def _oscillating(epochs: list[int], oracle: np.ndarray) -> Label:
    big = _peaks(oracle, SWING_YES)
    for j in range(SWING_PEAKS - 1, len(big)):
        if big[j][0] - big[j - SWING_PEAKS + 1][0] < SWING_WINDOW:
            return Label(YES, epochs[big[j][1]])
    small = _peaks(oracle, SWING_NO)
    if any(small[j][0] - small[j - 1][0] < SWING_WINDOW for j in range(1, len(small))):
        return Label(GRAY)
    return Label(NO)


def _overfitting(epochs: list[int], oracle: np.ndarray, train: np.ndarray) -> Label:
    count = len(oracle)
    if count < 5:
        return Label(GRAY)
    level = _median3(oracle)
    train_level = _median3(train)
    holds = np.zeros(count, bool)
    best = math.inf
    best_index = 0
    for i in range(count):
        if not math.isfinite(level[i]):
            continue
        if oracle[i] < best:
            best, best_index = float(oracle[i]), i
        rise = level[i] - best
        drop = train_level[best_index] - train_level[i]
        if rise >= OVERFIT_RISE and drop >= OVERFIT_TRAIN_DROP:
            holds[i] = True
        elif i >= FLAT_EPOCHS:
            then = i - FLAT_EPOCHS
            best_then = np.nanmin(oracle[:then + 1])
            improved = best_then - best
            fell = train_level[then] - train_level[i]
            if improved < FLAT_IMPROVEMENT and fell >= FLAT_TRAIN_DROP:
                holds[i] = True
    for first in np.flatnonzero(holds):
        start = int(first)
        if holds[start:].mean() >= OVERFIT_PERSIST and count - start >= 3:
            return Label(YES, epochs[start])
    finite = np.isfinite(oracle)
    if not finite.any():
        return Label(GRAY)
    end_rise = level[-1] - np.nanmin(oracle)
    train_after_best = train_level[int(np.nanargmin(oracle))] - train_level[-1]
    if (end_rise <= HEALTHY_END_WITHIN and not holds.any()) or (
            train_after_best < OVERFIT_TRAIN_DROP / 2 and not holds.any()):
        return Label(NO)
    return Label(GRAY)


def _plateau(epochs: list[int], oracle: np.ndarray, train: np.ndarray,
             constant: float) -> Label:
    if constant <= 0 or len(oracle) < 3:
        return Label(GRAY)
    ratio_oracle = oracle / constant
    ratio_train = train / constant
    stuck = (ratio_oracle >= PLATEAU_LEVEL) & (ratio_train >= PLATEAU_LEVEL)
    stuck[0] = False
    run = 0
    stuck_but_moving = False
    log_oracle = np.log(np.maximum(oracle, 1e-300))
    for i, flag in enumerate(stuck):
        run = run + 1 if flag else 0
        if run >= PLATEAU_EPOCHS:
            start = i - PLATEAU_EPOCHS + 1
            if abs(log_oracle[i] - log_oracle[start]) <= PLATEAU_MAX_MOVE:
                return Label(YES, epochs[start])
            stuck_but_moving = True
    if stuck_but_moving:
        return Label(GRAY)  # still above the constant predictor, but learning: not sitting
    early = ratio_oracle[:PLATEAU_NO_BY_EPOCH]
    back = ratio_oracle >= PLATEAU_NO_RETURN
    back_run = 0
    longest = 0
    for flag in back[1:]:
        back_run = back_run + 1 if flag else 0
        longest = max(longest, back_run)
    if np.nanmin(early) <= PLATEAU_NO_LEVEL and longest < PLATEAU_EPOCHS:
        return Label(NO)
    return Label(GRAY)


def _subset_gap(epochs: list[int], subsets: dict[str, np.ndarray]) -> Label:
    if len(subsets) < 2:
        return Label(NO)
    names = sorted(subsets)
    values = np.stack([subsets[name] for name in names])
    ratios = []
    for column in values.T:
        if not np.isfinite(column).all() or (column <= 0).any():
            ratios.append(np.nan)
            continue
        worst = int(np.argmax(column))
        rest = np.delete(column, worst).mean()
        ratios.append(column[worst] / rest)
    ratio = np.array(ratios)
    run = 0
    for i, value in enumerate(ratio):
        run = run + 1 if value >= GAP_YES else 0
        if run >= GAP_EPOCHS:
            return Label(YES, epochs[i - GAP_EPOCHS + 1])
    if np.nanmax(ratio[1:], initial=1.0) <= GAP_NO:
        return Label(NO)
    return Label(GRAY)


def load_dir(directory: Path) -> list[OracleRun]:
    return [load(path) for path in sorted(directory.glob("*.oracle.json"))]


SCORED_SIGNS = ("stagnating_val_loss", "oscillating_val_loss", "diverging_loss",
                "nonfinite_loss", "train_plateau", "subset_gap")
