"""A plain PyTorch training loop logged for lstm-top: an LSTM predicting the next value of
noisy sine mixtures, with gradient clipping and two validation subsets (slow and fast series).

Watch it while it trains, in another terminal:   lstm-top runs/torch_loop.jsonl

Four lines are lstm-top's: the import, the Logger, grad_norm() before clipping, log_epoch().
"""

import argparse

import numpy as np
import torch
from torch import nn

from lstm_top import Logger
from lstm_top.torch import grad_norm, log_epoch

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="runs/torch_loop.jsonl")
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--lr", type=float, default=2e-3)
args = parser.parse_args()

STEPS = 24
rng = np.random.default_rng(0)
torch.manual_seed(0)


def sine_windows(count: int, band: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sums of two sines with frequencies (cycles/step) in band, plus noise: window -> next."""
    t = np.arange(STEPS + 1)
    freq = rng.uniform(*band, size=(count, 2, 1))
    amplitude = rng.uniform(0.4, 1.0, size=(count, 2, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(count, 2, 1))
    series = (amplitude * np.sin(2 * np.pi * freq * t + phase)).sum(axis=1)
    series += 0.1 * rng.standard_normal(series.shape)
    series = torch.tensor(series, dtype=torch.float32)
    return series[:, :STEPS, None], series[:, STEPS:]


SLOW, FAST = (0.02, 0.12), (0.12, 0.25)
x_train, y_train = (torch.cat(parts) for parts in zip(sine_windows(3000, SLOW),
                                                      sine_windows(1000, FAST), strict=True))
val = {"slow": sine_windows(500, SLOW), "fast": sine_windows(500, FAST)}


class Forecaster(nn.Module):
    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.lstm(x)
        return self.head(outputs[:, -1])


model = Forecaster()
optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
config = {"model": "LSTM(32)+Linear", "lr": args.lr, "batch": 32, "clip_norm": 1.0}

with Logger(args.out, run_name="torch: sine forecaster", config=config) as logger:
    for epoch in range(1, args.epochs + 1):
        model.train()
        losses, norms = [], []
        for batch in torch.randperm(len(x_train)).split(32):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(x_train[batch]), y_train[batch])
            loss.backward()
            norms.append(grad_norm(model))  # before clipping: the honest size
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())

        model.eval()
        subsets, all_errors = {}, []
        with torch.no_grad():
            for name, (x, y) in val.items():
                errors = ((model(x) - y) ** 2).squeeze(1)  # per-sample loss
                all_errors.append(errors)
                subsets[name] = {"val_loss": errors.mean().item(), "n": len(errors),
                                 "val_loss_std": errors.std().item()}
        val_loss = torch.cat(all_errors).mean().item()
        log_epoch(logger, epoch, optimizer=optimizer, loss=float(np.mean(losses)),
                  val_loss=val_loss, grad_norm=float(np.mean(norms)), subsets=subsets)
        print(f"epoch {epoch}: loss {np.mean(losses):.4f} val_loss {val_loss:.4f}")
        scheduler.step()
