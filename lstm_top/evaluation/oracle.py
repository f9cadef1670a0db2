"""The oracle corpus as evaluation cases: each run's history as lstm-top sees it (its JSONL),
labelled from its oracle file (``labels.py``), split into the calibration and test parts by
task family."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from lstm_top.evaluation.generate import (
    CALIBRATION_FAMILIES,
    DEFAULT_OUT,
    HELD_OUT_FAMILIES,
    TEST_FAMILIES,
)
from lstm_top.evaluation.labels import GRAY, SCORED_SIGNS, YES, OracleRun, load
from lstm_top.evaluation.synthetic import Case
from lstm_top.format import CONSTANT_GUESS_METRIC
from lstm_top.sources.formats import read_history

PARTS = {"calibration": CALIBRATION_FAMILIES, "test": TEST_FAMILIES, "held-out": HELD_OUT_FAMILIES}


def oracle_runs(directory: Path = DEFAULT_OUT, part: str | None = None) -> list[OracleRun]:
    families = PARTS[part] if part else CALIBRATION_FAMILIES + TEST_FAMILIES
    runs = []
    for path in sorted(directory.glob("*.oracle.json")):
        if not (directory / path.name.replace(".oracle.json", ".jsonl")).exists():
            continue
        run = load(path)
        if run.family in families:
            runs.append(run)
    return runs


# What our helpers log beyond the losses: the validation set's n and per-sample std, and the
# constant guess's loss. The "bare" corpora drop them all; the "subsets" corpora keep only the
# subsets' n and std (``Logger.log(subsets=...)`` without the whole set's ``val_n``).
NOISE_FIELDS = ("val_loss_std", "val_n", "n", CONSTANT_GUESS_METRIC)
ALL, SUBSETS, NONE = "all", "subsets", "none"


def _without_noise(line: str, keep_subsets: bool = False) -> str:
    """One JSONL line with the validation set's n and per-sample std (whole set and, unless
    ``keep_subsets``, subsets) and the constant guess's loss removed: the run as a Keras
    CSVLogger, TensorBoard or most public histories record it."""
    record = json.loads(line)
    if record.get("kind") == "epoch":
        for field in NOISE_FIELDS:
            record.get("metrics", {}).pop(field, None)
        for subset in (record.get("subsets") or {}).values() if not keep_subsets else ():
            for field in NOISE_FIELDS:
                subset.pop(field, None)
    return json.dumps(record)


def oracle_cases(directory: Path = DEFAULT_OUT, part: str | None = None,
                 noise_logged: str = ALL) -> list[Case]:
    """The runs of ``part`` as cases; ``noise_logged=NONE`` scores them as if their validation
    sets' n and std had not been logged, which is what every sign meets on other tools' files,
    ``SUBSETS`` as if only the subsets' had been."""
    cases = []
    scratch = (tempfile.TemporaryDirectory(prefix="lstm-top-oracle-") if noise_logged != ALL
               else None)
    for run in oracle_runs(directory, part):
        path = directory / f"{run.name}.jsonl"
        if scratch is not None:
            lines = [line for line in path.read_text().splitlines() if line.strip()]
            path = Path(scratch.name) / path.name
            path.write_text("".join(_without_noise(line, noise_logged == SUBSETS) + "\n"
                                    for line in lines))
        history = read_history(path)
        expected = {sign for sign in SCORED_SIGNS if run.labels[sign].verdict == YES}
        gray = {sign for sign in SCORED_SIGNS if run.labels[sign].verdict == GRAY}
        # A run that went non-finite may show a divergence before it (and vice versa).
        # The gradient signs have no oracle label (nothing to read them off): never scored.
        allowed = set(gray) | {"exploding_gradients", "vanishing_gradients"}
        if "nonfinite_loss" in expected:
            allowed.add("diverging_loss")
        onsets = {sign: label.onset_epoch for sign, label in run.labels.items()
                  if label.verdict == YES and label.onset_epoch is not None}
        cases.append(Case(run.name, f"oracle-{part or 'all'}", history, frozenset(expected),
                          frozenset(allowed), None, onsets=onsets, gray=frozenset(gray)))
    if scratch is not None:
        scratch.cleanup()
    return cases
