"""Run every ``bench/bench_*.py`` and print one table: ``python -m bench [--quick] [--markdown]``.

Each benchmark module runs in its own subprocess (a crash, a hang or a leak in one cannot spoil
the others' numbers) with a timeout; a failed or missing benchmark becomes a row saying so. The
shared input files are generated once, in a temporary directory, before any timing starts.

The module contract: ``run(quick: bool = False) -> list[dict]`` returning rows
``{"name": str, "value": float, "unit": "x"|"s"|"ms"|"MB"|"%"|..., "goal": str,
"detail": str}``. A goal such as ``"<= 2"`` or ``"< 150"`` is checked against the value.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
# The order; modules not listed here run after these, alphabetically.
PREFERRED_ORDER = ("load", "memory", "tui", "signs", "logger", "latency", "demo", "hostile")
EXPECTED = ("load", "memory", "tui", "signs", "logger", "latency", "demo", "hostile")
ROWS_MARKER = "@@lstm-top-bench-rows@@"
# Benches that train real models need longer than the default timeout.
MIN_TIMEOUT_S = {"sweep": 900.0, "tui": 900.0}  # tui: four tmux runs, one of 60 s

_CHILD = """
import inspect, json, sys
module = __import__("bench.bench_" + sys.argv[1], fromlist=["run"])
quick = sys.argv[2] == "1"
accepts_quick = "quick" in inspect.signature(module.run).parameters
rows = module.run(quick=quick) if accepts_quick else module.run()
print(sys.argv[3] + json.dumps(rows, default=float))
"""

_GOAL = re.compile(r"^\s*(<=|>=|<|>|≤|≥)\s*([-+0-9.eE]+)")


@dataclass
class Row:
    bench: str
    name: str
    value: float
    unit: str
    goal: str
    detail: str
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        match = _GOAL.match(self.goal or "")
        if match is None or not isinstance(self.value, int | float) or math.isnan(self.value):
            return ""
        bound = float(match.group(2))
        met = {"<=": self.value <= bound, "≤": self.value <= bound, "<": self.value < bound,
               ">=": self.value >= bound, "≥": self.value >= bound, ">": self.value > bound}
        return "yes" if met[match.group(1)] else "NO"

    def value_text(self) -> str:
        if not isinstance(self.value, int | float) or math.isnan(self.value):
            return "—"
        magnitude = abs(self.value)
        digits = 3 if magnitude < 10 else 1 if magnitude < 1000 else 0
        return f"{self.value:.{digits}f} {self.unit}".strip()


def discover() -> list[str]:
    names = sorted(path.stem.removeprefix("bench_") for path in BENCH_DIR.glob("bench_*.py"))
    rank = {name: index for index, name in enumerate(PREFERRED_ORDER)}
    return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))


def run_one(name: str, quick: bool, timeout: float, env: dict[str, str]) -> list[Row]:
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, name, "1" if quick else "0",
                               ROWS_MARKER], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [_failure(name, f"timed out after {timeout:.0f} s", started)]
    elapsed = time.perf_counter() - started
    payload = next((line[len(ROWS_MARKER):] for line in reversed(done.stdout.splitlines())
                    if line.startswith(ROWS_MARKER)), None)
    if done.returncode != 0 or payload is None:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {done.returncode}, no rows"
        return [_failure(name, reason[:160], started)]
    try:
        raw_rows: list[dict[str, Any]] = json.loads(payload)
        if not isinstance(raw_rows, list):
            raise TypeError(f"run() returned {type(raw_rows).__name__}, not a list of rows")
        rows = [Row(name, str(raw["name"]), _number(raw.get("value")), str(raw.get("unit", "")),
                    str(raw.get("goal", "")), str(raw.get("detail", "")), elapsed)
                for raw in raw_rows]
    except (ValueError, TypeError, KeyError) as exc:
        return [_failure(name, f"rows not in the contract format ({exc})", started)]
    return rows or [_failure(name, "returned no rows", started)]


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _failure(name: str, reason: str, started: float) -> Row:
    return Row(name, "FAILED", math.nan, "", "", reason, time.perf_counter() - started)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average {os.getloadavg()[0]:.1f} at start"
    versions = []
    for module in ("numpy", "orjson", "msgspec", "polars"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            versions.append(f"{module} missing")
    return (f"{cpu}, {os.cpu_count()} cores{load}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; {', '.join(versions)}")


def table_text(rows: list[Row]) -> str:
    header = ("bench", "measurement", "value", "goal", "met", "detail")
    cells = [(row.bench, row.name, row.value_text(), row.goal, row.verdict, row.detail)
             for row in rows]
    widths = [max(len(header[i]), *(len(cell[i]) for cell in cells)) if cells
              else len(header[i]) for i in range(5)]
    lines = ["  ".join(text.ljust(widths[i]) for i, text in enumerate(header[:5])) + "  detail"]
    lines.append("  ".join("-" * width for width in widths) + "  " + "-" * 6)
    for cell in cells:
        lines.append("  ".join(text.ljust(widths[i]) for i, text in enumerate(cell[:5]))
                     + "  " + cell[5])
    return "\n".join(lines)


def table_markdown(rows: list[Row]) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| bench | measurement | value | goal | met | detail |",
             "|---|---|---:|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.bench} | {escape(row.name)} | {row.value_text()} | "
                     f"{escape(row.goal)} | {row.verdict} | {escape(row.detail)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller inputs (100k records instead of 1M): a smoke run")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table too")
    parser.add_argument("--only", default="", help="comma-separated benches, e.g. load,memory")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per bench (default 240, quick 120)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    timeout = args.timeout or (120.0 if args.quick else 240.0)
    names = discover()
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    if wanted:
        names = [name for name in names if name in wanted]
    missing = [name for name in EXPECTED if name not in names and (not wanted or name in wanted)]

    from bench import FULL_RECORDS, QUICK_RECORDS, cached_history

    described = machine()
    print(f"lstm-top benchmarks{' (--quick)' if args.quick else ''}: {described}",
          file=sys.stderr)
    workdir = tempfile.mkdtemp(prefix="lstm-top-bench-")
    # The viewers benchmarked start from the default preferences, not from whatever log scale
    # or series the machine's user last chose (~/.config/lstm-top/prefs.json).
    config = os.path.join(workdir, "config")
    env = dict(os.environ, LSTM_TOP_BENCH_DIR=workdir, PYTHONDONTWRITEBYTECODE="1",
               XDG_CONFIG_HOME=config)
    os.environ["LSTM_TOP_BENCH_DIR"] = workdir
    os.environ["XDG_CONFIG_HOME"] = config
    started = time.perf_counter()
    rows: list[Row] = []
    try:
        if any(name in ("load", "memory") for name in names):
            records = QUICK_RECORDS if args.quick else FULL_RECORDS
            generating = time.perf_counter()
            path = cached_history(records)
            print(f"  generated {path.name} ({path.stat().st_size / 1e6:.0f} MB) in "
                  f"{time.perf_counter() - generating:.1f} s", file=sys.stderr)
        for name in names:
            print(f"  running bench_{name} ...", file=sys.stderr, flush=True)
            result = run_one(name, args.quick, max(timeout, MIN_TIMEOUT_S.get(name, 0.0)), env)
            print(f"    {result[0].seconds:.1f} s", file=sys.stderr, flush=True)
            rows.extend(result)
        rows.extend(Row(name, "MISSING", math.nan, "", "", f"bench/bench_{name}.py not found")
                    for name in missing)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    total = time.perf_counter() - started
    print()
    print(f"Machine: {described}")
    print(f"Total {total:.0f} s. Ratios are measured against their baseline in the same run.")
    print()
    print(table_text(rows))
    if args.markdown:
        print()
        print(table_markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps([row.__dict__ for row in rows], indent=1,
                                              default=float), encoding="utf-8")
    return 0
