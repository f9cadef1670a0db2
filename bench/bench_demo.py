"""Benchmark: one training epoch of the founding note's model, numpy demo LSTM vs PyTorch.

The shape of the note's examples (and of the ``seed-1`` demo scenario): 1000 sequences of 20
steps x 10 features, LSTM(64), Dense(1), MSE, batch 32, Adam 1e-3, float32 on both sides.
numpy runs as the demo runs it (OpenBLAS on one thread), PyTorch as it comes (its default
intra-op threads, ``torch.nn.LSTM``). Epochs alternate between the two so both see the same
machine load; the ratio is of the fastest epoch of each.

    python bench/bench_demo.py        # prints the ratio; goal: numpy at most 3x PyTorch
    python -m bench                   # every benchmark, this one included
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

SAMPLES, STEPS, FEATURES, HIDDEN, BATCH, LR = 1000, 20, 10, 64, 32, 1e-3
GOAL = 3.0
REPEATS = 5


def _numpy_epoch_runner(x: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    from lstm_top.demo.lstm import Adam, LstmRegressor, train_epoch

    model = LstmRegressor(FEATURES, HIDDEN, 1, seed=0, dtype=np.float32)
    optimiser = Adam(model.params, lr=LR)
    rng = np.random.default_rng(0)

    def epoch() -> float:
        return train_epoch(model, optimiser, x, y, batch_size=BATCH, rng=rng).loss

    return epoch


def _torch_epoch_runner(x: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    import torch

    torch.manual_seed(0)

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(FEATURES, HIDDEN, batch_first=True)
            self.head = torch.nn.Linear(HIDDEN, 1)

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            outputs, _ = self.lstm(inputs)
            return self.head(outputs[:, -1])

    model = Model()
    optimiser = torch.optim.Adam(model.parameters(), lr=LR)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)

    def epoch() -> float:
        total = 0.0
        for index in torch.randperm(SAMPLES).split(BATCH):
            optimiser.zero_grad()
            loss = torch.nn.functional.mse_loss(model(inputs[index]), targets[index])
            loss.backward()
            optimiser.step()
            total += loss.item()
        return total

    return epoch


def _timed(epoch: Callable[[], float]) -> float:
    start = time.perf_counter()
    epoch()
    return time.perf_counter() - start


def measure(repeats: int = REPEATS) -> dict[str, Any]:
    """Time ``repeats`` interleaved epochs of each (after one warm-up epoch each)."""
    import torch

    from lstm_top.demo.blas import single_blas_thread

    rng = np.random.default_rng(0)
    x = rng.random((SAMPLES, STEPS, FEATURES), dtype=np.float32)
    y = rng.random((SAMPLES, 1), dtype=np.float32)
    numpy_epoch = _numpy_epoch_runner(x, y)
    torch_epoch = _torch_epoch_runner(x, y)
    numpy_times: list[float] = []
    torch_times: list[float] = []
    with single_blas_thread():
        numpy_epoch()
        torch_epoch()
        for _ in range(repeats):
            numpy_times.append(_timed(numpy_epoch))
            torch_times.append(_timed(torch_epoch))
    return {
        "ratio": min(numpy_times) / min(torch_times),
        "numpy_epoch_s": min(numpy_times),
        "torch_epoch_s": min(torch_times),
        "numpy_epoch_s_median": float(np.median(numpy_times)),
        "torch_epoch_s_median": float(np.median(torch_times)),
        "torch_threads": torch.get_num_threads(),
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    """One row in the bench runner's contract (see bench/run.py)."""
    result = measure(repeats=2 if quick else REPEATS)
    detail = (f"numpy {result['numpy_epoch_s'] * 1e3:.0f} ms / torch "
              f"{result['torch_epoch_s'] * 1e3:.0f} ms per epoch, fastest of "
              f"{2 if quick else REPEATS}; {SAMPLES}x{STEPS}x{FEATURES}, LSTM({HIDDEN}), "
              f"Dense(1), batch {BATCH}, float32; torch threads {result['torch_threads']}")
    return [{"name": "demo LSTM epoch: numpy / PyTorch CPU", "value": result["ratio"],
             "unit": "x", "goal": f"<= {GOAL:g}", "detail": detail, **result}]


def main() -> int:
    (row,) = run()
    print(f"{row['name']}: {row['value']:.2f}x (goal {row['goal']}): {row['detail']}")
    return 0 if row["value"] <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
