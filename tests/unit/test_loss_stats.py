"""LossStats: the validation loss's mean, per-sample spread and count, batch by batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm_top import LossStats
from lstm_top.hook.loss_stats import pooled_loss_stats


def _heavy_tailed(count: int, offset: float = 0.0) -> np.ndarray:
    # Squared errors are heavy-tailed; the offset tests precision far from zero.
    return np.random.default_rng(3).gamma(0.5, 2.0, size=count) + offset


@pytest.mark.parametrize("kind", ["torch", "numpy", "list"])
@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_batches_give_the_whole_sets_mean_std_and_count(kind: str, offset: float) -> None:
    values = _heavy_tailed(999, offset)
    stats = LossStats()
    for batch in np.array_split(values, 13):
        stats.add(torch.tensor(batch) if kind == "torch" else
                  batch if kind == "numpy" else batch.tolist())
    metrics = stats.metrics()
    assert metrics["val_n"] == 999
    assert metrics["val_loss"] == pytest.approx(values.mean(), rel=1e-12)
    assert metrics["val_loss_std"] == pytest.approx(values.std(ddof=1), rel=1e-9)


def test_per_sample_and_time_step_losses_count_each_value() -> None:
    losses = torch.arange(12, dtype=torch.float32).reshape(3, 4)  # reduction="none" on 3x4
    stats = LossStats()
    stats.add(losses)
    assert stats.count == 12 and stats.mean == pytest.approx(5.5)


def test_empty_and_reset() -> None:
    stats = LossStats()
    assert stats.metrics() == {}
    stats.add([])
    stats.add(torch.empty(0))
    assert stats.metrics() == {}
    stats.add([2.0])
    assert stats.metrics() == {"val_loss": 2.0, "val_loss_std": 0.0, "val_n": 1.0}
    stats.reset()
    assert stats.count == 0 and stats.metrics() == {}


def test_names_for_another_loss() -> None:
    stats = LossStats()
    stats.add([1.0, 3.0])
    assert stats.metrics("test_loss", "test_n") == {"test_loss": 2.0,
                                                    "test_loss_std": pytest.approx(2 ** 0.5),
                                                    "test_n": 2.0}


def test_pooled_subsets_equal_the_union() -> None:
    values = _heavy_tailed(500)
    parts = {"a": values[:120], "b": values[120:300], "c": values[300:]}
    subsets = {name: {"n": float(len(part)), "val_loss": part.mean(),
                      "val_loss_std": part.std(ddof=1)} for name, part in parts.items()}
    pooled = pooled_loss_stats(subsets)
    assert pooled["val_n"] == 500
    assert pooled["val_loss_std"] == pytest.approx(values.std(ddof=1), rel=1e-12)
    del subsets["b"]["val_loss_std"]
    assert pooled_loss_stats(subsets) == {}  # one subset without its spread: nothing claimed
