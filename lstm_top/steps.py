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
import re

import numpy as np

from lstm_top.history import History, Table, median_of_finite, resolve_loss_keys

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


# The detectors word their messages in epochs (a row is an epoch for them). For a run judged by
# steps a row is an evaluation at a step: a position ("epoch 600") is a step, a count of rows
# ("28 epochs ago") is a number of evaluations.
_REWORDINGS = (
    (re.compile(r"\bepochs (\d+)(\s*[–-]\s*)(\d+)"), r"steps \1\2\3"),
    (re.compile(r"\bepoch[ _](@?-?\d+)"), r"step \1"),
    (re.compile(r"\bepochs\b"), "evaluations"),
    (re.compile(r"\bEpochs\b"), "Evaluations"),
    (re.compile(r"\bepoch\b"), "step"),
    (re.compile(r"\bEpoch\b"), "Step"),
)


def reworded(text: str, unit: str) -> str:
    """``text`` (a sign's message, remedy or evidence name) in the words of ``unit``: unchanged
    for "epoch"; for "step", epoch positions become steps and epoch counts evaluations."""
    if unit != STEP_UNIT or "poch" not in text:
        return text
    for pattern, replacement in _REWORDINGS:
        text = pattern.sub(replacement, text)
    return text


def steps_on_epoch_axis(history: History) -> np.ndarray:
    """Where each step row of an epoch run sits on the epoch axis (a float per step row).

    A step whose record gave its epoch is placed by it: a fractional epoch (Hugging Face's
    ``state.epoch``, 0.5 = half-way through the first) is its position; an integer epoch ``e``
    (our callbacks: the epoch whose record ends it) spreads that epoch's steps evenly over
    (e - 1, e]. A step without one belongs to the first epoch record written at or after it
    (an epoch record is logged when its epoch ends), spread the same way. Steps past the last
    epoch record (the epoch in progress) advance at the pace of the epochs before. Call
    holding the lock."""
    steps, epochs = history.steps, history.epochs
    if not len(steps):
        return np.zeros(0)
    if not len(epochs):
        return steps.index.astype(np.float64)
    x = _steps_by_time(steps, epochs)
    given = steps.epoch
    has = np.isfinite(given)
    if not has.any():
        return x
    logged = given[has]
    if (logged != np.floor(logged)).any():
        x[has] = logged  # fractional epochs: the position itself
        return x
    values, owner, counts = np.unique(logged, return_inverse=True, return_counts=True)
    order = np.argsort(owner, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(len(owner), dtype=np.int64)
    rank[order] = np.arange(len(owner)) - starts[owner[order]]
    last = float(epochs.index[-1])
    finished = counts[values <= last]
    pace = median_of_finite(finished) if len(finished) else float(counts.max())
    per_epoch = np.where(values > last, np.maximum(counts, pace), counts)[owner]
    x[has] = logged - 1 + (rank + 1) / per_epoch
    return x


def _steps_by_time(steps: Table, epochs: Table) -> np.ndarray:
    """Every step placed by its time among the epoch records (see steps_on_epoch_axis)."""
    epoch_index = epochs.index.astype(np.float64)
    epoch_time = np.nan_to_num(epochs.time, nan=-np.inf)
    epoch_time = np.maximum.accumulate(epoch_time)  # searchsorted needs it sorted
    step_time = np.nan_to_num(steps.time, nan=np.inf)
    owner = np.searchsorted(epoch_time, step_time, side="left")  # == len(epochs): in progress
    counts = np.bincount(owner, minlength=len(epochs) + 1)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    order = np.argsort(owner, kind="stable")
    rank = np.empty(len(owner), dtype=np.int64)
    rank[order] = np.arange(len(owner)) - starts[owner[order]]
    finished = counts[: len(epochs)]
    pace = median_of_finite(finished[finished > 0]) if (finished > 0).any() else 1.0
    ends = np.concatenate((epoch_index, [epoch_index[-1] + 1]))
    gaps = np.diff(np.concatenate(([epoch_index[0] - 1], ends)))
    per_epoch = np.where(owner < len(epochs), counts[owner], max(pace, counts[-1]))
    return ends[owner] - gaps[owner] + gaps[owner] * (rank + 1) / np.maximum(per_epoch, 1)
