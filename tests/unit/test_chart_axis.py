"""The chart's y axis when it has one value only (a single finite loss, a flat line): a short
label, not the 17 digits plotext gives a degenerate range, on a linear and a log axis."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstm_top.history import resolve_loss_keys
from lstm_top.sources.formats import read_history
from lstm_top.ui.chart import ChartOptions, build_spec, render


@pytest.mark.parametrize("log_y", [False, True])
def test_a_single_finite_value_gets_one_short_y_label(tmp_path: Path, log_y: bool) -> None:
    path = tmp_path / "diverged.jsonl"  # Keras' CSVLogger of a run that blew up at once
    path.write_text('{"epoch": 0, "loss": 300296228044800.8, "val_loss": NaN}\n'
                    '{"epoch": 1, "loss": NaN, "val_loss": NaN}\n')
    history = read_history(path)
    options = ChartOptions(log_y=log_y, color=False)
    spec = build_spec(history, resolve_loss_keys(history.epochs.names), [], options, 76, 10)
    chart = render(spec)
    labels = [line.split("┤")[0].strip() for line in chart.splitlines() if "┤" in line]
    assert labels == ["3e14"], chart
    assert "300296228044800" not in chart
