"""Text readers for per-epoch CSV and Keras history JSON (the registry in ``sources/formats.py``
decides which file gets which).

Keras ``CSVLogger`` and other per-epoch CSV files (Lightning's ``metrics.csv`` included: rows of
one epoch are merged), and a Keras ``history.history`` JSON dump
(``{"loss": [...], "val_loss": [...]}``).
"""

from __future__ import annotations

import ast
import csv
import io
import itertools
import json
import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np

from lstm_top.format import MAX_NAME_CHARS, is_number, nesting_too_deep, to_float
from lstm_top.history import TRAIN_SPLIT_NAMES, VAL_SPLIT_NAMES, History, resolve_loss_keys
from lstm_top.sources.base import SourceError

# Epoch numbers are stored as int64; a float at or beyond 2**63 cannot be one.
_INDEX_LIMIT = float(1 << 63)


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel
    sample = text[:4096]
    if "\t" in sample.split("\n", 1)[0] and "," not in sample.split("\n", 1)[0]:
        dialect = csv.excel_tab
    reader = csv.reader(io.StringIO(text), dialect)
    for row in reader:
        yield reader.line_num, row


EPOCH_COLUMNS = ("epoch", "epochs", "ep")
STEP_COLUMNS = ("step", "global_step", "_step")
TIME_COLUMNS = ("time", "wall_time", "timestamp", "_timestamp")
# A column that names the run a row belongs to (several models, folds or trials written one
# after another into one file): each value is a run, never a metric. Matched case-blind.
RUN_COLUMNS = ("run", "run_name", "run_id", "model", "model_name", "fold", "trial",
               "trial_id", "experiment", "exp_name", "seed")
# A "time" cell below this (2001-09-09) is no Unix time: an epoch's duration or seconds since
# the start (a public Keras history's "time" column holds 0.05-0.2 s). Kept as a metric, so
# the elapsed time is not counted from 1970.
MIN_WALL_TIME = 1e9


