"""Plain-text training logs: what a training script printed, saved to a file.

Keras' ``fit`` output (``Epoch 3/10`` on one line, ``32/32 ... - loss: 0.41 - val_loss: 0.52``
on the next, progress bars and colour codes included) and the lines PyTorch loops print
(``Epoch [3/10], Train Loss: 0.41, Val Loss: 0.52``, ``epoch 3 | train_loss 0.41 | val_loss
0.52``, ``[Epoch 3] loss=0.41 val_loss=0.52``, a printed dict). A line that names an epoch
starts it; ``name: number``, ``name=number`` and ``name number`` fields are its metrics, also on
the lines that follow until the next epoch. Names are written the usual way (``Train Loss`` ->
``train_loss``, ``Val Loss`` -> ``val_loss``). Lines with nothing to read are passed over
silently: a log is mostly other text.

A log that never names an epoch but counts steps (``Iter: 120 | Train Loss: .. | Dev Loss: ..``,
``Iter 120/5000 ...``, nanoGPT's ``step 500: train loss 2.31, val loss 2.40`` and ``iter 510:
loss 2.29, time 30.1ms``) is read the same way by step: a line naming its step starts that
step's row (lines of the same step are one row), in the History's step table, which a run
logged by step is judged through (``lstm_top.steps``: each evaluation is a row). A log that
names epochs keeps them; a step counter there is not a row. A logging prefix (``2024-01-01
12:00:00,123 - __main__ - INFO - ``, loguru's ``... | INFO | mod:fn:42 - ``, ``INFO:root:``,
``[INFO]``) is not part of the message; its time is the row's time (of the last line that row
read: the epoch's end), so the viewer can show the pace of a printed log too.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from lstm_top.format import MAX_NAME_CHARS
from lstm_top.history import History, Table

# "Epoch 3/10", "Epoch [3/10]", "epoch: 3", "[Epoch 3]", "EPOCH 003", "'epoch': 2.5" (a
# printed Hugging Face log: the fraction of the epoch done, so it belongs to epoch 3)
EPOCH = re.compile(r"\bepoch\b['\"]?\s*[\[#:=(]?\s*(\d+(?:\.\d+)?)\b", re.IGNORECASE)
# "[3/10] loss: ..." at the start of a line: an epoch counter in brackets. Only in brackets:
# Keras' progress line "32/32 - 1s - loss: ..." starts with batches done / batches.
BRACKETED_COUNTER = re.compile(r"^\s*\[\s*(\d+)\s*/\s*\d+\s*\]")
# "Iter: 120", "Iter 120/5000", "step 500:", "Step [500/10000]", "global_step=200", "'step': 40".
# Not "batch" (a batch within an epoch) nor "it" (tqdm's "3.2it/s").
STEP = re.compile(r"\b(?:global[_ ])?(?:step|iter|iteration)s?\b['\"]?\s*[\[#:=(]?\s*(\d+)"
                  r"(?:\s*/\s*\d+\s*\]?)?(?![\d.])", re.IGNORECASE)
# A logging prefix: the time, then a level (after or before a logger name), then loguru's
# "module:function:line - ".
_LOG_TIME = re.compile(r"^\s*[\[(]?(?P<time>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?"
                       r"(?:Z|[+-]\d{2}:?\d{2})?)[\])]?[\s,|:\-]*")
_LOG_LEVEL = re.compile(
    r"^(?:[\w.]+\s*[|\-]\s*)?[\[(]?(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\b[\])]?"
    r"(?::[\w.<>]+:|\s*[|:\-]\s*(?:[\w.<>]+(?::[\w<>]+)*(?::\d+)?\s+[-|]\s+)?|\s+|$)")
# A table header whose first column is the epoch (fastai: "epoch train_loss valid_loss time").
_TABLE_HEADER = re.compile(r"^\s*epoch(?:\s+[A-Za-z][A-Za-z0-9_./]*){2,}\s*$", re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# A C++ library's log line (glog / absl, as TensorFlow, XLA and cuDNN print them: "I0000
# 00:00:1736955163.455 9120 service.cc:154] ...", "2025-01-15 15:32:43.6: I external/.../
# cuda_dnn.cc:531] ..."): device and build messages, never a training metric.
_LIBRARY_LOG = re.compile(r"^(?:[IWEF]\d{4} [\d:.]+\s+\d+ |.*?: [IWEF] )\S+\.(?:cc|cpp|h|c):\d+\]")
# What a line with a logging prefix's time can start with (a cheap test before the regex).
_STAMP_STARTS = frozenset("0123456789[( \x1b")
_SEPARATORS = re.compile(r"\s+-\s+|[,|;\t{}]|\s{3,}")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|-?inf"
_WORD = r"[A-Za-z][A-Za-z0-9_./]*"
# A whole segment that is one field: "Train Loss: 0.41", "val_loss=0.52", "train loss 0.3".
_FIELD = re.compile(rf"^({_WORD}(?: {_WORD}){{0,3}})\s*(?:[:=]\s*|\s+)({_NUMBER})$",
                    re.IGNORECASE)
# Several in one segment: "loss=0.41 val_loss=0.52", or "loss 0.5 acc 0.8" (metric names only).
_COLON_PAIR = re.compile(rf"({_WORD})\s*[:=]\s*({_NUMBER})(?![\w.])", re.IGNORECASE)
_SPACE_PAIR = re.compile(rf"({_WORD})\s+({_NUMBER})(?![\w.])", re.IGNORECASE)
_METRIC_WORDS = ("loss", "acc", "err", "mse", "mae", "rmse", "f1", "auc", "ppl", "perplexity",
                 "bleu", "iou", "dice", "lr")
# Counters and timings, not metrics.
_NOT_METRICS = frozenset({"epoch", "epochs", "step", "steps", "batch", "iter", "iteration",
                          "eta", "time", "elapsed", "it", "s"})
# A model summary printed into the log (Keras' "Total params: 1,297 (5.07 KB)", "Optimizer
# params", torchinfo's "Trainable params"): parameter counts, not metrics of the last epoch.
_PARAMETER_COUNT = re.compile(r"(?:^|_)params$")
# An integer with thousands separators ("Total params: 134,309,708"): one number, not three
# comma-separated fields.
_GROUPED_INTEGER = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d.]|,\d)")
# How a file is recognised: among its first lines, one names an epoch and one carries fields
# (Keras prints "Epoch 1/5", then the epoch's metrics line): the first epoch is then shown.
MIN_EPOCH_LINES = 1


def _clean(line: str) -> str:
    line = _ANSI.sub("", line).replace("\b", "")
    line = line.rsplit("\r", 1)[-1]  # a progress bar redrawn in place: its last state
    if _LIBRARY_LOG.match(line):
        return ""
    return _message(line)


def _message(line: str) -> str:
    """``line`` without a logging prefix (its time, level and logger name)."""
    timed = _LOG_TIME.match(line)
    rest = line[timed.end():] if timed else line
    level = _LOG_LEVEL.match(rest)
    if level is not None:
        return rest[level.end():]
    return rest if timed else line


def line_time(line: str) -> float | None:
    """The Unix time of a line's logging prefix (local time where it names no zone), else
    None."""
    timed = _LOG_TIME.match(line)
    if timed is None:
        return None
    try:
        return datetime.fromisoformat(timed["time"].replace(",", ".")).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def _name(raw: str) -> str:
    # "Val. Loss" (a printed abbreviation) is val_loss.
    raw = re.sub(r"\.(?=\s)", "", raw.strip().strip("'\"[]()"))
    name = re.sub(r"[\s\-]+", "_", raw.lower())
    return name[:MAX_NAME_CHARS]


def fields(line: str) -> dict[str, float]:
    """The ``name: number`` fields of one log line (after its epoch, where it names one)."""
    found: dict[str, float] = {}
    epoch = EPOCH.search(line) or BRACKETED_COUNTER.search(line) or STEP.search(line)
    rest = line if epoch is None else f"{line[:epoch.start()]} , {line[epoch.end():]}"
    rest = rest.replace("'", "").replace('"', "")
    rest = _GROUPED_INTEGER.sub(lambda m: m.group(0).replace(",", ""), rest)
    for segment in _SEPARATORS.split(rest):
        segment = segment.strip().strip("[]()/:# ")
        whole = _FIELD.match(segment)
        pairs = ([whole.groups()] if whole else
                 [m.groups() for m in _COLON_PAIR.finditer(segment)]
                 or [m.groups() for m in _SPACE_PAIR.finditer(segment)
                     if any(word in m.group(1).lower() for word in _METRIC_WORDS)])
        for raw_name, raw_value in pairs:
            name = _name(raw_name)
            try:
                value = float(raw_value)
            except ValueError:
                continue
            if name and name not in _NOT_METRICS and not _PARAMETER_COUNT.search(name):
                found[name] = value
    return found


def epoch_of(line: str) -> int | None:
    match = EPOCH.search(line) or BRACKETED_COUNTER.search(line)
    if match is None:
        return None
    value = float(match.group(1))
    return math.ceil(value) if value < 1 << 62 else None


def step_of(line: str) -> int | None:
    match = STEP.search(line)
    if match is None:
        return None
    value = int(match.group(1))
    return value if value < 1 << 62 else None


def looks_like_text_log(text: str) -> bool:
    """Whether the first lines of ``text`` read as a training log: a line names an epoch (or a
    step), and a line carries ``name: number`` fields."""
    epochs = with_fields = 0
    table: list[str] | None = None
    for raw in text.splitlines()[:200]:
        line = _clean(raw)
        if table is not None and table_row(line, table):
            return True
        table = table_header(line) or table
        epochs += epoch_of(line) is not None or step_of(line) is not None
        with_fields += bool(fields(line))
        if epochs >= MIN_EPOCH_LINES and with_fields:
            return True
    return False


def table_header(line: str) -> list[str] | None:
    """The column names of a table header that starts with the epoch, else None."""
    if _TABLE_HEADER.match(line) is None:
        return None
    return [_name(word) for word in line.split()]


def table_row(line: str, header: list[str]) -> tuple[int, dict[str, float]] | None:
    """(epoch, metrics) of a row under ``header``: as many cells, the first an integer; cells
    that are not numbers (a time "00:03", "#na#") are left out."""
    cells = line.split()
    if len(cells) != len(header) or not cells[0].isdigit():
        return None
    metrics: dict[str, float] = {}
    for name, cell in zip(header[1:], cells[1:], strict=True):
        try:
            metrics[name] = float(cell)
        except ValueError:
            continue
    return (int(cells[0]), metrics) if metrics else None


def read_text_log(text: str, history: History) -> None:
    """Epochs (or, in a log that names none, steps) and their metrics from a printed training
    log into ``history``."""
    current: int | None = None
    first: int | None = None
    by_step = True  # until a line names an epoch: rows are steps, in ``history.steps``
    metrics: dict[str, float] = {}
    row_time: float | None = None  # the logging prefix's time of the row's last line

    def flush() -> None:
        nonlocal first
        if current is not None and metrics:
            table = history.steps if by_step else history.epochs
            table.append(current, row_time, dict(metrics))
            if first is None:  # the run's first row (not a line such as "Total steps: 5000")
                first = current

    def begin(key: int, line: int) -> None:
        """Epoch (or step) ``key`` starts; back at the run's first one, a new run starts (a
        script run again with its output appended to the same log), and the file shows its
        last run, as an appended CSVLogger file does."""
        nonlocal first
        unit = "step" if by_step else "epoch"
        if current is not None and first is not None and key <= first < current:
            history.start_new_run(line, f"{unit} {key} again after {current}")
            first = None
        elif current is not None and key < current and not by_step:
            history.epoch_rewinds += 1

    def by_epoch_from_now() -> None:
        """The first line naming an epoch: the log is read by epoch, as if no step row had
        been read (the step counters there are within epochs)."""
        nonlocal by_step, current, first, metrics
        by_step, current, first, metrics = False, None, None, {}
        history.steps = Table()

    table: list[str] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = _clean(raw)
        stamp = line_time(_ANSI.sub("", raw)) if raw[:1] in _STAMP_STARTS else None
        row = table_row(line, table) if table is not None else None
        if row is not None:
            if by_step:
                by_epoch_from_now()
            flush()
            begin(row[0], number)
            current, metrics = row
            row_time = stamp
            continue
        header = table_header(line)
        if header is not None:
            table = header
            continue
        epoch = epoch_of(line)
        if epoch is not None and by_step:
            by_epoch_from_now()
        key = step_of(line) if by_step else epoch
        if key is not None and key != current:
            flush()
            begin(key, number)
            current, metrics, row_time = key, {}, None
        if current is not None:
            # A progress bar reports running means: its last state, the epoch's end, wins.
            found = fields(line)
            metrics.update(found)
            if found and stamp is not None:
                row_time = stamp
    flush()
