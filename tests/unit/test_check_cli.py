"""``lstm-top check`` as a script or CI job runs it: a real subprocess, real files."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lstm_top import Logger


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    # The installed console script when present (what users type), else the module.
    script = shutil.which("lstm-top")
    command = [script] if script else [sys.executable, "-m", "lstm_top"]
    return subprocess.run([*command, "check", *args], capture_output=True, text=True,
                          timeout=60)


def _healthy_run(path: Path, epochs: int = 30) -> None:
    with Logger(path, run_name="healthy") as logger:
        for epoch in range(1, epochs + 1):
            logger.log(epoch=epoch, loss=1.0 / epoch, val_loss=1.1 / epoch, lr=0.001)


def _nan_run(path: Path) -> None:
    with Logger(path, run_name="broken") as logger:
        for epoch in range(1, 11):
            logger.log(epoch=epoch, loss=1.0 / epoch if epoch < 7 else math.nan,
                       val_loss=1.1 / epoch if epoch < 7 else math.nan)


def test_healthy_run_exits_0_with_text_summary(tmp_path: Path) -> None:
    path = tmp_path / "healthy.jsonl"
    _healthy_run(path)
    result = _check(str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "run      healthy  (completed)" in result.stdout
    assert "epochs   30 (epoch 1 .. 30)" in result.stdout
    assert "best val val_loss = 0.0366667 at epoch 30" in result.stdout
    assert "no warning signs" in result.stdout
    assert result.stderr == ""


def test_nan_loss_exits_1_and_names_the_sign(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    _nan_run(path)
    result = _check(str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[CRITICAL] nonfinite_loss" in result.stdout
    assert "since epoch 7" in result.stdout
    assert "remedy:" in result.stdout


def test_json_schema(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    _nan_run(path)
    with path.open("a") as handle:
        handle.write("this line is garbage\n")
    result = _check(str(path), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)  # one strict JSON object: no bare NaN tokens
    assert {"run", "epochs", "malformed_lines", "signs"} <= report.keys()
    assert report["run"] == "broken"
    assert report["epochs"] == 10
    assert report["malformed_lines"] == 1
    assert report["problems"][0]["line"] == 13  # header + 10 epochs + end, then garbage
    assert report["signs"], "a NaN loss must produce a sign"
    for sign in report["signs"]:
        assert set(sign) == {"id", "severity", "since_epoch", "warning_since", "until_epoch",
                             "message", "evidence", "remedy"}
        # a critical NaN opens at warning level or above: it says so from its first epoch
        if sign["severity"] != "info":
            assert isinstance(sign["warning_since"], int)
            assert sign["warning_since"] >= sign["since_epoch"]
        assert sign["severity"] in ("info", "warning", "critical")
        assert isinstance(sign["since_epoch"], int)
        assert sign["until_epoch"] is None or isinstance(sign["until_epoch"], int)
        assert isinstance(sign["evidence"], dict) and sign["remedy"]
    nonfinite = next(s for s in report["signs"] if s["id"] == "nonfinite_loss")
    assert nonfinite["since_epoch"] == 7 and nonfinite["severity"] == "critical"


def test_fail_on_critical_only(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    _nan_run(path)
    # The NaN sign is critical, so it fails even at the strictest threshold.
    assert _check(str(path), "--fail-on", "critical").returncode == 1
    healthy = tmp_path / "healthy.jsonl"
    _healthy_run(healthy)
    assert _check(str(healthy), "--fail-on", "info").returncode == 0


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.jsonl", "no such file"),
    (lambda d: d, "folder|directory"),  # empty: neither a history file nor TensorBoard logs
])
def test_unreadable_path_exits_2_with_message_on_stderr(tmp_path: Path, make,
                                                        message: str) -> None:
    target = make(tmp_path)
    result = _check(str(target))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("lstm-top check: ")
    assert re.search(message, result.stderr)


def test_file_with_no_records_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "noise.jsonl"
    path.write_text("hello\nworld\n")
    result = _check(str(path), "--json")
    assert result.returncode == 2
    assert "no records could be read (2 malformed line(s))" in result.stderr
    assert result.stdout == ""


def test_run_without_end_record_is_not_called_finished(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    logger = Logger(path)
    for epoch in range(1, 4):
        logger.log(epoch=epoch, loss=1.0 / epoch, val_loss=1.0 / epoch)
    report = json.loads(_check(str(path), "--json").stdout)
    # Still being written, or its writer died: either way not "completed".
    assert report["summary"]["status"] not in ("completed", "crashed", "interrupted")
    logger.close()
    report = json.loads(_check(str(path), "--json").stdout)
    assert report["summary"]["status"] == "completed"


def test_huge_history_says_which_epochs_the_signs_judged(tmp_path: Path) -> None:
    from lstm_top.signs import MAX_CATCHUP_EPOCHS

    path = tmp_path / "long.jsonl"
    epochs = MAX_CATCHUP_EPOCHS + 5_000
    with Logger(path, run_name="long") as logger:
        for epoch in range(1, epochs + 1):
            logger.log(epoch=epoch, loss=1.0 / epoch**0.3, val_loss=1.1 / epoch**0.3)
    text = _check(str(path))
    assert f"judged on the last {MAX_CATCHUP_EPOCHS:,} of {epochs:,} epochs" in text.stdout
    report = json.loads(_check(str(path), "--json").stdout)
    assert report["summary"]["diagnosed_epochs"] == MAX_CATCHUP_EPOCHS
    assert report["epochs"] == epochs


def test_unrecognised_loss_names_are_said_not_silently_unjudged(tmp_path: Path) -> None:
    path = tmp_path / "history.json"  # two models in one dict: which loss is meant is unclear
    path.write_text(json.dumps({"reg_loss": [1.0, 0.9, 0.8], "reg_val_loss": [1.1, 1.0, 0.9],
                                "cls_loss": [0.7, 0.6, 0.5], "cls_val_loss": [0.7, 0.7, 0.6]}))
    result = _check(str(path))
    assert "no training or validation loss recognised" in result.stdout
    assert "--train-key NAME / --val-key NAME" in result.stdout
    named = _check(str(path), "--train-key", "reg_loss", "--val-key", "reg_val_loss")
    assert "losses   no" not in named.stdout
    assert "best val reg_val_loss = 0.9 at epoch 3" in named.stdout


def test_several_paths_give_one_row_each_worst_first(tmp_path: Path) -> None:
    """``lstm-top check runs/*.jsonl`` in a CI step: one table row per run, named as typed
    (relative to the folder they share), worst first; exit 1 for the broken one, 2 when a path
    cannot be read; ``--json`` the folder report's shape with the paths."""
    runs = tmp_path / "runs"
    runs.mkdir()
    _healthy_run(runs / "good.jsonl")
    _nan_run(runs / "bad.jsonl")
    result = _check(str(runs / "good.jsonl"), str(runs / "bad.jsonl"))
    assert result.returncode == 1, result.stderr
    rows = [line.split()[0] for line in result.stdout.splitlines()[1:] if line.strip()][:2]
    assert rows == ["broken", "healthy"]  # run names from the header, the NaN run first
    assert "2 runs, 1 with active warning signs or worse" in result.stdout
    report = json.loads(_check("--json", str(runs / "good.jsonl"),
                               str(runs / "bad.jsonl")).stdout)
    assert report["paths"] == [str(runs / "good.jsonl"), str(runs / "bad.jsonl")]
    assert [row["worst_sign"] for row in report["runs"]] == ["nonfinite_loss", None]
    missing = _check(str(runs / "good.jsonl"), str(runs / "nope.jsonl"))
    assert missing.returncode == 2
    assert "unreadable  nope.jsonl" in missing.stdout
    refused = _check("--follow", str(runs / "good.jsonl"), str(runs / "bad.jsonl"))
    assert refused.returncode == 2 and "give one path" in refused.stderr
