"""Deterministic training histories for the app's tests and snapshots (no clock, no RNG state).

Each builder returns the JSONL text of a run; ``write_run`` puts it in a file. Times are fixed
numbers, so the elapsed time and seconds per epoch on screen never change between runs.
"""

from __future__ import annotations

import math
from pathlib import Path

from lstm_top.format import encode_end, encode_epoch, encode_header
from lstm_top.history import History
from lstm_top.signs import Diagnoser, Severity

STARTED = 1_700_000_000.0
SECONDS_PER_EPOCH = 2.5


def _epoch_time(epoch: int) -> float:
    return STARTED + SECONDS_PER_EPOCH * epoch


def healthy_epoch(epoch: int) -> dict[str, float]:
    train = 0.08 + 0.9 * math.exp(-epoch / 9)
    return {"loss": train, "val_loss": train * 1.08 + 0.01, "lr": 1e-3,
            "grad_norm": 0.4 + 0.6 * math.exp(-epoch / 12), "accuracy": 1 - train * 0.8}


def stagnating_epoch(epoch: int) -> dict[str, float]:
    train = 0.05 + 0.9 * math.exp(-epoch / 8)
    val = 0.42 + 0.5 * math.exp(-epoch / 4) + 0.003 * math.sin(epoch * 1.7)
    return {"loss": train, "val_loss": val, "lr": 1e-3}


def oscillating_epoch(epoch: int) -> dict[str, float]:
    train = 0.3 + 0.6 * math.exp(-epoch / 10) + 0.05 * math.sin(epoch * 2.1)
    val = 0.45 + 0.4 * math.exp(-epoch / 10) + 0.28 * (1 if epoch % 2 else -1) * min(1, epoch / 6)
    return {"loss": train, "val_loss": val, "lr": 0.05}


def subset_gap_epoch(epoch: int) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    train = 0.1 + 0.8 * math.exp(-epoch / 9)
    short = train * 1.05 + 0.02
    long = 0.9 - 0.1 * math.exp(-epoch / 5) + 0.02 * epoch
    metrics = {"loss": train, "val_loss": (short + long) / 2, "lr": 1e-3}
    subsets = {"short_seqs": {"n": 400, "val_loss": short, "val_loss_std": 0.05},
               "long_seqs": {"n": 100, "val_loss": long, "val_loss_std": 0.3}}
    return metrics, subsets


def run_text(kind: str, epochs: int, *, end: str | None = "completed", name: str | None = None
             ) -> str:
    lines = [encode_header(name or kind, STARTED, {"scenario": kind, "hidden": 32})]
    for epoch in range(1, epochs + 1):
        subsets = None
        if kind == "healthy":
            metrics = healthy_epoch(epoch)
        elif kind == "stagnating":
            metrics = stagnating_epoch(epoch)
        elif kind == "oscillating":
            metrics = oscillating_epoch(epoch)
        elif kind == "subset_gap":
            metrics, subsets = subset_gap_epoch(epoch)
        else:
            raise ValueError(kind)
        lines.append(encode_epoch(epoch, _epoch_time(epoch), metrics, subsets))
    if end:
        lines.append(encode_end(end, _epoch_time(epochs) + 1.0))
    return "".join(lines)


def write_run(path: Path, kind: str, epochs: int, **options: object) -> Path:
    path.write_text(run_text(kind, epochs, **options))  # type: ignore[arg-type]
    return path


def append_epochs(path: Path, kind: str, first: int, last: int) -> None:
    """Append epochs first..last the way a training script does: one flushed line each."""
    with path.open("a") as handle:
        for epoch in range(first, last + 1):
            if kind == "subset_gap":
                metrics, subsets = subset_gap_epoch(epoch)
            else:
                metrics = {"healthy": healthy_epoch, "stagnating": stagnating_epoch,
                           "oscillating": oscillating_epoch}[kind](epoch)
                subsets = None
            handle.write(encode_epoch(epoch, _epoch_time(epoch), metrics, subsets))
            handle.flush()


def first_critical_epoch(history: History) -> int | None:
    """The epoch at which a live viewer of ``history`` first shows a critical sign: its
    epochs replayed one at a time through the incremental signs, as the viewer takes them in."""
    replay, diagnoser, table = History(), Diagnoser(), history.epochs
    for row in range(len(table)):
        replay.epochs.append(int(table.index[row]), None,
                             {name: float(table.column(name)[row]) for name in table.names
                              if table.present(name)[row]})
        if any(f.active and f.severity >= Severity.CRITICAL for f in diagnoser.update(replay)):
            return int(table.index[row])
    return None
