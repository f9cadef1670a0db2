"""``python -m lstm_top.evaluation.calibrate``: fix each sign's thresholds by a false-alarm budget.

For one sign at a time, every candidate in its grid (below) is scored on the calibration
corpora — the oracle corpus' calibration families, the synthetic families and the founding
note's runs — with only that sign's detector running. A candidate is admissible when the sign
raises (warning or above) on at most ``FALSE_ALARM_BUDGET`` of the healthy runs of the oracle
calibration part and of the synthetic corpus; among the admissible ones the best mean F1 wins
(ties: the one nearest the current default). The oracle *test* part and the shared real runs
are never used here: they only report (``python -m lstm_top.evaluation``).

The grids are small on purpose: each knob is one a person could reason about (a swing size, a
number of peaks, a patience), and the chosen values are what the detectors' defaults cite.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstm_top.evaluation.generate import DEFAULT_OUT
from lstm_top.evaluation.oracle import oracle_cases
from lstm_top.evaluation.score import raised
from lstm_top.evaluation.synthetic import Case, synthetic_cases
from lstm_top.signs import DETECTORS, SIGN_IDS, Params, default_params, diagnose

# At most 1 healthy run in 100 may raise any sign at warning or above: shared out between the
# signs that can fire on a healthy run, the budget per sign is a third of a per cent... which
# the calibration corpus cannot resolve; so each sign must raise on none of its healthy runs
# beyond one in 200.
FALSE_ALARM_BUDGET = 0.005

GRIDS: dict[str, dict[str, list[Any]]] = {
    "oscillating_val_loss": {"swings.min_swing": [0.06, 0.08, 0.10, 0.15],
                             "swings.train_noise_sigmas": [2.0, 3.0, 4.0],
                             "swings.val_standard_errors": [0.0, 1.0, 3.0],
                             "min_peaks": [2, 3]},
    "stagnating_val_loss": {"warning_val_rise": [0.01, 0.03, 0.05],
                            "val_rise_standard_errors": [0.0, 1.0, 2.0],
                            "flat_train_drop": [0.1, 0.2, 0.3],
                            "patience": [3, 5]},
    "train_plateau": {"warning_after_epochs": [12, 15, 20],
                      "max_progress": [0.03, 0.05, 0.08]},
    "subset_gap": {"min_t": [2.5, 3.0, 4.0], "min_ratio_tested": [1.1, 1.15, 1.2],
                   "consecutive_tested": [2, 3]},
    "diverging_loss": {"diverge_factor": [2.0, 3.0], "noise_sigmas": [3.0, 4.0]},
}


@dataclass
class Outcome:
    f1: dict[str, float]
    false_alarm: dict[str, float]

    @property
    def mean_f1(self) -> float:
        return statistics.fmean(self.f1.values()) if self.f1 else 0.0


def evaluate(sign: str, params: Params, corpora: dict[str, list[Case]]) -> Outcome:
    others = frozenset(SIGN_IDS) - {sign}
    f1: dict[str, float] = {}
    alarms: dict[str, float] = {}
    for name, cases in corpora.items():
        tp = fp = fn = 0
        healthy = healthy_alarms = 0
        for case in cases:
            hit = sign in raised(diagnose(case.history, params={sign: params}, disabled=others))
            if case.healthy:
                healthy += 1
                healthy_alarms += hit and sign not in case.allowed
            if sign in case.expected:
                if hit:
                    tp += 1
                elif sign not in case.lenient:
                    fn += 1
            elif hit and sign not in case.allowed:
                fp += 1
        if tp + fn:
            f1[name] = 2 * tp / (2 * tp + fp + fn)
        alarms[name] = healthy_alarms / healthy if healthy else 0.0
    return Outcome(f1, alarms)


def candidates(grid: dict[str, list[Any]]) -> Iterable[dict[str, Any]]:
    keys = list(grid)
    for values in itertools.product(*(grid[key] for key in keys)):
        yield dict(zip(keys, values, strict=True))


def calibrate(sign: str, corpora: dict[str, list[Case]], verbose: bool = False
              ) -> tuple[dict[str, Any], Outcome]:
    base = default_params()[sign]
    best: tuple[float, dict[str, Any], Outcome] | None = None
    for changes in candidates(GRIDS[sign]):
        outcome = evaluate(sign, base.replace(**changes), corpora)
        admissible = all(rate <= FALSE_ALARM_BUDGET for rate in outcome.false_alarm.values())
        if verbose:
            print(f"  {changes} F1 {outcome.f1} FA {outcome.false_alarm}"
                  f"{'' if admissible else '  (over budget)'}", flush=True)
        if admissible and (best is None or outcome.mean_f1 > best[0]):
            best = (outcome.mean_f1, changes, outcome)
    if best is None:
        return {}, evaluate(sign, base, corpora)
    return best[1], best[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lstm_top.evaluation.calibrate")
    parser.add_argument("--oracle", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--signs", nargs="*", default=list(GRIDS))
    parser.add_argument("--seeds", type=int, default=20, help="synthetic runs per family")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    corpora = {"oracle-calibration": oracle_cases(args.oracle, "calibration"),
               "synthetic": synthetic_cases(args.seeds)}
    for sign in args.signs:
        if sign not in DETECTORS:
            parser.error(f"unknown sign {sign}")
        print(f"{sign}:", flush=True)
        changes, outcome = calibrate(sign, corpora, args.verbose)
        print(f"  chosen {changes or '(defaults kept: no candidate within the budget)'}\n"
              f"  F1 {outcome.f1}  healthy false alarms {outcome.false_alarm}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