def read_csv_text(text: str, history: History) -> None:
    """Per-epoch CSV. Rows sharing an epoch number in a row are merged (Lightning logs one
    row per step with holes); empty cells are missing values, not NaN."""
    rows = _csv_rows(text)
    try:
        _, header = next(rows)
    except StopIteration:
        raise SourceError(f"{history.source}: empty CSV file") from None
    except csv.Error as exc:
        raise SourceError(f"{history.source}: not a CSV file ({exc})") from None
    header = [name.strip()[:MAX_NAME_CHARS] for name in header]  # as JSONL names are cut
    if header and all(is_number(name) for name in header if name):
        # Numbers where the names should be: the columns cannot be told apart.
        raise SourceError(f"{history.source}: CSV has no header row (its first row is "
                          f"numbers; the columns need names such as epoch,loss,val_loss)")
    # Matched case-blind: "EPOCH", "TIMESTAMP" (Flair's loss.tsv), "Epoch" (pandas tables).
    lowered = [name.lower() for name in header]
    epoch_col, step_col, time_col, run_col = (
        next((lowered.index(c) for c in names if c in lowered), None)
        for names in (EPOCH_COLUMNS, STEP_COLUMNS, TIME_COLUMNS, RUN_COLUMNS))
    skip = {epoch_col, step_col, time_col, run_col}
    metric_cols = [(i, name) for i, name in enumerate(header) if i not in skip and name]
    if not metric_cols:
        raise SourceError(f"{history.source}: CSV has no metric columns")
    current: int | None = None
    first_epoch: int | None = None  # of the run being read
    merged: dict[str, float] = {}
    merged_time: float | None = None
    implicit_epoch = 0
    # Values of rows with an empty epoch cell, waiting for the next row that has one.
    carried: dict[str, float] = {}
    # Where rows are steps (Lightning logs a training loss every few steps), each metric's
    # values within the epoch: the epoch's value is their mean, not the last batch's — a
    # single batch's loss jumps several-fold from one epoch to the next.
    step_values: dict[str, list[float]] = {}

    totals = _split_totals([name for _, name in metric_cols])
    for total, parts in totals.items():
        history.note_problem(0, f"{total} is the sum of {', '.join(parts)} (no total loss "
                                f"logged)", skipped=False)

    def flush() -> None:
        if current is not None and merged:
            values = dict(merged)
            for name, seen in step_values.items():
                if len(seen) > 1 and all(math.isfinite(v) for v in seen):
                    values[name] = math.fsum(seen) / len(seen)
            for total, parts in totals.items():
                if all(part in values for part in parts):
                    values[total] = math.fsum(values[part] for part in parts)
            history.epochs.append(current, merged_time, values)
        step_values.clear()

    run_name: str | None = None  # the run column's value for the run being read
    last_line = 0
    try:
        listed = list(rows)
        if run_col is not None:
            listed = _last_run_if_interleaved(listed, header, run_col, history)
        width = _unnamed_columns_width(listed, header)
        if width:
            history.note_problem(1, f"every row has {width} fields, the header names "
                                    f"{len(header)}: the unnamed last ones are not read",
                                 skipped=False)
        for line, row in listed:
            if not row or all(not cell.strip() for cell in row):
                continue
            last_line = line
            if [cell.strip() for cell in row] == header:
                # The header again (CSVLogger(append=True) after a restart, two runs in one
                # file): a new run. The file shows its last run; the earlier one is noted.
                history.start_new_run(line, "header repeated")
                current, merged, carried, first_epoch, run_name = None, {}, {}, None, None
                step_values.clear()
                implicit_epoch = 0
                continue
            if len(row) > len(header) and len(row) != width:
                history.note_problem(line, f"{len(row)} fields, header has {len(header)}")
                continue
            if run_col is not None:
                name = _run_cell(row, run_col) or run_name
                if run_name is not None and name != run_name:
                    # The next model (fold, trial) written after the last: a run of its own;
                    # the file shows its last run, as with a repeated header.
                    flush()
                    history.start_new_run(line, f"{header[run_col]} {name!r} after "
                                                f"{run_name!r}")
                    current, merged, carried, first_epoch = None, {}, {}, None
                    implicit_epoch = 0
                run_name = name
            if epoch_col is not None:
                epoch_value = to_float(_number(row, epoch_col))
                if step_col is not None and _number(row, epoch_col) in (None, ""):
                    # Lightning's LearningRateMonitor writes its row with an empty epoch at
                    # the first step of an epoch: it belongs with the rows that follow.
                    carried.update(_row_numbers(row, metric_cols))
                    continue
                if epoch_value is None or not math.isfinite(epoch_value):
                    history.note_problem(line, "epoch is empty or not a number")
                    continue
                if abs(epoch_value) >= _INDEX_LIMIT:
                    history.note_problem(line, "epoch is out of range")
                    continue
                epoch = int(epoch_value)
            else:
                epoch = implicit_epoch
                implicit_epoch += 1
            if epoch != current:
                flush()
                if (current is not None and first_epoch is not None
                        and epoch <= first_epoch < current):
                    # Back to the run's first epoch: CSVLogger(append=True) writes no header
                    # for a second run into the same file, so this is where it starts. As with
                    # a repeated header, the file shows its last run.
                    history.start_new_run(line, f"epoch {epoch} again after {current}")
                    current, merged, carried, first_epoch = None, {}, {}, None
                elif (current is not None and first_epoch is not None
                        and first_epoch < epoch < current):
                    # Back to an epoch after the first: the run resumed from a checkpoint
                    # (fit(initial_epoch=E) appending to the same file after a crash); its
                    # epochs from E on replace those of the interrupted attempt.
                    history.resume_at(epoch, line, current)
                elif current is not None and epoch <= current:
                    history.epoch_rewinds += 1
                if first_epoch is None:
                    first_epoch = epoch
                current, merged, merged_time = epoch, {}, None
            if carried:
                merged.update(carried)
                carried.clear()
            if time_col is not None:
                merged_time = to_float(_number(row, time_col))
                if merged_time is not None and not merged_time >= MIN_WALL_TIME:
                    merged[header[time_col]] = merged_time
                    merged_time = None
            bad = []
            for index, name in metric_cols:
                cell = row[index].strip() if index < len(row) else ""
                if not cell:
                    continue
                value = to_float(_number_text(cell))
                if value is None:
                    bad.append(name)
                    continue
                merged[name] = value
                if step_col is not None:
                    step_values.setdefault(name, []).append(value)
            for name in bad:
                history.note_problem(line, f"metric {name!r} is not a number", skipped=False)
    except csv.Error as exc:
        history.note_problem(0, f"CSV parsing stopped: {exc}")
    merged.update(carried)
    repeated = _revalidated_epoch(history, merged)
    if repeated is not None:
        history.note_problem(last_line, f"the last row, epoch {current}, has no training loss and "
                                f"repeats epoch {repeated}'s validation exactly: a "
                                f"re-validation of a checkpoint (trainer.validate), not an "
                                f"epoch; not read")
        return
    flush()


