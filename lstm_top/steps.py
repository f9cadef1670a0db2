"""Runs logged by step: the evaluation points become the rows the signs and the chart see.

HF Trainer, language models and one-long-epoch runs log the training loss every few steps and
evaluate every N steps; they write no (or one, or two) epoch records. ``judged(history)`` gives
such a run a derived History whose ``epochs`` table holds one row per evaluation (indexed by
step): the validation values logged at that step, and the mean training loss of the steps since
the previous evaluation — what an epoch row holds for an epoch. The detectors read
``history.epochs`` as always and need not know. Runs with epochs keep them.

Derived rows never change once made (an evaluation row only covers steps before it), so a
diagnoser fed successive views of a growing run judges each row once.
"""

from __future__ import annotations

import copy

import numpy as np

from lstm_top.history import History, Table, resolve_loss_keys

STEP_UNIT = "step"
EPOCH_UNIT = "epoch"
# A run is judged by steps when it has at least this many evaluation points and at least
# this many times more of them than epochs.
MIN_EVALUATIONS = 3
EVALUATIONS_PER_EPOCH = 2


def evaluation_rows(steps: Table, val_key: str | None) -> np.ndarray:
    """Row numbers of the step table where the validation loss was logged."""
    if val_key is None or val_key not in steps:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(steps.present(val_key))


def is_step_run(history: History) -> bool:
    """Judged by steps: evaluations logged per step clearly outnumber the epoch records (or
    the run has only step records)."""
    steps = history.steps
    if not len(steps):
        return False
    epochs = len(history.epochs)
    if epochs == 0:
        return True
    keys = resolve_loss_keys(steps.names)
    count = len(evaluation_rows(steps, keys.val))
    return count >= MIN_EVALUATIONS and count >= EVALUATIONS_PER_EPOCH * epochs


def index_unit(history: History) -> str:
    """What the x axis counts for this run: "step" or "epoch"."""
    return STEP_UNIT if is_step_run(history) else EPOCH_UNIT


def evaluation_table(steps: Table, train_key: str | None = None,
                     val_key: str | None = None) -> Table:
    """One row per evaluation step (every step when no validation loss was logged)."""
    keys = resolve_loss_keys(steps.names, train_key, val_key)
    rows = evaluation_rows(steps, keys.val)
    table = Table()
    if not len(rows):
        rows = np.arange(len(steps))
    if not len(rows):
        return table
    index = steps.index
    columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    # Intervals (previous evaluation, this one]: row r covers steps rows starts[i]..rows[i].
    starts = np.concatenate(([0], rows[:-1] + 1))
    for name in steps.names:
        values, present = steps.column(name), steps.present(name)
        if name == keys.train:
            # The mean over the interval, as an epoch's training loss is its batches' mean.
            logged = np.where(present, values, 0.0)
            sums = np.add.reduceat(logged, starts) if len(logged) else logged
            counts = np.add.reduceat(present.astype(np.int64), starts)
            sums, counts = sums[: len(rows)], counts[: len(rows)]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
            # A logged NaN stays a NaN (the divergence sign must see it).
            nan_logged = np.add.reduceat((present & np.isnan(values)).astype(np.int64), starts)
            mean = np.where(nan_logged[: len(rows)] > 0, np.nan, mean)
            columns[name] = (mean, counts > 0)
            continue
        # Anything else: the last value logged in the interval.
        positions = np.where(present, np.arange(len(values)), -1)
        last = np.maximum.accumulate(positions)[rows]
        has = last >= starts
        picked = np.where(has, values[np.maximum(last, 0)], np.nan)
        columns[name] = (picked, has)
    table.extend(index[rows].copy(), steps.time[rows].copy(), columns)
    return table


def judged(history: History, train_key: str | None = None,
           val_key: str | None = None) -> History:
    """``history`` itself for an epoch run; for a step run, a copy whose epochs table holds
    its evaluation points (its steps are kept). The copy's ``epochs.version`` moves whenever
    the source's epochs or steps change."""
    if not is_step_run(history):
        return history
    view = copy.copy(history)
    view.epochs = evaluation_table(history.steps, train_key, val_key)
    view.epochs.version = history.epochs.version + history.steps.version
    view.index_unit = STEP_UNIT
    return view
