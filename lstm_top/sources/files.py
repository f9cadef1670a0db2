"""Read a finished history file of any supported kind into a History.

Supported: our JSON Lines (also flat ``{"epoch":..,"loss":..}`` lines), Keras ``CSVLogger`` and
other per-epoch CSV files (Lightning's ``metrics.csv`` included: rows of one epoch are merged),
and a Keras ``history.history`` JSON dump (``{"loss": [...], "val_loss": [...]}``).
TensorBoard event files or folders (``sources/tensorboard.py``) and W&B ``wandb-history.jsonl``
(``sources/wandb.py``) are handed to their own readers.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterator

import numpy as np

from lstm_top.format import MAX_NAME_CHARS, nesting_too_deep, to_float
from lstm_top.history import History
from lstm_top.sources.bulk import BulkJsonlParser

READ_CHUNK_BYTES = 1 << 22
# Epoch numbers are stored as int64; a float at or beyond 2**63 cannot be one.
_INDEX_LIMIT = float(1 << 63)


class SourceError(Exception):
    """The input cannot be read at all; the message says why, for a person."""


def detect_kind(path: str, head: bytes) -> str:
    """'jsonl', 'csv' or 'history-json', from the extension first, then the content."""
    lower = path.lower()
    if lower.endswith((".jsonl", ".ndjson", ".jsonlines")):
        return "jsonl"
    if lower.endswith((".csv", ".tsv")):
        return "csv"
    text = head.lstrip()
    if text.startswith(b"{"):
        first_line = text.split(b"\n", 1)[0].rstrip()
        if lower.endswith(".json") and not (first_line.endswith(b"}") and b"\n" in text):
            return "history-json"
        try:
            json.loads(first_line)
            return "jsonl"
        except (ValueError, RecursionError):
            return "history-json"
    if b"," in head.split(b"\n", 1)[0]:
        return "csv"
    return "jsonl"


def read_history(path: str | os.PathLike[str]) -> History:
    """Read a whole file. Raises SourceError when it cannot be read or recognised."""
    path = os.fspath(path)
    if os.path.isdir(path) or "tfevents" in os.path.basename(path):  # TensorBoard logs
        from lstm_top.sources.tensorboard import read_tensorboard

        return read_tensorboard(path)
    if os.path.basename(path).lower() == "wandb-history.jsonl":  # W&B per-step history
        from lstm_top.sources.wandb import read_wandb_history

        return read_wandb_history(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
            kind = detect_kind(path, head)
            history = History(source=path, source_kind=kind)
            if kind == "jsonl":
                # The bulk parser: JsonlParser's results, a chunk at a time (see sources/bulk.py).
                parser = BulkJsonlParser(history)
                parser.feed(head)
                while chunk := handle.read(READ_CHUNK_BYTES):
                    parser.feed(chunk)
                parser.finish()
                if parser.newer_format and not len(history.epochs):
                    raise SourceError(f"{path}: {parser.newer_format}")
                return history
            data = head + handle.read()
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory") from None
    except PermissionError:
        raise SourceError(f"{path}: permission denied") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    text = data.decode("utf-8", "replace")
    if kind == "csv":
        read_csv_text(text, history)
    else:
        read_history_json_text(text, history)
    return history


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel
    sample = text[:4096]
    if "\t" in sample.split("\n", 1)[0] and "," not in sample.split("\n", 1)[0]:
        dialect = csv.excel_tab
    reader = csv.reader(io.StringIO(text), dialect)
    for row in reader:
        yield reader.line_num, row


EPOCH_COLUMNS = ("epoch", "Epoch", "epochs", "ep")
STEP_COLUMNS = ("step", "Step", "global_step", "_step")
TIME_COLUMNS = ("time", "wall_time", "timestamp", "_timestamp")


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
    epoch_col = next((header.index(c) for c in EPOCH_COLUMNS if c in header), None)
    step_col = next((header.index(c) for c in STEP_COLUMNS if c in header), None)
    time_col = next((header.index(c) for c in TIME_COLUMNS if c in header), None)
    skip = {epoch_col, step_col, time_col}
    metric_cols = [(i, name) for i, name in enumerate(header) if i not in skip and name]
    if not metric_cols:
        raise SourceError(f"{history.source}: CSV has no metric columns")
    current: int | None = None
    merged: dict[str, float] = {}
    merged_time: float | None = None
    implicit_epoch = 0
    # Values of rows with an empty epoch cell, waiting for the next row that has one.
    carried: dict[str, float] = {}

    def flush() -> None:
        if current is not None and merged:
            history.epochs.append(current, merged_time, dict(merged))

    try:
        for line, row in rows:
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                history.note_problem(line, f"{len(row)} fields, header has {len(header)}")
                continue
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
                if current is not None and epoch <= current:
                    history.epoch_rewinds += 1
                current, merged, merged_time = epoch, {}, None
            if carried:
                merged.update(carried)
                carried.clear()
            if time_col is not None:
                merged_time = to_float(_number(row, time_col))
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
            for name in bad:
                history.note_problem(line, f"metric {name!r} is not a number", skipped=False)
    except csv.Error as exc:
        history.note_problem(0, f"CSV parsing stopped: {exc}")
    merged.update(carried)
    flush()


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


def read_history_json_text(text: str, history: History) -> None:
    """Keras ``json.dump(model.fit(...).history)``: metric -> list of per-epoch values."""
    if nesting_too_deep(text):  # the C scanner could overflow the stack (a segfault)
        raise SourceError(f"{history.source}: not a history (JSON nested too deeply)")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"{history.source}: not JSON ({str(exc)[:80]})") from None
    if isinstance(data, dict) and isinstance(data.get("history"), dict):
        data = data["history"]
    if not isinstance(data, dict) or not any(isinstance(v, list) for v in data.values()):
        raise SourceError(f"{history.source}: JSON is not a history (metric -> list of values)")
    series = {str(k): v for k, v in data.items() if isinstance(v, list)}
    epochs_list = series.pop("epoch", None)
    length = max(len(v) for v in series.values()) if series else 0
    index = np.arange(1, length + 1, dtype=np.int64)
    if epochs_list is not None and len(epochs_list) == length:
        numbers = [to_float(e) or 0.0 for e in epochs_list]
        if all(math.isfinite(n) and abs(n) < _INDEX_LIMIT for n in numbers):
            index = np.array([int(n) for n in numbers], dtype=np.int64)
        else:
            history.note_problem(0, "'epoch' list holds values that are not epoch numbers; "
                                    "epochs counted from 1", skipped=False)
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
