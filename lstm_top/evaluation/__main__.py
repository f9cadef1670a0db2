"""``python -m lstm_top.evaluation``: the warning-signs scorecard, per corpus and sign.

Run from a clone of the repository (the corpora are found from the working folder). The oracle
corpus is generated once by ``python -m lstm_top.evaluation.generate`` (cached outside the
package); without it, the committed sample in tests/corpus/oracle is scored.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lstm_top.evaluation.corpus import (
    ROOT,
    demo_cases,
    labelled_parts,
    real_cases,
    seed_cases,
)
from lstm_top.evaluation.generate import DEFAULT_OUT
from lstm_top.evaluation.oracle import NONE, SUBSETS, oracle_cases
from lstm_top.evaluation.power import format_power, subset_gap_power
from lstm_top.evaluation.score import format_table, score
from lstm_top.evaluation.synthetic import synthetic_cases
from lstm_top.signs.options import SignOptionError, build_sign_params, parse_sign_options

ORACLE_SAMPLE = ROOT / "tests" / "corpus" / "oracle"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lstm_top.evaluation")
    parser.add_argument("--seeds", type=int, default=40, help="synthetic runs per family")
    parser.add_argument("--no-demo", action="store_true", help="skip demo runs")
    parser.add_argument("--oracle", type=Path, default=None,
                        help=f"oracle corpus folder (default {DEFAULT_OUT}, else the committed "
                             "sample tests/corpus/oracle)")
    parser.add_argument("--labelled", type=Path, action="append", default=[],
                        help="also score a folder of histories labelled by eye (LABELS.csv as "
                             "in tests/corpus/real; halves by repository with a sources.tsv)")
    parser.add_argument("-v", "--verbose", action="store_true", help="name missed/false cases")
    parser.add_argument("--sign", action="append", default=[], metavar="SIGN.OPTION=VALUE",
                        help="score with a threshold changed, as `lstm-top check --sign`")
    args = parser.parse_args(argv)
    try:
        params, _ = build_sign_params(parse_sign_options(args.sign))
    except SignOptionError as exc:
        parser.error(str(exc))
    oracle = args.oracle or (DEFAULT_OUT if any(DEFAULT_OUT.glob("*.oracle.json"))
                             else ORACLE_SAMPLE)
    corpora = {"synthetic": synthetic_cases(args.seeds), "seed": seed_cases(),
               "demo": [] if args.no_demo else demo_cases(), "real": real_cases(),
               "oracle-cal": oracle_cases(oracle, "calibration"),
               "oracle-test": oracle_cases(oracle, "test"),
               # the same runs without n and std, as other tools' files come
               "oracle-cal-bare": oracle_cases(oracle, "calibration", noise_logged=NONE),
               "oracle-test-bare": oracle_cases(oracle, "test", noise_logged=NONE),
               # only the subsets' n and std logged (Logger.log(subsets=...) alone)
               "oracle-cal-subsets": oracle_cases(oracle, "calibration", noise_logged=SUBSETS),
               "oracle-test-subsets": oracle_cases(oracle, "test", noise_logged=SUBSETS),
               # task families added after the thresholds were fixed (generate --families)
               "oracle-held-out": oracle_cases(oracle, "held-out"),
               "oracle-held-out-bare": oracle_cases(oracle, "held-out", noise_logged=NONE)}
    for folder in args.labelled:
        corpora.update(labelled_parts(folder))
    print(f"oracle corpus: {oracle}")
    if args.sign:
        print("options: " + " ".join(args.sign))
    scores = {name: score(name, cases, params) for name, cases in corpora.items() if cases}
    print(format_table(list(scores.values()), args.verbose))
    # Why subset_gap's recall is what it is: how many labelled gaps the small validation
    # subsets could show at all (see power.py).
    for part, corpus in (("calibration", "oracle-cal"), ("test", "oracle-test")):
        if corpus not in scores:
            continue
        found = scores[corpus].signs["subset_gap"].found_cases
        powers = subset_gap_power(oracle, part, corpora[corpus], found)
        if powers:
            print(format_power(corpus, powers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
