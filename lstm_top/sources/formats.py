"""The one registry of input formats: what a target is, how to read it whole, how to follow it.

``classify(target)`` names the format of a file or folder (or None: a folder of runs, or a file
that is not a history); ``read_history(path)`` reads it whole (``lstm-top check``, the corpus);
``open_source(target)`` in ``sources/open.py`` follows it live, and the folder watcher reports
the runs of a folder tree through ``find_runs``. All three decide with this module, so a target
is the same thing everywhere.

Each ``Format`` is a sniffer (``classify`` tries them in order), a bulk reader (``read``) and a
follower (``follow``): our JSON Lines are followed byte by byte (``FileFollower``); every other
format is small and sometimes rewritten whole, and is re-read on change (``SnapshotFollower``).
"""

from __future__ import annotations

import json
import os
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from lstm_top.format import split_subset_column, subset_column
from lstm_top.history import History, Table, resolve_loss_keys
from lstm_top.sources import files, inputs, tensorboard, textlog, trackers, wandb
from lstm_top.sources.base import LiveSource, SourceError
from lstm_top.sources.bulk import BulkJsonlParser

HEAD_BYTES = 1 << 16
READ_CHUNK_BYTES = 1 << 22
# A history JSON dump is small; a huge .json is something else and is not read to find out.
MAX_HISTORY_JSON_BYTES = 32 << 20
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines")
CSV_SUFFIXES = (".csv", ".tsv")
# Printed training output saved to a file (``python train.py > train.log``, a Slurm job's
# ``slurm-123.out``): found in a folder's walk when its first lines read as a training log. Not
# ``.txt``: a folder's notes ("epoch 1 loss 0.3") are not runs (named as a target, one is read).
TEXT_LOG_SUFFIXES = (".log", ".out")
_LOSS_HINTS = ("loss", "acc", "epoch", "step")


@dataclass(frozen=True)
class Format:
    name: str  # shown to the user ("keras-csv", "tensorboard", ...)
    description: str  # what it is and what is followed live (README "Watch" mirrors this)
    reader: Callable[[str, bool], History]  # (path, live) -> History; raises SourceError
    incremental: bool = False  # followed by appending bytes (our JSONL) rather than re-reading

    def read(self, path: str, live: bool = False) -> History:
        """The whole file or folder; with ``live``, an unfinished last row left out."""
        history = self.reader(path, live)
        if not self.incremental:
            name_subsets(history)
        return history

    def follow(self, target: str) -> LiveSource:
        if self.incremental and not inputs.utf16_codec(_head(target, 4096)):
            from lstm_top.sources.follow import FileFollower

            return FileFollower(target)
        from lstm_top.sources.snapshot import SnapshotFollower

        return SnapshotFollower(target, self.read)


# ---------------------------------------------------------------------------- metric names

# Lightning names a metric logged on several validation dataloaders ``val_loss/dataloader_idx_1``.
_DATALOADER_SUFFIX = re.compile(r"^(?P<metric>.+)/dataloader_idx_(?P<index>\d+)$")


def name_subsets(history: History) -> None:
    """Other tools' names for per-subset metrics, as ours: ``val_loss/dataloader_idx_1`` is
    subset ``dataloader_1``'s ``val_loss`` (``val_loss[dataloader_1]``), as our Lightning
    callback names it. Without a plain ``val_loss``, the subsets' mean stands in for it.
    Columns a Keras callback adds for subsets (``val_rare_loss``, ``val_loss_rare``, ...) are
    subsets too where they bracket the validation loss (see ``_keras_style_subsets``)."""
    for table in (history.epochs, history.steps):
        _keras_style_subsets(table)
        renamed: dict[str, list[str]] = {}
        for name in table.names:
            match = _DATALOADER_SUFFIX.match(name)
            if match is None:
                continue
            column = subset_column(match["metric"], f"dataloader_{match['index']}")
            if column in table:
                continue
            table.rename(name, column)
            renamed.setdefault(match["metric"], []).append(column)
        for metric, columns in renamed.items():
            if metric in table or len(columns) < 2:
                continue
            values = np.vstack([table.column(c) for c in columns])
            present = np.vstack([table.present(c) for c in columns])
            with np.errstate(invalid="ignore"):
                mean = np.nanmean(np.where(present, values, np.nan), axis=0)
            has = present.all(axis=0)
            if table._ensure_column(metric):
                table._values[metric][: len(table)] = np.where(has, mean, np.nan)
                table._present[metric][: len(table)] = has


