"""stop_on / restore_best's framework-free core (lstm_top/actions.py): which runs it stops,
on real histories, and how the reason reaches the file and ``lstm-top check``."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from lstm_top import Logger
from lstm_top.actions import EpochActions, StopRule, describe, parse_stop_on
from lstm_top.format import EndRecord, decode_line
from lstm_top.sources.formats import read_history

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def _replay(path: Path, stop_on: str | set[str] = "critical") -> StopRule:
    """Feed a recorded run to a StopRule epoch by epoch, as a callback would, until it stops."""
    table = read_history(str(path)).epochs
    rule = StopRule(stop_on)
    for row in range(len(table)):
        metrics = {name: float(table.column(name)[row]) for name in table.names
                   if table.present(name)[row]}
        if rule.observe(int(table.index[row]), metrics).stop:
            break
    return rule


def _labels() -> list[dict[str, str]]:
    with open(CORPUS / "real" / "LABELS.csv", newline="") as labels:
        return list(csv.DictReader(labels))


@pytest.mark.parametrize("name", [row["file"] for row in _labels() if row["healthy"] == "1"])
def test_no_healthy_real_run_is_stopped(name: str) -> None:
    rule = _replay(CORPUS / "real" / name)
    assert rule.stopped_by is None, describe(rule.stopped_by)  # type: ignore[arg-type]


def test_demo_healthy_runs_are_not_stopped_even_on_warnings() -> None:
    for path in sorted((CORPUS / "demo").glob("healthy_*.jsonl")):
        assert _replay(path, "warning").stopped_by is None, path.name


def test_clear_overfitting_stops_at_the_sign_not_at_the_end() -> None:
    # Labelled "classic overfitting: val min at epoch 3, rises steadily"; 25 epochs logged.
    rule = _replay(CORPUS / "real" / "dm2020_emotion_dense_keras.csv")
    reason = rule.stopped_by
    assert reason is not None and reason.sign == "stagnating_val_loss"
    assert reason.severity == "critical"
    assert reason.since_epoch <= reason.epoch <= reason.since_epoch + 3
    assert reason.epoch < 10 and int(rule.history.epochs.index[-1]) == reason.epoch
    assert rule.best_epoch == 3  # the epoch restore_best would go back to


def test_nan_loss_stops_on_the_sign_id_at_any_severity() -> None:
    rule = StopRule({"nonfinite_loss"})
    decisions = [rule.observe(epoch, {"loss": loss, "val_loss": 1.0})
                 for epoch, loss in enumerate([1.0, 0.8, math.nan, 0.5], start=1)]
    assert [d.stop for d in decisions] == [False, False, True, True]
    assert rule.stopped_by is not None and rule.stopped_by.epoch == 3
    assert rule.stopped_by.sign == "nonfinite_loss"


def test_a_sign_not_asked_for_does_not_stop() -> None:
    rule = StopRule({"subset_gap"})
    for epoch, loss in enumerate([1.0, 0.8, math.nan, math.nan], start=1):
        assert not rule.observe(epoch, {"loss": loss}).stop


def test_stop_on_is_checked_when_the_callback_is_built() -> None:
    assert parse_stop_on("critical") == (3, frozenset())
    assert parse_stop_on(["warning", "nonfinite_loss"]) == (2, frozenset({"nonfinite_loss"}))
    with pytest.raises(ValueError, match="unknown sign or severity 'critcal'"):
        EpochActions("critcal")
    with pytest.raises(ValueError, match="empty"):
        parse_stop_on([])


def test_best_epoch_follows_monitor_and_min_delta() -> None:
    actions = EpochActions(None, restore_best=True, min_delta=0.05)
    actions.begin()
    weights = iter(range(100))
    for epoch, val in enumerate([1.0, 0.8, 0.78, 0.9, 0.7], start=1):
        assert not actions.after_epoch(epoch, {"loss": 1.0, "val_loss": val},
                                       snapshot=lambda: next(weights))
    restored: list[int] = []
    assert actions.restore(restored.append) == 5 and restored == [2]  # 3rd copy: epoch 5
    maximise = StopRule(None, monitor="acc", mode="max")
    for epoch, acc in enumerate([0.5, 0.9, 0.7], start=1):
        maximise.observe(epoch, {"acc": acc})
    assert maximise.best_epoch == 2 and maximise.best_value == 0.9


def test_a_failing_snapshot_is_reported_and_training_goes_on() -> None:
    warned: list[str] = []
    actions = EpochActions("critical", restore_best=True,
                           warn=lambda key, message: warned.append(message))
    actions.begin()

    def broken() -> object:
        raise RuntimeError("device lost")

    assert actions.after_epoch(1, {"loss": 1.0, "val_loss": 1.0}, snapshot=broken) is False
    assert warned and "device lost" in warned[0]


def test_the_end_record_says_why_and_check_shows_it(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    rule = StopRule({"nonfinite_loss"})
    with Logger(path) as logger:
        for epoch, loss in enumerate([1.0, 0.7, math.inf], start=1):
            logger.log(epoch=epoch, loss=loss, val_loss=1.0)
            if rule.observe(epoch, {"loss": loss, "val_loss": 1.0}).stop:
                break
        assert rule.stopped_by is not None
        logger.close(stopped_by=rule.stopped_by.to_record())
    end = decode_line(path.read_text().splitlines()[-1])
    assert isinstance(end, EndRecord) and end.status == "completed"
    assert end.stopped_by == {"sign": "nonfinite_loss", "severity": "critical",
                              "since_epoch": 3, "epoch": 3,
                              "message": rule.stopped_by.message}
    assert read_history(str(path)).end_stopped_by == end.stopped_by
    text = subprocess.run([sys.executable, "-m", "lstm_top", "check", str(path)],
                          capture_output=True, text=True, timeout=60).stdout
    assert "stopped  after epoch 3 by nonfinite_loss (critical, since epoch 3): " in text
    report = json.loads(subprocess.run(
        [sys.executable, "-m", "lstm_top", "check", "--json", str(path)],
        capture_output=True, text=True, timeout=60).stdout)
    assert report["summary"]["stopped_by"]["sign"] == "nonfinite_loss"


def test_a_hostile_stopped_by_is_cut_to_known_fields() -> None:
    line = json.dumps({"kind": "end", "status": "completed", "stopped_by": {
        "sign": "x" * 5000, "epoch": "7", "since_epoch": True, "message": 3, "extra": [1]}})
    end = decode_line(line)
    assert isinstance(end, EndRecord) and end.stopped_by == {"sign": "x" * 200}
    assert decode_line('{"kind":"end","stopped_by":[1]}').stopped_by is None  # type: ignore[union-attr]
