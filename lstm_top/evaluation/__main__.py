"""``python -m lstm_top.evaluation [--seeds N] [--no-demo] [-v]``: the warning-signs scorecard."""

from __future__ import annotations

import argparse

from lstm_top.evaluation.corpus import demo_cases, real_cases, seed_cases
from lstm_top.evaluation.score import format_table, score
from lstm_top.evaluation.synthetic import synthetic_cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lstm_top.evaluation")
    parser.add_argument("--seeds", type=int, default=40, help="synthetic runs per family")
    parser.add_argument("--no-demo", action="store_true", help="skip demo runs")
    parser.add_argument("-v", "--verbose", action="store_true", help="name missed/false cases")
    args = parser.parse_args(argv)
    corpora = {"synthetic": synthetic_cases(args.seeds), "seed": seed_cases(),
               "demo": [] if args.no_demo else demo_cases(), "real": real_cases()}
    scores = [score(name, cases) for name, cases in corpora.items() if cases]
    print(format_table(scores, args.verbose))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
