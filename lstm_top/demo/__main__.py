"""``python -m lstm_top.demo --scenario NAME --out FILE``: run one demo training as a process.

SIGTERM and SIGINT stop it cleanly: the history ends with status "interrupted".
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from lstm_top.demo.blas import prefer_single_thread_before_numpy

prefer_single_thread_before_numpy()  # before the imports below load numpy

from lstm_top.demo.runner import run_scenario  # noqa: E402
from lstm_top.demo.scenarios import SCENARIOS  # noqa: E402

EXIT_INTERRUPTED = 130  # the shell's convention for a process stopped by SIGINT
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into KeyboardInterrupt inside the block (main thread only).

    The first signal raises; later ones are ignored so that the end record is written in peace.
    Outside the main thread Python cannot install handlers, and the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        for stop_signal in STOP_SIGNALS:
            signal.signal(stop_signal, signal.SIG_IGN)
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = {stop_signal: signal.signal(stop_signal, interrupt) for stop_signal in STOP_SIGNALS}
    try:
        yield
    finally:
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstm-top demo",
        description="Train a small numpy LSTM on a scenario that shows a warning sign, logging "
                    "its history for lstm-top to watch.",
        epilog="examples:\n  lstm-top demo --list\n"
               "  lstm-top demo --scenario oscillating --out runs/osc.jsonl\n"
               "  lstm-top demo --scenario subset-gap --out runs/gap.jsonl --epoch-delay 0.5 &\n"
               "  lstm-top runs/gap.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=list(SCENARIOS), help="which training to run")
    parser.add_argument("--out", help="history file to write (JSONL)")
    parser.add_argument("--epochs", type=int, help="number of epochs (default: the scenario's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data, weights and shuffling")
    parser.add_argument("--epoch-delay", type=float, default=0.0, metavar="SECONDS",
                        help="pause after each epoch, to watch a run unfold (default: 0)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list:
        width = max(len(name) for name in SCENARIOS)
        for scenario in SCENARIOS.values():
            print(f"{scenario.name:<{width}}  {scenario.default_epochs:3d} epochs  "
                  f"{scenario.description}")
        return 0
    if not args.scenario or not args.out:
        parser.error("--scenario and --out are required (or --list)")
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be at least 1")
    try:
        with stop_signals_interrupt():
            run_scenario(args.scenario, args.out, epochs=args.epochs, seed=args.seed,
                         epoch_delay=args.epoch_delay)
    except KeyboardInterrupt:
        print(f"lstm-top demo: interrupted; {args.out} ends with status 'interrupted'",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
