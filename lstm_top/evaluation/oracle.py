"""The oracle corpus as evaluation cases: each run's history as lstm-top sees it (its JSONL),
labelled from its oracle file (``labels.py``), split into the calibration and test parts by
task family."""

from __future__ import annotations

from pathlib import Path

from lstm_top.evaluation.generate import CALIBRATION_FAMILIES, DEFAULT_OUT, TEST_FAMILIES
from lstm_top.evaluation.labels import GRAY, SCORED_SIGNS, YES, OracleRun, load
from lstm_top.evaluation.synthetic import Case
from lstm_top.sources.formats import read_history

PARTS = {"calibration": CALIBRATION_FAMILIES, "test": TEST_FAMILIES}


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


def oracle_cases(directory: Path = DEFAULT_OUT, part: str | None = None) -> list[Case]:
    cases = []
    for run in oracle_runs(directory, part):
        history = read_history(directory / f"{run.name}.jsonl")
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
    return cases