# Suffixes of a validation loss column that are not a subset: Lightning's per-step and
# per-epoch variants, and the noise figures our own format writes beside it.
_NOT_SUBSETS = frozenset({"step", "epoch", "std", "n", "mean", "avg", "min", "max", "ema",
                          "smoothed", "best"})
# How often the candidate columns must bracket the validation loss (one below, one above it):
# a mean over subsets always does; a multi-output model's per-output losses, which add up to
# it, never do.
_BRACKET_SHARE = 0.9


def _subset_candidates(names: list[str], val: str) -> dict[str, str]:
    """column -> subset name for the usual spellings of a per-subset validation loss."""
    prefix = val[: -len("_loss")] if val.endswith("_loss") else None
    found: dict[str, str] = {}
    for name in names:
        if name == val or split_subset_column(name) is not None:
            continue
        subset = None
        for head, tail in ((f"{val}_", ""), (f"{val}/", ""), ("", f"_{val}")):
            if head and name.startswith(head) and len(name) > len(head):
                subset = name[len(head):]
            elif tail and name.endswith(tail) and len(name) > len(tail):
                subset = name[: -len(tail)]
        if subset is None and prefix and name.startswith(f"{prefix}_") and name.endswith("_loss"):
            subset = name[len(prefix) + 1 : -len("_loss")] or None
        if subset and subset.lower() not in _NOT_SUBSETS and not subset.lower().startswith("std") \
                and not _has_training_twin(name, subset, names):
            found[name] = subset
    return found


def _has_training_twin(column: str, subset: str, names: list[str]) -> bool:
    """A ``val_<s>_loss`` with a ``<s>_loss`` beside it is a multi-output model's head (Keras
    logs every output's loss on both splits), not a validation subset, which only the
    validation data has — whatever the heads' loss weights make of the bracket test."""
    present = set(names)
    twins = {f"{subset}_loss", f"train_{subset}_loss", f"loss_{subset}", f"train_loss_{subset}",
             f"loss/{subset}", f"train_loss/{subset}"}
    if column.startswith("val_"):
        twins.add(column[len("val_"):])
    return bool(twins & present)


def _keras_style_subsets(table: Table) -> None:
    """Rename ``val_<s>_loss`` / ``val_loss_<s>`` / ``<s>_val_loss`` / ``val_loss/<s>`` to
    ``val_loss[<s>]`` when there are at least two and, row by row, the smallest is at or below
    the validation loss and the largest at or above it (the average of subsets lies between
    them; per-output losses of a multi-output model sum to it, so all lie below)."""
    val = resolve_loss_keys(table.names).val
    if val is None or val not in table:
        return
    candidates = _subset_candidates(list(table.names), val)
    if len(candidates) < 2:
        return
    columns = list(candidates)
    values = np.vstack([table.column(c) for c in columns])
    present = np.vstack([table.present(c) for c in columns]).all(axis=0) & table.present(val)
    if not present.any():
        return
    with np.errstate(invalid="ignore"):
        rows = values[:, present]
        reference = table.column(val)[present]
        tolerance = 1e-6 * np.abs(reference) + 1e-12
        brackets = ((rows.min(axis=0) <= reference + tolerance)
                    & (rows.max(axis=0) >= reference - tolerance))
    if brackets.mean() < _BRACKET_SHARE:
        return
    for name, subset in candidates.items():
        column = subset_column(val, subset)
        if column in table:
            continue
        table.rename(name, column)


# ---------------------------------------------------------------------------- bulk readers

