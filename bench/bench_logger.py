"""Cost of ``Logger.log()`` with 6 metrics, per call, against the least a script could do.

The baseline is what a training script would write by hand: ``json.dumps`` of the same dict,
``write`` and ``flush`` to a file opened for append — one write syscall per record, like the
Logger. Both run in the same process, interleaved over several rounds against files in the
same temporary folder; the median of the per-round time ratios is reported. Goal: <= 1.5x.

Run alone: ``python bench/bench_logger.py``.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lstm_top import Logger

GOAL_RATIO = 1.5
CALLS_PER_ROUND = 20_000
QUICK_CALLS_PER_ROUND = 4_000
ROUNDS = 9


def _metrics(i: int) -> dict[str, float]:
    """Six metrics as a training loop has them: full-precision floats that change each call."""
    return {"loss": 1.0 / (i + 1), "val_loss": 1.1 / (i + 1), "acc": 0.5 + i * 1e-6,
            "lr": 0.001, "grad_norm": 0.75 + (i % 97) * 1e-3, "tokens_s": 12_000.5 + i}


def _time_logger(path: Path, calls: int) -> float:
    logger = Logger(path, run_name="bench")
    started = time.perf_counter()
    for i in range(calls):
        metrics = _metrics(i)
        logger.log(epoch=i + 1, **metrics)
    elapsed = time.perf_counter() - started
    logger.close()
    return elapsed


def _time_baseline(path: Path, calls: int) -> float:
    with open(path, "a", encoding="utf-8") as handle:
        started = time.perf_counter()
        for i in range(calls):
            record = {"epoch": i + 1, **_metrics(i)}
            handle.write(json.dumps(record) + "\n")
            handle.flush()
        return time.perf_counter() - started


def measure(calls: int = CALLS_PER_ROUND, rounds: int = ROUNDS) -> dict[str, float]:
    """Median seconds per call of both writers, measured alternately in the same folder, and
    the median per-round ratio logger / baseline."""
    timings: dict[str, list[float]] = {"logger": [], "baseline": []}
    runners: dict[str, Callable[[Path, int], float]] = {"logger": _time_logger,
                                                        "baseline": _time_baseline}
    with tempfile.TemporaryDirectory(prefix="lstm-top-bench-logger-") as folder:
        for round_number in range(rounds):
            # Alternate which goes first so neither always gets the warmer cache.
            order = ("logger", "baseline") if round_number % 2 == 0 else ("baseline", "logger")
            for name in order:
                path = Path(folder) / f"{name}-{round_number}.jsonl"
                timings[name].append(runners[name](path, calls) / calls)
                os.unlink(path)
    result = {name: statistics.median(values) for name, values in timings.items()}
    # Each round's two runs are seconds apart, so their ratio cancels most of the load other
    # processes put on a shared machine; the median of those ratios is the reported figure.
    result["ratio"] = statistics.median(
        logger / baseline for logger, baseline in zip(timings["logger"], timings["baseline"],
                                                      strict=True))
    return result


def run(quick: bool = False) -> list[dict[str, object]]:
    calls = QUICK_CALLS_PER_ROUND if quick else CALLS_PER_ROUND
    result = measure(calls)
    ratio = result["ratio"]
    detail = (f"median of per-round ratios, {ROUNDS} rounds x {calls} calls, same folder, "
              "same process")
    return [
        {"name": "Logger.log, 6 metrics", "value": round(result["logger"] * 1e6, 2),
         "unit": "us", "goal": "", "detail": "per call: encode + one os.write, O_APPEND"},
        {"name": "json.dumps + write + flush, same dict", "value":
            round(result["baseline"] * 1e6, 2), "unit": "us", "goal": "",
         "detail": "per call: the hand-written baseline"},
        {"name": "Logger.log / bare json+write+flush", "value": round(ratio, 3), "unit": "x",
         "goal": f"<= {GOAL_RATIO}", "detail": detail},
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<40} {row['value']:>9} {row['unit']:<3} goal {row['goal']:<7} "
              f"{row['detail']}")
