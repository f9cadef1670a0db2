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
from lstm_top.history import History, resolve_loss_keys
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
    if summary["error"]:
        lines.append(f"error    {safe_text(summary['error'])}")
    if summary.get("stopped_by"):
        lines.append(f"stopped  {safe_text(describe(summary['stopped_by']))}")
    if summary["diagnosed_epochs"] < summary["epochs"]:
        lines.append(f"signs    judged on the last {summary['diagnosed_epochs']:,} of "
                     f"{summary['epochs']:,} epochs")
    if report["malformed_lines"] or report["problems"]:
        lines.append(f"skipped  {report['malformed_lines']} malformed line(s)")
        for problem in report["problems"][:5]:
            lines.append(f"         line {problem['line']}: {safe_text(problem['reason'])}")
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
    from lstm_top.sources.base import display_state
    from lstm_top.sources.formats import SourceError, find_runs
    from lstm_top.sweep import format_table, sort_rows, sweep_rows

    entries = []
    unreadable: list[tuple[str, str]] = []
    worst_exit = EXIT_HEALTHY
    threshold = Severity[fail_on.upper()]
    for path in find_runs(folder):
        name = os.path.relpath(path, folder)
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
    if not entries and not unreadable:
        err.write(f"lstm-top check: {safe_text(folder)}: a folder with no runs in it (history "
                  "files or run folders)\n")
        return EXIT_UNREADABLE
    config_keys, rows = sweep_rows(entries)
    rows = sort_rows(rows)
    if as_json:
        import json

        report = {"folder": folder, "runs": [_sanitize(row.to_dict()) for row in rows],
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
    """``lstm-top check --follow FILE``: one line per new finding as the run writes its
    history (JSON with ``as_json``), until the end record; then the usual exit status.

    The file is read from its start (findings so far first), then followed; a file that
    shrinks (rewritten) is read again from its start. Only JSON Lines histories grow: other
    formats are judged once, as plain ``check`` does.
    """
    import time

    from lstm_top.format import EndRecord, RecordError, decode_line
    from lstm_top.notify import COMMAND_TIMEOUT_S, FindingNews, finding_event, run_command

    out = out or sys.stdout
    err = err or sys.stderr
    if path.lower().endswith((".csv", ".json")) and not path.lower().endswith(".jsonl"):
        return run_check(path, as_json=as_json, train_key=train_key, val_key=val_key,
                         fail_on=fail_on, out=out, err=err, sign_params=sign_params,
                         disabled_signs=disabled_signs)
    if os.path.isdir(path):
        err.write(f"lstm-top check: --follow takes one history file, not a folder: "
                  f"{safe_text(path)}\n")
        return EXIT_UNREADABLE
    try:
        handle = open(path, "rb")  # noqa: SIM115 - held open while the run writes
    except OSError as exc:
        err.write(f"lstm-top check: cannot read {safe_text(path)}: "
                  f"{safe_text(exc.strerror or exc)}\n")
        return EXIT_UNREADABLE
    def new_diagnoser() -> Diagnoser:
        return Diagnoser(train_key, val_key, params=sign_params, disabled=disabled_signs)

    history = History(source=path)
    diagnoser = new_diagnoser()
    news = FindingNews(Severity.INFO)
    threshold = Severity[fail_on.upper()]
    worst: Severity | None = None
    pending, line_number = b"", 0
    commands: list[threading.Thread] = []
    try:
        while True:
            chunk = handle.read(1 << 20)
            if not chunk:
                try:
                    if os.fstat(handle.fileno()).st_size < handle.tell():  # rewritten
                        handle.seek(0)
                        history, diagnoser = History(source=path), new_diagnoser()
                        pending, line_number = b"", 0
                        continue
                except OSError:
                    pass
                time.sleep(poll)
                continue
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            ended = False
            for raw in lines:
                line_number += 1
                if not raw.strip():
                    continue
                try:
                    record = decode_line(raw.rstrip(b"\r"))
                except RecordError as exc:
                    history.note_problem(line_number, str(exc))
                    continue
                history.apply(record, line_number)
                ended = ended or isinstance(record, EndRecord)
            findings = diagnoser.update(history)
            for finding in news.news(history.name, findings):
                event = finding_event(history.name, path, finding)
                event["epoch"] = history.last_epoch()
                out.write((json.dumps(event, allow_nan=False) if as_json
                           else _finding_line(event)) + "\n")
                out.flush()
                if notify:
                    commands.append(run_command(notify, event))
            for finding in findings:
                worst = finding.severity if worst is None else max(worst, finding.severity)
            if ended:
                end = {"event": "end", "run": history.name, "source": path,
                       "status": history.end_status, "epochs": len(history.epochs),
                       "error": history.end_error, "stopped_by": history.end_stopped_by}
                if as_json:
                    out.write(json.dumps(_sanitize(end), allow_nan=False) + "\n")
                else:
                    text = f"run {safe_text(history.name)} ended: {history.end_status}"
                    if history.end_stopped_by:
                        text += f", stopped {safe_text(describe(history.end_stopped_by))}"
                    out.write(text + "\n")
                out.flush()
                break
    except KeyboardInterrupt:
        pass
    finally:
        handle.close()
        for command in commands:  # let the last notifications go out before exiting
            command.join(timeout=COMMAND_TIMEOUT_S)
    return EXIT_SIGNS if worst is not None and worst >= threshold else EXIT_HEALTHY


def _finding_line(event: dict[str, Any]) -> str:
    return (f"epoch {event.get('epoch')}  [{str(event['severity']).upper()}] {event['id']}: "
            f"{safe_text(event['message'])}")