def _open_error(path: str, exc: OSError) -> SourceError:
    if isinstance(exc, FileNotFoundError):
        return SourceError(f"{path}: no such file")
    if isinstance(exc, IsADirectoryError):
        return SourceError(f"{path}: is a directory")
    if isinstance(exc, PermissionError):
        return SourceError(f"{path}: permission denied")
    return SourceError(f"{path}: cannot read ({exc.strerror or exc})")


def read_jsonl(path: str, live: bool = False) -> History:
    """Our JSON Lines (and flat ``{"epoch": .., "loss": ..}`` lines), a chunk at a time."""
    history = History(source=path, source_kind="jsonl")
    parser = BulkJsonlParser(history)
    try:
        with open(path, "rb") as handle:
            first = handle.read(READ_CHUNK_BYTES)
            if inputs.utf16_codec(first):  # rare, and whole: transcoded in one piece
                first = inputs.as_utf8(first + handle.read(trackers.MAX_TEXT_BYTES))
            parser.feed(inputs.as_utf8(first))
            while chunk := handle.read(READ_CHUNK_BYTES):
                parser.feed(chunk)
    except OSError as exc:
        raise _open_error(path, exc) from None
    if not live:
        parser.finish()
    if parser.newer_format and not len(history.epochs):
        raise SourceError(f"{path}: {parser.newer_format}")
    return history


def read_csv(path: str, live: bool = False) -> History:
    """Keras CSVLogger, Lightning's metrics.csv, Ray Tune's progress.csv, any per-epoch CSV."""
    text = trackers.read_text(path, live)
    history = History(source=path, source_kind="csv")
    if live and not text.strip():
        raise SourceError(f"{path}: empty CSV file (waiting for its header)")
    files.read_csv_text(text, history)
    return history


def read_history_json(path: str, live: bool = False) -> History:
    history = History(source=path, source_kind="history-json")
    files.read_history_json_text(trackers.read_text(path), history)
    return history


def read_text_log(path: str, live: bool = False) -> History:
    """A printed training log (Keras' fit output, a PyTorch loop's print lines, a language
    model's step lines)."""
    history = History(source=path, source_kind="text-log")
    textlog.read_text_log(trackers.read_text(path, live), history)
    if not len(history.epochs) and not len(history.steps) and not live:
        raise SourceError(f"{path}: no epoch (or step) with metrics found in this text log")
    return history


def _read_tensorboard(path: str, live: bool = False) -> History:
    return tensorboard.read_tensorboard(path)


def _read_wandb(path: str, live: bool = False) -> History:
    return wandb.read_wandb_history(path, live)


def _read_wandb_folder(path: str, live: bool = False) -> History:
    return wandb.read_wandb_history(wandb.history_file(path), live)


# ---------------------------------------------------------------------------- the registry

JSONL = Format("jsonl", "lstm-top's JSON Lines (also flat {\"epoch\":..} lines): appended "
               "lines followed as they are written", read_jsonl, incremental=True)
KERAS_CSV = Format("csv", "Keras CSVLogger / Lightning metrics.csv / any per-epoch CSV: "
                   "re-read on change; a repeated header line, or the epoch counter starting "
                   "over (CSVLogger(append=True)), starts a new run", read_csv)
HISTORY_JSON = Format("history-json", "Keras history JSON (json.dump(fit().history)) or a "
                      "JSON list of per-epoch records: "
                      "re-read when rewritten", read_history_json)
TENSORBOARD = Format("tensorboard", "TensorBoard event files or folders: new records and new "
                     "event files followed", _read_tensorboard)
HF_STATE = Format("hf-trainer-state", "Hugging Face trainer_state.json: re-read at every "
                  "checkpoint save", lambda path, live: trackers.read_trainer_state(path, live))
HF_OUTPUT = Format("hf-output-dir", "a Hugging Face Trainer output_dir: the newest "
                   "checkpoint-*/trainer_state.json, re-read at every save",
                   lambda path, live: trackers.read_hf_output(path, live))
WANDB = Format("wandb", "W&B / HF history JSON Lines (_step, train/epoch) and W&B run folders: "
               "re-read as it grows", _read_wandb)
