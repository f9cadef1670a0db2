"""Display reduction: the plot gets a width's worth of points, and spikes survive it."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_top.format import CONSTANT_GUESS_METRIC
from lstm_top.reduce import (
    IncrementalEma,
    ema,
    format_value,
    higher_is_better,
    reduce_minmax,
    summarize,
    window,
)


def test_million_points_reduce_to_the_bucket_budget_and_keep_every_spike() -> None:
    rng = np.random.default_rng(0)
    x = np.arange(1, 1_000_001, dtype=float)
    y = 1.0 / np.sqrt(x) + rng.normal(0, 1e-4, len(x))
    spikes = rng.choice(len(x), 7, replace=False)
    y[spikes] = 50.0  # the very oscillations we warn about must stay visible
    dips = rng.choice(len(x), 3, replace=False)
    y[dips] = -50.0
    out_x, out_y = reduce_minmax(x, y, buckets=80)
    assert len(out_x) == len(out_y) <= 4 * 80
    assert out_y.max() == 50.0 and out_y.min() == -50.0
    # every spike's bucket shows it: as many maxima at 50 as buckets holding a spike
    buckets_with_spike = len({int((x[i] - 1) / (len(x) - 1) * 80 - 1e-9) for i in spikes})
    assert np.count_nonzero(out_y == 50.0) >= buckets_with_spike
    assert out_x[0] == 1.0 and out_x[-1] == 1_000_000.0
    assert np.all(np.diff(out_x) >= 0)


def test_short_series_are_drawn_as_they_are() -> None:
    x = np.arange(10, dtype=float)
    y = x**2
    out_x, out_y = reduce_minmax(x, y, buckets=80)
    assert np.array_equal(out_x, x) and np.array_equal(out_y, y)


def test_window_counts_epochs_not_points() -> None:
    x = np.array([1, 2, 3, 10, 11, 12], dtype=float)  # validation logged with a gap
    y = np.arange(6, dtype=float)
    wx, _ = window(x, y, last=5)
    assert list(wx) == [10, 11, 12]
    assert len(window(x, y, None)[0]) == 6


def test_incremental_ema_equals_one_shot_and_carries_over_missing_values() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(1.0, 0.3, 500)
    values[[10, 11, 200]] = np.nan
    smoother = IncrementalEma(0.8)
    for stop in (1, 7, 100, 333, 500):
        incremental = smoother.update(values[:stop]).copy()
    assert np.allclose(incremental, ema(values, 0.8))
    assert incremental[11] == incremental[9]  # NaN epochs hold the last smoothed value
    # smoothing removes noise: the smoothed series varies less than the raw one
    assert np.nanstd(np.diff(incremental)) < 0.5 * np.nanstd(np.diff(values))


@pytest.mark.parametrize(("value", "text"), [
    (0.03537, "0.03537"), (1e-3, "0.001"), (6.8e-05, "6.8e-5"), (-2.5e-7, "-2.5e-7"),
    (123456.0, "1.23e5"), (float("nan"), "NaN"), (float("inf"), "inf"), (None, "–"),
])
def test_values_fit_a_seven_cell_column(value: float | None, text: str) -> None:
    assert format_value(value) == text
    assert len(text) <= 7


@pytest.mark.parametrize("change", [6.8e-05, 0.0027, 0.016, 1.5, 2.5e-7, 123456.0])
def test_a_change_with_its_arrow_fits_the_column(change: float) -> None:
    """The metrics table's Δ column: arrow + two significant digits in 7 cells."""
    assert len("↓" + format_value(change, digits=2)) <= 7


@pytest.mark.parametrize("name", ["val_n", "n[rare]", "val_loss_std", "val_loss_std[rare]",
                                  CONSTANT_GUESS_METRIC, "lr", "grad_norm"])
def test_what_describes_a_loss_has_no_best(name: str) -> None:
    # A sample count, a spread or the constant guess's level is not something to improve: the
    # metrics table shows no "best" for it (a best val_n of 1000 @1 reads as nonsense).
    epochs = np.arange(1, 6)
    row = summarize(name, epochs, np.array([3.0, 2.0, 1.0, 2.0, 3.0]), np.ones(5, bool))
    assert higher_is_better(name) is None
    assert row.best is None and row.best_epoch is None and row.latest == 3.0


@pytest.mark.parametrize(("name", "best"), [("val_loss", 1.0), ("loss[rare]", 1.0),
                                            ("val_accuracy", 3.0), ("val_mae", 1.0)])
def test_losses_and_scores_keep_their_best(name: str, best: float) -> None:
    row = summarize(name, np.arange(1, 6), np.array([3.0, 2.0, 1.0, 2.0, 3.0]), np.ones(5, bool))
    assert row.best == best
