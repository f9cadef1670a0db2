"""One training run in memory: numpy columns that grow in place as records arrive.

Epoch-level and step-level series live in separate tables. A value that was never logged is
*missing*, which is not the same as a logged NaN: each column carries a ``present`` mask beside
its float64 values (float64 because losses span 1e-6..1e5 and a NaN must stay a NaN).
"""

from __future__ import annotations

import copy
import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lstm_top.format import (
    STATUS_CRASHED,
    EndRecord,
    EpochRecord,
    Header,
    Record,
    StepRecord,
    split_subset_column,
)

_INITIAL_CAPACITY = 64
# Enough to show what went wrong without letting a hostile file grow memory without bound.
MAX_KEPT_PROBLEMS = 1000
MAX_COLUMNS = 512

TRAIN_LOSS_KEYS = ("loss", "train_loss", "train/loss", "training_loss", "train_loss_epoch",
                   "loss_epoch", "trn_loss",
                   # beside per-head losses, the total is the loss
                   "train_total_loss", "total_loss", "train/total_loss",
                   # glued, as printed logs abbreviate them ("trloss: 1.49, valloss: 0.76")
                   "trloss", "trainloss", "tr_loss",
                   # TensorBoard / W&B tags (Lightning, the PyTorch tutorial's writer)
                   "train/loss_epoch", "Loss/train", "loss/train",
                   # Theano-era and TF1 scripts call it the cost ("Epoch 0 Update 100 Cost
                   # 129.7 UD 2.79": arctic-captions, Nematus)
                   "cost", "train_cost", "training_cost")
# Where none of those is there: a single name ending like one, as scripts name their lists
# (``train_losses``, ``coil_val_losses``).
# (``_epoch``: Lightning's epoch mean of a loss logged on steps, under a namespace of the
# user's own: ``finetuning/train_loss_epoch``.)
TRAIN_LOSS_ENDINGS = ("train_loss", "train_losses", "training_loss", "training_losses",
                      "train_loss_epoch")
VAL_LOSS_ENDINGS = ("val_loss", "val_losses", "valid_loss", "valid_losses", "validation_loss",
                    "validation_losses", "val_loss_epoch")
# Last resort: a column named after the split alone (``{"train": [...], "val": [...]}``, as
# scripts dump their two loss lists).
TRAIN_SPLIT_NAMES = ("train", "training")
VAL_SPLIT_NAMES = ("val", "valid", "validation", "dev", "eval", "test")
# ... but not a summary of it (``best_val_loss``, ``min_val_loss``, ``val_loss_ema``).
_NOT_THE_LOSS = ("best", "min_", "max_", "mean_", "avg_", "std", "ema", "smooth")
VAL_LOSS_KEYS = ("val_loss", "valid_loss", "val/loss", "eval_loss", "validation_loss",
                 "val_loss_epoch", "test_loss", "dev_loss",
                 "val_total_loss", "eval_total_loss", "valid_total_loss", "val/total_loss",
                 "test_total_loss", "valloss", "validloss", "devloss", "testloss",
                 # abbreviated like tr_loss / trn_loss ("tr_loss,tr_acc,vl_loss,vl_acc")
                 "vl_loss", "vld_loss",
                 # TensorBoard / W&B tags (Hugging Face's eval/loss, Lightning, tutorials)
                 "eval/loss", "valid/loss", "validation/loss", "val/loss_epoch", "Loss/val",
                 "loss/val", "Loss/test", "loss/test")


@dataclass(slots=True)
class Problem:
    """A line that was skipped, or a field that was dropped, and why."""

    line: int
    reason: str
    skipped: bool = True