WANDB_FOLDER = Format("wandb-folder", "a W&B run folder (files/wandb-history.jsonl)",
                      _read_wandb_folder)
WANDB_OFFLINE = Format("wandb-offline", "a W&B offline run (wandb/offline-run-*/run-*.wandb, "
                       "read with the wandb package): records parsed as W&B flushes them",
                       wandb.read_offline_run)
MLFLOW = Format("mlflow", "an MLflow run folder (mlruns/<exp>/<run>/metrics/*): new metric "
                "lines followed", lambda path, live: trackers.read_mlflow_run(path, live))
DVCLIVE = Format("dvclive", "a DVCLive folder (dvclive/plots/metrics/**.tsv): new rows "
                 "followed", lambda path, live: trackers.read_dvclive(path, live))
RAY_TUNE = Format("ray-tune", "a Ray Tune trial folder (result.json, params.json): new "
                  "results followed", lambda path, live: trackers.read_ray_trial(path, live))

TEXT_LOG = Format("text-log", "a printed training log (Keras' fit output, `Epoch [3/10], "
                  "Train Loss: .., Val Loss: ..` lines): re-read on change", read_text_log)

FORMATS: tuple[Format, ...] = (JSONL, KERAS_CSV, HISTORY_JSON, TENSORBOARD, HF_STATE, HF_OUTPUT,
                               WANDB, WANDB_FOLDER, WANDB_OFFLINE, MLFLOW, DVCLIVE, RAY_TUNE,
                               TEXT_LOG)


# The heads read last, with the (device, inode, size, mtime) they were read at: a folder walk
# reads a file's head to tell whether it is a run, then opening the run reads it twice more
# (its format, its encoding). A stat instead of four calls each time, for a sweep's thousand
# files: each call a worker thread makes waits for the GIL to come back from the UI thread.
_RECENT_HEADS = 8
_recent_heads: OrderedDict[str, tuple[tuple[int, int, int, int], bytes]] = OrderedDict()
_recent_heads_lock = threading.Lock()


def _head(path: str, size: int = HEAD_BYTES) -> bytes:
    """The first bytes of a regular file; nothing for a FIFO or device (opening a FIFO would
    block until a writer comes, ``/dev/zero`` never ends)."""
    try:
        st = os.stat(path)
    except OSError:
        return b""
    if not stat.S_ISREG(st.st_mode):
        return b""
    identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _recent_heads_lock:
        known = _recent_heads.get(path)
    if known is not None and known[0] == identity and (
            len(known[1]) >= size or len(known[1]) == st.st_size):
        return known[1][:size]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return b""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced by a FIFO since the stat
            return b""
        data = os.read(fd, size)
    except OSError:
        return b""
    finally:
        os.close(fd)
    with _recent_heads_lock:
        _recent_heads[path] = ((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), data)
        _recent_heads.move_to_end(path)
        while len(_recent_heads) > _RECENT_HEADS:
            _recent_heads.popitem(last=False)
    return data


def classify_folder(folder: str) -> Format | None:
    """The format of a folder that is one run, or None (a folder of runs, or nothing)."""
    if trackers.is_ray_trial(folder):
        if any(name.endswith(JSONL_SUFFIXES) for name in trackers._listdir(folder)):
            return None  # our own history beside Ray's files: that file is the run
        return RAY_TUNE
    if trackers.is_mlflow_run(folder):
        return MLFLOW
    if trackers.dvclive_metrics_folder(folder) is not None:
        return DVCLIVE
    if wandb.history_file(folder) is not None:
        return WANDB_FOLDER
    if wandb.is_offline_run_folder(folder):
        return WANDB_OFFLINE
    if trackers.hf_state_file(folder) is not None:
        return HF_OUTPUT
    if tensorboard.is_tensorboard_folder(folder):
        return TENSORBOARD
    return None


