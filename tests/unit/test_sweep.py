"""The sweep table: rows, differing config keys, sort, filter, and ``check DIR``."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from lstm_top.check import EXIT_HEALTHY, EXIT_SIGNS, EXIT_UNREADABLE, diagnose_file
from lstm_top.sweep import differing_config, filter_rows, sort_rows, sweep_rows


def write_trial(folder: Path, name: str, lr: float, batch: int, overfits: bool,
                epochs: int = 40) -> Path:
    trial = folder / name
    trial.mkdir(parents=True)
    lines = [json.dumps({"kind": "header", "version": 1, "run": name, "started": 1000.0,
                         "config": {"lr": lr, "batch": batch, "hidden": 64,
                                    "seed": 0}})]
    for epoch in range(1, epochs + 1):
        train = 0.2 + math.exp(-epoch / 8)
        val = train + 0.1 + (0.02 * max(0, epoch - 12) if overfits else 0.0) \
            + 0.004 * math.sin(epoch * 1.7)
        lines.append(json.dumps({"kind": "epoch", "epoch": epoch, "time": 1000.0 + epoch,
                                 "metrics": {"loss": train, "val_loss": val}}))
    lines.append(json.dumps({"kind": "end", "status": "completed", "time": 2000.0}))
    path = trial / "run.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_only_config_keys_that_differ_become_columns() -> None:
    keys, values = differing_config([{"lr": 0.1, "batch": 32, "hidden": 64},
                                     {"lr": 0.01, "batch": 32, "hidden": 64},
                                     {"lr": 0.001, "batch": 64, "hidden": 64}])
    assert keys == ["batch", "lr"]  # fewest distinct values first; hidden is the same
    assert values[2] == {"batch": "64", "lr": "0.001"}


def test_rows_sort_worst_first_and_filter(tmp_path: Path) -> None:
    paths = [write_trial(tmp_path, f"t{i}", lr, 32, overfits=i == 2)
             for i, lr in enumerate((0.1, 0.01, 0.001))]
    entries = []
    for path in paths:
        history, findings, _ = diagnose_file(str(path))
        entries.append((str(path), history.run_name, history, findings, "finished"))
    keys, rows = sweep_rows(entries)
    assert keys == ["lr"]
    ordered = sort_rows(rows)
    assert ordered[0].run == "t2" and ordered[0].sign == "stagnating_val_loss"
    assert ordered[0].severity >= 2 and ordered[1].sign is None
    assert ordered[0].best_at is not None and ordered[0].best_val is not None
    assert [r.run for r in sort_rows(rows, "name")] == ["t0", "t1", "t2"]
    assert [r.run for r in filter_rows(rows, "lr=0.01")] == ["t1"]
    assert [r.run for r in filter_rows(rows, "stagnating")] == ["t2"]
    assert ordered[0].cells(keys)[4].startswith("critical stagnating_val_loss") or \
        ordered[0].cells(keys)[4].startswith("warning stagnating_val_loss")


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lstm_top", "check", *args],
                          capture_output=True, text=True, timeout=120)


def test_check_dir_prints_the_table_and_exits_with_the_worst(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    for i, lr in enumerate((0.1, 0.01, 0.001, 0.0001)):
        write_trial(sweep / "group", f"trial_{i}", lr, 16 * (1 + i % 2), overfits=i == 3)
    result = _check(str(sweep))
    assert result.returncode == EXIT_SIGNS, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["run", "state", "epochs", "best", "val"]
    assert "batch" in lines[0] and "lr" in lines[0] and "hidden" not in lines[0]
    assert "trial_3" in lines[1] and "stagnating_val_loss" in lines[1]  # worst first
    assert "4 runs, 1 with active warning signs or worse" in result.stdout
    report = json.loads(_check(str(sweep), "--json").stdout)
    assert report["runs"][0]["run"] == "trial_3"
    assert report["runs"][0]["worst_sign"] == "stagnating_val_loss"
    assert report["runs"][0]["config"]["lr"] == "0.0001"
    assert all(run["rows"] == 40 and run["unit"] == "epoch" for run in report["runs"])
    # Healthy runs only: exit 0; an unreadable run: exit 2, named.
    healthy = tmp_path / "healthy"
    write_trial(healthy, "a", 0.1, 32, overfits=False)
    write_trial(healthy, "b", 0.2, 32, overfits=False)
    assert _check(str(healthy)).returncode == EXIT_HEALTHY
    (healthy / "c").mkdir()
    (healthy / "c" / "metrics.csv").write_text("epoch,loss\nx,y\n")  # no readable row
    broken = _check(str(healthy))
    assert broken.returncode == EXIT_UNREADABLE and "unreadable" in broken.stdout