class Table:
    """Rows indexed by epoch (or step) number, one float64 column per metric."""

    def __init__(self) -> None:
        self._capacity = _INITIAL_CAPACITY
        self._length = 0
        self._index = np.empty(self._capacity, dtype=np.int64)
        self._time = np.full(self._capacity, np.nan)
        self._values: dict[str, np.ndarray] = {}
        self._present: dict[str, np.ndarray] = {}
        # The step table's own record of each row's epoch (a step record's ``epoch``; HF's
        # fractional epoch), NaN where a row did not say; None until some row says.
        self._epoch: np.ndarray | None = None
        self.version = 0  # bumps on every change, so views can skip redraws

    def __len__(self) -> int:
        return self._length

    @property
    def index(self) -> np.ndarray:
        return self._index[: self._length]

    @property
    def time(self) -> np.ndarray:
        return self._time[: self._length]

    @property
    def epoch(self) -> np.ndarray:
        """Each row's epoch as its record gave it (step tables), NaN where it gave none."""
        if self._epoch is None:
            return np.full(self._length, np.nan)
        return self._epoch[: self._length]

    @property
    def names(self) -> list[str]:
        return list(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def rename(self, name: str, new_name: str) -> None:
        """Give a column another name, its values and presence moved as they are (a reader
        naming other tools' columns our way); ``new_name`` must be free."""
        self._values[new_name] = self._values.pop(name)
        self._present[new_name] = self._present.pop(name)

    def column(self, name: str) -> np.ndarray:
        """Values of a metric, NaN where missing (check ``present`` to tell the two apart)."""
        values = self._values.get(name)
        if values is None:
            return np.full(self._length, np.nan)
        return values[: self._length]

    def present(self, name: str) -> np.ndarray:
        mask = self._present.get(name)
        if mask is None:
            return np.zeros(self._length, dtype=bool)
        return mask[: self._length]

    def logged(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(index, values) of the rows where the metric was logged."""
        mask = self.present(name)
        return self.index[mask], self.column(name)[mask]

    def _grow_to(self, needed: int) -> None:
        if needed <= self._capacity:
            return
        capacity = self._capacity
        while capacity < needed:
            capacity *= 2
        self._index = _resized(self._index, capacity, 0)
        self._time = _resized(self._time, capacity, np.nan)
        if self._epoch is not None:
            self._epoch = _resized(self._epoch, capacity, np.nan)
        for name in self._values:
            self._values[name] = _resized(self._values[name], capacity, np.nan)
            self._present[name] = _resized(self._present[name], capacity, False)
        self._capacity = capacity

    def _ensure_column(self, name: str) -> bool:
        if name in self._values:
            return True
        if len(self._values) >= MAX_COLUMNS:
            return False
        self._values[name] = np.full(self._capacity, np.nan)
        self._present[name] = np.zeros(self._capacity, dtype=bool)
        return True

    def _ensure_epoch(self) -> np.ndarray:
        if self._epoch is None:
            self._epoch = np.full(self._capacity, np.nan)
        return self._epoch

    def append(self, index: int, time: float | None, metrics: Mapping[str, float],
               epoch: float | None = None) -> None:
        row = self._length
        self._grow_to(row + 1)
        self._index[row] = index
        self._time[row] = np.nan if time is None else time
        if epoch is not None:
            self._ensure_epoch()[row] = epoch
        elif self._epoch is not None:
            self._epoch[row] = np.nan
        for name, value in metrics.items():
            if self._ensure_column(name):
                self._values[name][row] = value
                self._present[name][row] = True
        self._length = row + 1
        self.version += 1

    def extend(self, index: np.ndarray, time: np.ndarray,
               columns: Mapping[str, tuple[np.ndarray, np.ndarray]],
               epoch: np.ndarray | None = None) -> None:
        """Append many rows at once: ``columns[name] = (values, present)``; ``epoch`` each
        row's epoch (NaN: none given)."""
        count = len(index)
        if count == 0:
            return
        start = self._length
        self._grow_to(start + count)
        self._index[start : start + count] = index
        self._time[start : start + count] = time
        if epoch is not None and not np.isnan(epoch).all():
            self._ensure_epoch()[start : start + count] = epoch
        elif self._epoch is not None:
            self._epoch[start : start + count] = np.nan
        for name, (values, present) in columns.items():
            if self._ensure_column(name):
                self._values[name][start : start + count] = values
                self._present[name][start : start + count] = present
        self._length = start + count
        self.version += 1

    def nbytes(self) -> int:
        arrays = [self._index, self._time, *self._values.values(), *self._present.values()]
        if self._epoch is not None:
            arrays.append(self._epoch)
        return sum(a.nbytes for a in arrays)

    def head(self, rows: int) -> Table:
        """The first ``rows`` rows as a table of their own, copied: appending to either table
        never touches the other's."""
        head = Table()
        head.extend_from(self, 0, rows)
        return head

    def extend_from(self, other: Table, start: int, stop: int | None = None) -> None:
        """Append ``other``'s rows ``start:stop`` (``extend`` copies them into this table's own
        arrays: the two share none)."""
        rows = slice(start, stop)
        self.extend(other.index[rows], other.time[rows],
                    {name: (other.column(name)[rows], other.present(name)[rows])
                     for name in other.names}, other.epoch[rows])

    def snapshot(self) -> Table:
        """The table as it is now, sharing its arrays: O(columns), not O(rows). Take it under
        the history's lock.

        Tables only ever append: rows below the current length are never written again, and
        growing allocates new arrays (the old ones keep their content). A copy with the length
        frozen and its own column dicts therefore stays exactly as it was, whatever is appended
        to this table later."""
        frozen = copy.copy(self)
        frozen._values = dict(self._values)
        frozen._present = dict(self._present)
        return frozen


def _resized(array: np.ndarray, capacity: int, fill: Any) -> np.ndarray:
    # One pass over each part (np.full then a copy would write the old part twice): with 512
    # columns, growing the table is most of the cost of reading it.
    grown = np.empty(capacity, dtype=array.dtype)
    grown[: len(array)] = array
    grown[len(array):] = fill
    return grown


@dataclass
class History:
    """Everything known about one run, fed record by record (or in bulk)."""

    source: str = ""
    # "jsonl" (ours: a run that may still grow), "csv" or "history-json" (finished files)
    source_kind: str = "jsonl"
    run_name: str = ""
    started: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    format_version: int | None = None
    epochs: Table = field(default_factory=Table)
    steps: Table = field(default_factory=Table)
    # None while the run has not written its end record.
    end_status: str | None = None
    end_error: str | None = None
    end_time: float | None = None
    # The end record's stopped_by: the warning sign that stopped the run (stop_on=), if any.
    end_stopped_by: dict[str, Any] | None = None
    malformed_lines: int = 0  # lines skipped entirely
    problem_count: int = 0  # skipped lines plus dropped fields
    problems: list[Problem] = field(default_factory=list)
    # Epoch numbers that did not increase (a resumed run, a repeated log call): kept, counted.
    epoch_rewinds: int = 0
    # The epoch a run resumed from a checkpoint logged again (``resume_at``): the rows before
    # it are the interrupted attempt's, the same in every reading of a growing file.
    resumed_at: int | None = None
    # What the epochs table is indexed by: "epoch", or "step" for a view of a run logged by
    # step whose evaluation points stand in for epochs (lstm_top.steps).
    index_unit: str = "epoch"
    # A header that arrives after data means another run started writing into the same file.
    headers_seen: int = 0
    # Held by a background reader while it applies a batch, and by a viewer while it reads.
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.run_name or self.source

    def apply(self, record: Record, line: int = 0) -> None:
        if isinstance(record, EpochRecord):
            if len(self.epochs) and record.epoch <= self.epochs.index[-1]:
                self.epoch_rewinds += 1
            self.epochs.append(record.epoch, record.time, record.metrics)
            self._note_dropped(record.dropped, line)
        elif isinstance(record, StepRecord):
            self.steps.append(record.step, record.time, record.metrics, record.epoch)
            self._note_dropped(record.dropped, line)
        elif isinstance(record, Header):
            self.headers_seen += 1
            self.run_name = record.run or self.run_name
            self.started = record.started
            self.config = record.config
            self.format_version = record.version
        elif isinstance(record, EndRecord):
            self.end_status = record.status
            self.end_error = record.error
            self.end_time = record.time
            self.end_stopped_by = record.stopped_by

    def apply_all(self, records: Iterable[tuple[int, Record]]) -> None:
        for line, record in records:
            self.apply(record, line)

    def start_new_run(self, line: int, why: str) -> None:
        """Another run starts at ``line`` of a file holding several (a header repeated, the
        epochs back at the first): the file shows its last run, so what was read is dropped,
        and a note says so."""
        earlier, unit = len(self.epochs), "epochs"
        if not earlier and len(self.steps):
            earlier, unit = len(self.steps), "steps"  # a run logged by step
        self.epochs, self.steps = Table(), Table()
        self.note_problem(line, f"a new run starts here ({why}); the {earlier} {unit} before "
                                f"it are not shown", skipped=False)

    def resume_at(self, epoch: int, line: int, after: int) -> None:
        """The run was resumed from a checkpoint at ``line``: ``epoch`` logged again after
        ``after``, not back at the first (Keras ``fit(initial_epoch=...)`` appending to the
        same CSVLogger file after a crash). The epochs from ``epoch`` on that the interrupted
        attempt logged are dropped, the resumed run's replace them, and a note says so. Rows
        are never rewritten in place (``Table.snapshot`` relies on it): the kept ones go into
        a new table."""
        table = self.epochs
        later = np.flatnonzero(table.index >= epoch)
        keep = int(later[0]) if len(later) else len(table)
        kept = table.head(keep)
        kept.version = table.version + 1
        self.epochs = kept
        self.resumed_at = epoch
        self.note_problem(line, f"resumed at epoch {epoch} after {after}: the "
                                f"{len(table) - keep} epochs from {epoch} on that the "
                                f"interrupted attempt logged are replaced", skipped=False)

    def note_problem(self, line: int, reason: str, skipped: bool = True) -> None:
        self.problem_count += 1
        if skipped:
            self.malformed_lines += 1
        if len(self.problems) < MAX_KEPT_PROBLEMS:
            self.problems.append(Problem(line, reason, skipped))

    def _note_dropped(self, dropped: list[str], line: int) -> None:
        for reason in dropped:
            self.note_problem(line, reason, skipped=False)

    def frozen(self) -> History:
        """A copy of the run as it is now, taken under its lock in microseconds, with a lock
        of its own (nobody else holds it): what a viewer draws or the signs judge while a
        reader keeps appending to this one."""
        with self.lock:
            frozen = copy.copy(self)
            frozen.epochs = self.epochs.snapshot()
            frozen.steps = self.steps.snapshot()
            frozen.config = dict(self.config)
            frozen.problems = list(self.problems)
        frozen.lock = threading.RLock()
        return frozen

    @property
    def crashed(self) -> bool:
        return self.end_status == STATUS_CRASHED

    @property
    def finished(self) -> bool:
        return self.end_status is not None

    def epoch_count(self) -> int:
        return len(self.epochs)

    def last_epoch(self) -> int | None:
        return int(self.epochs.index[-1]) if len(self.epochs) else None

    def seconds_per_epoch(self) -> float | None:
        """Median wall time between epochs, robust to a pause or a slow first epoch."""
        times = self.epochs.time
        # The last 50 finite times are all it looks at: found in the newest rows, not by a scan
        # of a million (the status line asks on every frame), unless gaps leave too few there.
        tail = times[-64:]
        finite = tail[np.isfinite(tail)]
        if len(finite) < 50 and len(times) > len(tail):
            finite = times[np.isfinite(times)]
        if len(finite) < 2:
            return None
        gaps = np.diff(finite[-50:])
        gaps = gaps[gaps > 0]
        return median_of_finite(gaps) if len(gaps) else None


def median_of_finite(values: np.ndarray) -> float:
    """``np.median`` of a non-empty array of finite numbers, the same float, without its NaN
    check: that imports ``numpy.ma`` (a tenth of a second on a small machine), on the way to
    the first frame's status line."""
    ordered = np.sort(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return float((ordered[middle - 1] + ordered[middle]) / 2.0)


@dataclass(frozen=True, slots=True)
class LossKeys:
    """Which columns hold the training and validation loss, and the validation subsets."""

    train: str | None
    val: str | None
    # subset name -> column of its validation loss
    subsets: dict[str, str]

    def subset_count_column(self, subset: str) -> str:
        return f"n[{subset}]"

    def missing_hint(self) -> str | None:
        """What to do when the training or validation loss was not recognised: most signs
        need both, and a silent "no warning signs" would say the run is fine."""
        missing = [(role, flag) for role, flag, key in (("training", "--train-key", self.train),
                                                        ("validation", "--val-key", self.val))
                   if key is None]
        if not missing:
            return None
        roles = " or ".join(role for role, _ in missing)
        flags = " / ".join(f"{flag} NAME" for _, flag in missing)
        return (f"no {roles} loss recognised among the metrics; name "
                f"{'them' if len(missing) > 1 else 'it'} with {flags}")

    def subset_std_column(self, subset: str) -> str | None:
        column = self.subsets.get(subset)
        if column is None:
            return None
        split = split_subset_column(column)
        return f"{split[0]}_std[{subset}]" if split else None


def resolve_loss_keys(names: Iterable[str], train_key: str | None = None,
                      val_key: str | None = None) -> LossKeys:
    """Find the train/val loss columns among the logged names (overrides win)."""
    present = list(names)
    name_set = set(present)
    train = train_key if train_key else next((k for k in TRAIN_LOSS_KEYS if k in name_set), None)
    val = val_key if val_key else next((k for k in VAL_LOSS_KEYS if k in name_set), None)
    if (train is None and not train_key) or (val is None and not val_key):
        # Written for people: "Train Loss", "Test-Loss", "VAL_LOSS" (pandas columns, sweeps).
        spelled: dict[str, str] = {}
        for name in present:
            spelled.setdefault(_plain_name(name), name)
        if train is None and not train_key:
            train = next((spelled[k] for k in TRAIN_LOSS_KEYS if k in spelled), None)
        if val is None and not val_key:
            val = next((spelled[k] for k in VAL_LOSS_KEYS if k in spelled), None)
    if train is None and not train_key:
        train = _only_one(present, TRAIN_LOSS_ENDINGS)
    if val is None and not val_key:
        val = _only_one(present, VAL_LOSS_ENDINGS)
    if train is None and not train_key:
        train = next((k for k in TRAIN_SPLIT_NAMES if k in name_set), None)
    if val is None and not val_key:
        val = next((k for k in VAL_SPLIT_NAMES if k in name_set), None)
    if val is None and not val_key:
        val = _named_after_its_loss_function(present)
    subsets: dict[str, str] = {}
    val_metric = val or "val_loss"
    for name in present:
        split = split_subset_column(name)
        if split is None:
            continue
        metric, subset = split
        # The subset's loss is named like the val loss, or plainly "loss" as Keras' evaluate says.
        if metric in (val_metric, "val_loss", "loss") and subset not in subsets:
            subsets[subset] = name
    return LossKeys(train, val, subsets)


def _plain_name(name: str) -> str:
    """``"Train Loss"`` -> ``"train_loss"``: a name as written for people, as a key."""
    return re.sub(r"[\s\-]+", "_", name.strip()).lower()


# Last of all: a validation column named after the loss function itself (``val_ce``,
# ``val_mean_ce``, ``valid_nll``), as scripts that never call it "loss" name it.
_LOSS_FUNCTION_NAME = re.compile(
    r"(val|valid|validation|dev|eval)[_/](mean_|avg_)?"
    r"(ce|nll|xent|cross_?entropy|bce|mse)$")


def _named_after_its_loss_function(names: list[str]) -> str | None:
    """The one validation column named after a loss function, or None (none, or several:
    ``val_mse`` beside ``val_bce`` is for the user to choose)."""
    found = [name for name in names if _LOSS_FUNCTION_NAME.fullmatch(_plain_name(name))]
    return found[0] if len(found) == 1 else None


def _only_one(names: list[str], endings: tuple[str, ...]) -> str | None:
    """The one name ending like a loss (``coil_train_losses``, ``val_losses``); None when
    there is none or several (two models in one file: the user says which)."""
    found = [name for name in names if name.lower().endswith(endings)
             and not any(word in name.lower() for word in _NOT_THE_LOSS)]
    return found[0] if len(found) == 1 else None


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
