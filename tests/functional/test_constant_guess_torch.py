"""A real PyTorch classifier that can only learn the class frequencies (its inputs carry no
information about the labels), logged through ``EpochLogger(constant_guess=...)``: ``check``
reports the plateau at the constant guess, which the curve alone does not show."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from lstm_top import constant_guess_loss
from lstm_top.check import run_check
from lstm_top.torch import EpochLogger

pytestmark = pytest.mark.slow

FREQUENCIES = torch.tensor([0.55, 0.25, 0.15, 0.05])


def _train(path: Path, log_guess: bool) -> float:
    torch.set_num_threads(1)  # a tiny model: threads only contend
    generator = torch.Generator().manual_seed(0)
    y = torch.multinomial(FREQUENCIES, 4096, replacement=True, generator=generator)
    x = torch.randn(4096, 8, generator=generator)  # noise: nothing to learn but the frequencies
    y_val = torch.multinomial(FREQUENCIES, 500, replacement=True, generator=generator)
    x_val = torch.randn(500, 8, generator=generator)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))
    with torch.no_grad():  # a start far from the frequencies: the loss falls for a few epochs
        model[2].bias.copy_(torch.tensor([-1.0, 0.0, 0.5, 1.0]))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02)
    guess = constant_guess_loss(y, "cross_entropy")
    with EpochLogger(str(path), model=model, optimizer=optimizer,
                     constant_guess=guess if log_guess else None) as log:
        for epoch in range(1, 31):
            losses = []
            for start in range(0, 4096, 128):
                loss = torch.nn.functional.cross_entropy(model(x[start:start + 128]),
                                                         y[start:start + 128])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
            with torch.no_grad():
                val_loss = float(torch.nn.functional.cross_entropy(model(x_val), y_val))
            log(epoch, loss=sum(losses) / len(losses), val_loss=val_loss)
    return guess


def test_a_model_stuck_at_the_class_frequencies_is_a_plateau_with_the_guess_logged(
        tmp_path: Path) -> None:
    path = tmp_path / "stuck.jsonl"
    guess = _train(path, log_guess=True)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    assert all(r["metrics"]["constant_guess_loss"] == guess for r in epochs)
    # The training loss fell 44% (1.99 -> 1.11) and then sat on the guess.
    assert epochs[0]["metrics"]["loss"] > 1.5 * guess
    assert abs(epochs[-1]["metrics"]["loss"] / guess - 1) < 0.01

    out = io.StringIO()
    assert run_check(str(path), out=out, err=out) == 1
    text = out.getvalue()
    assert "[WARNING] train_plateau" in text
    assert f"constant guess ({guess:.4g}" in text
    report = io.StringIO()
    run_check(str(path), as_json=True, out=report, err=report)
    (sign,) = [s for s in json.loads(report.getvalue())["signs"] if s["id"] == "train_plateau"]
    assert sign["warning_since"] == 11 and sign["evidence"]["epochs_at_guess"] == 29

    # The same training without the guess: a 44% drop and then a flat curve, which is what a
    # converged run looks like too; nothing is raised. Logging the guess is what tells them apart.
    bare = tmp_path / "bare.jsonl"
    _train(bare, log_guess=False)
    out = io.StringIO()
    assert run_check(str(bare), out=out, err=out) == 0, out.getvalue()
