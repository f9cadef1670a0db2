"""Per-tag (step, wall time, value) series into a History: TensorBoard scalars, W&B and HF
history rows, MLflow and DVCLive metric files all arrive in this shape.

Steps become rows. When an ``epoch`` series exists (PyTorch Lightning logs one beside every
metric, Hugging Face a fractional ``train/epoch``) each value belongs to the epoch logged at its
step and the epoch rows hold the mean of every tag's values in that epoch (one value: itself),
as the CSV reader merges Lightning's ``metrics.csv``; the raw per-step values fill the step
table. Without one, each step is an epoch row (the usual ``writer.add_scalar("loss", value,
epoch)``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping

import numpy as np

from lstm_top.format import MAX_INDEX
from lstm_top.history import History, Table

EPOCH_TAGS = ("epoch", "trainer/epoch", "train/epoch")  # Lightning; HF's fractional epoch

# One logged value: (step, wall time, value).
Point = tuple[int, float, float]


def history_from_series(source: str, series: Mapping[str, Iterable[Point]],
                        epoch_tags: Iterable[str] = EPOCH_TAGS) -> History:
    """Build a History from per-tag (step, time, value) points (see the module docstring).

    Points come in the order they were written; a step written twice keeps the later value,
    as a restarted run overwrites its own past.
    """
    by_tag: dict[str, dict[int, tuple[float, float]]] = {}
    out_of_range = 0
    for tag, points in series.items():
        values: dict[int, tuple[float, float]] = {}
        for step, wall_time, value in points:
            if not -MAX_INDEX <= step <= MAX_INDEX:
                out_of_range += 1  # a damaged step number: rows are indexed by int64
                continue
            values[step] = (wall_time, value)
        if values:
            by_tag[tag] = values
    history = History(source=source)
    if out_of_range:
        history.note_problem(0, f"{out_of_range} values with a step number beyond int64 "
                                f"skipped", skipped=False)
    epoch_tag = next((tag for tag in epoch_tags if tag in by_tag), None)
    times = [t for values in by_tag.values() for t, _ in values.values() if math.isfinite(t)]
    history.started = min(times) if times else None
    if epoch_tag is None:
        _fill(history.epochs, by_tag)
        return history
    epochs = by_tag.pop(epoch_tag)
    epoch_steps = sorted(epochs)
    _fill(history.steps, by_tag, (epoch_steps, [epochs[step][1] for step in epoch_steps]))
    per_epoch: dict[str, dict[int, tuple[float, float]]] = {}
    for tag, values in by_tag.items():
        gathered: dict[int, list[float]] = {}
        last_time: dict[int, float] = {}
        for step in sorted(values):
            # The epoch logged at this step, else the last one logged before it.
            at = bisect.bisect_right(epoch_steps, step) - 1
            if at < 0:
                continue  # logged before the first epoch marker: belongs to no epoch
            epoch_value = epochs[epoch_steps[at]][1]
            if not abs(epoch_value) <= MAX_INDEX:  # NaN, inf, or no int64
                continue
            epoch = math.ceil(epoch_value)
            last_time[epoch], value = values[step]
            gathered.setdefault(epoch, []).append(value)
        # A tag logged at several steps of an epoch (the training loss every N steps) is
        # that epoch's mean, as Lightning's own train_loss_epoch is; its last value would be
        # a single batch's (HF, 10 logging steps an epoch: 0.0003 to 0.17 from epoch to
        # epoch on a run whose epoch means fell steadily).
        per_epoch[tag] = {epoch: (last_time[epoch], _mean(points))
                          for epoch, points in gathered.items()}
    _fill(history.epochs, per_epoch)
    return history


def _fill(table: Table, by_tag: Mapping[str, Mapping[int, tuple[float, float]]],
          epoch_at: tuple[list[int], list[float]] | None = None) -> None:
    """Rows for the union of indices; a tag without a value at an index is missing there.
    ``epoch_at`` (steps, epoch values): each row's epoch is the one logged at its step, else
    the last one logged before it (the chart places steps by it)."""
    index = np.array(sorted({i for values in by_tag.values() for i in values}), dtype=np.int64)
    if not len(index):
        return
    row_epoch = None
    if epoch_at is not None and epoch_at[0]:
        at = np.searchsorted(np.array(epoch_at[0], dtype=np.int64), index, side="right") - 1
        row_epoch = np.where(at >= 0, np.array(epoch_at[1])[np.maximum(at, 0)], np.nan)
    position = {int(i): row for row, i in enumerate(index)}
    row_time = np.full(len(index), np.nan)
    columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for tag, values in by_tag.items():
        column = np.full(len(index), np.nan)
        present = np.zeros(len(index), dtype=bool)
        for i, (wall_time, value) in values.items():
            row = position[i]
            column[row] = value
            present[row] = True
            if not row_time[row] >= wall_time:  # NaN-aware max: a row's time is its latest
                row_time[row] = wall_time
        columns[tag] = (column, present)
    table.extend(index, row_time, columns, row_epoch)


def _mean(values: list[float]) -> float:
    """Mean of the finite values; a non-finite one (a NaN loss) is kept as the epoch's value so
    the NaN sign still sees it."""
    bad = [value for value in values if not math.isfinite(value)]
    if bad:
        return bad[-1]
    return math.fsum(values) / len(values)
