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


def _quiet(app: LstmTopApp) -> bool:
    """The whole file read, analysed, and the last render on screen."""
    return bool(app.runs) and all(
        run.history.finished and run.analysed_version == run.history.epochs.version
        and not run.update_posted for run in app.runs.values()
    ) and not app._render_busy and not app._render_again


async def _rendered(pilot: Pilot[int]) -> None:
    app = pilot.app
    assert isinstance(app, LstmTopApp)
    for _ in range(400):
        if _quiet(app):
            await pilot.pause(0.2)
            if _quiet(app):
                break
        await pilot.pause(0.05)
    else:
        raise AssertionError("the app never settled")
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
