"""Warning signs: right on labelled cases, silent on healthy runs, causal and incremental."""

from __future__ import annotations

import math

import pytest

from lstm_top.evaluation.corpus import real_cases, seed_cases
from lstm_top.evaluation.score import raised, score
from lstm_top.evaluation.synthetic import FAMILIES, Case, cut_history, synthetic_cases
from lstm_top.history import History
from lstm_top.signs import SIGN_IDS, Diagnoser, diagnose
from lstm_top.signs.stats import mann_kendall_z, noise_sigma, theil_sen_slope, welch_t
from lstm_top.signs.train_plateau import chance_classes

SEEDS_PER_FAMILY = 12
# Goals from the issue: F1 >= 0.95 per sign on synthetic, >= 0.9 on real (borderline excused).
SYNTHETIC_F1 = 0.95
REAL_F1 = 0.9


@pytest.fixture(scope="module")
def synthetic() -> list[Case]:
    return synthetic_cases(SEEDS_PER_FAMILY)


@pytest.fixture(scope="module")
def real() -> list[Case]:
    cases = real_cases()
    if not cases:
        pytest.skip("tests/corpus/real not present")
    return cases


def test_every_family_is_generated(synthetic: list[Case]) -> None:
    assert {case.name.split("/")[0] for case in synthetic} == set(FAMILIES)


@pytest.mark.parametrize("sign", SIGN_IDS)
def test_synthetic_f1_per_sign(synthetic: list[Case], sign: str) -> None:
    result = score("synthetic", synthetic).signs[sign]
    assert result.support > 0
    assert result.lenient()[2] >= SYNTHETIC_F1, (result.missed_cases, result.false_alarm_cases)


def test_healthy_synthetic_runs_raise_nothing(synthetic: list[Case]) -> None:
    loud = {case.name: sorted(raised(diagnose(case.history)))
            for case in synthetic if not case.expected}
    assert len(loud) >= 2 * SEEDS_PER_FAMILY
    assert {name: signs for name, signs in loud.items() if signs} == {}


def test_real_runs_per_sign_and_healthy_silence(real: list[Case]) -> None:
    result = score("real", real)
    assert result.healthy_false_alarms == []
    for sign, sign_score in result.signs.items():
        if sign_score.support:
            assert sign_score.lenient()[2] >= REAL_F1, (sign, sign_score)


def test_seed_runs_judged_by_their_curves() -> None:
    cases = seed_cases()
    if not cases:
        pytest.skip("seed fixtures not generated")
    for case in cases:
        found = set(raised(diagnose(case.history)))
        assert case.expected - case.lenient <= found, case.name
        assert found <= case.expected | case.allowed, case.name


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


def _causal_sample(synthetic: list[Case]) -> list[Case]:
    return [case for case in synthetic if int(case.name.split("/")[1]) < 4]


def test_causal_on_synthetic_cases(synthetic: list[Case]) -> None:
    problems = [p for case in _causal_sample(synthetic) for p in _causality_violations(case)]
    assert problems == []


def test_causal_on_real_and_seed_cases(real: list[Case]) -> None:
    problems = [p for case in real + seed_cases() for p in _causality_violations(case)]
    assert problems == []


def test_incremental_feeding_equals_one_shot(synthetic: list[Case], real: list[Case]) -> None:
    for case in _causal_sample(synthetic) + real + seed_cases():
        fed, once = _grown(case.history)
        assert fed == once, case.name


def test_stagnation_fires_before_early_stopping_on_most_runs(synthetic: list[Case]) -> None:
    result = score("synthetic", synthetic).signs["stagnating_val_loss"]
    assert result.leads
    earlier = sum(1 for lead in result.leads if lead > 0)
    assert earlier / len(result.leads) >= 0.9, result.leads


def test_finding_dict_is_stable_and_explained(synthetic: list[Case]) -> None:
    for case in synthetic:
        for finding in diagnose(case.history):
            as_dict = finding.to_dict()
            assert list(as_dict) == ["id", "severity", "since_epoch", "until_epoch", "message",
                                     "evidence", "remedy"]
            assert as_dict["message"] and as_dict["remedy"] and as_dict["evidence"]
            assert any(ch.isdigit() for ch in as_dict["message"]), as_dict["message"]


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


def test_chance_level_is_named() -> None:
    assert chance_classes(math.log(2)) == 2
    assert chance_classes(math.log(10) * 1.001) == 10
    assert chance_classes(1.0) is None
