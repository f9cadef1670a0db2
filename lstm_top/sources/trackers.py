"""Readers for what other tools write, each into a History: Hugging Face's
``trainer_state.json``, MLflow's local file store, DVCLive's folder and Ray Tune's trial folders.

Every reader maps its tool's own conventions onto per-tag (step, time, value) series (see
``sources/series.py``), so an ``epoch`` series (HF's fractional ``epoch``) groups steps into
epochs and a run without one gets one row per step. With ``live=True`` a trailing line without
its newline is left out: a row still being written waits for the next look.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from typing import Any

from lstm_top.format import (
    STATUS_COMPLETED,
    STATUS_CRASHED,
    STATUS_INTERRUPTED,
    nesting_too_deep,
    to_float,
)
from lstm_top.history import History
from lstm_top.sources.base import SourceError
from lstm_top.sources.inputs import decode_text
from lstm_top.sources.series import Point, history_from_series

# Plenty for a real run folder; a walk started in the wrong place stops here.
MAX_FILES = 2000
MAX_TEXT_BYTES = 256 << 20


def read_text(path: str, live: bool = False) -> str:
    """The file as text; with ``live``, only up to its last newline."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TEXT_BYTES)
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if live:
        data = data[: data.rfind(b"\n") + 1]
    return decode_text(data)  # UTF-8, a BOM dropped; UTF-16 decoded


def _parse_number(text: str) -> float | None:
    """A number written as text ("0.5", "nan", "1e-3"), else None."""
    try:
        return float(text)
    except ValueError:
        return None


def _load_json(path: str, text: str) -> Any:
    if nesting_too_deep(text):
        raise SourceError(f"{path}: JSON nested too deeply")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"{path}: not JSON ({str(exc)[:80]})") from None


