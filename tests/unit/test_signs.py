"""Warning signs: right on labelled cases, silent on healthy runs, causal and incremental."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from lstm_top.evaluation.corpus import demo_cases, real_cases, seed_cases
from lstm_top.evaluation.score import raised, score
from lstm_top.evaluation.synthetic import FAMILIES, Case, cut_history, synthetic_cases
from lstm_top.history import History
from lstm_top.signs import MAX_CATCHUP_EPOCHS, SIGN_IDS, Diagnoser, diagnose
from lstm_top.signs.stats import (
    back_and_forth,
    mann_kendall_z,
    noise_sigma,
    theil_sen_slope,
    welch_t,
)
from lstm_top.signs.train_plateau import chance_classes

SEEDS_PER_FAMILY = 12
# Goals from the issue: F1 >= 0.95 per sign on synthetic, seed and demo runs; >= 0.9 on the real
# runs (borderline labels excused: see lstm_top/evaluation/corpus.py).
F1_GOAL = {"synthetic": 0.95, "seed": 0.95, "demo": 0.95, "real": 0.9}
# Where the objective labels overrule the eye: stagnation's warning bar for a validation set of
# unknown size is 5% (fixed on the oracle corpus without n and std: 3% raised 2 of its 74
# healthy calibration runs and 3 of 45 healthy test runs, 5% none). Three of the 34 eye-labelled
# real runs rise 3.5-4.4% and now stay info (two of them labelled BORDERLINE): F1 0.90 -> 0.80.
F1_EXCEPTIONS = {("real", "stagnating_val_loss"): 0.79}


@pytest.fixture(scope="module")
def corpora() -> dict[str, list[Case]]:
    found = {"synthetic": synthetic_cases(SEEDS_PER_FAMILY), "seed": seed_cases(),
             "demo": demo_cases(generate=False), "real": real_cases()}
    missing = [name for name, cases in found.items() if not cases]
    assert not missing, f"corpora missing from the tree: {missing}"
    return found


@pytest.fixture(scope="module")
def all_cases(corpora: dict[str, list[Case]]) -> list[Case]:
    return [case for cases in corpora.values() for case in cases]


def test_every_family_is_generated(corpora: dict[str, list[Case]]) -> None:
    assert {case.name.split("/")[0] for case in corpora["synthetic"]} == set(FAMILIES)


def test_demo_corpus_has_every_scenario_and_seed(corpora: dict[str, list[Case]]) -> None:
    names = {case.name for case in corpora["demo"]}
    assert names == {f"{scenario}_s{seed}" for scenario in
                     ("healthy", "stagnating", "oscillating", "subset-gap") for seed in range(3)}


@pytest.mark.parametrize("corpus", list(F1_GOAL))
def test_f1_per_sign(corpora: dict[str, list[Case]], corpus: str) -> None:
    result = score(corpus, corpora[corpus])
    low = {sign: (round(s.lenient()[2], 3), s.missed_cases, s.false_alarm_cases)
           for sign, s in result.signs.items()
           if (s.support or s.fp)
           and s.lenient()[2] < F1_EXCEPTIONS.get((corpus, sign), F1_GOAL[corpus])}
    assert low == {}
    if corpus == "synthetic":
        assert all(result.signs[sign].support > 0 for sign in SIGN_IDS)


@pytest.mark.parametrize("corpus", list(F1_GOAL))
def test_healthy_runs_raise_nothing(corpora: dict[str, list[Case]], corpus: str) -> None:
    result = score(corpus, corpora[corpus])
    assert result.healthy_false_alarms == []
    if corpus == "synthetic":
        assert result.healthy >= 3 * SEEDS_PER_FAMILY  # healthy, healthy_subsets, healthy_noisy


def test_seed_runs_judged_by_their_curves(corpora: dict[str, list[Case]]) -> None:
    missed = set()
    for case in corpora["seed"]:
        found = set(raised(diagnose(case.history)))
        if not case.expected - case.lenient <= found:
            missed.add(case.name)
        assert found <= case.expected | case.allowed, case.name
    # The two the noise-aware warning bar gives up: LSTMs memorising random targets, one with
    # its training loss only 5% down in 25 epochs (StagnationParams.min_train_drop), one with
    # its val loss 8% above a best 5% under its neighbours (warning_luck_share).
    assert missed == {"seed1_stagnating_rs8", "seed1_stagnating_rs11"}


def _findings_by_name(cases: list[Case], *names: str) -> dict[str, set[str]]:
    return {case.name: set(raised(diagnose(case.history))) for case in cases
            if case.name in names}


def test_oscillation_is_caught_where_the_curves_really_swing(
        corpora: dict[str, list[Case]]) -> None:
    found = _findings_by_name(corpora["seed"] + corpora["demo"] + corpora["real"],
                              "seed2_oscillating_rs2", "oscillating_s0", "oscillating_s1",
                              "oscillating_s2", "whale_call_classifier_keras",
                              "chem_regression_sparse_train_lightning")
    assert len(found) == 6
    assert {name for name, signs in found.items() if "oscillating_val_loss" not in signs} == set()


def test_noisy_but_converging_real_runs_stay_silent(corpora: dict[str, list[Case]]) -> None:
    found = _findings_by_name(corpora["real"], "streamflow_extremes_keras_lr",
                              "cnn_lstm_lipreading_pytorch", "temporal_link_prediction_gnn",
                              "regime_financial_forecast")
    assert len(found) == 4
    assert {name: signs for name, signs in found.items() if signs} == {}


def test_stagnation_steps_back_while_val_oscillates(corpora: dict[str, list[Case]]) -> None:
    found = _findings_by_name(corpora["real"] + corpora["demo"] + corpora["seed"],
                              "whale_call_classifier_keras", "oscillating_s0", "oscillating_s1",
                              "oscillating_s2", "seed2_oscillating_rs2")
    assert {name for name, signs in found.items() if "stagnating_val_loss" in signs} == set()


def _grown(history: History) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Findings of feeding the run one epoch at a time vs all at once."""
    diagnoser = Diagnoser()
    table = history.epochs
    growing = History()
    for row in range(len(table)):
        metrics = {name: float(table.column(name)[row]) for name in table.names
                   if table.present(name)[row]}
        growing.epochs.append(int(table.index[row]), None, metrics)
        diagnoser.update(growing)
    return ([f.to_dict() for f in diagnoser.findings()],
            [f.to_dict() for f in diagnose(history)])


