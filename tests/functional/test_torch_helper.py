"""A real ``nn.LSTM`` training loop with lstm_top.torch, read back from disk."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lstm_top import Logger  # noqa: E402
from lstm_top.sources.formats import read_history  # noqa: E402
from lstm_top.torch import EpochLogger, grad_norm, learning_rate, log_epoch  # noqa: E402


class TinyLstm(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(3, 8, batch_first=True)
        self.head = torch.nn.Linear(8, 1)
        self.unused = torch.nn.Linear(2, 2)  # never gets a gradient: must be skipped

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.lstm(x)
        return self.head(output[:, -1])


def _data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 10, 3, generator=generator)
    return x, x[:, :, 0].mean(dim=1, keepdim=True)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_grad_norm_equals_clip_grad_norm_total(norm_type: float) -> None:
    torch.manual_seed(0)
    model = TinyLstm()
    x, y = _data(0)
    torch.nn.functional.mse_loss(model(x) * 50, y).backward()  # large enough to be clipped
    ours = grad_norm(model, norm_type)
    params_form = grad_norm(p for p in model.parameters())
    total = torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1, norm_type=norm_type)
    assert ours == pytest.approx(float(total), rel=1e-6)
    if norm_type == 2.0:
        assert params_form == pytest.approx(ours, rel=1e-12)
    assert ours > 0.1  # it was measured before clipping, so it exceeds the clip threshold
    assert grad_norm(model, norm_type) == pytest.approx(0.1, rel=1e-4)  # after clipping


def test_grad_norm_reports_nan_and_no_grads() -> None:
    model = TinyLstm()
    assert grad_norm(model) == 0.0  # no backward yet
    x, y = _data(1)
    torch.nn.functional.mse_loss(model(x), y).backward()
    model.head.bias.grad.fill_(math.nan)
    assert math.isnan(grad_norm(model))


def test_lstm_loop_logs_lr_and_grad_norm_and_reads_back(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TinyLstm()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    x, y = _data(2)
    path = tmp_path / "torch.jsonl"
    expected: dict[str, list[float]] = {"loss": [], "lr": [], "grad_norm": []}
    with Logger(path, config={"lr": 0.01}) as logger:
        for epoch in range(1, 7):
            norms, losses = [], []
            for batch in range(0, 64, 16):
                optimizer.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x[batch:batch + 16]),
                                                    y[batch:batch + 16])
                loss.backward()
                norm = grad_norm(model)
                total = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                assert norm == pytest.approx(float(total), rel=1e-6)
                norms.append(norm)
                losses.append(loss.item())
                optimizer.step()
            lr_now = learning_rate(optimizer)
            log_epoch(logger, epoch, optimizer=optimizer, grad_norm=max(norms),
                      loss=torch.tensor(np.mean(losses)))
            expected["loss"].append(float(np.mean(losses)))
            expected["lr"].append(lr_now)
            expected["grad_norm"].append(max(norms))
            scheduler.step()
    history = read_history(path)
    assert history.end_status == "completed"
    assert list(history.epochs.index) == list(range(1, 7))
    for name, values in expected.items():
        np.testing.assert_allclose(history.epochs.column(name), values, rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(history.epochs.column("lr"), [0.01, 0.01, 0.005, 0.005, 0.0025,
                                                             0.0025])


def test_epoch_logger_measures_model_grad_and_ends_crashed(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TinyLstm()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "crash.jsonl"
    x, y = _data(3)
    with pytest.raises(RuntimeError), EpochLogger(str(path), model=model,
                                                  optimizer=optimizer) as log:
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        held = grad_norm(model)
        log(1, loss=0.5)
        log.log_step(7, epoch=1, loss=torch.tensor(0.4))
        raise RuntimeError("CUDA error: device-side assert triggered")
    history = read_history(path)
    assert history.epochs.column("grad_norm")[0] == pytest.approx(held, rel=1e-6)
    assert history.epochs.column("lr")[0] == pytest.approx(0.1)
    assert list(history.steps.index) == [7]
    assert history.end_status == "crashed" and "device-side assert" in history.end_error
