"""Read Weights & Biases runs into a History: a history file (``wandb-history.jsonl``), or an
offline run's transaction log (``wandb/offline-run-*/run-*.wandb``, see below).

One JSON object per ``wandb.log`` call: ``{"_step": 3, "_timestamp": 1732.4, "train/loss": 0.5,
"epoch": 0, ...}``. Keys starting with ``_`` are W&B's own bookkeeping; non-numbers (media,
histograms) are left out. Rows become epochs the same way as TensorBoard scalars (see
``sources/tensorboard.py``): through an ``epoch`` value when the run logged one (Lightning's
``epoch``, Hugging Face's fractional ``train/epoch`` rounded up), else one epoch per step.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import threading
import zlib
from collections import OrderedDict
from typing import Any

from lstm_top.format import STATUS_COMPLETED, STATUS_CRASHED, RecordError, parse_json, to_float
from lstm_top.history import History
from lstm_top.sources.base import SourceError
from lstm_top.sources.series import Point, history_from_series

HISTORY_NAME = "wandb-history.jsonl"
STEP_KEYS = ("_step", "trainer/global_step", "train/global_step", "step")
TIME_KEYS = ("_timestamp", "timestamp")


def history_file(folder: str) -> str | None:
    """``<run folder>/files/wandb-history.jsonl`` (or one directly inside), if there."""
    for candidate in (os.path.join(folder, "files", HISTORY_NAME),
                      os.path.join(folder, HISTORY_NAME)):
        if os.path.isfile(candidate):
            return candidate
    return None


def read_wandb_history(path: str | os.PathLike[str] | None, live: bool = False) -> History:
    """Every numeric series of the file. Raises SourceError when it cannot be read; with
    ``live`` a last line without its newline waits."""
    if path is None:
        raise SourceError("no wandb-history.jsonl in this W&B run folder")
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if live:
        data = data[: data.rfind(b"\n") + 1]
    lines = data.splitlines()
    series: dict[str, list[Point]] = {}
    problems: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = parse_json(line)
        except RecordError as exc:
            problems.append((number, str(exc)))
            continue
        if not isinstance(record, dict):
            problems.append((number, "line is not a JSON object"))
            continue
        step_value = next((to_float(record[k]) for k in STEP_KEYS if k in record), None)
        step = int(step_value) if step_value is not None and abs(step_value) < 2**62 else number
        wall_time = next((to_float(record[k]) for k in TIME_KEYS if k in record), None)
        for key, value in record.items():
            if key.startswith("_") or key in STEP_KEYS:
                continue
            number_value = to_float(value)
            if number_value is not None:
                series.setdefault(str(key), []).append(
                    (step, math.nan if wall_time is None else wall_time, number_value))
    history = history_from_series(path, series)
    history.source_kind = "wandb"
    # W&B keeps the file in <run folder>/files/: the run folder names the run; another
    # history JSONL is named by its file.
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.basename(folder) == "files":
        folder = os.path.dirname(folder)
    history.run_name = (os.path.basename(folder) if os.path.basename(path) == HISTORY_NAME
                        else os.path.splitext(os.path.basename(path))[0])
    history.config = {"source_format": "wandb"}
    for number, reason in problems:
        history.note_problem(number, reason)
    return history


# ---------------------------------------------------------------------------- offline runs
#
# ``WANDB_MODE=offline`` (or ``wandb offline``) keeps a run in ``wandb/offline-run-<time>-<id>/``
# with everything in one transaction log, ``run-<id>.wandb``: a 7-byte header (``:W&B``, magic
# 0xBEE1, version 0), then W&B's protobuf ``Record`` messages framed as in LevelDB's log —
# 32 KiB blocks of chunks, each (crc32 of type byte + data, length, type: full, first, middle,
# last). The messages are decoded by wandb's own protobuf classes (``wandb.proto``), imported
# only when such a run is opened; the framing is read here (wandb 0.31 has no Python reader of
# it any more: its Go core writes and reads the file).
#
# W&B flushes the log every ``x_transaction_log_flush_interval`` seconds (15 by default), so a
# running offline run is seen to grow at that pace; a flush may end in the middle of a record,
# which waits for the next one. Records are parsed once: each look reads from where the last
# one stopped (``_TransactionLog``).

TRANSACTION_LOG_MAGIC = b":W&B\xe1\xbe\x00"
_LOG_HEADER_BYTES = len(TRANSACTION_LOG_MAGIC)
_BLOCK_BYTES = 32768
_CHUNK_HEADER = struct.Struct("<IHB")  # crc32, length, type
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_READ_BYTES = 1 << 22
_RUN_FILE = re.compile(r"^run-[A-Za-z0-9_-]+\.wandb$")
# Offline runs followed at once (a sweep); the oldest parse state is dropped past this.
MAX_CACHED_LOGS = 4096
MISSING_WANDB = ("reading W&B offline runs (.wandb files) needs the wandb package: "
                 "pip install wandb")


def offline_run_file(folder: str) -> str | None:
    """The ``run-<id>.wandb`` transaction log of an offline (or synced) W&B run folder."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    for name in names:
        if _RUN_FILE.match(name) and os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


