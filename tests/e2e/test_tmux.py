"""lstm-top in a real terminal: tmux at 80x24, a writer appending epochs, capture-pane reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.tmux import needs_tmux, viewer
from tests.functional.histories import append_epochs, run_text

pytestmark = [pytest.mark.e2e, needs_tmux]


@pytest.mark.parametrize("term", ["xterm-256color", "screen-256color", "tmux-256color"])
def test_follows_appends_and_quits_cleanly(tmp_path: Path, term: str) -> None:
    history = tmp_path / "run.jsonl"
    history.write_text(run_text("stagnating", 5, end=None))
    with viewer(tmp_path, history, term=term) as shown:
        shown.pane.wait_for("epoch 5")
        append_epochs(history, "stagnating", 6, 60)
        shown.pane.wait_for("epoch 60")
        screen = shown.pane.wait_for("stagnating val loss", "since epoch")
        # Severity reads as text, not only as colour (a live stagnation starts as INFO and
        # becomes a WARNING as it lasts: the signs' warning_since).
        assert any(label in screen for label in ("INFO", "WARNING", "CRITICAL")), screen
        assert "Traceback" not in screen
        shown.pane.send("q")
        assert shown.exit_status() == "0"
