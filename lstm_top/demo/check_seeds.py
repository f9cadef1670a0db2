"""``python -m lstm_top.demo.check_seeds [--seeds 100] [--workers 2]``: does every demo show its
sign on every seed?

Runs each scenario that promises a sign (healthy, stagnating, oscillating, subset-gap) on seeds
0..N-1 at its default length, judges each history exactly as ``lstm-top check --json`` does, and
prints per scenario on how many seeds the signs raised at warning or above are exactly the
promised ones (for healthy: none at all), which seeds missed and what they showed instead, and
what a run cost in CPU seconds. Exit status 1 when a scenario falls short of ``--require``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from lstm_top.demo.blas import prefer_single_thread_before_numpy

prefer_single_thread_before_numpy()  # before the imports below load numpy

from lstm_top.check import run_check  # noqa: E402
from lstm_top.demo.runner import run_scenario  # noqa: E402
from lstm_top.demo.scenarios import SCENARIOS  # noqa: E402

WARNING_OR_ABOVE = ("warning", "critical")


@dataclass(frozen=True)
class SeedResult:
    scenario: str
    seed: int
    raised: frozenset[str]  # signs at warning or above
    info: frozenset[str]  # signs raised at info only
    cpu_seconds: float | None  # None when an earlier sweep's history was judged again

    @property
    def expected(self) -> frozenset[str]:
        return frozenset(SCENARIOS[self.scenario].expected_signs or ())

    @property
    def exact(self) -> bool:
        return self.raised == self.expected


def judge_seed(scenario: str, seed: int, folder: str, epochs: int | None = None) -> SeedResult:
    """Train one seed of one scenario and judge its file as ``lstm-top check --json`` does.

    A completed history already in ``folder`` (``--keep`` of an earlier sweep) is judged as it
    is, so an interrupted sweep can be resumed and sweeps of seed ranges combined."""
    path = os.path.join(folder, f"{scenario}_s{seed}.jsonl")
    cpu_seconds: float | None = None
    if not (epochs is None and _completed(path)):
        # The Logger appends: what an interrupted sweep left half-written would become the
        # first of two runs in one file, judged as one.
        if os.path.exists(path):
            os.remove(path)
        started = time.process_time()
        run_scenario(scenario, path, epochs=epochs, seed=seed)
        cpu_seconds = time.process_time() - started
    report = io.StringIO()
    run_check(path, as_json=True, out=report, err=sys.stderr)
    signs = json.loads(report.getvalue())["signs"]
    raised = frozenset(s["id"] for s in signs if s["severity"] in WARNING_OR_ABOVE)
    info = frozenset(s["id"] for s in signs) - raised
    return SeedResult(scenario, seed, raised, info, cpu_seconds)


def _completed(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 400))
            tail = handle.read().decode(errors="replace")
    except OSError:
        return False
    return '"kind":"end"' in tail and '"status":"completed"' in tail


def _describe_miss(result: SeedResult) -> str:
    missing = sorted(result.expected - result.raised)
    extra = sorted(result.raised - result.expected)
    parts = [f"-{sign}" for sign in missing] + [f"+{sign}" for sign in extra]
    return f"seed {result.seed}: {' '.join(parts)}"


def summary_lines(results: Sequence[SeedResult], seeds: int) -> list[str]:
    lines = []
    for name in dict.fromkeys(r.scenario for r in results):
        mine = sorted((r for r in results if r.scenario == name), key=lambda r: r.seed)
        exact = sum(r.exact for r in mine)
        expected = ", ".join(sorted(mine[0].expected)) or "nothing"
        cpu = sorted(r.cpu_seconds for r in mine if r.cpu_seconds is not None)
        cost = f"median {cpu[len(cpu) // 2]:.1f} CPU s per run" if cpu else "runs reused"
        info_extra = sum(1 for r in mine if r.exact and r.info - r.expected)
        what = ("raise nothing (warning or above)" if not mine[0].expected
                else f"show exactly {expected}")
        lines.append(f"{name:<12} {exact:3d}/{len(mine)} seeds {what}; "
                     f"{info_extra} of those with an extra info-level sign; "
                     f"{cost}")
        misses = [_describe_miss(r) for r in mine if not r.exact]
        if misses:
            lines.append("             misses: " + "; ".join(misses))
    return lines


def _print_progress(result: SeedResult) -> None:
    shown = ", ".join(sorted(result.raised)) or "nothing"
    mark = "ok  " if result.exact else "MISS"
    cost = "reused" if result.cpu_seconds is None else f"{result.cpu_seconds:.1f} CPU s"
    print(f"{mark} {result.scenario} seed {result.seed}: {shown} ({cost})", file=sys.stderr,
          flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lstm_top.demo.check_seeds",
        description="Run every demo scenario on seeds 0..N-1 and count the seeds on which "
                    "lstm-top check raises exactly the scenario's sign.")
    promised = [name for name, s in SCENARIOS.items() if s.expected_signs is not None]
    parser.add_argument("--seeds", type=int, default=100, help="seeds 0..N-1 (default 100)")
    parser.add_argument("--first-seed", type=int, default=0, help="start at this seed")
    parser.add_argument("--workers", type=int, default=2, help="parallel runs (default 2)")
    parser.add_argument("--scenario", action="append", choices=promised,
                        help="only this scenario (repeatable; default: all that promise a sign)")
    parser.add_argument("--epochs", type=int, help="override every scenario's default length")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep the histories in DIR; completed ones already there are "
                             "judged again instead of retrained (resume or combine sweeps)")
    parser.add_argument("--progress", action="store_true",
                        help="print every run's verdict to stderr as it finishes")
    parser.add_argument("--require", type=int, metavar="COUNT",
                        help="exit 1 unless every scenario is exact on at least COUNT seeds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    scenarios = args.scenario or [name for name, s in SCENARIOS.items()
                                  if s.expected_signs is not None]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lstm-top-seeds-") as scratch:
        folder = args.keep or scratch
        os.makedirs(folder, exist_ok=True)
        # Seed by seed, so that an interrupted sweep has judged every scenario on the same seeds.
        jobs = [(name, seed, folder, args.epochs) for seed in seeds for name in scenarios]
        if args.workers <= 1:
            results = []
            for job in jobs:
                results.append(judge_seed(*job))
                if args.progress:
                    _print_progress(results[-1])
        else:
            with ProcessPoolExecutor(max_workers=args.workers) as pool:
                futures = [pool.submit(judge_seed, *job) for job in jobs]
                results = []
                for future in as_completed(futures):
                    results.append(future.result())
                    if args.progress:
                        _print_progress(results[-1])
    print(f"seeds {seeds.start}-{seeds.stop - 1}, default epochs"
          if args.epochs is None else f"seeds {seeds.start}-{seeds.stop - 1}, {args.epochs} epochs")
    for line in summary_lines(results, args.seeds):
        print(line)
    print(f"({len(results)} runs in {time.monotonic() - started:.0f} s wall, "
          f"{args.workers} workers)")
    if args.require is not None:
        for name in scenarios:
            if sum(r.exact for r in results if r.scenario == name) < args.require:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