# wandb.init names the folder before it creates the log in it: offline-run-20261201_163015-<id>
# (run-... once synced or online).
_RUN_FOLDER = re.compile(r"^(offline-)?run-\d{8}_\d{6}-[A-Za-z0-9]+$")


def is_offline_run_folder_name(folder: str) -> bool:
    return bool(_RUN_FOLDER.match(os.path.basename(os.path.normpath(folder))))


def is_offline_run_folder(folder: str) -> bool:
    """A W&B run folder: its transaction log is there, or wandb.init has just named it."""
    return is_offline_run_folder_name(folder) or offline_run_file(folder) is not None


def is_transaction_log(path: str, head: bytes) -> bool:
    return path.endswith(".wandb") and head.startswith(TRANSACTION_LOG_MAGIC[:4])


def _protobuf() -> Any:
    """wandb's ``Record`` message class; SourceError when wandb cannot be imported."""
    try:
        from wandb.proto import wandb_internal_pb2
    except ImportError:
        raise SourceError(MISSING_WANDB) from None
    except Exception as exc:  # wandb present but broken (a protobuf it does not support)
        raise SourceError(f"wandb could not be imported to read a .wandb file: "
                          f"{type(exc).__name__}: {exc}") from None
    return getattr(wandb_internal_pb2, "Record")  # noqa: B009 - built at import: no stubs


def _item_name(item: Any) -> str:
    return item.key or ".".join(item.nested_key)


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _item_number(item: Any) -> float | None:
    kind = item.WhichOneof("value")
    if kind == "number":
        return float(item.number)
    if kind == "integer":
        return float(item.integer)
    if kind is not None or not item.value_json:
        return None  # text, booleans, nested JSON (media, histograms): not a curve
    value = _json_value(item.value_json)
    return None if isinstance(value, bool) else to_float(value)


