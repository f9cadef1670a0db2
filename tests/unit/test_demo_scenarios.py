"""The demo scenarios: each real training shows its behaviour in the history it logs.

The behaviour tests run the scenarios as shipped (default sizes and epochs, seed 0) and read the
JSONL back with plain ``json``: what a user would watch is what is asserted.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lstm_top.demo import SCENARIOS, run_scenario
from lstm_top.demo.__main__ import main
from lstm_top.demo.check_seeds import main as check_seeds_main
from lstm_top.format import CONSTANT_GUESS_METRIC

# A rise and a fall of at least 8% (in log terms) around one epoch: a swing, not jitter.
SWING = math.log(1.08)


def read_run(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    header = records[0]
    epochs = [r for r in records if r["kind"] == "epoch"]
    end = records[-1] if records[-1]["kind"] == "end" else None
    return header, epochs, end


def column(epochs: list[dict[str, Any]], name: str) -> list[float]:
    return [record["metrics"][name] for record in epochs]


def subset_column(epochs: list[dict[str, Any]], subset: str, name: str = "val_loss"
                  ) -> list[float]:
    return [record["subsets"][subset][name] for record in epochs]


def swing_peaks(values: list[float]) -> int:
    """Epochs that rose clearly above one of the two before and fell clearly at the next."""
    logs = [math.log(v) for v in values]
    return sum(1 for i in range(1, len(logs) - 1)
               if logs[i] - min(logs[max(0, i - 2):i]) >= SWING and logs[i] - logs[i + 1] >= SWING)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])


@pytest.fixture(scope="module")
def default_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Every sine scenario as shipped, seed 0: the histories the tests judge."""
    folder = tmp_path_factory.mktemp("demo_runs")
    runs = {}
    for name in ("healthy", "stagnating", "oscillating", "subset-gap"):
        path = folder / f"{name}.jsonl"
        run_scenario(name, path, seed=0)
        _, epochs, end = read_run(path)
        assert end is not None and end["status"] == "completed"
        assert len(epochs) == SCENARIOS[name].default_epochs
        runs[name] = epochs
    return runs


# ---------------------------------------------------------------------------- the catalogue


def test_every_scenario_is_described_for_the_picker() -> None:
    assert {"healthy", "stagnating", "oscillating", "subset-gap"} <= set(SCENARIOS)
    for name, scenario in SCENARIOS.items():
        assert scenario.name == name
        assert scenario.description and "\n" not in scenario.description
        assert len(scenario.description) <= 100
        assert 20 <= scenario.default_epochs <= 60
    designed = {name: SCENARIOS[name].expected_signs
                for name in ("healthy", "stagnating", "oscillating", "subset-gap")}
    assert designed == {"healthy": (), "stagnating": ("stagnating_val_loss",),
                        "oscillating": ("oscillating_val_loss",), "subset-gap": ("subset_gap",)}


def test_list_prints_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in SCENARIOS)


def test_unknown_scenario_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown demo scenario"):
        run_scenario("no-such-thing", tmp_path / "x.jsonl")
    with pytest.raises(SystemExit):
        main(["--scenario", "no-such-thing", "--out", str(tmp_path / "x.jsonl")])


# ---------------------------------------------------------------------------- logging

SMALL = {"train_samples": 64, "val_samples": 32}


