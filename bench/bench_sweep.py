"""A hyper-parameter sweep with and without pruning: epochs trained and the best model found.

The same 21 trials of a small real model (a torch MLP on a noisy regression task, 100
training samples) run five times through Optuna:

* no pruning — every trial trains its full 60 epochs;
* Optuna's ``MedianPruner`` (5 startup trials, 5 warm-up epochs);
* lstm-top's ``SignsPruner()`` as it comes (``lstm_top.optuna``): a critical warning sign
  (the strictest trigger) or that same ``MedianPruner`` prunes;
* ``SignsPruner("critical", wrapped=None)`` — the signs alone, critical only;
* ``SignsPruner("warning", wrapped=None)`` — the signs alone, any warning sign.

The trials: small models at sensible learning rates (most of them over-fit mildly after 10-30
epochs: the 100 samples are noisy), wide/deep models that over-fit sooner, and learning rates
far too high for SGD with momentum (0.3-3: the loss blows up). The studies use Optuna's
in-memory storage: on this machine a sqlite commit costs ~100 ms, which would time the disk,
not the pruners (tests/functional/test_optuna.py runs a real study on sqlite).
Every epoch reports the validation loss (and, with ``lstm_top.optuna.report``, the training
loss). "Best val loss found" is the lowest validation loss any trial reached at any epoch it
trained — the checkpoint a sweep that keeps each trial's best epoch ends with (what
``restore_best`` does), pruned trials included; "same best" means the same trial and value as
the unpruned sweep, and also the trial Optuna itself calls best (``study.best_trial``, which
counts completed trials only: a pruner that prunes the best trial after its best epoch loses it
there). Goals (issue 14): >= 30 % fewer epochs than no pruning with the same best
trial, and fewer epochs than MedianPruner at an equal best.
Alone: ``python -m bench.bench_sweep`` (about 2 minutes on 2 cores).
"""

from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import torch

EPOCHS = 60
QUICK_EPOCHS = 40
TRAIN, VALIDATION = 100, 300
BATCH = 20

# (width, depth, learning rate, weight decay); SGD with momentum 0.9 throughout.
SMALL = [(16, 1, 3e-3, 0.0), (16, 1, 3e-3, 3e-3), (16, 1, 1e-2, 0.0), (16, 1, 1e-2, 3e-3),
           (16, 1, 3e-2, 0.0), (16, 1, 3e-2, 3e-3), (64, 2, 1e-2, 1e-3), (64, 2, 3e-3, 0.0),
           (32, 1, 1e-2, 0.0), (16, 2, 1e-3, 0.0), (32, 2, 3e-2, 3e-3)]
WIDE = [(512, 3, 3e-3, 0.0), (512, 3, 1e-2, 0.0), (512, 3, 3e-2, 0.0),
               (256, 2, 1e-2, 0.0), (256, 2, 3e-2, 0.0)]
LR_FAR_TOO_HIGH = [(16, 1, 0.3, 0.0), (16, 1, 1.0, 0.0), (16, 1, 3.0, 0.0),
                   (256, 2, 0.3, 0.0), (256, 2, 1.0, 0.0)]


def trials() -> list[dict[str, Any]]:
    """The sweep's trials in one fixed, shuffled order (the same for every pruner)."""
    configs = [(*c, "small") for c in SMALL] + [(*c, "wide/deep") for c in WIDE] \
        + [(*c, "lr far too high") for c in LR_FAR_TOO_HIGH]
    random.Random(3).shuffle(configs)
    return [{"width": w, "depth": d, "lr": lr, "weight_decay": wd, "kind": kind}
            for w, d, lr, wd, kind in configs]


def _data() -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(TRAIN + VALIDATION, 20, generator=generator)
    w = torch.randn(20, 1, generator=generator)
    y = torch.tanh(x @ w / 4.5) * 2 + 0.3 * torch.randn(len(x), 1, generator=generator)
    return x[:TRAIN], y[:TRAIN], x[TRAIN:], y[TRAIN:]


class Trainer:
    """One trial's model, trained an epoch at a time; deterministic for its parameters."""

    def __init__(self, params: dict[str, Any], data: tuple[torch.Tensor, ...]) -> None:
        torch.manual_seed(0)
        self.x, self.y, self.x_val, self.y_val = data
        layers: list[torch.nn.Module] = []
        width_in = self.x.shape[1]
        for _ in range(params["depth"]):
            layers += [torch.nn.Linear(width_in, params["width"]), torch.nn.ReLU()]
            width_in = params["width"]
        self.model = torch.nn.Sequential(*layers, torch.nn.Linear(width_in, 1))
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=params["lr"],
                                         momentum=0.9, weight_decay=params["weight_decay"])
        self.order = torch.Generator().manual_seed(1)

    def epoch(self) -> tuple[float, float]:
        permutation = torch.randperm(len(self.x), generator=self.order)
        for start in range(0, len(self.x), BATCH):
            index = permutation[start:start + BATCH]
            self.optimizer.zero_grad()
            torch.nn.functional.mse_loss(self.model(self.x[index]), self.y[index]).backward()
            self.optimizer.step()
        with torch.no_grad():
            loss = float(torch.nn.functional.mse_loss(self.model(self.x), self.y))
            val = float(torch.nn.functional.mse_loss(self.model(self.x_val), self.y_val))
        return loss, val


