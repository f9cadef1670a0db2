"""``lstm-top check``: the TUI's diagnosis without a screen, for scripts and CI."""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any, TextIO

import numpy as np

from lstm_top.actions import describe
from lstm_top.format import encode_number
from lstm_top.history import History, LossKeys, resolve_loss_keys
from lstm_top.sanitize import safe_text  # names come from files other people wrote
from lstm_top.signs import Diagnoser, Finding, Severity, SignParams
from lstm_top.steps import reworded

EXIT_HEALTHY = 0
EXIT_SIGNS = 1
EXIT_UNREADABLE = 2


def summarize(history: History, train_key: str | None = None,
              val_key: str | None = None) -> dict[str, Any]:
    """Run summary: epochs, best validation loss and its epoch, last value of every metric."""
    table = history.epochs
    keys = resolve_loss_keys(table.names, train_key, val_key)
    summary: dict[str, Any] = {
        "epochs": len(table),
        "first_epoch": int(table.index[0]) if len(table) else None,
        "last_epoch": int(table.index[-1]) if len(table) else None,
        "train_key": keys.train,
        "val_key": keys.val,
        "subsets": sorted(keys.subsets),
        # "step" when the rows are the evaluation points of a run logged by step
        "unit": history.index_unit,
        "status": history.end_status or ("no end record" if history.source_kind == "jsonl"
                                          else "finished file"),
        "error": history.end_error,
        # The warning sign that stopped the run in-process (stop_on=), from the end record.
        "stopped_by": history.end_stopped_by,
        "best_val_loss": None,
        "best_val_epoch": None,
        "last": {},
    }
    if keys.val:
        epochs, values = table.logged(keys.val)
        finite = np.isfinite(values)
        if finite.any():
            best = int(np.argmin(np.where(finite, values, np.inf)))
            summary["best_val_loss"] = float(values[best])
            summary["best_val_epoch"] = int(epochs[best])
    for name in table.names:
        epochs, values = table.logged(name)
        if len(values):
            summary["last"][name] = encode_number(float(values[-1]))
    summary["seconds_per_epoch"] = history.seconds_per_epoch()
    return summary


def report_dict(history: History, findings: list[Finding], train_key: str | None = None,
                val_key: str | None = None, skipped_epochs: int = 0) -> dict[str, Any]:
    summary = summarize(history, train_key, val_key)
    # Signs look at the newest epochs only when a history is huge (see signs.MAX_CATCHUP_EPOCHS).
    summary["diagnosed_epochs"] = summary["epochs"] - skipped_epochs
    return {
        "run": history.name,
        "source": history.source,
        "epochs": summary["epochs"],
        "malformed_lines": history.malformed_lines,
        "problems": [{"line": p.line, "reason": p.reason, "skipped": p.skipped}
                     for p in history.problems[:50]],
        "summary": summary,
        "signs": [_sanitize(_in_run_unit(f)) for f in findings],
    }


def _key_in(key: str, unit: str) -> str:
    """An evidence key as shown in text, in the run's unit: ``best_val_step``."""
    return reworded(key.replace("_", " "), unit).replace(" ", "_")


def _in_run_unit(finding: Finding) -> dict[str, Any]:
    """A finding as JSON, its words in the run's unit ("step 600, 28 evaluations ago" for a run
    judged by steps). Evidence keys stay as they are: they are the schema; ``summary.unit``
    says what their epoch numbers count."""
    entry = finding.to_dict()
    entry["message"] = reworded(entry["message"], finding.unit)
    entry["remedy"] = reworded(entry["remedy"], finding.unit)
    return entry


def _sanitize(value: Any) -> Any:
    if isinstance(value, float):
        return encode_number(value)
    if isinstance(value, dict):
        return {k: _sanitize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_sanitize(v) for v in value]
    if isinstance(value, np.generic):
        return _sanitize(value.item())
    return value