def test_a_run_logs_like_a_user_script(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "run.jsonl"  # a folder that does not exist yet
    run_scenario("healthy", path, epochs=3, seed=4, data_overrides=SMALL)
    header, epochs, end = read_run(path)
    assert header["kind"] == "header" and header["run"] == "demo:healthy"
    config = header["config"]
    assert config["scenario"] == "healthy" and config["seed"] == 4
    assert {"lr", "hidden", "batch", "epochs", "train_samples"} <= set(config)
    assert [record["epoch"] for record in epochs] == [1, 2, 3]
    for record in epochs:
        metrics = record["metrics"]
        assert {"loss", "val_loss", "lr", "grad_norm"} <= set(metrics)
        assert all(math.isfinite(v) for v in metrics.values())
        # The whole validation set's size and per-sample spread, for the signs' noise bars.
        assert metrics["val_n"] == SMALL["val_samples"] and metrics["val_loss_std"] > 0
    assert end is not None and end["status"] == "completed"
    # ... and what predicting the training targets' mean would cost (train_plateau's "nothing
    # learned" level): their variance, averaged over the outputs, the same every epoch.
    scenario = SCENARIOS["healthy"]
    data = dataclasses.replace(scenario, data={**scenario.data, **SMALL}).build_data(4)
    variance = float(np.mean(np.var(data.train_y.astype(np.float64), axis=0)))
    guesses = {record["metrics"][CONSTANT_GUESS_METRIC] for record in epochs}
    assert len(guesses) == 1 and guesses.pop() == pytest.approx(variance, rel=1e-6)


def test_subsets_are_logged_with_count_and_spread(tmp_path: Path) -> None:
    path = tmp_path / "gap.jsonl"
    sizes = {"train_common": 60, "train_rare": 4, "val_common": 20, "val_rare": 10}
    run_scenario("subset-gap", path, epochs=2, data_overrides=sizes)
    _, epochs, _ = read_run(path)
    for record in epochs:
        subsets = record["subsets"]
        assert subsets["common_band"]["n"] == 20 and subsets["rare_band"]["n"] == 10
        assert all(s["val_loss_std"] > 0 for s in subsets.values())
        # The average is over all validation samples: the count-weighted mean of the subsets.
        weighted = (20 * subsets["common_band"]["val_loss"]
                    + 10 * subsets["rare_band"]["val_loss"]) / 30
        assert record["metrics"]["val_loss"] == pytest.approx(weighted)


def test_same_seed_same_history_other_seed_other_history(tmp_path: Path) -> None:
    def losses(seed: int, name: str) -> list[tuple[float, float]]:
        path = tmp_path / name
        run_scenario("stagnating", path, epochs=3, seed=seed, data_overrides=SMALL)
        _, epochs, _ = read_run(path)
        return list(zip(column(epochs, "loss"), column(epochs, "val_loss"), strict=True))

    first = losses(1, "a.jsonl")
    assert first == losses(1, "b.jsonl")
    assert first != losses(2, "c.jsonl")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_a_demo_process_as_interrupted(tmp_path: Path,
                                                          stop_signal: signal.Signals) -> None:
    path = tmp_path / "stopped.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "lstm_top.demo", "--scenario", "stagnating", "--out", str(path),
         "--epoch-delay", "0.2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and '"kind":"epoch"' not in _text(path):
            time.sleep(0.05)
        assert '"kind":"epoch"' in _text(path), "no epoch within 60 s"
        process.send_signal(stop_signal)
        assert process.wait(timeout=30) == 130
    finally:
        if process.poll() is None:
            process.kill()
    _, epochs, end = read_run(path)
    assert end is not None and end["status"] == "interrupted"
    assert 1 <= len(epochs) < SCENARIOS["stagnating"].default_epochs


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------------------- behaviour


@pytest.mark.slow
def test_healthy_both_losses_fall_and_settle(default_runs: dict[str, list]) -> None:
    epochs = default_runs["healthy"]
    train, val = column(epochs, "loss"), column(epochs, "val_loss")
    assert val[-1] < 0.8 * val[0]
    assert train[-1] < 0.4 * train[0]
    assert val[-1] <= 1.03 * min(val)  # settled at its best, not drifting up
    assert val.index(min(val)) >= 0.75 * len(val)
    assert val[-1] < 1.25 * train[-1]  # no generalisation gap to speak of
    assert swing_peaks(val) <= 1


@pytest.mark.slow
def test_stagnating_val_turns_up_while_train_keeps_falling(default_runs: dict[str, list]
                                                           ) -> None:
    epochs = default_runs["stagnating"]
    train, val = column(epochs, "loss"), column(epochs, "val_loss")
    best = val.index(min(val))
    assert best < 0.4 * len(val)
    # Far beyond what 1000 validation windows jitter by (~5%): up by a fifth.
    assert median(val[-5:]) > 1.15 * min(val)
    assert median(train[-5:]) < 0.8 * train[best]
    # Training keeps improving through the second half, while validation does not.
    half = len(train) // 2
    assert median(train[-5:]) < 0.9 * median(train[half - 2:half + 3])
    assert median(val[-5:]) > median(val[half - 2:half + 3])


@pytest.mark.slow
def test_oscillating_val_swings_far_more_than_healthy(default_runs: dict[str, list]) -> None:
    oscillating = column(default_runs["oscillating"], "val_loss")
    healthy = column(default_runs["healthy"], "val_loss")
    assert swing_peaks(oscillating) >= 4
    assert swing_peaks(oscillating) >= 3 * max(swing_peaks(healthy), 1)
    # It learns something (not a plateau), but ends well above the healthy run.
    assert min(oscillating) < 0.8 * oscillating[0]
    assert median(oscillating[-5:]) > 1.05 * median(healthy[-5:])


@pytest.mark.slow
def test_subset_gap_rare_band_far_worse_than_common(default_runs: dict[str, list]) -> None:
    epochs = default_runs["subset-gap"]
    common = subset_column(epochs, "common_band")
    rare = subset_column(epochs, "rare_band")
    average = column(epochs, "val_loss")
    train = column(epochs, "loss")
    assert rare[-1] > 2.5 * common[-1]
    assert all(r > 2 * c for r, c in zip(rare[-10:], common[-10:], strict=True))
    # The average alone looks like a healthy run: it fell, settled at its best, and sits far
    # below the rare band it hides.
    assert average[-1] < 0.4 * average[0]
    assert average[-1] <= 1.02 * min(average)
    assert average[-1] < 0.5 * rare[-1]
    assert train[-1] < 0.5 * train[0]
    # The common band itself learned like the healthy run.
    assert common[-1] < 0.6 * common[0]


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["healthy", "stagnating", "oscillating", "subset-gap"])
def test_check_seeds_counts_a_seed_that_shows_exactly_its_sign(
        scenario: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Seed 1 (seed 0 is the fixture's): what `lstm-top check --json` raises at warning or above
    # must be exactly the scenario's promise; --require makes a miss the exit status.
    status = check_seeds_main(["--seeds", "1", "--first-seed", "1", "--workers", "1",
                               "--scenario", scenario, "--require", "1"])
    printed = capsys.readouterr().out
    promise = "raise nothing" if scenario == "healthy" else "show exactly"
    assert f"{scenario}" in printed and f"1/1 seeds {promise}" in printed
    assert status == 0


@pytest.mark.slow
def test_check_seeds_retrains_a_half_written_history_instead_of_appending_to_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # What an interrupted --keep sweep leaves: a header and a few epochs, no end record.
    run_scenario("healthy", tmp_path / "healthy_s1.jsonl", epochs=20, seed=1)
    lines = (tmp_path / "healthy_s1.jsonl").read_text().splitlines()
    (tmp_path / "healthy_s1.jsonl").write_text("\n".join(lines[:4]) + "\n")
    status = check_seeds_main(["--seeds", "1", "--first-seed", "1", "--workers", "1",
                               "--scenario", "healthy", "--keep", str(tmp_path),
                               "--require", "1"])
    assert "1/1 seeds raise nothing" in capsys.readouterr().out and status == 0
    records = [json.loads(line) for line in
               (tmp_path / "healthy_s1.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records].count("header") == 1
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == list(range(1, 21))