def _scalar_config(data: Any) -> dict[str, Any]:
    """Config values a table can show: numbers, strings, booleans (nested keys dotted)."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any, depth: int) -> None:
        if isinstance(value, dict) and depth < 4:
            for key, item in list(value.items())[:200]:
                walk(f"{prefix}.{key}" if prefix else str(key), item, depth + 1)
        elif isinstance(value, str | int | float | bool) or value is None:
            flat[prefix[:80]] = value if not isinstance(value, str) else value[:80]
    walk("", data, 0)
    return flat


# ---------------------------------------------------------------- Hugging Face trainer_state.json

HF_STATE_NAME = "trainer_state.json"
# Bookkeeping in HF's log_history entries, not metrics.
_HF_SKIP = frozenset({"step", "total_flos", "train_runtime", "train_samples_per_second",
                      "train_steps_per_second", "eval_runtime", "eval_samples_per_second",
                      "eval_steps_per_second"})


def read_trainer_state(path: str, live: bool = False) -> History:
    """``trainer_state.json``, which the Trainer rewrites whole at every checkpoint save."""
    data = _load_json(path, read_text(path))
    log = data.get("log_history") if isinstance(data, dict) else None
    if not isinstance(log, list):
        raise SourceError(f"{path}: not a Hugging Face trainer state (no log_history list)")
    series: dict[str, list[Point]] = {}
    for entry in log:
        if not isinstance(entry, dict):
            continue
        step = to_float(entry.get("step"))
        if step is None or not math.isfinite(step):
            continue
        for key, value in entry.items():
            number = to_float(value)
            if key in _HF_SKIP or number is None or isinstance(value, bool):
                continue
            # HF names its evaluation metrics eval_*: our loss keys know eval_loss.
            series.setdefault(str(key), []).append((int(step), math.nan, number))
    history = history_from_series(path, series)
    history.source_kind = "hf-trainer-state"
    # The Trainer's own file is named after its run folder (out/checkpoint-500/ -> out); a
    # state file saved under another name (copied beside others) by its own name.
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.basename(folder).startswith("checkpoint-"):
        folder = os.path.dirname(folder)
    named_by_folder = os.path.basename(path) == HF_STATE_NAME
    history.run_name = os.path.basename(folder if named_by_folder else path)
    history.config = {"source_format": "hf-trainer-state"}
    for key in ("train_batch_size", "num_train_epochs", "max_steps", "eval_steps"):
        if isinstance(data.get(key), int | float):
            history.config[key] = data[key]
    return history


def hf_state_file(folder: str) -> str | None:
    """The newest ``trainer_state.json`` of a Trainer ``output_dir``: its own, or that of the
    latest ``checkpoint-<step>/`` (the Trainer writes one per save)."""
    checkpoints = []
    for name in _listdir(folder):
        if name.startswith("checkpoint-") and name[len("checkpoint-"):].isdigit():
            path = os.path.join(folder, name, HF_STATE_NAME)
            if os.path.isfile(path):
                checkpoints.append((int(name[len("checkpoint-"):]), path))
    own = os.path.join(folder, HF_STATE_NAME)
    if os.path.isfile(own):
        checkpoints.append((-1, own))  # the final save_state(): newest only by time
        checkpoints.sort(key=lambda item: os.path.getmtime(item[1]))
    else:
        checkpoints.sort()
    return checkpoints[-1][1] if checkpoints else None


def read_hf_output(folder: str, live: bool = False) -> History:
    """A Trainer ``output_dir``: its newest trainer state, named after the folder."""
    path = hf_state_file(folder)
    if path is None:
        raise SourceError(f"{folder}: no trainer_state.json in it or its checkpoint-*/ yet")
    history = read_trainer_state(path, live)
    history.run_name = os.path.basename(os.path.normpath(folder))
    return history


# ---------------------------------------------------------------- MLflow local file store

MLFLOW_STATUS = {"1": None, "2": None, "3": STATUS_COMPLETED, "4": STATUS_CRASHED,
                 "5": STATUS_INTERRUPTED, "RUNNING": None, "SCHEDULED": None,
                 "FINISHED": STATUS_COMPLETED, "FAILED": STATUS_CRASHED,
                 "KILLED": STATUS_INTERRUPTED}


def is_mlflow_run(folder: str) -> bool:
    return (os.path.isfile(os.path.join(folder, "meta.yaml"))
            and os.path.isdir(os.path.join(folder, "metrics")))


def _files_under(folder: str) -> Iterator[str]:
    count = 0
    for parent, subfolders, files in os.walk(folder):
        subfolders.sort()
        for name in sorted(files):
            count += 1
            if count > MAX_FILES:
                return
            yield os.path.join(parent, name)


def _meta_yaml(path: str) -> dict[str, str]:
    """The flat ``key: value`` lines of MLflow's meta.yaml (no YAML library needed)."""
    values: dict[str, str] = {}
    try:
        text = read_text(path)
    except SourceError:
        return values
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith(" "):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def read_mlflow_run(folder: str, live: bool = False) -> History:
    """``mlruns/<experiment>/<run>/``: ``metrics/<name>`` holds ``timestamp value step`` lines."""
    metrics = os.path.join(folder, "metrics")
    if not os.path.isdir(metrics):
        raise SourceError(f"{folder}: not an MLflow run folder (no metrics/)")
    series: dict[str, list[Point]] = {}
    problems: list[tuple[int, str]] = []
    for path in _files_under(metrics):
        name = os.path.relpath(path, metrics).replace(os.sep, "/")
        points: list[Point] = []
        for number, line in enumerate(read_text(path, live).splitlines(), start=1):
            parts = line.split()
            if len(parts) < 2:
                continue
            stamp, value = _parse_number(parts[0]), _parse_number(parts[1])
            step = _parse_number(parts[2]) if len(parts) > 2 else float(number - 1)
            if value is None or step is None or not math.isfinite(step):
                problems.append((number, f"metrics/{name}: not 'timestamp value step'"))
                continue
            points.append((int(step), math.nan if stamp is None else stamp / 1000.0, value))
        if points:
            series[name] = points
    history = history_from_series(folder, series)
    history.source_kind = "mlflow"
    meta = _meta_yaml(os.path.join(folder, "meta.yaml"))
    history.end_status = MLFLOW_STATUS.get(meta.get("status", ""))
    end = _parse_number(meta.get("end_time") or "")
    history.end_time = end / 1000.0 if end else None
    history.config = {"source_format": "mlflow"}
    params = os.path.join(folder, "params")
    if os.path.isdir(params):
        for path in list(_files_under(params))[:200]:
            try:
                setting = read_text(path).strip()[:80]
            except SourceError:
                continue
            history.config[os.path.relpath(path, params).replace(os.sep, "/")] = setting
    try:
        history.run_name = read_text(os.path.join(folder, "tags", "mlflow.runName")).strip()
    except SourceError:
        history.run_name = meta.get("run_name") or os.path.basename(folder)
    for number, reason in problems[:100]:
        history.note_problem(number, reason)
    return history


# ---------------------------------------------------------------- DVCLive

def dvclive_metrics_folder(folder: str) -> str | None:
    """``<folder>/plots/metrics`` (the folder is DVCLive's ``dvclive/``), else None."""
    metrics = os.path.join(folder, "plots", "metrics")
    return metrics if os.path.isdir(metrics) else None


