"""Benchmarks of lstm-top: ``python -m bench`` runs every ``bench/bench_*.py`` and prints one table.

Each ``bench_<x>.py`` exposes ``run(quick: bool = False) -> list[dict]`` returning rows
``{"name", "value", "unit", "goal", "detail"}`` (see ``bench/run.py``). This package also holds
the input generator the load and memory benchmarks share: a large history written fast but byte
for byte as ``lstm_top.Logger`` writes it.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import numpy as np

from lstm_top.format import encode_end, encode_header

FULL_RECORDS = 1_000_000
QUICK_RECORDS = 100_000
STEPS_PER_EPOCH = 999  # with one epoch record after each: 1000 data records per epoch
STEP_METRICS = ("loss", "acc", "lr", "grad_norm", "tokens_s", "mem_gb")
START_TIME = 1_732_000_000.0


def _nonfinite_text(value: float) -> str:
    if math.isnan(value):
        return '"NaN"'
    return '"Infinity"' if value > 0 else '"-Infinity"'


def _texts(values: np.ndarray) -> list[str]:
    """JSON numbers as ``json.dumps`` writes them (``float.__repr__``), non-finite as strings."""
    texts = list(map(repr, values.tolist()))
    for position in np.flatnonzero(~np.isfinite(values)).tolist():
        texts[position] = _nonfinite_text(float(values[position]))
    return texts


def step_columns(count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Plausible step metrics: a decaying noisy loss (full float precision, as ``tensor.item()``
    gives), the rest rounded the way training scripts usually log them; a few NaN/Infinity."""
    rng = np.random.default_rng(seed)
    steps = np.arange(1, count + 1)
    loss = 2.0 * np.exp(-steps / max(count / 3, 1)) + 0.05 * rng.random(count) + 0.1
    columns = {
        "loss": loss,
        # k / 10**d of an exact integer is the double round(x, d) returns: short repr text.
        "acc": np.round(rng.random(count) * 10_000) / 10_000,
        "lr": np.round(1e8 * 1e-3 * (0.5 + 0.5 * np.cos(np.pi * steps / count))) / 1e8,
        "grad_norm": np.round(rng.gamma(2.0, 0.5, count) * 10_000) / 10_000,
        "tokens_s": np.round(rng.normal(12_000, 300, count) * 10) / 10,
        "mem_gb": np.round(rng.normal(3.2, 0.01, count) * 100) / 100,
    }
    if count >= 10:
        spots = rng.choice(count, size=min(5, count // 2), replace=False)
        columns["loss"][spots[:-1]] = np.nan  # diverged steps, written as "NaN"
        columns["grad_norm"][spots[-1]] = np.inf  # an overflowing gradient, "Infinity"
    return columns


def history_blocks(records: int, seed: int = 0) -> Iterator[list[str]]:
    """``records`` data lines (steps, and an epoch record after every STEPS_PER_EPOCH steps),
    plus a header and an end record: the text ``Logger`` writes for such a run, one epoch's
    lines at a time."""
    epochs = records // (STEPS_PER_EPOCH + 1)
    steps = records - epochs
    columns = step_columns(steps, seed)
    texts = [_texts(columns[name]) for name in STEP_METRICS]
    # Millisecond times as exact integer / 1000: the double round(time, 3) gives back.
    times = list(map(repr, ((START_TIME * 1000 + np.arange(steps) * 137) / 1000).tolist()))
    yield [encode_header("bench", START_TIME, {"lr": 0.001, "hidden": 64})]
    names = STEP_METRICS
    step_format = ('{{"kind":"step","step":{step},"time":{time},"metrics":{{"' + names[0]
                   + '":{0},"' + names[1] + '":{1},"' + names[2] + '":{2},"' + names[3]
                   + '":{3},"' + names[4] + '":{4},"' + names[5] + '":{5}}},"epoch":{epoch}}}\n')
    rng = np.random.default_rng(seed + 1)
    epoch_values = np.round(rng.random((epochs + 1, 4)) * 1e6) / 1e6
    row = 0
    for epoch in range(1, epochs + 2):
        end = min(row + STEPS_PER_EPOCH, steps) if epoch <= epochs else steps
        rows = zip(*(text[row:end] for text in texts), strict=True)
        lines = [step_format.format(*values, step=i + 1, time=times[i], epoch=epoch)
                 for i, values in zip(range(row, end), rows, strict=True)]
        row = end
        if epoch <= epochs:
            loss, val_loss, long_loss, short_loss = epoch_values[epoch - 1].tolist()
            lines.append(
                f'{{"kind":"epoch","epoch":{epoch},"time":{times[end - 1]},"metrics":'
                f'{{"loss":{loss!r},"val_loss":{val_loss!r}}},"subsets":'
                f'{{"long":{{"n":200,"val_loss":{long_loss!r}}},'
                f'"short":{{"n":800,"val_loss":{short_loss!r}}}}}}}\n')
        yield lines
    yield [encode_end("completed", START_TIME + steps * 0.137 + 1.0)]


def history_lines(records: int, seed: int = 0) -> list[str]:
    return list(chain.from_iterable(history_blocks(records, seed)))


def write_history(path: str | os.PathLike[str], records: int, seed: int = 0) -> int:
    """Write the history file; return its size in bytes."""
    with open(path, "w", encoding="utf-8") as handle:
        for block in history_blocks(records, seed):
            handle.write("".join(block))
    return os.path.getsize(path)


def cached_history(records: int) -> Path:
    """The generated file for ``records``, written once per benchmark run (shared by benches
    in separate processes through ``LSTM_TOP_BENCH_DIR``, else a fresh temp dir)."""
    folder = Path(os.environ.get("LSTM_TOP_BENCH_DIR") or tempfile.mkdtemp(prefix="lstm-top-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"history-{records}.jsonl"
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        write_history(partial, records)
        partial.replace(path)
    return path
