"""Run a demo scenario and log it through the public hook, exactly as a user's script would."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from lstm_top.demo.blas import single_blas_thread
from lstm_top.demo.lstm import Adam, LstmRegressor, Optimiser, Sgd, train_epoch
from lstm_top.demo.scenarios import SCENARIOS, Dataset, Scenario
from lstm_top.format import CONSTANT_GUESS_METRIC
from lstm_top.hook import Logger, constant_guess_loss


def scenario_named(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise ValueError(f"unknown demo scenario {name!r} (known: {known})") from None


def validation_metrics(per_sample: np.ndarray, data: Dataset) -> tuple[dict[str, Any],
                                                                       dict[str, dict[str, Any]]]:
    """The epoch's val_loss with its sample count ``val_n`` and per-sample standard deviation
    ``val_loss_std`` (unless the scenario validates only per subset), and the same three for
    each subset: with them the signs know how precisely each loss is measured."""
    metrics: dict[str, Any] = {}
    if data.log_val_average:
        metrics.update(_loss_statistics(per_sample, "val_n"))
    subsets = {name: _loss_statistics(per_sample[index], "n")
               for name, index in data.val_subsets.items()}
    return metrics, subsets


def _loss_statistics(losses: np.ndarray, count_key: str) -> dict[str, Any]:
    return {"val_loss": float(losses.mean()), count_key: len(losses),
            "val_loss_std": float(losses.std(ddof=1)) if len(losses) > 1 else 0.0}


def run_scenario(name: str, out_path: str | os.PathLike[str], *, epochs: int | None = None,
                 seed: int = 0, epoch_delay: float = 0.0,
                 data_overrides: Mapping[str, Any] | None = None) -> None:
    """Train scenario ``name`` for ``epochs`` (its default if None), logging to ``out_path``.

    ``epoch_delay`` seconds of sleep after each epoch slow a run down for watching.
    ``data_overrides`` replaces entries of the scenario's data settings (smaller sets for tests).
    A KeyboardInterrupt (Ctrl-C; SIGTERM in ``python -m lstm_top.demo``) ends the run with
    status "interrupted" and propagates; any other error ends it "crashed".
    """
    scenario = scenario_named(name)
    if data_overrides:
        scenario = replace(scenario, data={**scenario.data, **data_overrides})
    epochs = scenario.default_epochs if epochs is None else epochs
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    training = scenario.training
    # The Logger writes into an existing folder only; a demo's --out runs/x.jsonl should just work.
    os.makedirs(os.path.dirname(os.fspath(out_path)) or ".", exist_ok=True)
    with Logger(out_path, run_name=f"demo:{scenario.name}",
                config=scenario.config(seed, epochs)) as log, single_blas_thread():
        data = scenario.build_data(seed)
        dtype = np.dtype(training.dtype)
        train_x, train_y = data.train_x.astype(dtype), data.train_y.astype(dtype)
        val_x = data.val_x.astype(dtype)
        model = LstmRegressor(train_x.shape[2], training.hidden, train_y.shape[1], seed=seed,
                              dtype=dtype, dropout=training.dropout)
        optimiser: Optimiser = (Sgd(model.params, lr=training.lr, momentum=training.momentum)
                                if training.optimizer == "sgd"
                                else Adam(model.params, lr=training.lr))
        # Shuffling and dropout draw from their own stream, so the data and the initial weights
        # stay the same whatever the training settings.
        rng = np.random.default_rng([seed, 2])
        # What predicting the training targets' mean would cost: train_plateau's "nothing
        # learned" level (the README's Hook section shows how a training script logs it).
        guess = {CONSTANT_GUESS_METRIC: constant_guess_loss(data.train_y, "mse")}
        for epoch in range(1, epochs + 1):
            optimiser.lr = training.lr_at(epoch, epochs)
            result = train_epoch(model, optimiser, train_x, train_y, batch_size=training.batch,
                                 rng=rng, clip_norm=training.clip_norm)
            metrics, subsets = validation_metrics(model.per_sample_loss(val_x, data.val_y), data)
            log.log_metrics({"loss": result.loss, **metrics, "lr": optimiser.lr,
                             "grad_norm": result.grad_norm, **guess},
                            epoch=epoch, subsets=subsets or None)
            if epoch_delay > 0 and epoch < epochs:
                time.sleep(epoch_delay)