def _split_totals(names: list[str]) -> dict[str, list[str]]:
    """``{"train/loss": ["train/box_loss", ...], "val/loss": [...]}`` where a split logs only
    the terms of its loss, ``SPLIT/TERM_loss``, two or more, and nothing the loss keys take for
    its loss (Ultralytics YOLO's results.csv: box, cls and dfl terms, which the detector sums
    to the loss it minimises)."""
    keys = resolve_loss_keys(names)
    totals = {}
    for split, found in (("train", keys.train), ("val", keys.val)):
        parts = [name for name in names
                 if name.startswith(f"{split}/") and name.endswith("_loss")]
        if found is None and len(parts) >= 2 and f"{split}/loss" not in names:
            totals[f"{split}/loss"] = parts
    return totals


def _revalidated_epoch(history: History, last: dict[str, float]) -> int | None:
    """The earlier epoch whose every value ``last`` (the file's final epoch) repeats exactly,
    where ``last`` holds no training loss: Lightning's ``trainer.validate(ckpt_path="best")``
    after ``fit`` writes such a row at the next epoch number (the best epoch's values to the
    last digit, which no second evaluation of other weights gives)."""
    table = history.epochs
    if not last or not len(table):
        return None
    keys = resolve_loss_keys([*table.names, *last])
    # A run that logs a training loss, whose last epoch has none (a history of validation
    # losses alone, from a frozen model, may repeat itself for real).
    if keys.train is None or keys.train in last or keys.val is None or keys.val not in last:
        return None
    if any(name not in table.names for name in last):
        return None
    same = np.ones(len(table), dtype=bool)
    for name, value in last.items():
        same &= table.present(name) & (table.column(name) == value)
    rows = np.flatnonzero(same)
    return int(table.index[rows[-1]]) if len(rows) else None


# The share of data rows that must be wider than the header by the same count for that width
# to be the file's own (an unnamed field in every row), not a few rows of another writer.
UNNAMED_WIDTH_SHARE = 0.9


def _unnamed_columns_width(rows: list[tuple[int, list[str]]], header: list[str]) -> int:
    """The row width when (nearly) every data row is wider than the header by the same count
    (a writer that puts an unnamed field in each row: Flair's loss.tsv), else 0. Rows of any
    other width stay skipped."""
    if not any(len(row) > len(header) for _, row in rows):
        return 0  # the usual file: no cell stripped twice on every read
    widths = Counter(len(row) for _, row in rows if row and any(cell.strip() for cell in row)
                     and [cell.strip() for cell in row] != header)
    if not widths:
        return 0
    width, count = widths.most_common(1)[0]
    if width > len(header) and count >= 2 and count >= UNNAMED_WIDTH_SHARE * sum(widths.values()):
        return width
    return 0


def _run_cell(row: list[str], index: int) -> str | None:
    cell = row[index].strip() if index < len(row) else ""
    return cell[:MAX_NAME_CHARS] or None


