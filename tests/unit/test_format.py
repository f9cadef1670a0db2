"""The record format: what a writer puts on a line is what every reader gets back."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lstm_top.format import (
    FORMAT_VERSION,
    EndRecord,
    EpochRecord,
    Header,
    NewerFormatError,
    RecordError,
    StepRecord,
    decode_line,
    encode_end,
    encode_epoch,
    encode_header,
    encode_step,
    split_subset_column,
    subset_column,
)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_epoch_round_trip_keeps_values_and_non_finite() -> None:
    metrics = {"loss": 0.25, "val_loss": math.nan, "grad_norm": math.inf, "delta": -math.inf,
               "lr": 1e-7, "count": 3}
    line = encode_epoch(7, 1000.123456, metrics)
    assert line.endswith("\n") and line.count("\n") == 1
    # Strict JSON: no bare NaN/Infinity token that other parsers reject.
    json.loads(line, parse_constant=lambda token: pytest.fail(f"bare {token} in {line}"))
    record = decode_line(line.rstrip("\n"))
    assert isinstance(record, EpochRecord)
    assert record.epoch == 7
    assert record.time == pytest.approx(1000.123, abs=1e-3)
    assert set(record.metrics) == set(metrics)
    for name, value in metrics.items():
        assert _same(record.metrics[name], float(value)), name


def test_non_finite_written_as_strings() -> None:
    line = encode_epoch(1, 0.0, {"a": math.nan, "b": math.inf, "c": -math.inf})
    assert json.loads(line)["metrics"] == {"a": "NaN", "b": "Infinity", "c": "-Infinity"}


def test_bare_python_tokens_are_accepted() -> None:
    # What json.dumps writes by default; other loggers produce it.
    record = decode_line('{"kind":"epoch","epoch":1,"metrics":{"loss":NaN,"v":-Infinity}}')
    assert isinstance(record, EpochRecord)
    assert math.isnan(record.metrics["loss"]) and record.metrics["v"] == -math.inf


@given(st.dictionaries(st.text(min_size=1, max_size=20).filter(lambda s: "[" not in s),
                       st.floats(allow_nan=True, allow_infinity=True), max_size=8),
       st.integers(min_value=0, max_value=10**9))
def test_round_trip_any_floats(metrics: dict[str, float], epoch: int) -> None:
    record = decode_line(encode_epoch(epoch, 1.0, metrics))
    assert isinstance(record, EpochRecord) and record.epoch == epoch
    assert record.metrics.keys() == metrics.keys()
    for name, value in metrics.items():
        assert _same(record.metrics[name], value)


def test_numpy_and_torch_scalars_are_unwrapped() -> None:
    import numpy as np
    import torch

    line = encode_epoch(1, 0.0, {"np": np.float32(0.5), "t": torch.tensor(2.0),
                                 "flag": True, "nan32": np.float32("nan")})
    record = decode_line(line)
    assert isinstance(record, EpochRecord)
    assert record.metrics["np"] == 0.5 and record.metrics["t"] == 2.0
    assert record.metrics["flag"] == 1.0 and math.isnan(record.metrics["nan32"])


def test_header_step_end_round_trip() -> None:
    header = decode_line(encode_header("my run", 1700.5, {"lr": math.inf, "layers": [64, 32],
                                                         "obj": object()}))
    assert isinstance(header, Header)
    assert header.run == "my run" and header.started == 1700.5
    assert header.version == FORMAT_VERSION
    assert header.config["lr"] == "Infinity" and header.config["layers"] == [64, 32]
    assert header.config["obj"].startswith("<object")

    step = decode_line(encode_step(1200, 3, 5.0, {"loss": 0.5}))
    assert isinstance(step, StepRecord)
    assert (step.step, step.epoch, step.metrics) == (1200, 3, {"loss": 0.5})

    end = decode_line(encode_end("crashed", 9.0, "ValueError: boom"))
    assert isinstance(end, EndRecord)
    assert (end.status, end.error) == ("crashed", "ValueError: boom")


def test_unknown_fields_are_ignored() -> None:
    record = decode_line('{"kind":"epoch","epoch":2,"metrics":{"loss":1},"future":{"x":1},'
                         '"gpu":"A100"}')
    assert isinstance(record, EpochRecord)
    assert record.metrics == {"loss": 1.0} and record.dropped == []
    header = decode_line('{"kind":"header","version":1,"run":"r","new_thing":[1,2]}')
    assert isinstance(header, Header) and header.run == "r"


def test_missing_metric_is_not_nan() -> None:
    record = decode_line('{"kind":"epoch","epoch":1,"metrics":{"loss":0.5,"val_loss":null}}')
    assert isinstance(record, EpochRecord)
    assert "val_loss" not in record.metrics


def test_non_numeric_metric_is_dropped_with_reason_record_kept() -> None:
    record = decode_line('{"kind":"epoch","epoch":1,"metrics":{"loss":0.5,"note":"hello"}}')
    assert isinstance(record, EpochRecord)
    assert record.metrics == {"loss": 0.5}
    assert any("note" in reason for reason in record.dropped)


def test_newer_version_gives_upgrade_message() -> None:
    with pytest.raises(NewerFormatError) as caught:
        decode_line(json.dumps({"kind": "header", "version": FORMAT_VERSION + 1, "run": "x"}))
    message = str(caught.value)
    assert f"version {FORMAT_VERSION + 1}" in message and "upgrade" in message


def test_check_exits_2_on_file_with_only_newer_header(tmp_path: Path) -> None:
    path = tmp_path / "future.jsonl"
    path.write_text(json.dumps({"kind": "header", "format": "lstm-top",
                                "version": FORMAT_VERSION + 5, "run": "future"}) + "\n")
    result = subprocess.run([sys.executable, "-m", "lstm_top", "check", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result
    assert "newer lstm-top" in result.stderr and "upgrade" in result.stderr
    assert result.stdout == ""


def test_flat_records_are_epochs_or_steps() -> None:
    epoch = decode_line('{"epoch": 4, "loss": 0.3, "val_loss": "NaN", "timestamp": 17.0}')
    assert isinstance(epoch, EpochRecord)
    assert epoch.epoch == 4 and epoch.metrics["loss"] == 0.3
    assert math.isnan(epoch.metrics["val_loss"]) and "timestamp" not in epoch.metrics
    assert epoch.time == 17.0
    step = decode_line('{"_step": 12, "train/loss": 0.9}')
    assert isinstance(step, StepRecord)
    assert step.step == 12 and step.metrics == {"train/loss": 0.9}
    with pytest.raises(RecordError, match="neither"):
        decode_line('{"loss": 0.3}')


def test_subsets_flatten_to_bracketed_columns() -> None:
    line = encode_epoch(3, 0.0, {"val_loss": 0.6},
                        {"long": {"val_loss": 0.9, "val_loss_std": 0.3, "n": 200},
                         "short": {"val_loss": math.nan}})
    record = decode_line(line)
    assert isinstance(record, EpochRecord)
    assert record.metrics["val_loss"] == 0.6
    assert record.metrics["val_loss[long]"] == 0.9
    assert record.metrics["val_loss_std[long]"] == 0.3
    assert record.metrics["n[long]"] == 200
    assert math.isnan(record.metrics["val_loss[short]"])
    assert subset_column("val_loss", "long") == "val_loss[long]"
    assert split_subset_column("val_loss[long]") == ("val_loss", "long")
    assert split_subset_column("val_loss") is None


@pytest.mark.parametrize("line, reason", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"kind":"epoch","metrics":{}}', "epoch"),
    ('{"kind":"epoch","epoch":"three"}', "not an integer"),
    ('{"kind":"mystery"}', "unknown record kind"),
])
def test_bad_lines_raise_with_a_reason(line: str, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        decode_line(line)
