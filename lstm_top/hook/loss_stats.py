"""The validation loss with its noise: mean, per-sample spread and sample count.

A validation loss of 0.42 on 90 samples and on 90,000 is not the same evidence. Logged as
``val_loss``, ``val_loss_std`` and ``val_n``, the warning signs weigh a change in the loss
against what re-measuring the same set could explain (``docs/SIGNS.md``). Accumulated batch by
batch — each batch reduced by its own framework (torch, numpy) and merged with Chan's
parallel-variance formula, so the spread of a million samples costs a few float operations per
batch and keeps float64 precision. Standard library only: the hook's promise.

    stats = LossStats()
    with torch.no_grad():
        for x, y in val_loader:
            stats.add(loss_fn(model(x), y, reduction="none"))   # one loss per sample
    log(epoch, loss=train_loss, **stats.metrics())            # val_loss, val_loss_std, val_n
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["LossStats", "pooled_loss_stats"]


class LossStats:
    """Running mean, sample standard deviation and count of per-sample losses."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start a new validation pass (call at each epoch's start, or use a new object)."""
        self.count = 0
        self.mean = 0.0
        self._m2 = 0.0  # sum of squared deviations from the mean

    def add(self, losses: Any) -> None:
        """Per-sample losses of one batch: a torch tensor, numpy array or iterable of
        numbers (any shape: a loss per sample *and* time step is averaged per sample by the
        caller, or counted as one value each — what ``reduction="none"`` gives)."""
        count, mean, m2 = _moments(losses)
        if not count:
            return
        total = self.count + count
        delta = mean - self.mean
        self.mean += delta * count / total
        self._m2 += m2 + delta * delta * self.count * count / total
        self.count = total

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof=1); 0 for fewer than two values."""
        return math.sqrt(max(self._m2, 0.0) / (self.count - 1)) if self.count > 1 else 0.0

    def metrics(self, name: str = "val_loss", count_name: str = "val_n") -> dict[str, float]:
        """``{name: mean, name_std: std, count_name: n}`` — empty before the first value."""
        if not self.count:
            return {}
        return {name: self.mean, f"{name}_std": self.std, count_name: float(self.count)}


def _moments(losses: Any) -> tuple[int, float, float]:
    """(count, mean, sum of squared deviations) of a batch, reduced in its own framework."""
    values = losses
    detach = getattr(values, "detach", None)
    if callable(detach):  # a torch tensor: reduce on its device, in float64
        values = detach().double().reshape(-1)
        count = int(values.numel())
        if not count:
            return 0, 0.0, 0.0
        mean = float(values.mean())
        return count, mean, float(((values - mean) ** 2).sum())
    astype = getattr(values, "astype", None)
    if callable(astype) and hasattr(values, "reshape"):  # numpy (and array-likes with its API)
        values = astype("float64").reshape(-1)
        count = int(values.size)
        if not count:
            return 0, 0.0, 0.0
        mean = float(values.mean())
        return count, mean, float(((values - mean) ** 2).sum())
    numbers = [float(value) for value in _flatten(values)]
    if not numbers:
        return 0, 0.0, 0.0
    mean = math.fsum(numbers) / len(numbers)
    return len(numbers), mean, math.fsum((value - mean) ** 2 for value in numbers)


def _flatten(values: Any) -> Iterable[Any]:
    if isinstance(values, int | float):
        yield values
        return
    for value in values:
        if isinstance(value, int | float):
            yield value
        else:
            yield from _flatten(value)


def pooled_loss_stats(subsets: dict[str, dict[str, float]], name: str = "val_loss",
                      count_name: str = "val_n") -> dict[str, float]:
    """The whole validation set's ``name_std`` and ``count_name`` from subsets that partition
    it (each with ``n``, ``name`` and ``name_std``): no extra pass over the data. Empty when any
    subset lacks one of them."""
    std_name = f"{name}_std"
    parts = []
    for values in subsets.values():
        n, mean, std = values.get("n"), values.get(name), values.get(std_name)
        if n is None or mean is None or std is None or n < 1 or not (
                math.isfinite(mean) and math.isfinite(std)):
            return {}
        parts.append((n, mean, std))
    if len(parts) < 2:
        return {}
    total = sum(n for n, _, _ in parts)
    mean = sum(n * m for n, m, _ in parts) / total
    m2 = sum((n - 1) * s * s + n * (m - mean) ** 2 for n, m, s in parts)
    return {std_name: math.sqrt(m2 / (total - 1)) if total > 1 else 0.0, count_name: total}