def format_text(report: dict[str, Any]) -> str:
    summary = report["summary"]
    lines = [f"run      {safe_text(report['run'])}  ({summary['status']})"]
    unit = summary["unit"]
    if summary["epochs"] and unit == "step":
        lines.append(f"steps    {summary['epochs']} evaluations (step {summary['first_epoch']} "
                     f".. {summary['last_epoch']}), judged by step")
    elif summary["epochs"]:
        lines.append(f"epochs   {summary['epochs']} (epoch {summary['first_epoch']} .. "
                     f"{summary['last_epoch']})")
    else:
        lines.append("epochs   0")
    if summary["best_val_loss"] is not None:
        lines.append(f"best val {summary['val_key']} = {summary['best_val_loss']:.6g} "
                     f"at {unit} {summary['best_val_epoch']}")
    last = summary["last"]
    if last:
        shown = ", ".join(f"{safe_text(k)}={v:.6g}" if isinstance(v, float) else
                          f"{safe_text(k)}={v}" for k, v in list(last.items())[:12])
        lines.append(f"last     {shown}")
    hint = LossKeys(summary.get("train_key"), summary.get("val_key"), {}).missing_hint()
    if hint and summary["epochs"]:
        lines.append(f"losses   {hint}")
    if summary["error"]:
        lines.append(f"error    {safe_text(summary['error'])}")
    if summary.get("stopped_by"):
        lines.append(f"stopped  {safe_text(describe(summary['stopped_by']))}")
    if summary["diagnosed_epochs"] < summary["epochs"]:
        lines.append(f"signs    judged on the last {summary['diagnosed_epochs']:,} of "
                     f"{summary['epochs']:,} epochs")
    if report["malformed_lines"] or report["problems"]:
        malformed = report["malformed_lines"]
        # Without malformed lines these are notes on what was read (a new run in the file,
        # values dropped), each saying what it means.
        lines.append(f"skipped  {malformed} malformed line(s)" if malformed else "notes")
        for problem in report["problems"][:5]:
            # Line 0: a problem of the file as a whole (one JSON document, a series' values).
            where = f"line {problem['line']}: " if problem["line"] > 0 else ""
            lines.append(f"         {where}{safe_text(problem['reason'])}")
    signs = report["signs"]
    lines.append("")
    if not signs:
        lines.append("no warning signs")
    for sign in signs:
        until = "now" if sign["until_epoch"] is None else f"{unit} {sign['until_epoch']}"
        lines.append(f"[{sign['severity'].upper()}] {sign['id']}: "
                     f"{safe_text(sign['message'])}")
        escalated = sign.get("warning_since")
        escalation = (f" (warning since {unit} {escalated})"
                      if escalated is not None and escalated != sign["since_epoch"] else "")
        lines.append(f"    since {unit} {sign['since_epoch']}{escalation} until {until}")
        evidence = ", ".join(f"{safe_text(_key_in(k, unit))}={safe_text(v)}"
                             for k, v in sign["evidence"].items())
        lines.append(f"    evidence: {evidence}")
        lines.append(f"    remedy:   {sign['remedy']}")
    return "\n".join(lines) + "\n"


def diagnose_file(path: str, train_key: str | None = None, val_key: str | None = None,
                  sign_params: SignParams | None = None,
                  disabled_signs: frozenset[str] = frozenset()
                  ) -> tuple[History, list[Finding], int]:
    """(judged history, findings, epochs skipped) of one run; raises SourceError. A run logged
    by step is judged by its evaluation points (``lstm_top.steps``)."""
    from lstm_top.sources.formats import read_history
    from lstm_top.steps import judged

    history = judged(read_history(path), train_key, val_key)
    diagnoser = Diagnoser(train_key, val_key, params=sign_params, disabled=disabled_signs)
    findings = diagnoser.update(history)
    return history, findings, diagnoser.skipped_epochs