class _TransactionLog:
    """What has been parsed of one ``.wandb`` file, and where parsing stopped."""

    def __init__(self, path: str, identity: tuple[int, int]) -> None:
        self.path = path
        self.identity = identity
        self.offset = 0  # just after the last whole record parsed
        self.records = 0
        self.series: dict[str, list[Point]] = {}
        self.config: dict[str, Any] = {}
        self.run_name = ""
        self.started: float | None = None
        self.end_status: str | None = None
        self.end_time: float | None = None
        self.problems: list[tuple[int, str]] = []
        self.cut_short = False  # the data ends inside a record (only reported when not live)
        self.lock = threading.Lock()

    def read(self, live: bool) -> None:
        """Parse what was written since the last read."""
        record_type = _protobuf()
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = bytearray()
                while chunk := handle.read(_READ_BYTES):
                    data += chunk
        except FileNotFoundError:
            raise SourceError(f"{self.path}: no such file") from None
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot read ({exc.strerror or exc})") from None
        base = self.offset
        if base == 0:
            if len(data) < _LOG_HEADER_BYTES:
                if not TRANSACTION_LOG_MAGIC.startswith(bytes(data)):
                    raise SourceError(f"{self.path}: not a W&B transaction log")
                if not live:
                    raise SourceError(f"{self.path}: no records written yet")
                return  # W&B has created the file: its first flush comes within seconds
            if not data.startswith(TRANSACTION_LOG_MAGIC[:4]):
                raise SourceError(f"{self.path}: not a W&B transaction log")
            if bytes(data[:_LOG_HEADER_BYTES]) != TRANSACTION_LOG_MAGIC:
                raise SourceError(f"{self.path}: a W&B transaction log of a version this "
                                  "lstm-top cannot read")
            self.offset = _LOG_HEADER_BYTES
        self.cut_short = False
        position = self.offset
        end = base + len(data)
        parts: list[bytes] = []
        while True:
            left_in_block = _BLOCK_BYTES - position % _BLOCK_BYTES
            if left_in_block < _CHUNK_HEADER.size:
                position += left_in_block  # zero padding to the block's end
                if not parts:
                    self.offset = min(position, end)
                continue
            if position + _CHUNK_HEADER.size > end:
                break
            chunk_start = position
            crc, length, kind = _CHUNK_HEADER.unpack_from(data, position - base)
            if position + _CHUNK_HEADER.size + length > end:
                break  # the rest of this chunk is not written yet
            start = position + _CHUNK_HEADER.size - base
            payload = bytes(data[start : start + length])
            position += _CHUNK_HEADER.size + length
            if zlib.crc32(bytes((kind,)) + payload) & 0xFFFFFFFF != crc:
                if live and position >= end:
                    break  # caught while being written: look again
                self.records += 1
                self.problems.append((self.records, "record damaged (checksum mismatch); "
                                                    "skipped to the next block"))
                parts = []
                position = (chunk_start // _BLOCK_BYTES + 1) * _BLOCK_BYTES
                self.offset = min(position, end)
                continue
            if kind == _FULL:
                parts = [payload]
            elif kind == _FIRST:
                parts = [payload]
                continue
            elif kind == _MIDDLE and parts:
                parts.append(payload)
                continue
            elif kind == _LAST and parts:
                parts.append(payload)
            else:
                self.records += 1
                self.problems.append((self.records, f"record fragment out of order "
                                                    f"(chunk type {kind}); skipped"))
                parts = []
                self.offset = position
                continue
            self.offset = position
            self.records += 1
            message = record_type()
            try:
                message.ParseFromString(b"".join(parts))
            except Exception as exc:  # protobuf's DecodeError, or worse for garbage
                self.problems.append((self.records, f"record does not decode ({exc})"))
            else:
                self._take(message)
            parts = []
        self.cut_short = self.offset < end

    def _take(self, record: Any) -> None:
        kind = record.WhichOneof("record_type")
        if kind == "history":
            self._take_history(record.history)
        elif kind == "run":
            run = record.run
            self.run_name = run.display_name or run.run_id or self.run_name
            if run.HasField("start_time"):
                self.started = run.start_time.seconds + run.start_time.nanos / 1e9
            self._take_config(run.config.update)
        elif kind == "config":
            self._take_config(record.config.update)
            for item in record.config.remove:
                self.config.pop(_item_name(item), None)
        elif kind == "exit":
            self.end_status = STATUS_COMPLETED if record.exit.exit_code == 0 else STATUS_CRASHED
            self.end_time = (self.started + record.exit.runtime
                             if self.started is not None and record.exit.runtime else None)

    def _take_history(self, history: Any) -> None:
        values: dict[str, float] = {}
        step = int(history.step.num) if history.HasField("step") else None
        wall_time = math.nan
        for item in history.item:
            name = _item_name(item)
            number = _item_number(item)
            if number is None:
                continue
            if name == "_step":
                if abs(number) < 2**62:
                    step = int(number)
            elif name == "_timestamp":
                wall_time = number
            elif not name.startswith("_"):
                values[name] = number
        if step is None:
            step = self.records
        for name, number in values.items():
            self.series.setdefault(name, []).append((step, wall_time, number))

    def _take_config(self, updates: Any) -> None:
        for item in updates:
            name = _item_name(item)
            if name.startswith("_"):
                continue  # _wandb: W&B's own bookkeeping
            value = _json_value(item.value_json)
            if isinstance(value, dict) and "value" in value and len(value) <= 2:
                value = value["value"]  # {"value": .., "desc": ..} as config.yaml keeps them
            if value is None or isinstance(value, str | int | float | bool):
                self.config[name] = value

    def history(self, live: bool) -> History:
        history = history_from_series(self.path, self.series)
        history.source_kind = "wandb-offline"
        history.run_name = self.run_name or os.path.basename(os.path.dirname(self.path))
        if self.started is not None:
            history.started = self.started
        history.config = dict(self.config)
        history.end_status, history.end_time = self.end_status, self.end_time
        for number, reason in self.problems:
            history.note_problem(number, reason)
        if self.cut_short and not live:
            history.note_problem(self.records + 1, "the last record is cut short")
        return history


_logs: OrderedDict[str, _TransactionLog] = OrderedDict()
_logs_lock = threading.Lock()


def read_offline_run(path: str, live: bool = False) -> History:
    """A W&B transaction log (``run-<id>.wandb``) or the offline run folder holding it.
    Followed live, each look parses only the records written since the last one; a file that
    shrank or was replaced is parsed again from its start. Raises SourceError."""
    if os.path.isdir(path):
        found = offline_run_file(path)
        if found is None:
            if live:  # wandb.init creates the folder, then its log: wait for it
                history = History(source=path, source_kind="wandb-offline")
                history.run_name = os.path.basename(os.path.normpath(path))
                return history
            raise SourceError(f"{path}: no run-*.wandb file in this W&B run folder")
        path = found
    path = os.path.abspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    identity = (st.st_dev, st.st_ino)
    if not live:
        log = _TransactionLog(path, identity)
        log.read(live=False)
        return log.history(live=False)
    with _logs_lock:
        cached = _logs.get(path)
        if cached is None or cached.identity != identity or st.st_size < cached.offset:
            cached = _logs[path] = _TransactionLog(path, identity)
        log = cached
        _logs.move_to_end(path)
        while len(_logs) > MAX_CACHED_LOGS:
            _logs.popitem(last=False)
    with log.lock:
        log.read(live=True)
        return log.history(live=True)
