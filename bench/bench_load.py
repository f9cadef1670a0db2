"""Cold open of a large JSON Lines history, against two baselines measured in the same run.

* ours: ``read_history`` (the bulk path of ``lstm_top.sources.bulk``) plus the chart data of
  the first frame (every step metric reduced to an 80-column chart with
  ``lstm_top.reduce``); drawing the frame itself is ``bench_tui``'s measurement;
* ``polars.read_ndjson`` of the same file (``ignore_errors=True``: polars infers float columns
  and cannot otherwise read the ``"NaN"`` strings the format writes for non-finite values);
* a plain per-line ``orjson.loads`` loop into lists, then numpy columns: what one would write
  by hand;
* also the old line-by-line ``JsonlParser`` path, and ``read_tail`` (the newest 4 MB).

The file (1,000,000 records ≈ 182 MB; ``--quick``: 100,000) is generated once per run by
``bench.cached_history`` and read once untimed, so every timing reads from the page cache. Each
timing is the best of a few repeats, the repeats of the different readers interleaved so a
burst of load on a shared machine hits them alike.

Alone: ``python -m bench.bench_load [--quick]``; with all others: ``python -m bench``.
"""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from bench import FULL_RECORDS, QUICK_RECORDS, cached_history
from lstm_top.history import History
from lstm_top.sources.bulk import read_tail
from lstm_top.sources.formats import read_history
from lstm_top.sources.jsonl import JsonlParser

CHART_COLUMNS = 80
TAIL_BYTES = 4 << 20


def open_to_first_frame(path: str) -> History:
    history = read_history(path)
    _first_frame_data(history)
    return history


def _first_frame_data(history: History) -> None:
    from lstm_top.reduce import DOTS_PER_CELL, finite_points, reduce_minmax

    for table in (history.steps, history.epochs):
        for name in table.names:
            x, y = finite_points(*table.logged(name))
            reduce_minmax(x, y, CHART_COLUMNS * DOTS_PER_CELL)


def per_line_orjson(path: str) -> dict[str, dict[str, np.ndarray]]:
    """The hand-written baseline: one ``orjson.loads`` per line, lists, then numpy arrays.
    Kept plain (it assumes every record logs the same metrics) so it is not slowed by care."""
    tables: dict[str, dict[str, list[Any]]] = {"step": {}, "epoch": {}}
    with open(path, "rb") as handle:
        for line in handle:
            record = orjson.loads(line)
            columns = tables.get(record.get("kind"))
            if columns is None:
                continue
            columns.setdefault("index", []).append(record[record["kind"]])
            columns.setdefault("time", []).append(record.get("time"))
            for name, value in record["metrics"].items():
                columns.setdefault(name, []).append(float(value))  # float("NaN") reads "NaN"
    return {kind: {name: np.array(column, dtype=np.float64) for name, column in columns.items()}
            for kind, columns in tables.items()}


def polars_read(path: str) -> Any:
    import polars

    return polars.read_ndjson(path, ignore_errors=True)


def line_by_line(path: str) -> History:
    history = History(source=path)
    parser = JsonlParser(history)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            parser.feed(chunk)
    parser.finish()
    return history


def _best_times(readers: dict[str, Callable[[str], object]], path: str,
                repeats: dict[str, int]) -> dict[str, float]:
    best = {name: math.inf for name in readers}
    for round_number in range(max(repeats.values())):
        for name, reader in readers.items():
            if round_number >= repeats[name]:
                continue
            gc.collect()
            started = time.perf_counter()
            result = reader(path)
            elapsed = time.perf_counter() - started
            del result
            best[name] = min(best[name], elapsed)
    return best


def run(quick: bool = False) -> list[dict[str, object]]:
    records = QUICK_RECORDS if quick else FULL_RECORDS
    path = str(cached_history(records))
    size_mb = os.path.getsize(path) / 1e6
    with open(path, "rb") as handle:  # into the page cache: every reader then reads from RAM
        while handle.read(1 << 24):
            pass
    readers: dict[str, Callable[[str], object]] = {
        "ours": open_to_first_frame, "orjson": per_line_orjson, "polars": polars_read,
        "jsonlparser": line_by_line,
        "tail": lambda p: read_tail(p, TAIL_BYTES),
    }
    repeats = {"ours": 3, "orjson": 2, "polars": 3, "jsonlparser": 1, "tail": 3}
    try:
        import polars  # noqa: F401
    except ImportError:
        del readers["polars"]
    best = _best_times(readers, path, repeats)
    ours = best["ours"]
    label = f"{records // 1000}k" if records < 1_000_000 else f"{records // 1_000_000}M"
    rows: list[dict[str, object]] = [
        {"name": f"cold open {label} records (read + first-frame data)",
         "value": round(ours, 3), "unit": "s", "goal": "",
         "detail": f"{size_mb:.0f} MB at {size_mb / ours:.0f} MB/s; best of {repeats['ours']}"},
    ]
    if "polars" in best:
        rows.append({"name": f"cold open {label} ÷ polars.read_ndjson", "value":
                     round(ours / best["polars"], 2), "unit": "x", "goal": "<= 2",
                     "detail": f"polars {best['polars']:.3f} s (ignore_errors=True)"})
    else:
        rows.append({"name": f"cold open {label} ÷ polars.read_ndjson", "value": math.nan,
                     "unit": "x", "goal": "<= 2", "detail": "polars not installed"})
    rows += [
        {"name": f"cold open {label} ÷ per-line orjson.loads → numpy", "value":
         round(ours / best["orjson"], 2), "unit": "x", "goal": "<= 0.5",
         "detail": f"baseline {best['orjson']:.3f} s"},
        {"name": f"cold open {label} ÷ line-by-line JsonlParser", "value":
         round(ours / best["jsonlparser"], 2), "unit": "x", "goal": "",
         "detail": f"the previous read path, {best['jsonlparser']:.3f} s (one run)"},
        {"name": "read_tail, newest 4 MB", "value": round(best["tail"] * 1000, 1),
         "unit": "ms", "goal": "", "detail": "what a viewer can show before the full read"},
    ]
    return rows


if __name__ == "__main__":
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(f"{row['name']:<58} {row['value']:>9} {row['unit']:<3} goal {row['goal']:<6} "
              f"{row['detail']}")