def run_check(path: str, *, as_json: bool = False, train_key: str | None = None,
              val_key: str | None = None, fail_on: str = "warning",
              out: TextIO | None = None, err: TextIO | None = None,
              sign_params: SignParams | None = None,
              disabled_signs: frozenset[str] = frozenset()) -> int:
    from lstm_top.sources.formats import SourceError, classify

    out = out or sys.stdout
    err = err or sys.stderr
    if os.path.isdir(path) and classify(path) is None:
        return run_check_folder(path, as_json=as_json, train_key=train_key, val_key=val_key,
                                fail_on=fail_on, out=out, err=err, sign_params=sign_params,
                                disabled_signs=disabled_signs)
    try:
        history, findings, skipped = diagnose_file(path, train_key, val_key, sign_params,
                                                   disabled_signs)
    except SourceError as exc:
        err.write(f"lstm-top check: {safe_text(exc)}\n")
        return EXIT_UNREADABLE
    if nothing_readable(history):
        err.write(f"lstm-top check: {safe_text(path)}: no records could be read "
                  f"({history.malformed_lines} malformed line(s))\n")
        return EXIT_UNREADABLE
    report = report_dict(history, findings, train_key, val_key, skipped)
    if as_json:
        out.write(json.dumps(report, allow_nan=False) + "\n")
    else:
        out.write(format_text(report))
    threshold = Severity[fail_on.upper()]
    return EXIT_SIGNS if any(f.severity >= threshold for f in findings) else EXIT_HEALTHY


def nothing_readable(history: History) -> bool:
    """No epoch or step record at all, and either no header or lines that could not be read
    (a header and garbage is not a healthy run; a header alone is a run that just started)."""
    if len(history.epochs) or len(history.steps):
        return False
    return not history.headers_seen or history.malformed_lines > 0


def run_check_folder(folder: str, *, as_json: bool = False, train_key: str | None = None,
                     val_key: str | None = None, fail_on: str = "warning",
                     out: TextIO, err: TextIO, sign_params: SignParams | None = None,
                     disabled_signs: frozenset[str] = frozenset()) -> int:
    """``check DIR``: every run below the folder as one table row, worst first; the exit code
    is the worst of the runs' (2 when a run cannot be read)."""
    from lstm_top.sources.formats import find_runs

    runs = [(path, os.path.relpath(path, folder)) for path in find_runs(folder)]
    if not runs:
        err.write(f"lstm-top check: {safe_text(folder)}: a folder with no runs in it (history "
                  "files or run folders)\n")
        return EXIT_UNREADABLE
    return _check_table(runs, {"folder": folder}, as_json=as_json, train_key=train_key,
                        val_key=val_key, fail_on=fail_on, out=out, sign_params=sign_params,
                        disabled_signs=disabled_signs)


def run_check_runs(paths: list[str], *, as_json: bool = False, train_key: str | None = None,
                   val_key: str | None = None, fail_on: str = "warning",
                   out: TextIO | None = None, sign_params: SignParams | None = None,
                   disabled_signs: frozenset[str] = frozenset()) -> int:
    """``check A B ...``: each path's runs (a file, a run folder, or every run below a folder
    of runs) as table rows, worst first, as for one folder of runs."""
    from lstm_top.sources.formats import classify, find_runs

    found: list[str] = []
    for path in paths:
        runs_below = find_runs(path) if os.path.isdir(path) and classify(path) is None else []
        # a folder with no runs is reported unreadable, not silently dropped
        found += runs_below or [path]
    return _check_table(_named(found), {"paths": list(paths)}, as_json=as_json,
                        train_key=train_key,
                        val_key=val_key, fail_on=fail_on, out=out or sys.stdout,
                        sign_params=sign_params, disabled_signs=disabled_signs)


def _named(paths: list[str]) -> list[tuple[str, str]]:
    """Each path with the name its table row shows: relative to the folder the paths share
    (``runs/a.csv runs/b.csv`` -> ``a.csv``, ``b.csv``), else as given."""
    try:
        common = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    except ValueError:  # paths on different drives
        return [(path, path) for path in paths]
    if common == os.path.dirname(common):  # nothing shared but the root
        return [(path, path) for path in paths]
    return [(path, os.path.relpath(os.path.abspath(path), common)) for path in paths]


