"""Command line: ``lstm-top [FILE|DIR|unix:SOCK ...]``, ``lstm-top check``, ``lstm-top demo``."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import NoReturn

from lstm_top import __version__

TUI_EPILOG = """examples:
  lstm-top run.jsonl               follow a training history live
  lstm-top runs/                   every history file in a folder, new ones as they appear
  lstm-top a.jsonl b.csv           several runs; switch between them, compare val loss
  lstm-top unix:/tmp/run.sock      connect to a training process serving its history
  lstm-top                         no argument: pick a demo training and watch it
  lstm-top check run.jsonl --json  the same diagnosis without a screen (exit 1 on warnings)
  lstm-top demo --scenario oscillating --out runs/osc.jsonl
"""


def _add_key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train-key", help="column holding the training loss "
                                            "(default: loss, train_loss, train/loss, ...)")
    parser.add_argument("--val-key", help="column holding the validation loss "
                                          "(default: val_loss, valid_loss, val/loss, ...)")
    parser.add_argument("--sign", action="append", default=[], metavar="SIGN.OPTION=VALUE",
                        help="override a warning sign's threshold, e.g. "
                             "stagnating_val_loss.patience=5 or train_plateau.enabled=false "
                             "(repeatable; options in docs/SIGNS.md)")
    parser.add_argument("--signs-config", metavar="FILE",
                        help='JSON file of sign options: {"SIGN": {"OPTION": VALUE}}')


def sign_settings(options: argparse.Namespace) -> tuple[dict, frozenset[str]]:
    """The signs' parameters and disabled signs from --signs-config and --sign (which wins)."""
    from pathlib import Path

    from lstm_top.signs.options import build_sign_params, load_sign_config, parse_sign_options

    overrides: dict = {}
    if options.signs_config:
        overrides = load_sign_config(Path(options.signs_config))
    for sign, changes in parse_sign_options(options.sign).items():
        overrides.setdefault(sign, {}).update(changes)
    return build_sign_params(overrides)


def _check_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstm-top check",
        description="Diagnose a training history without a screen. Exit status: 0 no warning "
                    "sign, 1 warning signs present, 2 the input could not be read.",
        epilog="examples:\n  lstm-top check run.jsonl\n  lstm-top check training.csv --json | jq "
               ".signs\n  lstm-top check metrics.csv --val-key valid/loss --fail-on critical\n"
               "  lstm-top check ray_results/my_sweep/\n"
               "  lstm-top check runs/*.csv          several runs: one table row each\n"
               "  lstm-top check --follow run.jsonl --json    one line per new finding, for "
               "job logs",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="path",
                        help="a history file or run folder in any format lstm-top watches "
                             "(README, Watch); a folder of runs (a sweep), or several paths, "
                             "give one table row per run, worst first")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--fail-on", choices=("info", "warning", "critical"), default="warning",
                        help="lowest severity that makes the exit status 1 (default: warning)")
    parser.add_argument("--follow", action="store_true",
                        help="follow the run as it grows (any format the viewer follows): "
                             "print each new finding as one line (JSON with --json) as it "
                             "appears; exit when the run writes its end record (Ctrl-C for "
                             "formats that have none)")
    _add_notify_option(parser)
    _add_key_options(parser)
    return parser


def _add_notify_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--notify", metavar="CMD",
                        help="run CMD (through the shell) for every new warning, the finding "
                             "as JSON on its stdin, e.g. --notify 'notify-send lstm-top "
                             "\"$(jq -r .message)\"'")


def _tui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstm-top",
        description="htop for neural-network training: loss curves and warning signs, live.",
        epilog=TUI_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*",
                        help="history files, folders of them, or unix:/path.sock / tcp://host:port")
    parser.add_argument("--demo", metavar="SCENARIO",
                        help="start a demo training and watch it (healthy, stagnating, "
                             "oscillating, subset-gap, ...)")
    parser.add_argument("--runs-dir", default=None,
                        help="where demo runs are written (default: ./runs)")
    parser.add_argument("--web", action="store_true",
                        help="serve the viewer to a browser instead (loopback only by default; "
                             "needs lstm-top[web])")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address for --web (default 127.0.0.1; anything else is reachable "
                             "from the network)")
    parser.add_argument("--port", type=int, default=8000, help="port for --web (default 8000)")
    parser.add_argument("--reset-prefs", action="store_true",
                        help="forget the saved viewer settings (log scale, smoothing, window)")
    parser.add_argument("--no-bell", action="store_true",
                        help="do not ring the terminal bell nor set the window title when a "
                             "new warning appears")
    _add_notify_option(parser)
    parser.add_argument("--version", action="version", version=f"lstm-top {__version__}")
    _add_key_options(parser)
    return parser


# At exit, threads still running (a settings file being written) get this long to finish.
EXIT_JOIN_S = 0.5
# The viewer's GIL switch interval (Python's default: 5 ms).
UI_SWITCH_INTERVAL_S = 0.001