def classify_file(path: str, head: bytes | None = None) -> Format | None:
    """The format of a file from its name and first bytes; None when it is not a history, or
    when too little of it is written to tell (an empty file: ask again later)."""
    base = os.path.basename(path)
    lower = base.lower()
    if tensorboard.is_event_file(path):
        return TENSORBOARD
    if lower == trackers.HF_STATE_NAME:
        return HF_STATE
    if lower == "wandb-history.jsonl":
        return WANDB
    if lower == trackers.RAY_RESULT and trackers.is_ray_trial(os.path.dirname(path) or "."):
        return RAY_TUNE
    head = _head(path) if head is None else head
    if lower.endswith(".wandb"):
        return WANDB_OFFLINE if wandb.is_transaction_log(lower, head) else None
    head = inputs.as_utf8(head)
    text = head.lstrip()
    if not text:
        return JSONL if lower.endswith(JSONL_SUFFIXES) else None
    first_line, newline, _ = text.partition(b"\n")
    first_line = first_line.rstrip(b"\r")
    if text.startswith(b"[") and lower.endswith(".json"):
        return HISTORY_JSON  # a list of per-epoch records
    if text.startswith(b'"{') and lower.endswith(".json"):
        return HISTORY_JSON  # json.dump(str(history.history)): the dict's repr as a string
    if text.startswith(b"{"):
        try:
            first = json.loads(first_line)
        except (ValueError, RecursionError):
            first = None
        if isinstance(first, dict) and (newline or lower.endswith(JSONL_SUFFIXES)):
            return _jsonl_flavour(first)
        if lower.endswith(JSONL_SUFFIXES):
            return JSONL if newline else None  # the first line is still being written
        if lower.endswith(".json") or not newline:
            if b"log_history" in head:
                return HF_STATE
            return HISTORY_JSON
        if first is None and _text_log(head):
            return TEXT_LOG  # printed dicts, as Hugging Face's Trainer prints its logs
        return JSONL
    if lower.endswith(JSONL_SUFFIXES):
        return JSONL
    if not newline:
        return None  # a CSV header still being written, or not a history at all
    if not lower.endswith(CSV_SUFFIXES) and _text_log(head):
        return TEXT_LOG
    if lower.endswith(CSV_SUFFIXES) or b"," in first_line or b"\t" in first_line:
        return KERAS_CSV
    return None


def _text_log(head: bytes) -> bool:
    return textlog.looks_like_text_log(head.decode("utf-8", "replace"))


def _jsonl_flavour(first: dict[str, object]) -> Format:
    """Ours (a ``kind`` or an ``epoch``), else W&B/HF rows keyed by ``_step``, else Ray's."""
    if "kind" in first or "epoch" in first:
        return JSONL
    if "_step" in first:
        return WANDB
    if "training_iteration" in first and "trial_id" in first:
        return RAY_TUNE
    return JSONL


def classify(target: str) -> Format | None:
    """What ``target`` is: a file's or a run folder's format, or None (a folder of runs, a
    file that is not a history or not written far enough to tell, a missing path)."""
    if os.path.isdir(target):
        return classify_folder(target)
    if os.path.isfile(target):
        return classify_file(target)
    return None


