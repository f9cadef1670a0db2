"""The help screen in a real 80x24 terminal: `?` lists every key with what it does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lstm_top.ui.keys import KEYS
from tests.e2e.tmux import needs_tmux, viewer
from tests.functional.histories import run_text

pytestmark = [pytest.mark.e2e, needs_tmux]

# What a new user reaches for first: each must have its line, key and words, on the first page.
FIRST_KEYS = ("q", "l", "s", "w", "v", "o", "f", "e", "d", "x")


def test_question_mark_shows_each_key_with_what_it_does_at_80x24(tmp_path: Path) -> None:
    history = tmp_path / "run.jsonl"
    history.write_text(run_text("oscillating", 30))
    with viewer(tmp_path, history) as shown:
        shown.pane.wait_for("epoch 30", "Quit")
        shown.pane.send("?")
        # The last of them painted too (tmux can be read halfway through a frame).
        screen = shown.pane.wait_for("lstm-top keys", "stop the demo training", "move focus")
        for key in FIRST_KEYS:
            line = next(k for k in KEYS if k.label == key)
            words = line.help.split("(")[0].strip()[:30]
            # the key at the start of its row, inside the box border, followed by its words
            assert re.search(rf"│ {re.escape(key)}\s+{re.escape(words)}", screen), (key, screen)
        shown.pane.send("escape")
        shown.pane.wait_for("Quit")
        assert "lstm-top keys" not in shown.pane.screen()
        shown.pane.send("q")
        assert shown.exit_status() == "0"