def _last_run_if_interleaved(rows: list[tuple[int, list[str]]], header: list[str],
                             run_col: int, history: History) -> list[tuple[int, list[str]]]:
    """Rows whose run column goes back to a value seen before (runs written turn about, a
    row each): only the rows of the run that started last, with a note; else all rows, in
    order. (Runs one after another are split where the value changes, by the caller.) The
    run that started last stays the one shown while such a file grows, until another starts."""
    values: list[tuple[int, str]] = []  # (position in rows, run), data rows only
    name: str | None = None
    for position, (_, row) in enumerate(rows):
        if not row or all(not cell.strip() for cell in row):
            continue
        if [cell.strip() for cell in row] == header:
            values, name = [], None  # a new run after the header: what came before is dropped
            continue
        name = _run_cell(row, run_col) or name  # an empty cell: the run of the row before
        if name is not None:
            values.append((position, name))
    finished: set[str] = set()
    for (_, name), (_, following) in itertools.pairwise(values):
        if following != name:
            finished.add(name)
            if following in finished:
                break
    else:
        return rows
    names = list(dict.fromkeys(name for _, name in values))
    last = names[-1]
    keep = {position for position, name in values if name == last}
    start = values[0][0]
    shown = ", ".join(repr(name) for name in names[:5]) + (", ..." if len(names) > 5 else "")
    history.note_problem(rows[start][0], f"rows of {len(names)} runs interleave "
                                         f"({header[run_col]} {shown}): showing the last, "
                                         f"{header[run_col]} {last!r} ({len(keep)} rows); "
                                         f"the other {len(values) - len(keep)} rows are not "
                                         f"shown", skipped=False)
    data = {position for position, _ in values}
    return [row for position, row in enumerate(rows)
            if position < start or position in keep or position not in data]


def _row_numbers(row: list[str], metric_cols: list[tuple[int, str]]) -> dict[str, float]:
    numbers = {}
    for index, name in metric_cols:
        value = to_float(_number(row, index))
        if value is not None:
            numbers[name] = value
    return numbers


def _number(row: list[str], index: int) -> float | str | None:
    if index >= len(row):
        return None
    return _number_text(row[index].strip())


def _number_text(cell: str) -> float | str | None:
    try:
        return float(cell)
    except ValueError:
        lowered = cell.lower()
        if lowered in ("nan", "inf", "-inf", "infinity", "-infinity", "+inf"):
            return float(lowered.replace("infinity", "inf"))
        return cell



# The part of a per-epoch dict of loss terms that is the loss itself.
_TOTAL_TERMS = ("total", "loss", "total_loss", "sum", "overall")


