"""The viewer on a run that logs its constant guess's loss and sits on it: the warnings panel
says so in words at 80x24."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lstm_top import Logger
from lstm_top.ui.app import LstmTopApp
from lstm_top.ui.components.warnings import WarningsPanel
from tests.functional.pilots import settled

pytestmark = pytest.mark.anyio


async def test_a_run_stuck_at_its_constant_guess_says_so(tmp_path: Path) -> None:
    path = tmp_path / "charlm.jsonl"
    # Down from ln 100 to the unigram level in six epochs, then frozen there for 24.
    train = list(np.geomspace(4.6, 3.05, 6)) + [3.05 * (1 + 0.002 * (i % 3)) for i in range(24)]
    with Logger(path, run_name="charlm") as log:
        for epoch, loss in enumerate(train, 1):
            log.log(epoch=epoch, loss=loss, val_loss=loss * 1.01, constant_guess_loss=3.02)
    app = LstmTopApp([str(path)])
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        panel = app.query_one("#warnings", WarningsPanel).plain
        assert "train plateau" in panel
        assert "since epoch 9, a warning since 11" in panel
        assert "at a constant guess's loss (3.02) for 29 epochs" in " ".join(panel.split())