def _causality_violations(case: Case) -> list[str]:
    problems = []
    index = list(case.history.epochs.index)
    for finding in diagnose(case.history):
        row = index.index(finding.since_epoch)
        at = {(f.id, f.since_epoch) for f in diagnose(cut_history(case.history, row + 1))}
        before = {(f.id, f.since_epoch) for f in diagnose(cut_history(case.history, row))}
        key = (finding.id, finding.since_epoch)
        if key not in at:
            problems.append(f"{case.name}: {key} missing when cut after its epoch")
        if key in before:
            problems.append(f"{case.name}: {key} present before its epoch")
    return problems


def test_causal_on_every_case(all_cases: list[Case]) -> None:
    problems = [p for case in all_cases for p in _causality_violations(case)]
    assert problems == []


def test_incremental_feeding_equals_one_shot(all_cases: list[Case]) -> None:
    for case in all_cases:
        fed, once = _grown(case.history)
        assert fed == once, case.name


def test_stagnation_fires_before_early_stopping_on_most_runs(
        corpora: dict[str, list[Case]]) -> None:
    result = score("synthetic", corpora["synthetic"]).signs["stagnating_val_loss"]
    assert result.leads
    earlier = sum(1 for lead in result.leads if lead > 0)
    assert earlier / len(result.leads) >= 0.9, result.leads


def test_finding_dict_is_stable_and_explained(corpora: dict[str, list[Case]]) -> None:
    for case in corpora["synthetic"]:
        for finding in diagnose(case.history):
            as_dict = finding.to_dict()
            assert list(as_dict) == ["id", "severity", "since_epoch", "warning_since",
                                         "until_epoch", "message",
                                     "evidence", "remedy"]
            assert as_dict["message"] and as_dict["remedy"] and as_dict["evidence"]
            assert any(ch.isdigit() for ch in as_dict["message"]), as_dict["message"]


# --- catch-up cap on huge histories -------------------------------------------------------------

