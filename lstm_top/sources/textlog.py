"""Plain-text training logs: what a training script printed, saved to a file.

Keras' ``fit`` output (``Epoch 3/10`` on one line, ``32/32 ... - loss: 0.41 - val_loss: 0.52``
on the next, progress bars and colour codes included) and the lines PyTorch loops print
(``Epoch [3/10], Train Loss: 0.41, Val Loss: 0.52``, ``epoch 3 | train_loss 0.41 | val_loss
0.52``, ``[Epoch 3] loss=0.41 val_loss=0.52``, a printed dict). A line that names an epoch
starts it; ``name: number``, ``name=number`` and ``name number`` fields are its metrics, also on
the lines that follow until the next epoch. Names are written the usual way (``Train Loss`` ->
``train_loss``, ``Val Loss`` -> ``val_loss``). A phase word heading a line's metrics names them
for that phase (``[Epoch: 05] Valid acc: 0.30 | loss: 2.05`` -> ``val_acc``, ``val_loss``; on a
Train line they stay ``acc``, ``loss``; a Test line's are ``test_...``). Lines with nothing to
read are passed over silently: a log is mostly other text.

A tqdm progress bar (``171/171 [00:25<00:00, 7.58batch/s, loss=4.82]``) counts as one line,
however many it is printed on, when the file is recognised. Its postfix is running values: an
epoch's bars give it their last state unless a line of the epoch printed its metrics (Keras'
"``Epoch 3:``", the metrics on the next lines, at the epoch's end), after which a bar naming no
epoch is the next epoch's batches.

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
                 "bleu", "iou", "dice", "lr", "cost")
# Counters and timings, not metrics.
_NOT_METRICS = frozenset({"epoch", "epochs", "step", "steps", "batch", "iter", "iteration",
                          "eta", "time", "elapsed", "it", "s"})
# A model summary printed into the log (Keras' "Total params: 1,297 (5.07 KB)", "Optimizer
# params", torchinfo's "Trainable params"): parameter counts, not metrics of the last epoch.
_PARAMETER_COUNT = re.compile(r"(?:^|_)params$")
# An integer with thousands separators ("Total params: 134,309,708"): one number, not three
# comma-separated fields.
_GROUPED_INTEGER = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d.]|,\d)")
# A phase word: which data a line's metrics were measured on. Training metrics go unprefixed, as
# Keras names them (loss beside val_loss); the others take the prefix the loss keys know
# (val_loss, test_loss, eval_loss, dev_loss), so a test loss is the validation loss only in a
# log without one.
_PHASE_PREFIXES = {"train": "", "training": "", "val": "val_", "valid": "val_",
                   "validation": "val_", "test": "test_", "eval": "eval_", "evaluation": "eval_",
                   "dev": "dev_"}
# The one word of the text before a line's first metric, with nothing but punctuation after it
# (in "Best Validation MAE: 15.6" the phase word is part of a summary's name, not a heading).
_PHASE_HEAD = re.compile(r"^[^A-Za-z]*([A-Za-z]+)[\s:|\-\[\](),>]*$")
# What may stand between a phase word and its metrics without making it a name: a batch counter
# and a rate ("- Valid | Epoch 1 | 2/3 | 0.37 it/sec | Loss 0.22"), a "Summary" after the
# phase word ("- Valid Summary | Epoch 1 | Loss=0.25", Demucs' solver).
_BETWEEN_PHASE_AND_METRICS = re.compile(
    r"\b\d+/\d+\b|\d+(?:\.\d+)?\s*(?:it|batch(?:es)?|samples?|s)/(?:s|sec|it)\b"
    r"|\b(?:summary|results|stats)\b", re.IGNORECASE)
# Of the run, not of a phase: a learning rate printed on a validation line is no "val_lr".
_RUN_LEVEL = frozenset({"lr", "learning_rate"})
# A tqdm progress bar: "171/171 [00:25<00:00, 7.58batch/s, loss=4.82]" (done/total [elapsed<
# remaining, rate, postfix]), or "0batch [00:00, ?batch/s]" without a total. Its postfix holds
# running values of the epoch in progress, not what the epoch ended with.
_PROGRESS_BAR = re.compile(r"""\d(?:/\d+(?:\.\d+)?[kMGT]?)?\s*   # done/total
                               \[(?:\d+:)?\d+:\d\d<(?:(?:\d+:)?\d+:\d\d|\?)[,\]]  # [elapsed<left
                           | \d[A-Za-z]+\s*\[(?:\d+:)?\d+:\d\d[,\]]  # 0batch [elapsed""",
                           re.VERBOSE)
# How many of a file's first lines (not counting blank lines and progress bars) are looked at.
HEAD_LINES = 200
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
    leading, named = _named_fields(line)
    return dict(_with_heading_phase(leading, named) or [(name, value)
                                                         for _, name, value in named])


