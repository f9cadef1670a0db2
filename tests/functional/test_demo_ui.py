"""Demo trainings started from inside the TUI: real ``python -m lstm_top.demo`` processes.

The picker starts a separate process writing ``runs/<scenario>-<timestamp>.jsonl``; the app
follows it live as a new run; ``x`` stops it (its history ends ``interrupted``); quitting leaves
no child process behind. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList

from lstm_top.ui.app import LstmTopApp
from lstm_top.ui.components.demo_picker import DemoPicker
from tests.functional.pilots import wait_until

pytestmark = pytest.mark.anyio

SIZE = (100, 30)
# Long enough to still be running when stopped; a short pause keeps the epochs coming slowly.
EPOCHS = 400
EPOCH_DELAY = 0.05


def demo_children(parent: int) -> list[int]:
    """Processes whose parent is ``parent`` and that run the demo (a /proc scan, no psutil)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and "lstm_top.demo" in command:
            found.append(int(entry))
    return found


async def choose(pilot: Pilot[int], scenario: str) -> None:
    """In the open picker: move the highlight to ``scenario`` with the arrow keys, press enter."""
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, DemoPicker), what="the demo picker")
    options = app.screen.query_one("#scenarios", OptionList)
    ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
    assert scenario in ids
    assert options.has_focus, "the arrows must move the list"
    for _ in range(len(ids)):
        if options.get_option_at_index(options.highlighted or 0).id == scenario:
            break
        await pilot.press("down")
    assert options.get_option_at_index(options.highlighted or 0).id == scenario
    await pilot.press("enter")
    await wait_until(pilot, lambda: not isinstance(app.screen, DemoPicker), what="picker closed")


def last_epoch(app: LstmTopApp, key: str) -> int:
    epoch = app.runs[key].history.last_epoch()
    return -1 if epoch is None else epoch


def end_record(path: Path) -> dict[str, object]:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return lines[-1]


async def test_pick_follow_stop_and_quit_without_orphans(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    app = LstmTopApp([], runs_dir=str(runs_dir), demo_epochs=EPOCHS,
                     demo_epoch_delay=EPOCH_DELAY)
    async with app.run_test(size=SIZE) as pilot:
        # No argument: the picker is the first thing on screen; esc closes it, d opens it.
        await wait_until(pilot, lambda: isinstance(app.screen, DemoPicker), what="the picker")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, DemoPicker), what="closed")
        await pilot.press("d")
        await choose(pilot, "oscillating")

        await wait_until(pilot, lambda: len(app.runs) == 1, what="the demo run in the list")
        key = next(iter(app.runs))
        path = Path(key)
        assert path.parent == runs_dir and path.name.startswith("oscillating-")
        assert path.suffix == ".jsonl"
        assert path.with_suffix(".log").exists()  # its output goes there, not to the screen
        assert app.selected == key

        # Followed live: the epoch count on the status line and the chart keep changing.
        await wait_until(pilot, lambda: last_epoch(app, key) >= 2, 60.0, "first epochs")
        await wait_until(pilot, lambda: app.runs[key].rendered[1] > 0, what="a chart")
        first_epoch, first_chart = last_epoch(app, key), app.loss_plot.plain
        await wait_until(pilot, lambda: last_epoch(app, key) >= first_epoch + 3, 60.0,
                         "more epochs")
        await wait_until(pilot, lambda: f"epoch {last_epoch(app, key)}"
                         in app.status_header.plain_text, what="the status line to follow")
        await wait_until(pilot, lambda: app.loss_plot.plain != first_chart, what="the plot to grow")

        # x stops the selected demo: SIGTERM, and the run ends as interrupted.
        demo = app.demos.find(key)
        assert demo is not None and demo.running
        await pilot.press("x")
        await wait_until(pilot, lambda: demo.process.poll() is not None, what="the demo to stop")
        assert end_record(path) == {**end_record(path), "kind": "end", "status": "interrupted"}
        await wait_until(pilot, lambda: "interrupted" in app.status_header.plain_text,
                         what="the status line to say interrupted")
        assert last_epoch(app, key) < EPOCHS

        # A second demo is another run in the list; the first one stays.
        await pilot.press("d")
        await choose(pilot, "healthy")
        await wait_until(pilot, lambda: len(app.runs) == 2, what="the second run")
        second = next(k for k in app.runs if k != key)
        assert Path(second).name.startswith("healthy-")
        await wait_until(pilot, lambda: app.run_list.display and app.run_list.option_count == 2,
                         what="both runs in the run list")
        await wait_until(pilot, lambda: demo_children(os.getpid()) != [], what="its process")
        await wait_until(pilot, lambda: last_epoch(app, second) >= 1, 60.0, "its first epoch")
        processes = [d.process for d in app.demos.demos]
        assert len(processes) == 2

        await pilot.press("q")
    # After the app: every demo process has been waited for, none is left running.
    assert all(process.returncode is not None for process in processes)
    assert demo_children(os.getpid()) == []
    assert end_record(Path(second))["status"] == "interrupted"
