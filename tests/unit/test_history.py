"""History tables: growth, missing vs NaN, columns that appear mid-run, loss-key resolution."""

from __future__ import annotations

import math

import numpy as np

from lstm_top.format import EndRecord, EpochRecord, Header, StepRecord
from lstm_top.history import History, Table, resolve_loss_keys


def test_thousands_of_appends_keep_every_value_in_order() -> None:
    table = Table()
    count = 5000
    for epoch in range(1, count + 1):
        table.append(epoch, float(epoch) * 10, {"loss": 1.0 / epoch})
    assert len(table) == count
    np.testing.assert_array_equal(table.index, np.arange(1, count + 1))
    np.testing.assert_allclose(table.column("loss"), 1.0 / np.arange(1, count + 1))
    np.testing.assert_allclose(table.time, np.arange(1, count + 1) * 10.0)
    assert table.present("loss").all()


def test_capacity_doubles_so_memory_stays_proportional() -> None:
    table = Table()
    table.append(1, None, {"loss": 1.0})
    small = table.nbytes()
    for epoch in range(2, 10_001):
        table.append(epoch, None, {"loss": 1.0})
    # Doubling: at most 2x the bytes the rows need (plus the starting capacity).
    per_row = 8 + 8 + 8 + 1  # index, time, value, present
    assert table.nbytes() <= 2 * 10_000 * per_row + small


def test_column_added_mid_run_is_missing_before() -> None:
    table = Table()
    for epoch in range(1, 6):
        table.append(epoch, None, {"loss": 1.0})
    for epoch in range(6, 9):
        table.append(epoch, None, {"loss": 1.0, "val_acc": 0.5})
    assert list(table.present("val_acc")) == [False] * 5 + [True] * 3
    epochs, values = table.logged("val_acc")
    assert list(epochs) == [6, 7, 8] and list(values) == [0.5] * 3
    # An absent metric reads as all-missing of the right length, never an error.
    assert len(table.column("never")) == 8 and not table.present("never").any()


def test_logged_nan_is_present_missing_is_not() -> None:
    table = Table()
    table.append(1, None, {"loss": math.nan, "val_loss": 0.4})
    table.append(2, None, {"loss": 0.3})
    assert list(table.present("loss")) == [True, True]
    assert math.isnan(table.column("loss")[0])
    assert list(table.present("val_loss")) == [True, False]
    # The value slot of a missing entry is NaN too: only `present` tells them apart.
    assert math.isnan(table.column("val_loss")[1])


def test_extend_matches_appends() -> None:
    by_append, by_extend = Table(), Table()
    values = np.linspace(0, 1, 300)
    present = np.arange(300) % 3 != 0
    for i in range(300):
        by_append.append(i, float(i), {"m": values[i]} if present[i] else {})
    by_extend.extend(np.arange(300), np.arange(300, dtype=float), {"m": (values, present)})
    np.testing.assert_array_equal(by_append.present("m"), by_extend.present("m"))
    np.testing.assert_array_equal(by_append.logged("m")[1], by_extend.logged("m")[1])


def test_version_bumps_on_change() -> None:
    table = Table()
    before = table.version
    table.append(1, None, {"loss": 1.0})
    assert table.version > before


def test_history_applies_records() -> None:
    history = History(source="x.jsonl")
    history.apply(Header("run-a", 10.0, {"lr": 0.1}, 1))
    history.apply(EpochRecord(1, 11.0, {"loss": 1.0}))
    history.apply(StepRecord(50, 1, 10.5, {"loss": 1.2}))
    history.apply(EpochRecord(2, 12.0, {"loss": 0.8}))
    history.apply(EpochRecord(2, 13.0, {"loss": 0.7}))  # a repeated epoch: kept and counted
    history.apply(EndRecord("crashed", 14.0, "RuntimeError: CUDA OOM"))
    assert history.name == "run-a" and history.config == {"lr": 0.1}
    assert len(history.epochs) == 3 and len(history.steps) == 1
    assert history.epoch_rewinds == 1
    assert history.crashed and history.finished and "OOM" in (history.end_error or "")
    assert history.seconds_per_epoch() == 1.0


def test_resolve_loss_keys_aliases_and_overrides() -> None:
    assert resolve_loss_keys(["train_loss", "eval_loss"]).train == "train_loss"
    keys = resolve_loss_keys(["train/loss", "val/loss", "acc"])
    assert (keys.train, keys.val) == ("train/loss", "val/loss")
    keys = resolve_loss_keys(["loss", "eval_loss"])
    assert (keys.train, keys.val) == ("loss", "eval_loss")
    keys = resolve_loss_keys(["loss", "val_loss", "mine"], train_key="mine", val_key="loss")
    assert (keys.train, keys.val) == ("mine", "loss")
    keys = resolve_loss_keys(["loss", "val_loss", "val_loss[long]", "n[long]", "val_acc[long]",
                              "loss[short]"])
    assert keys.subsets == {"long": "val_loss[long]", "short": "loss[short]"}
    assert keys.subset_std_column("long") == "val_loss_std[long]"
    assert keys.subset_count_column("long") == "n[long]"


def test_a_snapshot_stays_as_it_was_while_the_table_grows() -> None:
    table = Table()
    for epoch in range(1, 4):
        table.append(epoch, None, {"loss": 1.0 / epoch})
    frozen = table.snapshot()
    # More rows than the capacity (so the arrays are reallocated), and a new column.
    for epoch in range(4, 200):
        table.append(epoch, None, {"loss": 1.0 / epoch, "val_loss": 2.0})
    table.extend(np.array([200]), np.array([np.nan]),
                 {"loss": (np.array([9.0]), np.array([True]))})
    assert len(frozen) == 3 and frozen.names == ["loss"] and "val_loss" not in frozen
    np.testing.assert_array_equal(frozen.index, [1, 2, 3])
    np.testing.assert_allclose(frozen.column("loss"), [1.0, 0.5, 1.0 / 3])
    assert len(table) == 200 and table.column("loss")[-1] == 9.0


def test_median_of_finite_is_numpys_median() -> None:
    from lstm_top.history import median_of_finite

    rng = np.random.default_rng(3)
    for size in range(1, 40):
        values = rng.random(size) * 10.0 ** rng.integers(-6, 9)
        assert median_of_finite(values) == float(np.median(values))
    assert median_of_finite(np.array([3.0, 1.0])) == 2.0


def test_seconds_per_epoch_looks_at_the_last_fifty_finite_times_however_many_rows() -> None:
    """The pace is the median of the gaps between the last 50 finite epoch times, whether the
    newest rows hold them or missing times push some further back (the newest rows are
    looked at first, for a million-epoch run's status line)."""
    rng = np.random.default_rng(3)
    for rows, missing_every in ((3, 0), (40, 0), (500, 0), (500, 3), (500, 1000), (90, 2)):
        history = History()
        times = np.cumsum(rng.uniform(0.5, 2.0, rows))
        for epoch, when in enumerate(times, start=1):
            gone = missing_every and (epoch % missing_every == 0 or epoch > rows - 30)
            history.apply(EpochRecord(epoch, math.nan if gone else float(when), {"loss": 1.0}))
        finite = history.epochs.time[np.isfinite(history.epochs.time)]
        gaps = np.diff(finite[-50:])
        expected = float(np.median(gaps[gaps > 0])) if len(finite) >= 2 else None
        assert history.seconds_per_epoch() == expected, (rows, missing_every)