def _bulk_history(epochs: int, first: int = 0, seed: int = 0) -> History:
    """A converged noisy run with a late overfitting turn in its last 300 epochs."""
    rng = np.random.default_rng(seed)
    t = np.arange(epochs, dtype=float)
    train_log = np.log(0.1 + 0.9 * np.exp(-t / 50)) + rng.normal(0, 0.01, epochs)
    val_log = np.log(0.11 + 0.9 * np.exp(-t / 50)) + rng.normal(0, 0.01, epochs)
    turn = epochs - 300
    train_log[turn:] -= 0.01 * (t[turn:] - turn)  # train keeps falling ...
    val_log[turn:] += 0.005 * (t[turn:] - turn)  # ... while val turns up
    present = np.ones(epochs, dtype=bool)
    history = History()
    history.epochs.extend(np.arange(first, first + epochs), np.full(epochs, np.nan),
                          {"loss": (np.exp(train_log), present),
                           "val_loss": (np.exp(val_log), present)})
    return history


def test_catch_up_is_capped_and_reported() -> None:
    history = _bulk_history(5_000)
    diagnoser = Diagnoser(max_catchup=1_000)
    capped = [f.to_dict() for f in diagnoser.update(history)]
    assert diagnoser.skipped_epochs == 4_000
    assert diagnoser.diagnosed_epochs == 1_000
    # Same as diagnosing only the newest 1,000 epochs, except that the run's start is unseen:
    # train_plateau (progress since the start) stays silent.
    tail = History()
    table = history.epochs
    tail.epochs.extend(table.index[4_000:].copy(), table.time[4_000:].copy(),
                       {name: (table.column(name)[4_000:].copy(),
                               table.present(name)[4_000:].copy()) for name in table.names})
    alone = [f.to_dict() for f in diagnose(tail) if f.id != "train_plateau"]
    assert capped == alone
    assert any(f["id"] == "stagnating_val_loss" for f in capped)
    assert not any(f["id"] == "train_plateau" for f in capped)
    # Later updates are incremental again: nothing more is skipped.
    history.epochs.append(5_000, None, {"loss": 0.01, "val_loss": 0.2})
    diagnoser.update(history)
    assert diagnoser.skipped_epochs == 4_000
    assert diagnoser.epochs_seen == 5_001


def test_normal_histories_are_not_capped(all_cases: list[Case]) -> None:
    assert all(len(case.history.epochs) <= MAX_CATCHUP_EPOCHS for case in all_cases)
    for case in all_cases[::7]:
        diagnoser = Diagnoser()
        diagnoser.update(case.history)
        assert diagnoser.skipped_epochs == 0


def test_first_update_of_a_million_epochs_is_quick() -> None:
    history = _bulk_history(1_000_000)
    diagnoser = Diagnoser()
    began = time.perf_counter()
    findings = diagnoser.update(history)
    elapsed = time.perf_counter() - began
    assert diagnoser.skipped_epochs == 1_000_000 - MAX_CATCHUP_EPOCHS
    assert elapsed < 15, elapsed  # ~1 s here; uncapped it was ~80 s
    assert any(f.id == "stagnating_val_loss" for f in findings)


# --- small pieces -------------------------------------------------------------------------------

def test_missing_validation_is_not_nan() -> None:
    history = History()
    for epoch in range(40):
        metrics = {"loss": 1.0 / (epoch + 1)}
        if epoch % 3 == 0:
            metrics["val_loss"] = 1.1 / (epoch + 1)
        history.epochs.append(epoch, None, metrics)
    assert [f.id for f in diagnose(history)] == []


def test_welch_t_and_trends() -> None:
    assert welch_t(1.2, 1.0, 10000, 1.0, 1.0, 10000) == pytest.approx(14.14, rel=1e-3)
    assert abs(welch_t(1.02, 1.0, 100, 1.0, 1.0, 100)) < 1
    assert theil_sen_slope([0, 1, 2, 30, 4, 5]) == pytest.approx(1.0)
    assert mann_kendall_z(list(range(10))) > 3
    assert math.isnan(noise_sigma([1.0, 2.0]))
    assert noise_sigma([float(i) for i in range(12)]) == 0.0  # a clean trend is not noise
    assert back_and_forth([5.0, 3.0, 2.0, 1.9]) == 0.0  # a descent, however steep
    assert back_and_forth([1.0, 1.3, 1.0, 1.3, 1.0]) == pytest.approx(0.3)  # up and down


def test_chance_level_is_named() -> None:
    assert chance_classes(math.log(2)) == 2
    assert chance_classes(math.log(10) * 1.001) == 10
    assert chance_classes(1.0) is None