def entry() -> NoReturn:
    """The command's entry point (``lstm-top``, ``python -m lstm_top``): ``main``, then a
    prompt exit. Everything is written and closed by then, yet tearing down the interpreter
    (collecting numpy's, Textual's and the signs' modules) takes 0.2-0.5 s more on a busy
    machine: a viewer told to quit, or a check in a CI step, does not wait for it. Output is
    flushed; ``demo`` (training in this process, whose Logger may finish at exit) exits the
    ordinary way."""
    code = main()
    if sys.argv[1:2] == ["demo"]:
        sys.exit(code)
    deadline = time.monotonic() + EXIT_JOIN_S
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe: nothing more can be said
    os._exit(code)


def _load_numpy() -> None:
    """numpy, loaded with OpenBLAS on one thread. The viewer multiplies no large matrices:
    OpenBLAS's thread pool would only cost its start-up (50-90 ms of CPU per launch measured
    on a shared 2-core machine) and, beside the training, threads that busy-wait for work."""
    from lstm_top.demo.blas import single_thread_while_numpy_loads

    with single_thread_while_numpy_loads():
        import numpy  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C is a request, not a crash: no traceback
        sys.stderr.write("lstm-top: interrupted\n")
        return 130


def _main(argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "check":
        options = _check_parser().parse_args(args[1:])
        _load_numpy()
        from lstm_top.check import EXIT_UNREADABLE, follow_check, run_check, run_check_runs
        from lstm_top.signs.options import SignOptionError

        try:
            params, disabled = sign_settings(options)
        except SignOptionError as exc:
            print(f"lstm-top check: {exc}", file=sys.stderr)
            return EXIT_UNREADABLE
        if options.follow and len(options.paths) > 1:
            print("lstm-top check: --follow follows one run; give one path", file=sys.stderr)
            return EXIT_UNREADABLE
        if len(options.paths) > 1:
            return run_check_runs(options.paths, as_json=options.json,
                                  train_key=options.train_key, val_key=options.val_key,
                                  fail_on=options.fail_on, sign_params=params,
                                  disabled_signs=disabled)
        if options.follow:
            return follow_check(options.paths[0], as_json=options.json, fail_on=options.fail_on,
                                train_key=options.train_key, val_key=options.val_key,
                                notify=options.notify, sign_params=params,
                                disabled_signs=disabled)
        return run_check(options.paths[0], as_json=options.json, train_key=options.train_key,
                         val_key=options.val_key, fail_on=options.fail_on,
                         sign_params=params, disabled_signs=disabled)
    if args and args[0] == "demo":
        from lstm_top.demo.__main__ import main as demo_main

        return demo_main(args[1:])
    options = _tui_parser().parse_args(args)
    if options.reset_prefs:
        from lstm_top.prefs import prefs_path, reset_prefs

        print(f"{'removed' if reset_prefs() else 'nothing saved at'} {prefs_path()}")
        return 0
    if options.web:
        from lstm_top.web import serve_web

        extra = [*(["--train-key", options.train_key] if options.train_key else []),
                 *[item for option in options.sign for item in ("--sign", option)],
                 *(["--signs-config", options.signs_config] if options.signs_config else []),
                 *(["--val-key", options.val_key] if options.val_key else [])]
        return serve_web(options.targets, host=options.host, port=options.port, extra_args=extra)
    _load_numpy()
    # The readers and the signs are pure Python in threads: at the default 5 ms switch
    # interval each of the UI thread's many GIL hand-backs per key press waits that long
    # behind them (a `q` took 0.6 s to be seen while a big file was read and judged).
    sys.setswitchinterval(UI_SWITCH_INTERVAL_S)

    sign_params: dict | None = None
    disabled_signs: frozenset[str] = frozenset()
    if options.sign or options.signs_config:  # the signs load only when asked (launch time)
        from lstm_top.signs.options import SignOptionError

        try:
            sign_params, disabled_signs = sign_settings(options)
        except SignOptionError as exc:
            print(f"lstm-top: {exc}", file=sys.stderr)
            return 2
    first_paint = sweep_paint = None
    if not options.demo and len(options.targets) == 1 and os.path.isdir(options.targets[0]):
        # A sweep's table on the terminal now, while Textual loads.
        from lstm_top.ui.sweep_paint import paint_sweep_first

        sweep_paint = paint_sweep_first(options.targets, options.train_key, options.val_key)
    elif not options.demo:  # the chart on the terminal now, while Textual loads
        from lstm_top.ui.first_paint import paint_first

        first_paint = paint_first(options.targets, options.train_key, options.val_key)
    try:
        from lstm_top.ui.app import run_app

        return run_app(options.targets, demo=options.demo, runs_dir=options.runs_dir,
                       train_key=options.train_key, val_key=options.val_key,
                       notify=options.notify, bell=not options.no_bell,
                       sign_params=sign_params, disabled_signs=disabled_signs,
                       first_paint=first_paint, sweep_paint=sweep_paint)
    finally:
        for painted in (first_paint, sweep_paint):
            if painted is not None:
                painted.release()  # Textual never took the terminal over: as it was


if __name__ == "__main__":
    entry()
