"""A new warning in a real terminal: tmux at 80x24 sees the bell and the window title change
(``#{window_bell_flag}``, ``#{pane_title}``); ``--no-bell`` leaves both alone."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from lstm_top import Logger
from tests.e2e.tmux import needs_tmux, viewer

pytestmark = [pytest.mark.e2e, needs_tmux]


@pytest.mark.parametrize("bell", [True, False])
def test_a_new_warning_rings_the_bell_and_sets_the_title(tmp_path: Path, bell: bool) -> None:
    path = tmp_path / "run.jsonl"
    logger = Logger(path, run_name="nan-run")
    for epoch in range(1, 6):
        logger.log(epoch=epoch, loss=1.0 / epoch, val_loss=1.1 / epoch)
    flags = [] if bell else ["--no-bell"]
    try:
        with viewer(tmp_path, path, *flags) as shown:
            pane = shown.pane
            # Textual is up (its footer), not only the first paint: what the viewer has seen
            # before it started is not a new warning.
            pane.wait_for("epoch 5", "Quit", "no warning signs")
            assert "nonfinite" not in pane.display("#{pane_title}")
            assert pane.display("#{window_bell_flag}") == "0"
            logger.log(epoch=6, loss=math.nan, val_loss=math.nan)
            pane.wait_for("nonfinite", "CRITICAL")  # the warning is on screen
            if bell:
                pane.wait_for("lstm-top: critical nonfinite_loss", "nan-run",
                              what="#{pane_title}")
                pane.wait_for("1", what="#{window_bell_flag}")
            else:
                time.sleep(1.0)  # time for a title or a bell that should not come
                assert "nonfinite" not in pane.display("#{pane_title}")
                assert pane.display("#{window_bell_flag}") == "0"
    finally:
        logger.close()