@dataclass
class Arm:
    name: str
    epochs: int = 0
    seconds: float = 0.0
    best_val: float = math.inf
    best_trial: int | None = None
    optuna_best_trial: int | None = None  # study.best_trial: completed trials only
    optuna_best_value: float = math.inf
    pruned: int = 0
    pruned_kinds: dict[str, int] = field(default_factory=dict)


def sweep(name: str, pruner: Any, data: tuple[torch.Tensor, ...], epochs: int) -> Arm:
    import optuna

    from lstm_top.optuna import report

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    arm = Arm(name)
    study = optuna.create_study(study_name=name, direction="minimize",
                                pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0))
    plan = trials()
    for params in plan:
        study.enqueue_trial({k: v for k, v in params.items() if k != "kind"})

    def objective(trial: optuna.Trial) -> float:
        params = {"width": trial.suggest_int("width", 8, 512),
                  "depth": trial.suggest_int("depth", 1, 3),
                  "lr": trial.suggest_float("lr", 1e-4, 10.0, log=True),
                  "weight_decay": trial.suggest_float("weight_decay", 0.0, 0.1)}
        trainer = Trainer(params, data)
        best = math.inf
        for epoch in range(1, epochs + 1):
            loss, val = trainer.epoch()
            arm.epochs += 1
            if math.isfinite(val) and val < best:
                best = val
                if best < arm.best_val:
                    arm.best_val, arm.best_trial = best, trial.number
            report(trial, epoch, val, loss=loss)
            if trial.should_prune():
                arm.pruned += 1
                kind = plan[trial.number]["kind"]
                arm.pruned_kinds[kind] = arm.pruned_kinds.get(kind, 0) + 1
                raise optuna.TrialPruned()
        return best

    began = time.perf_counter()
    study.optimize(objective, n_trials=len(plan))
    arm.seconds = time.perf_counter() - began
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if completed:
        arm.optuna_best_trial = study.best_trial.number
        arm.optuna_best_value = float(study.best_trial.value)
    return arm


def measure(epochs: int = EPOCHS) -> list[Arm]:
    import optuna

    from lstm_top.optuna import SignsPruner

    torch.set_num_threads(1)
    data = _data()
    return [
        sweep("no pruning", optuna.pruners.NopPruner(), data, epochs),
        sweep("MedianPruner", optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5),
              data, epochs),
        sweep("SignsPruner() default", SignsPruner(), data, epochs),
        sweep("SignsPruner critical alone", SignsPruner("critical", wrapped=None), data, epochs),
        sweep("SignsPruner warning alone", SignsPruner("warning", wrapped=None), data, epochs),
    ]


def _same_best(arm: Arm, baseline: Arm) -> bool:
    """The same best epoch found, and Optuna names the same best trial."""
    return (arm.best_trial == baseline.best_trial
            and math.isclose(arm.best_val, baseline.best_val)
            and arm.optuna_best_trial == baseline.optuna_best_trial)


def run(quick: bool = False) -> list[dict[str, object]]:
    epochs = QUICK_EPOCHS if quick else EPOCHS
    arms = measure(epochs)
    none, median = arms[0], arms[1]
    rows: list[dict[str, object]] = []
    for arm in arms:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(arm.pruned_kinds.items())) or "none"
        same = ", same as no pruning" if _same_best(arm, none) else ""
        rows.append({
            "name": f"sweep {arm.name}: epochs trained", "value": arm.epochs, "unit": "epochs",
            "goal": "",
            "detail": f"{len(trials())} trials x up to {epochs}; best val {arm.best_val:.4f} "
                      f"(trial {arm.best_trial}{same}); Optuna's best_trial "
                      f"{arm.optuna_best_trial} ({arm.optuna_best_value:.4f}); "
                      f"pruned {arm.pruned} ({kinds}); {arm.seconds:.0f} s"})
    for arm in arms[2:]:
        saved = 100 * (1 - arm.epochs / none.epochs)
        rows.append({"name": f"sweep {arm.name}: fewer epochs than no pruning",
                     "value": round(saved, 1), "unit": "%", "goal": ">= 30",
                     "detail": f"{arm.epochs} vs {none.epochs} epochs; same best trial: "
                               f"{_same_best(arm, none)}"})
        rows.append({"name": f"sweep {arm.name}: same best as no pruning (1 = yes)",
                     "value": int(_same_best(arm, none)), "unit": "", "goal": ">= 1",
                     "detail": f"best epoch found: trial {arm.best_trial} "
                               f"({arm.best_val:.4f}) vs {none.best_trial} "
                               f"({none.best_val:.4f}); Optuna's best_trial "
                               f"{arm.optuna_best_trial} vs {none.optuna_best_trial}"})
        rows.append({"name": f"sweep {arm.name} / MedianPruner epochs",
                     "value": round(arm.epochs / median.epochs, 3), "unit": "x", "goal": "< 1",
                     "detail": f"{arm.epochs} vs {median.epochs} epochs; best val "
                               f"{arm.best_val:.4f} vs {median.best_val:.4f}, Optuna's best "
                               f"trial {arm.optuna_best_trial} vs {median.optuna_best_trial} "
                               f"(equal: {_same_best(arm, median)})"})
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(f"{row['name']:<50} {row['value']:>10} {row['unit']:<6} goal {row['goal']:<6} "
              f"{row['detail']}")
