"""``lstm_top.tune.SignsStopper`` in a real local Ray Tune run (``ray.init(num_cpus=2)``): trials
of a real torch model, one healthy, one over-fitting, one with a learning rate far too high."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="ray not installed (pip install lstm-top[tune])")
tune = pytest.importorskip("ray.tune")

from lstm_top.sources.formats import read_history  # noqa: E402
from lstm_top.tune import SignsStopper  # noqa: E402
from tests.functional.ray_support import start_local_ray  # noqa: E402

pytestmark = pytest.mark.slow

EPOCHS = 30
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def train(config: dict[str, Any]) -> None:
    """A one-hidden-layer MLP on a noisy regression task; one ``tune.report`` per epoch."""
    import torch
    from ray import tune

    from tests.functional.mlp_task import mlp, regression_task, train_epoch

    torch.set_num_threads(1)
    x, y = regression_task()
    model, optimizer = mlp(16, config["lr"], config["weight_decay"])
    order = torch.Generator().manual_seed(1)
    for _ in range(EPOCHS):
        loss, val = train_epoch(model, optimizer, x, y, order)
        tune.report({"loss": loss, "val_loss": val if math.isfinite(val) else float("nan")})


@pytest.fixture(scope="module")
def ray_local() -> Any:
    # Trials run in worker processes: they import this module, so they need the project root.
    path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
    start_local_ray(runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


def test_signs_stop_the_bad_trials_and_every_trial_has_a_history(
        tmp_path: Path, ray_local: Any) -> None:
    kinds = {3e-3: "healthy", 3e-2: "over-fits", 1.0: "lr far too high"}
    stopper = SignsStopper("critical", history_dir=tmp_path / "sweep")
    tuner = tune.Tuner(
        train, param_space={"lr": tune.grid_search(list(kinds)), "weight_decay": 3e-3},
        tune_config=tune.TuneConfig(max_concurrent_trials=2),
        run_config=tune.RunConfig(storage_path=str(tmp_path / "ray"), stop=stopper,
                                  callbacks=[stopper.callback], verbose=0))
    results = tuner.fit()
    assert not results.errors
    by_kind = {kinds[r.config["lr"]]: r for r in results}
    epochs = {kind: len(r.metrics_dataframe) for kind, r in by_kind.items()}
    assert epochs["healthy"] == EPOCHS
    assert epochs["lr far too high"] <= 3 < epochs["over-fits"] < EPOCHS
    files = sorted((tmp_path / "sweep").glob("*.jsonl"))
    assert len(files) == 3
    runs = {kinds[read_history(str(f)).config["lr"]]: read_history(str(f)) for f in files}
    for kind, run in runs.items():
        assert run.epoch_count() == epochs[kind], kind
        assert run.end_status == "completed", kind
        assert run.config["framework"] == "ray-tune" and "loss" in run.epochs.names
    assert runs["healthy"].end_stopped_by is None
    assert runs["over-fits"].end_stopped_by["sign"] == "stagnating_val_loss"  # type: ignore[index]
    assert runs["lr far too high"].end_stopped_by["sign"] in ("nonfinite_loss", "diverging_loss")  # type: ignore[index]
    assert set(stopper.stopped) == {by_kind["over-fits"].metrics["trial_id"],
                                    by_kind["lr far too high"].metrics["trial_id"]}
    # The folder is what `lstm-top DIR` watches; `check` reads each file the same way.
    report = subprocess.run([sys.executable, "-m", "lstm_top", "check",
                             str(next(f for f in files if "stopped_by" in f.read_text()))],
                            capture_output=True, text=True, timeout=60)
    assert "stopped  after epoch" in report.stdout