def _check_table(runs: list[tuple[str, str]], about: dict[str, Any], *, as_json: bool,
                 train_key: str | None, val_key: str | None, fail_on: str, out: TextIO,
                 sign_params: SignParams | None, disabled_signs: frozenset[str]) -> int:
    """(path, name) runs as one table row each, worst first; the exit code is the worst of
    the runs' (2 when a run cannot be read)."""
    from lstm_top.sources.base import display_state
    from lstm_top.sources.formats import SourceError
    from lstm_top.sweep import format_table, sort_rows, sweep_rows

    entries = []
    unreadable: list[tuple[str, str]] = []
    worst_exit = EXIT_HEALTHY
    threshold = Severity[fail_on.upper()]
    for path, name in runs:
        try:
            history, findings, _ = diagnose_file(path, train_key, val_key, sign_params,
                                                 disabled_signs)
        except SourceError as exc:
            unreadable.append((name, str(exc)))
            continue
        if nothing_readable(history):
            unreadable.append((name, "no records could be read"))
            continue
        state = "finished" if history.source_kind != "jsonl" and history.end_status is None \
            else display_state(history)
        entries.append((path, history.run_name or name, history, findings, state))
        if any(f.severity >= threshold and f.until_epoch is None for f in findings):
            worst_exit = EXIT_SIGNS
    if unreadable:
        worst_exit = max(worst_exit, EXIT_UNREADABLE)
    config_keys, rows = sweep_rows(entries)
    rows = sort_rows(rows)
    if as_json:
        report = {**about, "runs": [_sanitize(row.to_dict()) for row in rows],
                  "config_keys": config_keys,
                  "unreadable": [{"run": n, "reason": r} for n, r in unreadable]}
        out.write(json.dumps(report, allow_nan=False) + "\n")
    else:
        for line in format_table(config_keys, rows).splitlines():
            out.write(safe_text(line) + "\n")
        out.write(f"\n{len(rows)} runs")
        troubled = sum(1 for row in rows if row.severity >= int(threshold))
        out.write(f", {troubled} with active {fail_on} signs or worse" if troubled else "")
        out.write("\n")
        for name, reason in unreadable:
            out.write(f"unreadable  {safe_text(name)}: {safe_text(reason)}\n")
    return worst_exit


# ---------------------------------------------------------------------------- --follow

FOLLOW_POLL_S = 0.25


