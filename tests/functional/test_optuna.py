"""``lstm_top.optuna.SignsPruner`` in a real Optuna study on sqlite storage, with trials of a
real torch model: a healthy one, one that over-fits, one whose learning rate is far too high."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

optuna = pytest.importorskip("optuna", reason="optuna not installed (pip install lstm-top[optuna])")

from lstm_top.optuna import STOPPED_BY_ATTR, SignsPruner, report  # noqa: E402
from lstm_top.sources.formats import read_history  # noqa: E402
from tests.functional.mlp_task import mlp, regression_task, train_epoch  # noqa: E402

pytestmark = pytest.mark.slow

EPOCHS = 30
# (width, lr, weight decay) of a one-hidden-layer MLP trained with SGD + momentum 0.9.
TRIALS = {"healthy": (16, 3e-3, 3e-3), "over-fits": (16, 3e-2, 0.0),
          "lr far too high": (16, 1.0, 0.0)}


def _objective(trial: Any) -> float:
    x, y = regression_task()
    model, optimizer = mlp(trial.suggest_int("width", 8, 64),
                           trial.suggest_float("lr", 1e-4, 10, log=True),
                           trial.suggest_float("weight_decay", 0.0, 0.1))
    order = torch.Generator().manual_seed(1)
    best = math.inf
    for epoch in range(1, EPOCHS + 1):
        loss, val = train_epoch(model, optimizer, x, y, order)
        best = min(best, val) if math.isfinite(val) else best
        report(trial, epoch, val, loss=loss)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return best


def _study(tmp_path: Path, pruner: Any, name: str) -> Any:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=f"sqlite:///{tmp_path / 'sweep.db'}",
                                pruner=pruner)
    for width, lr, weight_decay in TRIALS.values():
        study.enqueue_trial({"width": width, "lr": lr, "weight_decay": weight_decay})
    return study


def test_signs_pruner_prunes_the_bad_trials_and_says_why(tmp_path: Path) -> None:
    pruner = SignsPruner("critical", wrapped=None, history_dir=tmp_path / "trials")
    study = _study(tmp_path, pruner, "signs")
    study.optimize(_objective, n_trials=len(TRIALS), callbacks=[pruner])
    # Read back from the database, as another worker or optuna-dashboard would.
    stored = optuna.load_study(study_name="signs", storage=f"sqlite:///{tmp_path / 'sweep.db'}")
    healthy, overfits, too_high = stored.trials
    assert healthy.state == optuna.trial.TrialState.COMPLETE
    assert len(healthy.intermediate_values) == EPOCHS
    assert STOPPED_BY_ATTR not in healthy.user_attrs
    assert overfits.state == too_high.state == optuna.trial.TrialState.PRUNED
    assert overfits.user_attrs[STOPPED_BY_ATTR]["sign"] == "stagnating_val_loss"
    assert too_high.user_attrs[STOPPED_BY_ATTR]["sign"] in ("nonfinite_loss", "diverging_loss")
    assert len(too_high.intermediate_values) <= 3 < len(overfits.intermediate_values) < EPOCHS
    # Each trial's history, in lstm-top's format, for `lstm-top DIR`.
    files = sorted((tmp_path / "trials").glob("trial-*.jsonl"))
    assert [f.name for f in files] == ["trial-0000.jsonl", "trial-0001.jsonl",
                                       "trial-0002.jsonl"]
    runs = [read_history(str(f)) for f in files]
    assert [r.epoch_count() for r in runs] == [len(t.intermediate_values) for t in stored.trials]
    assert runs[0].end_status == "completed" and runs[0].end_stopped_by is None
    assert runs[1].end_stopped_by == overfits.user_attrs[STOPPED_BY_ATTR]
    assert runs[1].config["lr"] == 3e-2 and "loss" in runs[1].epochs.names


def test_a_wrapped_pruner_is_asked_too(tmp_path: Path) -> None:
    # Only nonfinite_loss is asked of the signs; the wrapped threshold pruner prunes any trial
    # whose val loss is still above 0.35 after 10 epochs (the slow healthy one: ~0.4).
    pruner = SignsPruner({"nonfinite_loss"},
                         wrapped=optuna.pruners.ThresholdPruner(upper=0.35, n_warmup_steps=10))
    study = _study(tmp_path, pruner, "wrapped")
    study.optimize(_objective, n_trials=len(TRIALS))
    healthy, overfits, too_high = study.trials
    assert too_high.state == optuna.trial.TrialState.PRUNED
    assert too_high.user_attrs[STOPPED_BY_ATTR]["sign"] == "nonfinite_loss"
    # The others are left to the threshold (over-fitting is not a sign asked for): pruned
    # without a reason, at the first epoch from the 10th (the warm-up) with val loss above 0.35.
    assert healthy.state == optuna.trial.TrialState.PRUNED
    for trial in (healthy, overfits):
        assert STOPPED_BY_ATTR not in trial.user_attrs
        values = trial.intermediate_values
        if trial.state == optuna.trial.TrialState.PRUNED:
            assert values[max(values)] > 0.35 and max(values) >= 10


def test_by_default_the_median_rule_is_asked_too(tmp_path: Path) -> None:
    # SignsPruner() = critical signs or MedianPruner(n_startup_trials=5, n_warmup_steps=5):
    # after five completed trials, a slow trial (lr 1e-4: val loss still near its start) is
    # pruned by the median at step 5 (no sign says anything about it), and a trial whose
    # loss blows up is pruned by its sign before the median's warm-up ends.
    pruner = SignsPruner()
    study = optuna.create_study(study_name="default", direction="minimize",
                                storage=f"sqlite:///{tmp_path / 'sweep.db'}", pruner=pruner)
    for _ in range(5):
        study.enqueue_trial({"width": 16, "lr": 3e-3, "weight_decay": 3e-3})
    study.enqueue_trial({"width": 16, "lr": 1e-4, "weight_decay": 0.0})
    study.enqueue_trial({"width": 16, "lr": 1.0, "weight_decay": 0.0})
    study.optimize(_objective, n_trials=7)
    *healthy, slow, too_high = study.trials
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in healthy)
    assert slow.state == optuna.trial.TrialState.PRUNED
    assert max(slow.intermediate_values) == 5 and STOPPED_BY_ATTR not in slow.user_attrs
    assert too_high.state == optuna.trial.TrialState.PRUNED
    assert too_high.user_attrs[STOPPED_BY_ATTR]["severity"] == "critical"
    assert max(too_high.intermediate_values) < 5
    # The signs alone, and a wrong name for the default.
    assert SignsPruner(wrapped=None).wrapped is None
    with pytest.raises(ValueError, match="wrapped"):
        SignsPruner(wrapped="mediam")  # type: ignore[arg-type]


def test_a_typo_in_stop_on_fails_at_once() -> None:
    with pytest.raises(ValueError, match="unknown sign or severity"):
        SignsPruner("critcal")
