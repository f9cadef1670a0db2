"""Latency from ``Logger.log()`` returning to the record being in the viewer's History.

Three ways in, measured in the same run: a file followed with inotify events, the same file
with the poll alone (events lost: what a network file system gives), and the socket stream.
Also what serving costs training: ``log()`` time with no server, with a server, and with a
viewer that never reads.

Run alone: ``python bench/bench_latency.py`` (or ``python -m bench.bench_latency``).
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lstm_top.hook.logger import Logger
from lstm_top.sources.base import LiveSource, SourceUpdate
from lstm_top.sources.follow import FileFollower
from lstm_top.sources.socket_client import SocketSource

APPENDS = 1000
POLL_ONLY_APPENDS = 12
GAP_S = 0.001  # between appends, so each one is measured on its own, not as a batch
TIMEOUT_S = 5.0
LOG_CALLS = 3000


class _Arrivals:
    """Wakes the measuring thread whenever the source reports an update."""

    def __init__(self) -> None:
        self.condition = threading.Condition()

    def __call__(self, update: SourceUpdate) -> None:
        with self.condition:
            self.condition.notify_all()

    def wait_for_epochs(self, source: LiveSource, count: int) -> bool:
        with self.condition:
            return self.condition.wait_for(lambda: len(source.history.epochs) >= count,
                                           TIMEOUT_S)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _latencies(logger: Logger, source: LiveSource, arrivals: _Arrivals, count: int,
               gap: float | None = GAP_S) -> list[float]:
    """``gap=None``: a random pause of up to a second, so appends do not fall in step with a
    once-a-second poll (which would measure the phase, not the poll)."""
    pause = random.Random(0)
    latencies = []
    for n in range(1, count + 1):
        started = time.perf_counter()
        logger.log(epoch=n, loss=1.0 / n, val_loss=1.2 / n)
        if not arrivals.wait_for_epochs(source, n):
            raise RuntimeError(f"record {n} did not arrive within {TIMEOUT_S} s")
        latencies.append(time.perf_counter() - started)
        time.sleep(pause.uniform(0.0, 1.0) if gap is None else gap)
    return latencies


def _measure_file(directory: str, use_events: bool, count: int) -> list[float]:
    path = os.path.join(directory, f"file-{use_events}.jsonl")
    logger = Logger(path)
    source = FileFollower(path, use_events=use_events)
    arrivals = _Arrivals()
    source.start(arrivals)
    try:
        time.sleep(0.2)  # the follower has opened the file and set up its watch
        gap = GAP_S if use_events else None
        return _latencies(logger, source, arrivals, count, gap)
    finally:
        source.stop()
        logger.close()


def _measure_socket(directory: str, count: int) -> list[float]:
    address = f"unix:{directory}/bench.sock"
    logger = Logger(os.path.join(directory, "socket.jsonl"), serve=address)
    source = SocketSource(address)
    arrivals = _Arrivals()
    source.start(arrivals)
    try:
        with arrivals.condition:
            arrivals.condition.wait_for(lambda: source.history.headers_seen > 0, TIMEOUT_S)
        return _latencies(logger, source, arrivals, count)
    finally:
        source.stop()
        logger.close()


def _median_log_us(logger: Logger, count: int) -> float:
    metrics = {f"metric_{i}": 0.1 * i for i in range(20)}
    durations = []
    for n in range(1, count + 1):
        started = time.perf_counter()
        logger.log(epoch=n, **metrics)
        durations.append(time.perf_counter() - started)
    return statistics.median(durations) * 1e6


def _log_costs(directory: str) -> tuple[float, float, float]:
    plain = Logger(os.path.join(directory, "plain.jsonl"))
    alone = _median_log_us(plain, LOG_CALLS)
    plain.close()
    address_path = os.path.join(directory, "cost.sock")
    served = Logger(os.path.join(directory, "served.jsonl"), serve=f"unix:{address_path}")
    serving = _median_log_us(served, LOG_CALLS)
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.connect(address_path)  # connects, never reads
    try:
        time.sleep(0.05)
        with_stuck = _median_log_us(served, LOG_CALLS)
    finally:
        served.close()
        stuck.close()
    return alone, serving, with_stuck


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def run() -> list[dict]:
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="ltb-") as directory:
        inotify = _measure_file(directory, True, APPENDS)
        rows += [
            {"name": "file (inotify): append -> history, median", "value": _ms(
                statistics.median(inotify)), "unit": "ms", "goal": "<= 100",
             "detail": f"{APPENDS} appends by Logger.log, FileFollower with watchdog events"},
            {"name": "file (inotify): append -> history, p99",
             "value": _ms(_percentile(inotify, 0.99)), "unit": "ms", "goal": "",
             "detail": f"{APPENDS} appends"},
        ]
        polled = _measure_file(directory, False, POLL_ONLY_APPENDS)
        rows.append({"name": "file (poll only): append -> history, median",
                     "value": _ms(statistics.median(polled)), "unit": "ms",
                     "goal": "<= 1000 (poll: 1 s)",
                     "detail": f"{POLL_ONLY_APPENDS} appends, events off: the safety net alone"})
        streamed = _measure_socket(directory, APPENDS)
        rows += [
            {"name": "socket: append -> history, median",
             "value": _ms(statistics.median(streamed)), "unit": "ms", "goal": "<= 10",
             "detail": f"{APPENDS} appends, Logger(serve=unix:...) -> SocketSource"},
            {"name": "socket: append -> history, p99",
             "value": _ms(_percentile(streamed, 0.99)), "unit": "ms", "goal": "",
             "detail": f"{APPENDS} appends"},
        ]
        alone, serving, with_stuck = _log_costs(directory)
        rows += [
            {"name": "log() cost of serving (ratio to no server)",
             "value": round(serving / alone, 2), "unit": "x", "goal": "<= 2",
             "detail": f"median log(): {alone:.1f} µs without, {serving:.1f} µs serving"},
            {"name": "log() with a viewer that never reads (ratio to no server)",
             "value": round(with_stuck / alone, 2), "unit": "x", "goal": "<= 2",
             "detail": f"median log(): {with_stuck:.1f} µs; {LOG_CALLS} records of ~500 B"},
        ]
    return rows


def _print(rows: list[dict]) -> None:
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        print(f"{row['name']:<{width}}  {row['value']:>10} {row['unit']:<3} "
              f"goal {row['goal'] or '-':<24} {row['detail']}")


if __name__ == "__main__":
    _print(run())
