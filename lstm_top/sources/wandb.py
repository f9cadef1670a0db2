"""Read a Weights & Biases history file (``wandb-history.jsonl``) into a History.

One JSON object per ``wandb.log`` call: ``{"_step": 3, "_timestamp": 1732.4, "train/loss": 0.5,
"epoch": 0, ...}``. Keys starting with ``_`` are W&B's own bookkeeping; non-numbers (media,
histograms) are left out. Rows become epochs the same way as TensorBoard scalars (see
``sources/tensorboard.py``): through an ``epoch`` value when the run logged one (Lightning's
``epoch``, Hugging Face's fractional ``train/epoch`` rounded up), else one epoch per step.
"""

from __future__ import annotations

import math
import os

from lstm_top.format import RecordError, parse_json, to_float
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