def read_history(path: str | os.PathLike[str]) -> History:
    """Read a whole file or run folder. Raises SourceError when it cannot be read or
    recognised."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SourceError(f"{path}: no such file")
    inputs.refuse_special(path)  # before anything opens it: a FIFO would block, /dev/zero not end
    fmt = classify(path)
    if fmt is None:
        if os.path.isdir(path):
            # Not a run folder: TensorBoard's reader says why, and names files to pass instead.
            return tensorboard.read_tensorboard(path)
        if not _head(path).strip():
            raise SourceError(f"{path}: empty file")
        fmt = JSONL  # unrecognised text: read as lines, each bad one counted and shown
    history = fmt.read(path, False)
    if fmt is not JSONL:
        history.source_kind = history.source_kind or fmt.name
    return history


# ---------------------------------------------------------------------------- folders of runs

# How deep to look for runs below a folder (runs/<sweep>/<trial>/..., mlruns/<exp>/<run>).
MAX_RUN_DEPTH = 4
MAX_RUNS = 5000
_SKIPPED_FOLDERS = frozenset({"__pycache__", ".git", "checkpoints", "artifacts", "node_modules",
                              ".ipynb_checkpoints", "wandb-internal", "logs-internal"})


def looks_like_history(path: str) -> bool:
    """Whether a file in a watched folder is a run to show (a folder of other JSON or CSV
    files stays quiet)."""
    lower = path.lower()
    if os.path.basename(path).startswith("."):
        return False
    if not lower.endswith((*JSONL_SUFFIXES, *CSV_SUFFIXES, *TEXT_LOG_SUFFIXES, ".json",
                           ".wandb")) \
            and not tensorboard.is_event_file(path):
        return False
    head = _head(path)
    fmt = classify_file(path, head)
    if fmt is None:
        return False
    if fmt is KERAS_CSV:
        first_row = head.split(b"\n", 1)[0].decode("utf-8", "replace").lower()
        return any(hint in first_row for hint in _LOSS_HINTS)
    if fmt is HISTORY_JSON:
        try:
            if os.path.getsize(path) > MAX_HISTORY_JSON_BYTES:
                return False
            history = read_history_json(path)
        except (SourceError, OSError):
            return False
        # A metric -> list JSON that is not about training (Ray's experiment_state, ...)
        # has no loss-like series.
        return any(hint in name.lower() for name in history.epochs.names
                   for hint in _LOSS_HINTS)
    if fmt is JSONL:
        return _first_line_is_record(head)
    return True


def _first_line_is_record(head: bytes) -> bool:
    from lstm_top.format import RecordError, decode_line

    newline = head.find(b"\n")
    if newline < 0:
        return False  # nothing, or a first line still being written: look again later
    try:
        decode_line(head[:newline].rstrip(b"\r"))
    except RecordError:
        return False
    return True


_RUN_FOLDER_MARKERS = frozenset({trackers.RAY_PARAMS, trackers.HF_STATE_NAME,
                                 wandb.HISTORY_NAME})


def _may_be_run_folder(folder: str, subfolders: list[str], names: list[str]) -> bool:
    """Whether ``classify_folder`` could find a run format in the folder, from the listing
    the walk has anyway: a leaf folder holding only history files (``trial_7/run.jsonl``)
    cannot be one, and a sweep's thousand of them are spared a dozen file-system calls each.
    (MLflow and DVCLive runs have subfolders; the others a file of their own.)"""
    if subfolders:
        return True
    if wandb.is_offline_run_folder_name(folder):
        return True
    return any(name in _RUN_FOLDER_MARKERS or name.endswith(".wandb")
               or tensorboard.is_event_file(name) for name in names)


def find_runs(folder: str, max_depth: int = MAX_RUN_DEPTH,
              looks: Callable[[str], bool] | None = None) -> Iterator[str]:
    """Every run under ``folder``: run folders (a Ray trial, an MLflow run, a TensorBoard log
    dir...) as one run each, history files as one run each, searched ``max_depth`` deep.
    ``looks`` decides for each file (default ``looks_like_history``; a watcher passes one that
    remembers the files it already turned down)."""
    looks = looks or looks_like_history
    count = 0
    root_depth = os.path.abspath(folder).rstrip(os.sep).count(os.sep)
    for parent, subfolders, names in os.walk(folder):
        subfolders.sort()
        names.sort()
        depth = os.path.abspath(parent).rstrip(os.sep).count(os.sep) - root_depth
        if depth and _may_be_run_folder(parent, subfolders, names) \
                and classify_folder(parent) is not None:
            subfolders.clear()
            count += 1
            yield parent
            continue
        for name in names:
            path = os.path.join(parent, name)
            # Event files count through their folder (a TensorBoard log dir is one run).
            if not tensorboard.is_event_file(name) and looks(path):
                count += 1
                yield path
        if count >= MAX_RUNS:
            return
        subfolders[:] = [name for name in subfolders
                         if name not in _SKIPPED_FOLDERS and not name.startswith(".")
                         and depth < max_depth]


__all__ = ["FORMATS", "Format", "classify", "find_runs", "looks_like_history", "read_history"]
