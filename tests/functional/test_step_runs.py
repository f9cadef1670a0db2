"""Runs logged by step, written with the real Logger: a step-only run speaks of steps on the
screen and in ``check``; a mixed run keeps epochs and draws its per-step loss faintly."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import Static

from lstm_top import Logger
from lstm_top.sources.formats import read_history
from lstm_top.steps import reworded, steps_on_epoch_axis
from lstm_top.ui.app import LstmTopApp
from tests.functional.pilots import wait_until
from tests.functional.test_snapshots import svg_text

pytestmark = pytest.mark.anyio


def write_step_only(path: Path) -> None:
    """Per-step training loss, validation every 50 steps, over-fitting after step 600."""
    with Logger(str(path), run_name="lm") as log:
        for step in range(1, 2001):
            metrics = {"loss": 2.0 * math.exp(-step / 300) + 0.05}
            if step % 50 == 0:
                metrics["val_loss"] = (math.exp(-step / 300) + 0.4
                                       + max(0.0, (step - 600) / 1000))
            log.log(step=step, **metrics)


def write_mixed(path: Path, epochs: int = 12, steps_per_epoch: int = 40) -> None:
    """Epoch records, each after its epoch's step records (as Keras/Lightning hooks log)."""
    with Logger(str(path), run_name="mixed") as log:
        step = 0
        for epoch in range(epochs):
            for _ in range(steps_per_epoch):
                step += 1
                log.log(step=step, epoch=epoch, loss=2.0 * math.exp(-step / 200) + 0.3)
            log.log(epoch=epoch, loss=2.0 * math.exp(-step / 200) + 0.3,
                    val_loss=math.exp(-step / 200) + 0.5)
            time.sleep(0.003)  # epochs end apart in time, as in any real run


def test_reworded_speaks_of_steps_and_evaluations() -> None:
    message = "val loss 1.75 above its best 0.53 (epoch 600, 28 epochs ago); epochs 3–9"
    assert reworded(message, "epoch") == message
    assert reworded(message, "step") == ("val loss 1.75 above its best 0.53 (step 600, "
                                         "28 evaluations ago); steps 3–9")


def test_steps_of_a_mixed_run_sit_inside_their_epochs(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    write_mixed(path, epochs=3, steps_per_epoch=4)
    history = read_history(str(path))
    x = steps_on_epoch_axis(history)
    assert x.tolist() == [-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]


def test_steps_are_placed_by_their_own_epoch_not_by_time(tmp_path: Path) -> None:
    """A fast run: records within the same millisecond, so their times cannot tell which
    epoch a step belongs to; each step record's own ``epoch`` does."""
    path = tmp_path / "fast.jsonl"
    with Logger(str(path), run_name="fast") as log:
        step = 0
        for epoch in (1, 2, 3):
            for _ in range(4):
                step += 1
                log.log(step=step, epoch=epoch, loss=1.0 / step)
            log.log(epoch=epoch, loss=1.0 / step, val_loss=1.2 / step)
        for _ in range(2):  # epoch 4 in progress: at the pace of the epochs before
            step += 1
            log.log(step=step, epoch=4, loss=1.0 / step)
    history = read_history(str(path))
    assert steps_on_epoch_axis(history).tolist() == [
        0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5]
    # A fractional epoch (a step record as Hugging Face's state.epoch gives it) is its place.
    lines = path.read_text().splitlines()
    lines.insert(-1, json.dumps({"kind": "step", "step": 15, "epoch": 3.9,
                                 "metrics": {"loss": 0.05}}))
    path.write_text("\n".join(lines) + "\n")
    history = read_history(str(path))
    assert history.malformed_lines == 0
    assert steps_on_epoch_axis(history)[-1] == 3.9


def test_check_words_a_step_only_run_in_steps(tmp_path: Path) -> None:
    path = tmp_path / "lm.jsonl"
    write_step_only(path)
    result = subprocess.run([sys.executable, "-m", "lstm_top", "check", "--json", str(path)],
                            capture_output=True, text=True, timeout=60)
    report = json.loads(result.stdout)
    assert report["summary"]["unit"] == "step"
    sign = next(s for s in report["signs"] if s["id"] == "stagnating_val_loss")
    assert "(step 600, " in sign["message"] and "evaluations ago" in sign["message"]
    assert "epoch" not in sign["message"] and "epoch" not in sign["remedy"]
    text = subprocess.run([sys.executable, "-m", "lstm_top", "check", str(path)],
                          capture_output=True, text=True, timeout=60).stdout
    sign_lines = text.split("[CRITICAL]", 1)[1]
    assert "since step 750" in sign_lines and "best_val_step=600" in sign_lines
    assert "epoch" not in sign_lines


async def test_the_app_says_steps_for_a_step_only_run(tmp_path: Path) -> None:
    path = tmp_path / "lm.jsonl"
    write_step_only(path)
    app = LstmTopApp([str(path)])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.is_settled() and bool(app.runs[str(path)].findings),
                         what="the step run diagnosed")
        status = str(app.status_header.render())
        assert "step 2000 · steps" in status and "s/eval" in status and "s/epoch" not in status
        warnings = str(app.query_one("#findings", Static).render())
        assert "since step 750" in warnings and "evaluations ago" in warnings
        assert "epoch" not in warnings
        assert "2000" in app.loss_plot.plain
        screen = svg_text(app.export_screenshot())  # the table's header as drawn
        assert "best@step" in screen and "best@ep" not in screen


async def test_a_mixed_run_draws_its_steps_faintly_on_the_epoch_axis(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    write_mixed(path)
    app = LstmTopApp([str(path)])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.is_settled() and "train per step"
                         in app.loss_plot.plain, what="the per-step line")
        status = str(app.status_header.render())
        assert "epoch 11" in status and "steps" not in status
        assert "best@ep" in svg_text(app.export_screenshot())
        legend = app.loss_plot.plain.splitlines()[-1]
        assert legend.index("train per step") < legend.index("━━ train")


async def test_a_healthy_printed_step_log_says_no_warning_signs(tmp_path: Path) -> None:
    """A printed log counted in steps (nanoGPT's lines) that learns well: the warnings panel
    says so, rather than waiting for an epoch that such a run never writes."""
    path = tmp_path / "train.log"
    lines = []
    for step in range(0, 2001, 10):
        lines.append(f"iter {step}: loss {2.0 * math.exp(-step / 400) + 1.0:.4f}, "
                     f"time 31.20ms, mfu 4.10%")
        if step % 250 == 0:
            lines.insert(-1, f"step {step}: train loss {2.0 * math.exp(-step / 400) + 1.0:.4f}"
                             f", val loss {2.0 * math.exp(-step / 400) + 1.05:.4f}")
    path.write_text("\n".join(lines) + "\n")
    app = LstmTopApp([str(path)])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.is_settled()
                         and app.runs[str(path)].analysed[0] == app.runs[str(path)].version()[0],
                         what="the step run diagnosed")
        await wait_until(pilot, lambda: "no warning signs" in str(
            app.query_one("#findings", Static).render()), what="the verdict")
        assert "step 2000 · steps" in str(app.status_header.render())
