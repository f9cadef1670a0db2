"""SVG snapshots of the main screen at 80x24: a healthy run and each seed warning sign.

Histories are deterministic fixtures with fixed timestamps and an end record, and the clock is
frozen, so elapsed time and state never change. Update with ``pytest --snapshot-update`` after
checking the new pictures by eye.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from lstm_top.ui.app import LstmTopApp
from tests.functional.histories import STARTED, write_run

FROZEN_NOW = STARTED + 10_000.0


@pytest.fixture(autouse=True)
def _own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Saved viewer preferences (log scale, smoothing...) must not change the pictures."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _ready(app: LstmTopApp) -> bool:
    """The whole file read, and the app settled: chart drawn at its size from the latest
    history, findings up to date, status current, nothing queued."""
    return bool(app.runs) and all(run.history.finished for run in app.runs.values()) \
        and app.is_settled()


async def _rendered(pilot: Pilot[int]) -> None:
    """Wait (bounded) until ready twice in a row across a pause, then let the screen repaint."""
    app = pilot.app
    assert isinstance(app, LstmTopApp)
    for _ in range(600):  # 30 s at most, however loaded the machine
        if _ready(app):
            await pilot.pause()
            if _ready(app):
                break
        await pilot.pause(0.05)
    else:
        raise AssertionError("the app never settled")
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


@pytest.mark.parametrize(("kind", "epochs"), [("healthy", 40), ("stagnating", 60),
                                              ("oscillating", 50), ("subset_gap", 50)])
def test_main_screen(snap_compare, tmp_path: Path, kind: str, epochs: int) -> None:
    path = write_run(tmp_path / f"{kind}.jsonl", kind, epochs)
    app = LstmTopApp([str(path)], clock=lambda: FROZEN_NOW)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_rendered)


def test_main_screen_no_color(snap_compare, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    path = write_run(tmp_path / "stagnating.jsonl", "stagnating", 60)
    app = LstmTopApp([str(path)], clock=lambda: FROZEN_NOW)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_rendered)