def _named_fields(line: str) -> tuple[str, list[tuple[str, str, float]]]:
    """The text before a line's first metric (its epoch marker taken out), and its metrics in
    line order as (name as written, name, value)."""
    named: list[tuple[str, str, float]] = []
    leading: list[str] = []
    epoch = EPOCH.search(line) or BRACKETED_COUNTER.search(line) or STEP.search(line)
    rest = line if epoch is None else f"{line[:epoch.start()]} , {line[epoch.end():]}"
    rest = rest.replace("'", "").replace('"', "")
    rest = _GROUPED_INTEGER.sub(lambda m: m.group(0).replace(",", ""), rest)
    for segment in _SEPARATORS.split(rest):
        segment = segment.strip().strip("[]()/:# ")
        whole = _FIELD.match(segment)
        matches = ([whole] if whole else list(_COLON_PAIR.finditer(segment))
                   or [m for m in _SPACE_PAIR.finditer(segment)
                       if any(word in m.group(1).lower() for word in _METRIC_WORDS)])
        if not named:
            leading.append(segment[:matches[0].start()] if matches else segment)
        for match in matches:
            raw_name, raw_value = match.groups()
            name = _name(raw_name)
            try:
                value = float(raw_value)
            except ValueError:
                continue
            if name and name not in _NOT_METRICS and not _PARAMETER_COUNT.search(name):
                named.append((raw_name, name, value))
    return " | ".join(leading), named


def _names_a_phase(name: str) -> bool:
    return any(word in _PHASE_PREFIXES for word in re.split(r"[_/.]", name))


def _with_heading_phase(leading: str, named: list[tuple[str, str, float]]
                        ) -> list[tuple[str, float]] | None:
    """The metrics of a line whose phase word heads them all, named for that phase
    (``Valid acc: 0.30 | loss: 2.05`` -> val_acc, val_loss; ``Train acc: 0.25 | loss: 2.23`` ->
    acc, loss); None when no phase word heads the line's metrics. A phase word heads them when
    it is the first metric's first word followed by metrics without one, or the only word
    before the first metric (``[Epoch 5] Validation: loss 0.3, acc 0.8``); a line where
    metrics name their phase one by one (``Train Loss: 0.4, Val Loss: 0.5``, ``val_loss=0.5
    loss=0.4``) is left as it is written."""
    if not named:
        return None
    head_words = named[0][0].split()
    if len(head_words) > 1 and head_words[0].lower().rstrip(".") in _PHASE_PREFIXES:
        phase, headed = head_words[0].lower().rstrip("."), named[1:]
        head = [(" ".join(head_words[1:]), named[0][2])]
    else:
        before = _PHASE_HEAD.search(_BETWEEN_PHASE_AND_METRICS.sub(" ", leading))
        if before is None or before.group(1).lower() not in _PHASE_PREFIXES:
            return None
        phase, headed, head = before.group(1).lower(), named, []
    if any(_names_a_phase(name) for _, name, _ in headed):
        return None
    if not any(name not in _RUN_LEVEL for _, name, _ in headed):
        return None  # "Train Loss: 0.4" alone: the phase word is part of its one name
    prefix = _PHASE_PREFIXES[phase]
    renamed = [(prefix + _name(raw), value) for raw, value in head] + [
        (name if name in _RUN_LEVEL else prefix + name, value) for _, name, value in headed]
    if len({name for name, _ in renamed}) < len(renamed):
        return None  # "Train loss: 0.4 | loss: 0.3": two losses of one phase, not one heading
    return renamed


def is_progress_bar(line: str) -> bool:
    return "[" in line and _PROGRESS_BAR.search(line) is not None


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
    epochs = with_fields = counted = 0
    table: list[str] | None = None
    for raw in text.splitlines():
        line = _clean(raw)
        # A progress bar printed line by line (tqdm through a logger: a line per batch) is one
        # bar, however many lines it takes: the epoch lines after it are still among the first.
        if line.strip() and not is_progress_bar(line):
            counted += 1
            if counted > HEAD_LINES:
                return False
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
    summarised = False  # whether a line that is no progress bar gave the row metrics

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
            row_time, summarised = stamp, True
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
            current, metrics, row_time, summarised = key, {}, None, False
        if current is None:
            continue
        progress = is_progress_bar(line)
        if progress and key is None and summarised:
            # The epoch's own line printed its metrics (Keras callbacks print "Epoch 3:" and
            # the metrics when the epoch ends): a bar that names no epoch after it is the next
            # epoch's batches.
            continue
        # A progress bar reports running means: its last state, the epoch's end, wins.
        found = fields(line)
        metrics.update(found)
        summarised = summarised or bool(found and not progress)
        if found and stamp is not None:
            row_time = stamp
    flush()
