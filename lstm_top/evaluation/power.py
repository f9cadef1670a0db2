"""How many of the oracle corpus' subset gaps its validation subsets could show at all.

A subset gap is labelled from the oracle's subsets (10,000 samples); the detector sees the
validation subsets, often 20-100 samples of heavy-tailed per-sample losses. For each labelled
gap this asks: had the validation subsets shown exactly the oracle's relative gap, at their own
level and spread (their logged ``n`` and per-sample std), what t would the detector's test have
measured? Below the detector's ``min_t`` the gap is beyond what that validation set can resolve
at the false-alarm budget, however the test is written — the recall on the gaps above it is the
detector's own figure.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from lstm_top.evaluation.labels import YES
from lstm_top.evaluation.oracle import oracle_runs
from lstm_top.evaluation.synthetic import Case
from lstm_top.history import History, resolve_loss_keys
from lstm_top.signs.base import SignContext, SubsetStats
from lstm_top.signs.stats import pooled_stats
from lstm_top.signs.subset_gap import SubsetGapParams


@dataclass(frozen=True)
class GapPower:
    name: str
    expected_t: float  # median over the run's epochs
    found: bool

    def resolvable(self, min_t: float) -> bool:
        return self.expected_t >= min_t


def _validation_subsets(history: History) -> list[SubsetStats]:
    """Each epoch's logged subsets, read from the columns the detector reads."""
    context = SignContext(history, resolve_loss_keys(history.epochs.names))
    rows = (context.subset_stats(row) for row in range(len(history.epochs)))
    return [row for row in rows if row]


def expected_t(oracle: dict[str, float], validation: SubsetStats) -> float | None:
    """t the detector would measure if the validation subsets showed the oracle's gap."""
    worst = max(oracle, key=oracle.__getitem__)
    logged = all(std is not None and n is not None for _, std, n in validation.values())
    if worst not in validation or not logged:
        return None
    rest_oracle = statistics.fmean(v for k, v in oracle.items() if k != worst)
    _, _, n_worst = validation[worst]
    rest_mean, _, n_rest = pooled_stats([v for k, v in validation.items() if k != worst])
    _, union_std, _ = pooled_stats(list(validation.values()))
    if not (n_worst and n_rest and union_std and rest_oracle > 0):
        return None
    gap = (oracle[worst] / rest_oracle - 1) * rest_mean
    return gap / (union_std * math.sqrt(1 / n_worst + 1 / n_rest))


def subset_gap_power(directory: Path, part: str, cases: list[Case],
                     found: Collection[str]) -> list[GapPower]:
    """The expected t of each labelled gap among ``cases`` (the oracle runs of ``part``, as
    scored); ``found``: the names of the cases the detector raised subset_gap on."""
    runs = {run.name: run for run in oracle_runs(directory, part)}
    result = []
    for case in cases:
        run = runs[case.name]
        if run.labels["subset_gap"].verdict != YES:
            continue
        ts = []
        for row, values in zip(_validation_subsets(case.history),
                               zip(*run.subsets.values(), strict=False), strict=False):
            oracle = dict(zip(run.subsets, map(float, values), strict=True))
            if all(math.isfinite(v) for v in oracle.values()):
                t = expected_t(oracle, row)
                if t is not None:
                    ts.append(t)
        result.append(GapPower(case.name, statistics.median(ts) if ts else 0.0,
                               case.name in found))
    return result


def format_power(corpus: str, powers: list[GapPower], min_t: float | None = None) -> str:
    min_t = SubsetGapParams().min_t if min_t is None else min_t
    able = [p for p in powers if p.resolvable(min_t)]
    beyond = [p for p in powers if not p.resolvable(min_t)]
    return (f"{corpus} subset_gap: {len(able)} of {len(powers)} labelled gaps are resolvable by "
            f"their validation subsets (expected t >= {min_t:g} at the oracle's gap); found "
            f"{sum(p.found for p in able)}/{len(able)} of those, "
            f"{sum(p.found for p in beyond)}/{len(beyond)} of the rest")