def _expand_sub_losses(series: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """A list of per-epoch dicts of loss terms (``{"train": [{"total": .., "bbox": ..}, ..]}``,
    a multi-task model's history) becomes one series per term, ``train/bbox``; the total term
    of a split is that split's loss (``train_loss``, ``val_loss``)."""
    expanded: dict[str, list[Any]] = {}
    for name, values in series.items():
        rows = [value for value in values if value is not None]
        if not rows or not all(isinstance(row, dict) for row in rows):
            expanded[name] = values
            continue
        terms = list(dict.fromkeys(str(key) for row in rows for key in row))
        total = next((term for term in _TOTAL_TERMS if term in terms), None)
        for term in terms:
            is_split = name in TRAIN_SPLIT_NAMES + VAL_SPLIT_NAMES
            column = f"{name}_loss" if term == total and is_split else f"{name}/{term}"
            expanded[column] = [row.get(term) if isinstance(row, dict) else None
                                for row in values]
    return expanded

def _row_label(key: object) -> int | None:
    """A pandas row label as JSON writes it (``"0"``, ``"12"``), else None."""
    text = str(key)
    return int(text) if text.isdigit() and len(text) < 10 else None


def _pandas_json_table(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A pandas ``DataFrame.to_json()`` of a history as per-epoch records (with an ``epoch``
    from the row labels), or None when ``data`` is not one. Its default shape is by column,
    ``{"loss": {"0": .., "1": ..}, "val_loss": {..}}``; ``orient="index"`` writes
    ``{"0": {"loss": .., "val_loss": ..}, ..}``. The row labels are the frame's index: a
    Keras history's is the 0-based epoch."""
    values = list(data.values())
    if not values or not all(isinstance(v, dict) and v for v in values):
        return None
    by_column = all(_row_label(k) is not None for column in values for k in column)
    by_row = all(_row_label(k) is not None for k in data)
    if by_column and not by_row:
        labels = sorted({label for column in values for k in column
                         if (label := _row_label(k)) is not None})
        return [{"epoch": label, **{str(name): column.get(str(label))
                                    for name, column in data.items()}} for label in labels]
    if by_row and not by_column:
        rows = sorted(((_row_label(k), row) for k, row in data.items()),
                      key=lambda item: item[0] or 0)
        return [{"epoch": label, **{str(name): value for name, value in row.items()}}
                for label, row in rows]
    return None


def _show_last_run(history: History, runs: list[Any], kind: str, shown: str) -> Any:
    """Several whole runs in one JSON file: note it (counted, nothing skipped) and keep the
    last, as an appended CSVLogger file shows its last run."""
    history.note_problem(0, f"{len(runs)} runs in this file ({kind}); {shown} is shown",
                         skipped=False)
    return runs[-1]


def read_history_json_text(text: str, history: History) -> None:
    """Keras ``json.dump(model.fit(...).history)``: metric -> list of per-epoch values; or a
    list of per-epoch records ``[{"epoch": 1, "loss": ..., "val_loss": ...}, ...]``; or a list
    of such histories (several runs: the last is read)."""
    if nesting_too_deep(text):  # the C scanner could overflow the stack (a segfault)
        raise SourceError(f"{history.source}: not a history (JSON nested too deeply)")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"{history.source}: not JSON ({str(exc)[:80]})") from None
    if isinstance(data, str) and data.lstrip().startswith("{"):
        # json.dump(str(history.history)): the dict's Python repr saved as a JSON string.
        # literal_eval reads literals only (no names, no calls), within the size cap the
        # sniffer already applied; its nesting is checked like the outer text's.
        if nesting_too_deep(data):
            raise SourceError(f"{history.source}: not a history (nested too deeply)")
        try:
            data = ast.literal_eval(data)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise SourceError(f"{history.source}: a JSON string that is not a history "
                              f"dict") from None
    if isinstance(data, dict) and isinstance(data.get("history"), dict):
        data = data["history"]
    index_key = "epoch"
    if isinstance(data, dict) and len(data) > 1 and all(
            isinstance(run, dict) and any(isinstance(v, list) for v in run.values())
            for run in data.values()):
        # Histories by name (json.dump({name: h.history for name, h in trained.items()}):
        # several models compared): several runs in one file, which shows its last.
        last_name = str(list(data)[-1])[:MAX_NAME_CHARS]
        data = _show_last_run(history, list(data.values()),
                              f"histories by name: {', '.join(list(map(str, data))[:3])}, ...",
                              f"the last, {last_name!r},")
    if isinstance(data, dict) and (table := _pandas_json_table(data)) is not None:
        data = table
    if (isinstance(data, list) and len(data) > 1 and all(isinstance(row, dict) for row in data)
            and all(any(isinstance(v, list) for v in row.values()) for row in data)):
        # A list of whole histories (json.dump([h.history for h in folds]): cross-validation
        # folds, repeated trainings): several runs in one file, which shows its last, as an
        # appended CSVLogger file does.
        data = _show_last_run(history, data, "a list of histories", "the last")
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        # A list of per-epoch records (json.dump of a list of dicts), the other common shape;
        # keyed by their "epoch", else by their "step" (an evaluation every N steps).
        names = list(dict.fromkeys(str(key) for row in data for key in row))
        if "epoch" not in names and "step" in names:
            index_key = "step"
            history.index_unit = "step"
        data = {name: [row.get(name) for row in data] for name in names}
    if not isinstance(data, dict) or not any(isinstance(v, list) for v in data.values()):
        raise SourceError(f"{history.source}: JSON is not a history (metric -> list of values, "
                          f"or a list of per-epoch records)")
    series = _expand_sub_losses({str(k): v for k, v in data.items() if isinstance(v, list)})
    epochs_list = series.pop(index_key, None)
    length = max(len(v) for v in series.values()) if series else 0
    index = np.arange(1, length + 1, dtype=np.int64)
    if epochs_list is not None and len(epochs_list) == length:
        numbers = [to_float(e) or 0.0 for e in epochs_list]
        if all(math.isfinite(n) and abs(n) < _INDEX_LIMIT for n in numbers):
            index = np.array([int(n) for n in numbers], dtype=np.int64)
        else:
            history.note_problem(0, f"'{index_key}' list holds values that are not "
                                    f"{index_key} numbers; counted from 1", skipped=False)
    columns = {}
    for name, values in series.items():
        column = np.full(length, np.nan)
        present = np.zeros(length, dtype=bool)
        for i, value in enumerate(values):
            number = to_float(value)
            if number is not None:
                column[i] = number
                present[i] = True
            elif value is not None:
                history.note_problem(i + 1, f"{name}[{i}] is not a number", skipped=False)
        columns[name] = (column, present)
    history.epochs.extend(index, np.full(length, np.nan), columns)
