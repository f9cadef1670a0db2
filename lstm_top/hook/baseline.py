"""The loss of the best constant guess: what a model that learned nothing about its inputs
scores.

A classifier that predicts the class frequencies, a regressor that predicts the mean: their
loss is the level below which learning begins. Logged beside the losses as
``constant_guess_loss`` (computed on the training targets, as the training loss is), it lets
``train_plateau`` tell "stuck at a constant guess" from "converged to a good floor" — from the
curves alone the two look the same (a character model that drops to its unigram level in a few
epochs and freezes there, against one that learned and settled).

    guess = constant_guess_loss(y_train, "cross_entropy")
    log(epoch, loss=train_loss, val_loss=val_loss, constant_guess_loss=guess)

Computed once per run from the targets only (no model, no forward pass). Standard library only:
the hook's promise (numpy arrays and torch tensors are read through ``tolist()``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from lstm_top.format import CONSTANT_GUESS_METRIC

__all__ = ["CONSTANT_GUESS_METRIC", "LOSSES", "constant_guess_loss"]

# The losses whose best constant guess is known in closed form, by their usual names.
LOSSES = {
    "cross_entropy": "cross_entropy", "sparse_categorical_crossentropy": "cross_entropy",
    "categorical_crossentropy": "cross_entropy", "nll": "cross_entropy",
    "binary_cross_entropy": "binary_cross_entropy", "binary_crossentropy": "binary_cross_entropy",
    "bce": "binary_cross_entropy",
    "mse": "mse", "mean_squared_error": "mse", "mae": "mae", "mean_absolute_error": "mae",
    "l1": "mae",
}


def constant_guess_loss(targets: Any, loss: str, *, fit_targets: Any = None,
                        classes: int | None = None) -> float:
    """The loss on ``targets`` of the best constant prediction fitted on ``fit_targets``
    (default: ``targets`` themselves).

    ``loss``: a name in ``LOSSES`` — cross-entropy over class ids (the guess: the class
    frequencies, add-one smoothed over ``classes`` so a class absent from the fit targets costs
    a finite loss; one-hot rows are read as their class), binary cross-entropy over 0/1 targets
    (the guess: their mean), mean squared error (the mean of each output) or mean absolute error
    (the median of each output). ``targets`` are numbers, rows of numbers (a regression's
    outputs; a sequence model's class id per time step), a numpy array or a torch tensor.
    Raises ValueError for an unknown loss or no targets.
    """
    kind = LOSSES.get(loss.lower().replace("-", "_").replace(" ", "_"))
    if kind is None:
        raise ValueError(f"no constant guess known for loss {loss!r} "
                         f"(known: {', '.join(sorted(LOSSES))})")
    rows = _rows(targets)
    fit = rows if fit_targets is None else _rows(fit_targets)
    if not rows or not fit:
        raise ValueError("no targets")
    if kind == "cross_entropy":
        return _cross_entropy(_class_ids(rows), _class_ids(fit), classes)
    if kind == "binary_cross_entropy":
        values = [value for row in rows for value in row]
        share = sum(value for row in fit for value in row) / sum(len(row) for row in fit)
        share = min(max(share, 1e-7), 1 - 1e-7)
        return -sum(v * math.log(share) + (1 - v) * math.log(1 - share)
                    for v in values) / len(values)
    width = len(fit[0])
    columns = [[row[i] for row in fit] for i in range(width)]
    if kind == "mse":
        centre = [math.fsum(column) / len(column) for column in columns]
        return _mean_over(rows, centre, lambda error: error * error)
    centre = [_median(column) for column in columns]
    return _mean_over(rows, centre, abs)


def _rows(targets: Any) -> list[tuple[float, ...]]:
    if hasattr(targets, "tolist"):  # numpy arrays, torch tensors
        targets = targets.tolist()
    rows = []
    for item in targets:
        if isinstance(item, Iterable) and not isinstance(item, str | bytes):
            rows.append(tuple(float(value) for value in _flat(item)))
        else:
            rows.append((float(item),))
    return rows


def _flat(item: Iterable[Any]) -> Iterable[Any]:
    for value in item:
        if isinstance(value, Iterable) and not isinstance(value, str | bytes):
            yield from _flat(value)
        else:
            yield value


def _class_ids(rows: list[tuple[float, ...]]) -> list[int]:
    """Class ids: one per value (a label, or a label per time step), or a one-hot row's."""
    width = len(rows[0])
    one_hot = width > 1 and all(len(row) == width and sorted(row)[-2:] == [0.0, 1.0]
                                and sum(row) == 1.0 for row in rows[:1000])
    if one_hot:
        return [row.index(1.0) for row in rows]
    return [int(value) for row in rows for value in row]


def _cross_entropy(ids: Sequence[int], fit: Sequence[int], classes: int | None) -> float:
    count = Counter(fit)
    classes = max(classes or 0, max(count) + 1, max(ids) + 1)
    total = len(fit) + classes
    return -math.fsum(math.log((count.get(i, 0) + 1) / total) for i in ids) / len(ids)


def _mean_over(rows: list[tuple[float, ...]], centre: list[float], cost: Any) -> float:
    width = len(centre)
    return math.fsum(cost(row[i] - centre[i]) for row in rows for i in range(width)) \
        / (len(rows) * width)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
