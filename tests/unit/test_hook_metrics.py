"""The adapters' shared rules (lstm_top/hook/metrics.py) on real framework values, and
Logger.log_metrics with metric names the keyword form cannot take."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_top import Logger
from lstm_top.hook.metrics import (
    clean_config,
    learning_rate,
    learning_rates,
    numbers,
    to_float,
    try_set,
)


@pytest.mark.parametrize(("value", "expected"), [
    (0.5, 0.5), (3, 3.0), (np.float32(0.25), 0.25), (np.array([2.0]), 2.0),
    (torch.tensor(1.5), 1.5), (torch.tensor([0.75], requires_grad=True), 0.75),
    (np.int64(7), 7.0),
])
def test_scalars_of_every_kind_become_floats(value: object, expected: float) -> None:
    result = to_float(value)
    assert type(result) is float and result == expected


@pytest.mark.parametrize("value", [None, True, False, "0.5", b"1", [1.0], {"a": 1},
                                   np.zeros(3), torch.zeros(2), object()])
def test_what_is_not_one_number_is_not_a_metric(value: object) -> None:
    assert to_float(value) is None


def test_non_finite_values_are_kept() -> None:
    assert math.isnan(to_float(torch.tensor(float("nan"))))  # type: ignore[arg-type]
    assert to_float(np.float64("inf")) == math.inf


def test_numbers_keeps_only_scalars_under_string_names() -> None:
    assert numbers({"loss": torch.tensor(0.5), 3: 1, "name": "x", "vec": np.ones(2),
                    "flag": True}) == {"loss": 0.5, "3": 1.0}
    assert numbers(None) == {}


def test_learning_rate_of_torch_optimizers_with_a_scheduler() -> None:
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD([{"params": [model.weight]},
                                 {"params": [model.bias], "lr": 0.5}], lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    optimizer.step()
    scheduler.step()
    assert learning_rate(optimizer) == pytest.approx(0.05)
    other = torch.optim.Adam(model.parameters(), lr=torch.tensor(0.01))
    assert learning_rates([optimizer, other]) == pytest.approx(
        {"lr": 0.05, "lr_pg1": 0.25, "lr_opt1": 0.01})
    assert learning_rate(None) is None and learning_rate(object()) is None


def test_try_set_and_clean_config_leave_out_what_cannot_be_known() -> None:
    config: dict[str, object] = {}
    try_set(config, "params", lambda: 10)
    try_set(config, "broken", lambda: 1 / 0)
    try_set(config, "nan", lambda: math.nan)
    try_set(config, "none", lambda: None)
    assert config == {"params": 10}
    assert clean_config({"a": 1, "b": None, "c": 2}, {"c": 3, "d": None}) == {"a": 1, "c": 3}


def test_log_metrics_takes_names_that_clash_with_keywords(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with Logger(path) as logger:
        logger.log_metrics({"epoch": 0.5, "step": 3.0, "subsets": 1.0, "class": 2.0,
                            "loss": 0.9}, epoch=1)
        logger.log_metrics({"step": 1.0}, epoch=1, step=10, subsets={"long": {"loss": 0.8}})
        logger.log_metrics({"loss": 0.7})  # no epoch: the next one
        logger.log(loss=0.6)  # the keyword form still works
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[1]["epoch"] == 1 and records[1]["metrics"] == {
        "epoch": 0.5, "step": 3.0, "subsets": 1.0, "class": 2.0, "loss": 0.9}
    assert records[2]["step"] == 10 and records[2]["metrics"] == {"step": 1.0,
                                                                  "loss[long]": 0.8}
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [1, 2, 3]