def follow_check(path: str, *, as_json: bool = False, train_key: str | None = None,
                 val_key: str | None = None, fail_on: str = "warning",
                 notify: str | None = None, poll: float = FOLLOW_POLL_S,
                 out: TextIO | None = None, err: TextIO | None = None,
                 sign_params: SignParams | None = None,
                 disabled_signs: frozenset[str] = frozenset()) -> int:
    """``lstm-top check --follow TARGET``: one line per new finding as the run writes its
    history (JSON with ``as_json``), until its end record; then the usual exit status.

    The target is followed by the viewer's own follower for its format (``open_source``), so
    every format the viewer watches works here with the same guarantees: findings so far are
    printed first; a last row still being written waits for its newline; a file truncated or
    replaced by another run starts a new run (announced, judged afresh); bad lines are
    skipped and counted (in the end line). Formats without an end record (a Keras CSV) are
    followed until interrupted (Ctrl-C: the exit status of what was seen).
    """
    import queue

    from lstm_top.notify import COMMAND_TIMEOUT_S, FindingNews, finding_event, run_command
    from lstm_top.protocol import is_socket_address
    from lstm_top.sources.base import ENDED, ERROR, SourceError, SourceUpdate
    from lstm_top.sources.formats import classify
    from lstm_top.sources.open import open_source

    out = out or sys.stdout
    err = err or sys.stderr
    remote = is_socket_address(path) or path.startswith("ssh://")
    if not remote and os.path.isdir(path) and classify(path) is None:
        err.write(f"lstm-top check: --follow takes one run (a history file or run folder), "
                  f"not a folder of runs: {safe_text(path)}\n")
        return EXIT_UNREADABLE
    if not remote and not os.path.exists(path):
        err.write(f"lstm-top check: cannot read {safe_text(path)}: no such file\n")
        return EXIT_UNREADABLE
    try:
        source = open_source(path)
    except SourceError as exc:
        err.write(f"lstm-top check: {safe_text(exc)}\n")
        return EXIT_UNREADABLE

    def new_diagnoser() -> Diagnoser:
        return Diagnoser(train_key, val_key, params=sign_params, disabled=disabled_signs)

    def emit(event: dict[str, Any], text: str) -> None:
        out.write((json.dumps(_sanitize(event), allow_nan=False) if as_json else text) + "\n")
        out.flush()

    updates: queue.Queue[SourceUpdate] = queue.Queue()
    history: History | None = None
    diagnoser = new_diagnoser()
    unit: str | None = None
    news = FindingNews(Severity.INFO)
    threshold = Severity[fail_on.upper()]
    worst: Severity | None = None
    commands: list[threading.Thread] = []
    source.start(updates.put)
    try:
        while True:
            try:
                update = updates.get(timeout=poll)
            except queue.Empty:
                continue
            batch = [update]
            while not updates.empty():  # many appends while judging: judged once
                batch.append(updates.get_nowait())
            for item in batch:
                if item.message and item.state != ERROR:
                    err.write(f"lstm-top check: {safe_text(item.message)}\n")
                if item.new_run and history is not None:
                    news = FindingNews(Severity.INFO)
                    emit({"event": "new_run", "source": path, "message": item.message},
                         f"a new run started in {safe_text(path)}")
            update = batch[-1]
            if update.state == ERROR:
                if history is None:
                    err.write(f"lstm-top check: {safe_text(update.message or path)}\n")
                    return EXIT_UNREADABLE
                err.write(f"lstm-top check: {safe_text(update.message or 'read error')}\n")
                continue
            if update.history is not history:  # a new run, or the same one read afresh
                history, diagnoser, unit = update.history, new_diagnoser(), None
            view = _frozen_view(history)
            if view.index_unit != unit:  # a run turning out to be logged by step
                diagnoser, unit = new_diagnoser(), view.index_unit
            findings = diagnoser.update(view)
            for finding in news.news(view.name, findings):
                event = finding_event(view.name, path, finding)
                event["epoch"] = view.last_epoch()
                emit(event, _finding_line(event, view.index_unit))
                if notify:
                    commands.append(run_command(notify, event))
            for finding in findings:
                worst = finding.severity if worst is None else max(worst, finding.severity)
            if update.state == ENDED and view.end_status is not None:
                end = {"event": "end", "run": view.name, "source": path,
                       "status": view.end_status, "epochs": len(view.epochs),
                       "error": view.end_error, "stopped_by": view.end_stopped_by,
                       "malformed_lines": view.malformed_lines}
                text = f"run {safe_text(view.name)} ended: {view.end_status}"
                if view.end_stopped_by:
                    text += f", stopped {safe_text(describe(view.end_stopped_by))}"
                if view.malformed_lines:
                    text += f" ({view.malformed_lines} malformed line(s) skipped)"
                emit(end, text)
                break
    except KeyboardInterrupt:
        pass
    finally:
        source.stop()
        for command in commands:  # let the last notifications go out before exiting
            command.join(timeout=COMMAND_TIMEOUT_S)
    return EXIT_SIGNS if worst is not None and worst >= threshold else EXIT_HEALTHY


def _frozen_view(history: History) -> History:
    """What the signs judge, taken under the reader's lock in microseconds: a copy of the
    run's tables as they are now (a run logged by step: its evaluation points)."""
    from lstm_top.steps import judged

    return judged(history.frozen())


def _finding_line(event: dict[str, Any], unit: str = "epoch") -> str:
    return (f"{unit} {event.get('epoch')}  [{str(event['severity']).upper()}] {event['id']}: "
            f"{safe_text(reworded(str(event['message']), unit))}")
