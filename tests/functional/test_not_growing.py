"""A file that has not grown since before the viewer opened it is a past run, not a stalled one:
a Keras CSVLogger file written days ago reads "not growing · last write 3 d ago" in the status
line; "stalled" is for a run that grew while watched and then stopped. The real app at 80x24,
the text on its screen."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lstm_top.ui.app import LstmTopApp
from tests.functional.histories import run_text
from tests.functional.pilots import settled, wait_until

pytestmark = pytest.mark.anyio
SIZE = (80, 24)
DAY = 86_400.0


def screen_line(app: LstmTopApp, row: int = 0) -> str:
    """Row ``row`` of the screen as painted."""
    strips = app.screen._compositor.render_strips()
    return "".join(segment.text for segment in strips[row])


def keras_csv(path: Path, epochs: int = 4) -> Path:
    """What Keras' CSVLogger writes for a small fit."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(0).normal(size=(64, 5, 2)).astype("float32")
    model = keras.Sequential([keras.Input((5, 2)), keras.layers.LSTM(4), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x[:, -1, :1], validation_split=0.25, epochs=epochs, verbose=0,
              callbacks=[keras.callbacks.CSVLogger(str(path))])
    return path


def written_ago(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def moving_clock() -> tuple[Callable[[], float], list[float]]:
    """The wall clock, plus an offset a test may move forward (hours pass in a moment)."""
    offset = [0.0]
    return (lambda: time.time() + offset[0]), offset


async def test_a_csv_written_days_ago_is_not_growing_not_stalled(tmp_path: Path) -> None:
    path = keras_csv(tmp_path / "training.log")
    written_ago(path, 3 * DAY + 600)
    app = LstmTopApp([str(path)])
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await wait_until(pilot, lambda: "not growing" in screen_line(app), what="the state")
        status = screen_line(app)
        assert "● not growing · last write 3 d ago" in status, status
        assert "stalled" not in status and "epoch 3" in status  # CSVLogger counts from 0
        assert "training.log" in status


async def test_our_jsonl_left_without_an_end_record_is_not_growing(tmp_path: Path) -> None:
    """A run killed yesterday (no end record): the same, from the JSON Lines follower."""
    path = tmp_path / "killed.jsonl"
    path.write_text(run_text("healthy", 12, end=None))
    written_ago(path, DAY + 3_600)
    app = LstmTopApp([str(path)])
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await wait_until(pilot, lambda: "not growing" in screen_line(app), what="the state")
        assert "● not growing · last write 1 d ago" in screen_line(app)


async def test_a_csv_that_grew_while_watched_and_stopped_is_stalled(tmp_path: Path) -> None:
    path = keras_csv(tmp_path / "training.log", epochs=3)
    rows = path.read_text().splitlines()
    path.write_text("\n".join(rows[:3]) + "\n")  # two epochs so far
    clock, offset = moving_clock()
    app = LstmTopApp([str(path)], clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert "● live" in screen_line(app)
        with open(path, "a") as handle:  # the third epoch, while the viewer watches
            handle.write(rows[3] + "\n")
        await wait_until(pilot, lambda: "epoch 2" in screen_line(app), what="epoch 2")
        offset[0] = 2 * 3600.0  # two hours without another epoch
        await wait_until(pilot, lambda: "stalled" in screen_line(app), what="stalled")
        status = screen_line(app)
        assert "● stalled 2h00m" in status and "not growing" not in status, status