def read_dvclive(folder: str, live: bool = False) -> History:
    """``dvclive/plots/metrics/**/<name>.tsv``: ``[timestamp] step value`` rows per metric."""
    metrics = dvclive_metrics_folder(folder)
    if metrics is None:
        raise SourceError(f"{folder}: not a DVCLive folder (no plots/metrics/)")
    series: dict[str, list[Point]] = {}
    for path in _files_under(metrics):
        if not path.endswith(".tsv"):
            continue
        name = os.path.relpath(path, metrics)[: -len(".tsv")].replace(os.sep, "/")
        rows = read_text(path, live).splitlines()
        if not rows:
            continue
        header = rows[0].split("\t")
        if "step" not in header or len(header) < 2:
            continue
        step_at, value_at = header.index("step"), len(header) - 1
        time_at = header.index("timestamp") if "timestamp" in header else None
        points: list[Point] = []
        for row in rows[1:]:
            cells = row.split("\t")
            if len(cells) != len(header):
                continue
            step, value = _parse_number(cells[step_at]), _parse_number(cells[value_at])
            if step is None or value is None or not math.isfinite(step):
                continue
            stamp = _parse_number(cells[time_at]) if time_at is not None else None
            points.append((int(step), math.nan if stamp is None else stamp / 1000.0, value))
        if points:
            series[name] = points
    history = history_from_series(folder, series)
    history.source_kind = "dvclive"
    parent = os.path.dirname(os.path.abspath(folder))
    history.run_name = os.path.basename(parent) if os.path.basename(folder) == "dvclive" \
        else os.path.basename(folder)
    history.config = {"source_format": "dvclive"}
    params = os.path.join(folder, "params.yaml")
    if os.path.isfile(params):
        for line in read_text(params).splitlines()[:200]:
            key, sep, setting = line.partition(":")
            if sep and not line.startswith(" ") and setting.strip():
                history.config[key.strip()] = setting.strip()[:80]
    return history


# ---------------------------------------------------------------- Ray Tune

RAY_RESULT = "result.json"
RAY_PROGRESS = "progress.csv"
RAY_PARAMS = "params.json"
# What Ray Tune adds to every reported result: bookkeeping, not the trainable's metrics.
RAY_BOOKKEEPING = frozenset({
    "timestamp", "time_this_iter_s", "time_total_s", "time_since_restore", "pid",
    "training_iteration", "iterations_since_restore", "timesteps_total", "episodes_total",
    "timesteps_since_restore", "done", "date", "hostname", "node_ip", "trial_id",
    "experiment_id", "experiment_tag", "should_checkpoint", "checkpoint_dir_name",
    "warmup_time", "config"})


def is_ray_trial(folder: str) -> bool:
    names = set(_listdir(folder))
    return RAY_PARAMS in names and (RAY_RESULT in names or RAY_PROGRESS in names)


def _listdir(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def read_ray_trial(target: str, live: bool = False) -> History:
    """A trial folder (or its ``result.json``): one JSON object per ``tune.report``."""
    folder = target if os.path.isdir(target) else os.path.dirname(os.path.abspath(target))
    path = os.path.join(folder, RAY_RESULT)
    history = History(source=target, source_kind="ray-tune")
    history.run_name = os.path.basename(os.path.normpath(folder))
    history.config = {"source_format": "ray-tune"}
    config: Any = None
    try:
        config = _load_json(folder, read_text(os.path.join(folder, RAY_PARAMS)))
    except SourceError:
        pass
    epoch_key: str | None = None
    for number, line in enumerate(read_text(path, live).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line) if not nesting_too_deep(line) else None
        except (ValueError, RecursionError):
            record = None
        if not isinstance(record, dict):
            history.note_problem(number, "line is not a JSON object")
            continue
        if config is None and isinstance(record.get("config"), dict):
            config = record["config"]
        if epoch_key is None:
            epoch_key = "epoch" if "epoch" in record else "training_iteration"
        index = to_float(record.get(epoch_key))
        if index is None or not math.isfinite(index) or abs(index) >= 2**62:
            history.note_problem(number, f"{epoch_key} is missing or not a number")
            continue
        metrics = {}
        for key, value in record.items():
            number_value = to_float(value)
            if key in RAY_BOOKKEEPING or key == epoch_key or number_value is None \
                    or isinstance(value, bool):
                continue
            metrics[str(key)[:200]] = number_value
        if len(history.epochs) and int(index) <= history.epochs.index[-1]:
            history.epoch_rewinds += 1
        history.epochs.append(int(index), to_float(record.get("timestamp")), metrics)
        if record.get("done") is True:
            history.end_status = STATUS_COMPLETED
    if isinstance(config, dict):
        history.config.update(_scalar_config(config))
    return history
