"""The sweep table and step-only runs in the real app, driven by a pilot."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from lstm_top.ui.app import LstmTopApp
from lstm_top.ui.components.run_table import RunTableScreen
from tests.functional.pilots import wait_painted, wait_until
from tests.unit.test_sweep import write_trial

pytestmark = pytest.mark.anyio


async def test_a_sweep_opens_on_the_table_worst_first_filters_and_overlays(
        tmp_path: Path) -> None:
    for index in range(12):
        write_trial(tmp_path / "sweep", f"trial_{index:02d}", (0.1, 0.01, 0.001)[index % 3],
                    (32, 64)[index % 2], overfits=index in (4, 9))
    app = LstmTopApp([str(tmp_path / "sweep")], clock=lambda: 2000.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunTableScreen) and sum(
            1 for row in app.screen.visible_rows() if row.severity >= 2) == 2)
        screen = app.screen
        assert isinstance(screen, RunTableScreen)
        table = screen.table
        assert table.row_count == 12
        labels = [str(column.label) for column in table.columns.values()]
        # Every run finished: no state column (the summary says so), as config keys that are
        # the same everywhere (hidden, seed) get none.
        assert labels[:4] == ["run", "epochs", "best val @", "worst sign"]
        assert set(labels[4:]) == {"lr", "batch"}
        assert "all finished" in str(screen.query_one("#sweep-summary").render())
        first = [str(cell) for cell in table.get_row_at(0)]
        second = [str(cell) for cell in table.get_row_at(1)]
        assert {first[0].strip(), second[0].strip()} == {"trial_04", "trial_09"}
        assert first[3] == "✖ stagnating"  # critical: a red cross, and the sign's short name
        assert table.cursor_coordinate.row == 0  # on the worst run, not where it first was
        # The footer shows the table's keys (and help), not the chart's (log scale, window).
        await wait_painted(pilot)  # the footer is painted a frame after the rows
        footer = "".join(segment.text for segment in screen._compositor.render_strips()[-1])
        assert all(key in footer for key in ("Back", "Filter", "Sort", "Mark", "Overlay",
                                             "Quit", "Help")), footer
        assert "Log" not in footer and "Window" not in footer, footer
        # "/" types a filter: only the runs with lr 0.01 stay.
        await pilot.press("slash", *"lr=0.01", "enter")
        await wait_until(pilot, lambda: table.row_count == 4)
        assert "4 of 12 runs" in str(screen.query_one("#sweep-summary").render())
        # Mark two runs and overlay them.
        await pilot.press("space", "down", "space", "o")
        await wait_until(pilot, lambda: not isinstance(app.screen, RunTableScreen))
        assert app.book.overlaying and len(app.book.marks) == 2
        assert len(app.book.shown()) == 2  # the chart draws the two marked runs


async def test_a_big_sweep_fills_the_table_after_its_first_rows_worst_first(
        tmp_path: Path) -> None:
    """250 runs: rows are added a paint's worth at a time (the DataTable measures every new
    cell before painting); in the end every run is in the table, the over-fitting ones
    first, and the summary counts them all."""
    from lstm_top.ui.components.run_table import NEW_ROWS_PER_PAINT

    runs = 250
    overfitting = {7, 70, 150, 249}
    for index in range(runs):
        write_trial(tmp_path / "sweep", f"trial_{index:03d}", (0.1, 0.01)[index % 2], 32,
                    overfits=index in overfitting)
    app = LstmTopApp([str(tmp_path / "sweep")], clock=lambda: 2000.0)
    async with app.run_test(size=(100, 30)) as pilot:
        def all_in() -> bool:
            screen = app.screen
            if not isinstance(screen, RunTableScreen) or not screen.composed:
                return False
            return screen.table.row_count == runs and sum(
                1 for row in screen.visible_rows() if row.severity >= 2) == len(overfitting)
        await wait_until(pilot, all_in, 60.0)
        screen = app.screen
        assert isinstance(screen, RunTableScreen)
        # More runs than one paint's worth of new rows: they took several table updates.
        assert runs > NEW_ROWS_PER_PAINT
        await wait_until(pilot, lambda: str(screen.table.get_row_at(3)[3]).strip() != "–")
        first = {str(screen.table.get_row_at(row)[0]).strip() for row in range(4)}
        assert first == {f"trial_{index:03d}" for index in overfitting}
        assert f"{runs} runs · 4 with warnings" in str(
            screen.query_one("#sweep-summary").render())
        # Every run judged before the app closes (the main view under the table is not kept
        # current, so is_settled does not apply here).
        await wait_until(pilot, lambda: not app.book.undiagnosed()
                    and not app._diagnosis_running(), 60.0)


def write_step_run(path: Path) -> None:
    """Per-step training loss, validation every 500 steps, over-fitting after step 6000."""
    rng = random.Random(0)
    lines = [json.dumps({"kind": "header", "run": "lm", "started": 1000.0, "config": {}})]
    for step in range(1, 20001):
        train = 2.0 * math.exp(-step / 3000) + 0.3 + rng.gauss(0, 0.02)
        lines.append(json.dumps({"kind": "step", "step": step, "time": 1000 + step * 0.1,
                                 "metrics": {"loss": train}}))
        if step % 500 == 0:
            val = 2.0 * math.exp(-step / 3000) + 0.5 + max(0, (step - 6000) / 20000) \
                + rng.gauss(0, 0.005)
            lines.append(json.dumps({"kind": "step", "step": step, "time": 1000 + step * 0.1,
                                     "metrics": {"val_loss": val}}))
    path.write_text("\n".join(lines) + "\n")


def test_check_reports_a_step_only_run_by_its_evaluations(tmp_path: Path) -> None:
    path = tmp_path / "steps.jsonl"
    write_step_run(path)
    result = subprocess.run([sys.executable, "-m", "lstm_top", "check", str(path), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["unit"] == "step" and report["epochs"] == 40
    assert report["summary"]["first_epoch"] == 500 and report["summary"]["last_epoch"] == 20000
    assert report["summary"]["best_val_epoch"] == 7500
    assert "stagnating_val_loss" in {sign["id"] for sign in report["signs"]}
    text = subprocess.run([sys.executable, "-m", "lstm_top", "check", str(path)],
                          capture_output=True, text=True, timeout=120).stdout
    assert "40 evaluations (step 500 .. 20000), judged by step" in text


async def test_the_tui_draws_a_step_only_run(tmp_path: Path) -> None:
    path = tmp_path / "steps.jsonl"
    write_step_run(path)
    app = LstmTopApp([str(path)], clock=lambda: 3000.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.is_settled() and bool(
            app.runs[str(path)].findings))
        status = str(app.status_header.render())
        assert "step 20000 · steps" in status
        chart = app.loss_plot.plain
        assert "20000" in chart and "best val 0.7275 @7500" in chart
        assert "stagnating val loss" in chart


async def test_a_run_that_starts_overfitting_moves_up_the_table_in_place(tmp_path: Path) -> None:
    """The table is updated, not rebuilt: a live run's new epochs change its row and its
    place; the other rows keep theirs; a filter removes rows and clearing it brings them
    back."""
    folder = tmp_path / "sweep"
    for index in range(12):
        if index != 5:
            write_trial(folder, f"trial_{index:02d}", (0.1, 0.01, 0.001)[index % 3],
                        (32, 64)[index % 2], overfits=index == 9)
    live = write_trial(folder, "trial_05", 0.01, 64, overfits=True)
    lines = live.read_text().splitlines()
    live.write_text("\n".join(lines[:13]) + "\n")  # header and 12 healthy epochs, no end yet
    app = LstmTopApp([str(folder)], clock=lambda: 1013.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunTableScreen) and sum(
            1 for row in app.screen.visible_rows() if row.severity >= 2) == 1
            and app.screen.table.row_count == 12)
        screen = app.screen
        assert isinstance(screen, RunTableScreen)
        table = screen.table

        def names() -> list[str]:
            return [str(table.get_row_at(row)[0]).strip() for row in range(table.row_count)]

        assert names()[0] == "trial_09" and names().index("trial_05") > 1
        untouched = [str(cell) for cell in table.get_row_at(names().index("trial_11"))]
        with open(live, "a") as handle:
            handle.write("\n".join(lines[13:-1]) + "\n")  # it over-fits from epoch 13 on
        await wait_until(pilot, lambda: set(names()[:2]) == {"trial_05", "trial_09"})
        row = [str(cell) for cell in table.get_row_at(names().index("trial_05"))]
        assert row[2] == "40" and row[4] == "✖ stagnating"  # a live run: the state shown
        assert [str(cell) for cell in table.get_row_at(names().index("trial_11"))] == untouched
        assert table.row_count == 12
        await pilot.press("slash", *"lr=0.001", "enter")
        await wait_until(pilot, lambda: table.row_count == 3)
        assert set(names()) == {"trial_02", "trial_08", "trial_11"}
        await pilot.press("slash", *["backspace"] * 8, "enter")
        await wait_until(pilot, lambda: table.row_count == 12)
        assert sorted(names()) == sorted(f"trial_{index:02d}" for index in range(12))


async def test_a_filter_typed_in_one_burst_after_slash_keeps_every_key(tmp_path: Path) -> None:
    from textual import events

    for index in range(12):
        write_trial(tmp_path / "sweep", f"trial_{index:02d}", (0.1, 0.01, 0.001)[index % 3],
                    (32, 64)[index % 2], overfits=index in (4, 9))
    app = LstmTopApp([str(tmp_path / "sweep")], clock=lambda: 2000.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunTableScreen)
                    and app.screen.table.row_count == 12)
        driver = app._driver
        assert driver is not None
        # All queued before any is handled, as a paste or a fast typist over ssh delivers them.
        for key, char in [("slash", "/"), *((c, c) for c in "sq lr=0.01")]:
            driver.send_message(events.Key("space" if char == " " else key, char))
        screen = app.screen
        assert isinstance(screen, RunTableScreen)
        await wait_until(pilot, lambda: screen.filter_text == "sq lr=0.01")
        assert app.screen is screen and app.is_running  # "q" went into the filter: no quit
