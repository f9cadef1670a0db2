"""Bulk JSON Lines reading: a whole history file into numpy columns, a batch of lines at a time.

The line-by-line ``JsonlParser`` decodes each line into a record object and appends it to a
``Table`` row by row; at a million records that Python work costs many seconds. This module
gives the same result (same rows, columns, column order, problems with the same line numbers,
same header/end state) but works on batches of lines:

1. split a chunk into lines with ``bytes.split`` (one C call);
2. once the run's step records have been seen, decode step lines of that exact shape with a
   msgspec decoder generated for it (typed structs: no dicts, every type checked in C);
3. parse the other lines with ``orjson.loads`` through ``map`` (a line orjson rejects sends the
   batch through a per-line ``try`` so every bad line is found and numbered exactly);
4. build each column with C-level passes (``itemgetter``/``attrgetter`` maps,
   ``set(map(type, ...))``, ``np.fromiter``) and append with one ``Table.extend``. No
   per-record Python objects outlive their batch.

On a 1M-record, 182 MB file this is about 5x faster than ``JsonlParser`` and twice as fast as
a plain ``orjson.loads`` loop (``python -m bench.bench_load``); the columns hold float64 values
plus a "present" mask, as ``Table`` always has.

Public API, for the viewer and for followers:

* ``read_jsonl(path, on_progress=...)`` reads a whole file; ``on_progress(fraction)`` is called
  after every chunk (fraction of bytes read, 0..1). It returns a ``ReadResult`` with the history,
  the byte ``offset`` reached and the ``line_count`` read, so a live follower continues with
  ``JsonlParser(result.history, first_line=result.line_count + 1)`` from ``result.offset``
  (pass ``finish=False`` to leave a trailing line without newline to the follower).
* ``read_tail(path, max_bytes)`` reads only the newest ``max_bytes`` (from the first line that
  starts inside that window): show it at once, then replace it with the ``read_jsonl`` result.
* ``BulkJsonlParser`` has ``JsonlParser``'s interface (``feed``/``finish``/``line_number``/
  ``newer_format``) for code that already feeds chunks.

Limits of the fast paths, all handled by falling back rather than by being wrong: a batch with a
flat (kind-less) record, or a line only the standard library parser reads, is decoded record by
record, because such records may land in either table; so is a group whose fields have
unexpected types. A step line of another shape makes the batch take the orjson path and the
shape is learned again.
"""

from __future__ import annotations

import functools
import gc
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain, compress, repeat
from operator import attrgetter, eq, is_, is_not, itemgetter, or_
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import orjson

from lstm_top.format import (
    MAX_INDEX,
    MAX_JSON_DEPTH,
    MAX_LINE_BYTES,
    MAX_NAME_CHARS,
    NewerFormatError,
    RecordError,
    decode_line,
    decode_record,
    nesting_too_deep,
    subset_column,
    to_float,
)
from lstm_top.history import MAX_COLUMNS, History, Table

# msgspec decodes our own step lines without building dicts; the reader works without it. It
# loads with the first step line of the Logger's shape (``_load_msgspec``): a file of epoch
# records, and the first paint of one, do not pay for its import.
_NOT_LOADED: Any = object()
if TYPE_CHECKING:
    import msgspec
else:
    msgspec = _NOT_LOADED

# Bytes read from the file at once (about 20 000 records).
BULK_CHUNK_BYTES = 1 << 22
# Lines parsed and turned into columns at once. The batch's parsed objects (up to ~700 bytes a
# record, 1.4 MB) then stay in the CPU cache while the columns are pulled out of them (faster
# than 8192 lines in our measurements), and they are the largest transient allocation.
BATCH_LINES = 2048
# An integer of 309 digits is at least 2**1023, which to_float reads as infinity but msgspec, for
# a float field, as the largest double. A shorter line cannot hold one.
_NUMBERS_MAX_LINE = 300
# Integers orjson returns as int; it returns wider ones as float.
_ORJSON_INT_MIN = -(1 << 63)
_ORJSON_INT_MAX = (1 << 64) - 1

ProgressCallback = Callable[[float], None]

_NONE_TYPE = type(None)
_NUMBER_TYPES = frozenset({float, int, str, _NONE_TYPE})
_TIME_TYPES = frozenset({float, int, _NONE_TYPE})
_INDEX_TYPES = frozenset({int})
_STEP_EPOCH_TYPES = frozenset({int, float, _NONE_TYPE})
_CAPPED_VALUE_TYPES = frozenset({float, int, _NONE_TYPE})
# Beyond this many names in a batch, columns are gathered in one pass over the values instead
# of one pass over the records per name.
_SPARSE_NAMES = 64
_EMPTY_METRICS: dict[str, Any] = {}  # stands for an absent "metrics" field; never mutated


class _Unparsed:
    """Marks a line orjson rejected (or too long): it is decoded by ``decode_line`` instead."""


class _Blank:
    """Marks a blank line: counted, never reported."""


_UNPARSED = _Unparsed()
_BLANK = _Blank()


class _NotFast(Exception):
    """The fast path cannot take this group with certainty; decode it record by record."""


@dataclass(slots=True)
class ReadResult:
    history: History
    offset: int  # byte offset reached: a follower continues reading here
    line_count: int  # number of the last line consumed (0 when none)
    start_offset: int = 0  # where reading began (``read_tail``: the start of the window)
    newer_format: str | None = None  # set when a header said "written by a newer lstm-top"


class BulkJsonlParser:
    """Drop-in for ``JsonlParser`` that parses a chunk at a time; identical results."""

    def __init__(self, history: History, first_line: int = 1) -> None:
        self.history = history
        self.line_number = first_line - 1  # number of the last complete line seen
        self._pending = b""
        self._discarding = False  # inside an over-long line: drop bytes until its newline
        self.newer_format: str | None = None
        # The shape of this run's step records once seen: later ones then skip the dicts.
        self._steps_template: _StepTemplate | None = None

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)

    @property
    def pending_line(self) -> bytes:
        """The start of a line still waiting for its newline (empty when none, or when it is an
        over-long line being skipped)."""
        return b"" if self._discarding else self._pending

    def feed(self, data: bytes) -> int:
        """Parse every complete line in ``data`` (plus what was pending); return records added."""
        if not data:
            return 0
        lines = data.split(b"\n")
        tail = lines.pop()  # after the last newline: the start of a line still being written
        if lines:
            if self._discarding:
                # The first piece ends the over-long line already reported; it is not a line.
                del lines[0]
                self._discarding = False
            elif self._pending:
                lines[0] = self._pending + lines[0]
            may_have_cr = b"\r" in data or b"\r" in self._pending
            self._pending = b""
            added = self._take_lines(lines, may_have_cr) if lines else 0
        else:
            added = 0
        if not self._discarding:
            self._pending += tail
            # + 1: room for the "\r" of a CRLF line, which does not count against the limit
            if len(self._pending) > MAX_LINE_BYTES + 1:
                self._pending = b""
                self._discarding = True
                self.line_number += 1
                self.history.note_problem(self.line_number,
                                          f"line longer than {MAX_LINE_BYTES} bytes")
        return added

    def finish(self) -> int:
        """End of input: a final line without newline is still a record (a finished file)."""
        line, self._pending = self._pending, b""
        discarding, self._discarding = self._discarding, False
        if discarding or not line:
            return 0
        return self._take_lines([line], line.endswith(b"\r"))

    # ------------------------------------------------------------------ one batch of lines

    def _take_lines(self, lines: list[bytes], may_have_cr: bool) -> int:
        # Thousands of fresh containers per batch would trigger the cyclic garbage collector
        # again and again (a third of the parse time); they hold no cycles and die with the batch.
        collecting = gc.isenabled()
        gc.disable()
        try:
            if len(lines) <= BATCH_LINES:
                return self._take_lines_unguarded(lines, may_have_cr)
            # Parsed objects cost ~700 bytes a record: batches bound that transient memory.
            return sum(self._take_lines_unguarded(lines[start : start + BATCH_LINES], may_have_cr)
                       for start in range(0, len(lines), BATCH_LINES))
        finally:
            if collecting:
                gc.enable()

    def _take_lines_unguarded(self, lines: list[bytes], may_have_cr: bool) -> int:
        first = self.line_number + 1
        self.line_number += len(lines)
        if may_have_cr:  # Windows line ends: JsonlParser drops one trailing CR per line
            lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
        numbers = range(first, first + len(lines))
        if self._steps_template is not None:
            added = self._take_template_steps(lines, numbers, self._steps_template)
            if added is not None:
                return added
            self._steps_template = None  # the run changed what it logs: learn it again
        objects = _parse_lines(lines)
        added = self._take_objects(lines, objects, numbers)
        if self._steps_template is None:
            self._steps_template = _learn_template(objects)
        return added

    def _take_objects(self, lines: list[bytes], objects: list[Any],
                      numbers: Sequence[int]) -> int:
        try:
            kinds = list(map(dict.get, objects, repeat("kind")))
        except TypeError:  # a line that is not an object (or not JSON): mark it as no kind
            kinds = [obj.get("kind") if obj.__class__ is dict else _UNPARSED for obj in objects]
        if None in kinds or _UNPARSED in kinds:
            # A flat record may become a step or an epoch row, and so may a line only the
            # fallback parser reads (bare NaN tokens, 1e400): keep strict line order.
            return self._take_slowly(range(len(objects)), numbers, lines, objects)
        added = 0
        taken = 0
        slow: list[int] = []
        for kind, table in (("step", self.history.steps), ("epoch", self.history.epochs)):
            count = kinds.count(kind)
            if not count:
                continue
            taken += count
            if count == len(kinds):
                group, mask = objects, None
            else:
                mask = list(map(eq, kinds, repeat(kind)))
                group = list(compress(objects, mask))
            try:
                _extend_table(table, group, kind, self.history)
                added += count
            except _NotFast:
                slow.extend(range(count) if mask is None else compress(range(len(mask)), mask))
        if taken < len(kinds):
            slow.extend(i for i, k in enumerate(kinds) if k != "step" and k != "epoch")
        if slow:
            slow.sort()
            added += self._take_slowly(slow, numbers, lines, objects)
        return added

    def _take_template_steps(self, lines: list[bytes], numbers: Sequence[int],
                             template: _StepTemplate) -> int | None:
        """Step lines of the learned shape, decoded by msgspec straight into typed structs (no
        dicts); the other lines of the batch through ``_take_objects``. None, having changed
        nothing, when the batch needs the general path."""
        table = self.history.steps
        if not all(name in table for name in template.names):
            return None  # columns would be created: their order needs each record's key order
        longest = max(map(len, lines))
        if longest > MAX_JSON_DEPTH:
            return None  # a line this short cannot nest too deep; longer ones: _parse_lines
        split = None
        if longest < _NUMBERS_MAX_LINE:
            split = _decode_steps(lines, template.numbers, template.numbers_type)
        plain_numbers = split is not None
        if split is None:  # "NaN" strings, or a line long enough to hold a 309-digit integer
            split = _decode_steps(lines, template.general, template.general_type)
            if split is None:
                return None
        structs, others = split
        other_lines = [lines[i] for i in others]
        other_objects = _parse_lines(other_lines) if others else []
        if others:
            other_kinds = [obj.get("kind") if obj.__class__ is dict else _UNPARSED
                           for obj in other_objects]
            if "step" in other_kinds or None in other_kinds or _UNPARSED in other_kinds:
                return None  # a step row outside the template: rows must stay in line order
        try:
            if plain_numbers:
                index, time, columns = template.number_columns(structs)
            else:
                index, time, columns = template.general_columns(structs)
            epochs = template.epoch_column(structs)
        except _NotFast:
            return None
        table.extend(index, time, columns, epochs)
        added = len(structs)
        if others:
            added += self._take_objects(other_lines, other_objects, [numbers[i] for i in others])
        return added

    def _take_slowly(self, positions: range | list[int], numbers: Sequence[int],
                     lines: list[bytes], objects: list[Any]) -> int:
        """``JsonlParser._take`` for each position, in order: same decoding, same problems."""
        added = 0
        history = self.history
        for position in positions:
            obj = objects[position]
            if obj is _BLANK:
                continue
            number = numbers[position]
            try:
                record = decode_line(lines[position]) if obj is _UNPARSED else decode_record(obj)
            except NewerFormatError as exc:
                self.newer_format = str(exc)
                history.note_problem(number, str(exc))
                continue
            except RecordError as exc:
                history.note_problem(number, str(exc))
                continue
            except Exception as exc:  # a parser bug must cost one line, never the run view
                history.note_problem(number, f"unreadable ({type(exc).__name__})")
                continue
            history.apply(record, number)
            added += 1
        return added


def _parse_lines(lines: list[bytes]) -> list[Any]:
    """One parsed value per line; ``_UNPARSED`` where orjson says no, ``_BLANK`` for blanks."""
    longest = max(map(len, lines))
    if longest > MAX_JSON_DEPTH and any(map(nesting_too_deep, lines)):
        # orjson overflows the C stack (a segfault) on very deep nesting: let decode_line,
        # which refuses it with a reason, see those lines instead.
        return [_UNPARSED if nesting_too_deep(line) else _parse_one(line) for line in lines]
    try:
        objects = list(map(orjson.loads, lines))
    except orjson.JSONDecodeError:
        objects = []
        for line in lines:
            try:
                objects.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                objects.append(_BLANK if not line.strip() else _UNPARSED)
    if longest > MAX_LINE_BYTES:
        # decode_line refuses these; keep its message by letting it see them.
        objects = [_UNPARSED if len(line) > MAX_LINE_BYTES else obj
                   for line, obj in zip(lines, objects, strict=True)]
    return objects


def _parse_one(line: bytes) -> Any:
    if len(line) > MAX_LINE_BYTES:
        return _UNPARSED
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return _BLANK if not line.strip() else _UNPARSED


# ---------------------------------------------------------------------- learned step shape


_STEP_KEYS = frozenset({"kind", "step", "time", "metrics", "epoch"})


class _StepTemplate:
    """msgspec decoders for step records with exactly these metric names (any of them may be
    missing or null) and no other fields: anything else fails to decode and takes the general
    path. msgspec checks every type (an int index in int64 range, numbers or text as metric
    values), so what it accepts, decode_record would accept with the same values.

    Two decoders: ``numbers`` takes metric values that are JSON numbers or null only — then no
    value can be NaN (JSON numbers cannot be; msgspec refuses 1e400), so NaN can stand for
    "missing" and the columns need no type checks; ``general`` also takes the "NaN"/"Infinity"
    strings (a diverged run logs nothing else), checked value by value."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.numbers_type = self._step_type(float | None)
        self.general_type = self._step_type(float | int | str | None)
        # The other kinds decode to empty markers, so that a whole batch usually decodes in one
        # map() call; their lines are then parsed again by orjson and decoded as usual.
        others = [msgspec.defstruct(f"Other{kind}", [], tag_field="kind", tag=kind, gc=False)
                  for kind in ("epoch", "header", "end")]
        self.numbers: msgspec.json.Decoder[Any] = msgspec.json.Decoder(
            functools.reduce(or_, others, self.numbers_type))
        self.general: msgspec.json.Decoder[Any] = msgspec.json.Decoder(
            functools.reduce(or_, others, self.general_type))

    def _step_type(self, value: Any) -> type:
        fields = [f"m{i}" for i in range(len(self.names))]
        metrics = msgspec.defstruct("Metrics", [(field, value, None) for field in fields],
                                    rename=dict(zip(fields, self.names, strict=True)),
                                    forbid_unknown_fields=True, gc=False)
        index = Annotated[int, msgspec.Meta(ge=-MAX_INDEX, le=MAX_INDEX)]
        position = Annotated[float, msgspec.Meta(ge=-MAX_INDEX, le=MAX_INDEX)]
        time = float | None if value == float | None else float | int | None
        return msgspec.defstruct(
            "Step", [("step", index), ("metrics", metrics), ("time", time, None),
                     ("epoch", index | position | None, None)],
            tag_field="kind", tag="step", forbid_unknown_fields=True, gc=False, kw_only=True)

    @staticmethod
    def epoch_column(structs: list[Any]) -> np.ndarray | None:
        """Each step's ``epoch`` (NaN where it has none), None when none has one."""
        epochs = list(map(attrgetter("epoch"), structs))
        if epochs.count(None) == len(epochs):
            return None
        column = np.fromiter(epochs, dtype=np.float64, count=len(epochs))  # None -> NaN
        # msgspec's bound is a float one; format._to_position compares exactly: near the
        # bound, leave it to decode_record.
        if (np.abs(column) >= 2.0**62).any():
            raise _NotFast
        return column

    def number_columns(self, structs: list[Any]
                       ) -> tuple[np.ndarray, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Columns of structs from the ``numbers`` decoder: floats or None, nothing else."""
        count = len(structs)
        width = len(self.names)
        index = np.fromiter(map(attrgetter("step"), structs), dtype=np.int64, count=count)
        time = np.fromiter(map(attrgetter("time"), structs), dtype=np.float64, count=count)
        rows = map(msgspec.structs.astuple, map(attrgetter("metrics"), structs))
        matrix = np.fromiter(chain.from_iterable(rows), dtype=np.float64,
                             count=count * width).reshape(count, width)  # None -> NaN
        missing = np.isnan(matrix)
        columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if not missing.any():
            present = np.ones(count, dtype=bool)
            for position, name in enumerate(self.names):
                columns[name] = (matrix[:, position], present)
            return index, time, columns
        for position, name in enumerate(self.names):
            logged = ~missing[:, position]
            if logged.any():
                columns[name] = (matrix[:, position], logged)
        return index, time, columns

    def general_columns(self, structs: list[Any]) -> tuple[
            np.ndarray, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
        count = len(structs)
        index = np.fromiter(map(attrgetter("step"), structs), dtype=np.int64, count=count)
        time = _time_column(list(map(attrgetter("time"), structs)))
        rows = list(map(msgspec.structs.astuple, map(attrgetter("metrics"), structs)))
        columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for position, name in enumerate(self.names):
            column = _number_column(list(map(itemgetter(position), rows)))
            if column is not None:
                columns[name] = column
        return index, time, columns


def _decode_steps(lines: list[bytes], decoder: Any, step_type: type
                  ) -> tuple[list[Any], list[int]] | None:
    """(step structs, positions of the other lines); None when a step line does not decode
    (it may still be a step record: the caller must not reorder it)."""
    decode = decoder.decode
    try:
        decoded = list(map(decode, lines))
    except msgspec.MsgspecError:  # some line is malformed or of another shape
        decoded = []
        for line in lines:
            try:
                decoded.append(decode(line))
            except msgspec.MsgspecError:
                decoded.append(None)
    is_step = list(map(is_, map(type, decoded), repeat(step_type)))
    structs = list(compress(decoded, is_step))
    if not structs:
        return None
    others = [position for position, step in enumerate(is_step) if not step]
    if others and any(decoded[i] is None and lines[i].startswith(b'{"kind":"step"')
                      for i in others):
        return None  # a step line the decoder refused (often a "NaN"): try the general one
    return structs, others


def _load_msgspec() -> Any:
    """msgspec, imported on first use; None when it is not installed."""
    global msgspec
    if msgspec is _NOT_LOADED:
        try:
            import msgspec as module

            msgspec = module
        except ImportError:  # pragma: no cover - exercised only without msgspec installed
            msgspec = None  # type: ignore[assignment]
    return msgspec


def _learn_template(objects: list[Any]) -> _StepTemplate | None:
    """The shape of the last step record of a batch, if it is one the Logger writes."""
    for obj in reversed(objects):
        if obj.__class__ is dict and obj.get("kind") == "step":
            if _load_msgspec() is None:
                return None
            metrics = obj.get("metrics")
            if (not obj.keys() <= _STEP_KEYS or metrics.__class__ is not dict or not metrics
                    or len(metrics) > 64 or max(map(len, metrics)) > MAX_NAME_CHARS
                    or not all(map(_renamable, metrics))):
                return None
            return _template_for(tuple(metrics))
    return None


def _renamable(name: str) -> bool:
    """msgspec refuses these characters in a renamed field; such names take the general path."""
    return not any(ch in '\\"' or ch < " " for ch in name)


@functools.lru_cache(maxsize=16)
def _template_for(names: tuple[str, ...]) -> _StepTemplate:
    return _StepTemplate(names)


# ---------------------------------------------------------------------- the column builder


def _extend_table(table: Table, group: list[dict[str, Any]], kind: str, history: History) -> None:
    """Append a group of step (or epoch) records as ``JsonlParser`` would, or raise _NotFast
    without having changed anything."""
    count = len(group)
    index_key = "step" if kind == "step" else "epoch"
    # Any: the type check on the next line is what makes them ints.
    index_values: list[Any] = list(map(dict.get, group, repeat(index_key)))
    if set(map(type, index_values)) != _INDEX_TYPES:
        raise _NotFast
    # decode_record refuses indexes beyond int64 (also -2**63, which int64 could hold).
    if max(index_values) > MAX_INDEX or min(index_values) < -MAX_INDEX:
        raise _NotFast
    step_epochs: np.ndarray | None = None
    if kind == "step":
        # A step's epoch is kept beside its row (where the chart places it); an unreadable
        # one makes decode_record skip the line.
        epochs: list[Any] = list(map(dict.get, group, repeat("epoch")))
        epoch_types = set(map(type, epochs))
        if not epoch_types <= _STEP_EPOCH_TYPES:
            raise _NotFast
        given = [epoch for epoch in epochs if epoch is not None] \
            if _NONE_TYPE in epoch_types else epochs
        if given:
            # Exact comparisons (int against float), as format._to_position makes them.
            if max(given) > MAX_INDEX or min(given) < -MAX_INDEX:
                raise _NotFast
            if float in epoch_types and not all(map(math.isfinite, given)):
                raise _NotFast
            step_epochs = np.fromiter(map(_exact_float, epochs), dtype=np.float64,
                                      count=count)  # None -> NaN
    index = np.fromiter(index_values, dtype=np.int64, count=count)
    time = _time_column(list(map(dict.get, group, repeat("time"))))
    metrics = list(map(dict.get, group, repeat("metrics"), repeat(_EMPTY_METRICS)))
    if set(map(type, metrics)) != {dict}:
        raise _NotFast  # "metrics is not an object": a dropped-field problem
    subsets = list(map(dict.get, group, repeat("subsets")))
    if subsets.count(None) != count:
        metrics = _merge_subsets(metrics, subsets)
    columns = _metric_columns(metrics, table)
    if kind == "epoch":
        rewinds = int(np.count_nonzero(index[1:] <= index[:-1]))
        if len(table) and index[0] <= table.index[-1]:
            rewinds += 1
        history.epoch_rewinds += rewinds
    table.extend(index, time, columns, step_epochs)


def _time_column(values: list[Any]) -> np.ndarray:
    """``format._time`` for a whole column: finite numbers, NaN for anything else."""
    types = set(map(type, values))
    if not types <= _TIME_TYPES:
        raise _NotFast  # a string time: rare, and to_float's rules are easier to reuse per record
    if int in types:
        ints = values if len(types) == 1 else [v for v in values if v.__class__ is int]
        if min(ints) < _ORJSON_INT_MIN or max(ints) > _ORJSON_INT_MAX:
            raise _NotFast  # as _exact_float: orjson and msgspec read such a number apart
        # Within that range float(int) is to_float(int), and fromiter converts each int with
        # float(): the same numbers as a per-value _exact_float, without a call per record
        # (most of a tail read's time where the Logger's times are integers).
    times = np.fromiter(values, dtype=np.float64, count=len(values))  # None -> NaN
    times[~np.isfinite(times)] = np.nan
    return times


def _merge_subsets(metrics: list[dict[str, Any]], subsets: list[Any]) -> list[dict[str, Any]]:
    """Flat per-record dicts as ``_collect_metrics`` builds them: None values left out, subset
    metrics as ``name[subset]``, later values winning, in the same insertion order."""
    merged: list[dict[str, Any]] = []
    for values, subset_map in zip(metrics, subsets, strict=True):
        flat = {key: value for key, value in values.items() if value is not None}
        if subset_map is not None:
            if subset_map.__class__ is not dict:
                raise _NotFast  # "subsets is not an object"
            for subset, subset_values in subset_map.items():
                if subset_values.__class__ is not dict or len(subset) > MAX_NAME_CHARS:
                    raise _NotFast
                for key, value in subset_values.items():
                    if value is not None:
                        if len(key) > MAX_NAME_CHARS:
                            raise _NotFast
                        flat[subset_column(key, subset)] = value
        merged.append(flat)
    return merged


def _metric_columns(metrics: list[dict[str, Any]],
                    table: Table) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Columns in the order ``Table.append`` would create them: by the first row where a value
    is present, then by position within that row. Only names the table can still hold are
    built: a logger that invents names per record (``acc_epoch_7``) costs the reader the same
    per record as one that does not."""
    names = list(metrics[0])
    # The usual case: every record logs the same metrics. Then every dict has len(names) keys
    # and itemgetter finds each name in each dict (KeyError otherwise), so these are all names.
    if set(map(len, metrics)) == {len(names)}:
        try:
            if len(names) > 1 and max(map(len, names)) <= MAX_NAME_CHARS:
                columns = _float_matrix_columns(metrics, names)
                if columns is not None:
                    return columns
            return _columns(metrics, names, exact_keys=True)
        except KeyError:
            pass
    names = list(dict.fromkeys(chain.from_iterable(metrics)))
    room = MAX_COLUMNS - len(table.names)
    if len(names) > room:
        names = _names_within_cap(metrics, names, table, room)
    return _columns(metrics, names, exact_keys=False)


def _names_within_cap(metrics: list[dict[str, Any]], names: list[str], table: Table,
                      room: int) -> list[str]:
    """The names ``Table.append`` would keep: those it has, then new ones by their first
    present value, until ``MAX_COLUMNS``. One pass over the values (linear), applied before
    any column is built, so beyond the cap each further name costs nothing."""
    kept = [name for name in names if name in table]
    if room <= 0:
        return kept
    new: dict[str, None] = {}
    for values in metrics:
        for name, value in values.items():
            if value.__class__ not in _CAPPED_VALUE_TYPES:
                # A value the per-record path drops with a problem, whatever the column:
                # leave the batch to it so the problem is reported the same way.
                raise _NotFast
            if value is not None and len(new) < room and name not in new and name not in table:
                new[name] = None
    return kept + list(new)


def _float_matrix_columns(metrics: list[dict[str, Any]],
                          names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """All values plain floats (the common case): one pass over each dict, while it is still in
    the CPU cache, then one conversion. None when any value is not a float."""
    rows = list(map(itemgetter(*names), metrics))
    if set(map(type, chain.from_iterable(rows))) != {float}:
        return None
    count = len(rows)
    matrix = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=count * len(names))
    matrix = matrix.reshape(count, len(names))
    present = np.ones(count, dtype=bool)
    return {name: (matrix[:, column], present) for column, name in enumerate(names)}


def _columns(metrics: list[dict[str, Any]], names: list[str],
             exact_keys: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not names:
        return {}
    if max(map(len, names)) > MAX_NAME_CHARS:
        raise _NotFast  # truncated names could collide; leave that to the per-record code
    if not exact_keys and len(names) > _SPARSE_NAMES:
        return _sparse_columns(metrics, names)
    columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    needs_reorder = False
    for name in names:
        if exact_keys:
            values = list(map(itemgetter(name), metrics))
        else:
            values = list(map(dict.get, metrics, repeat(name)))
        column = _number_column(values)
        if column is None:
            continue  # only ever missing: the per-record path never creates the column
        needs_reorder = needs_reorder or not column[1][0]
        columns[name] = column
    if needs_reorder:
        columns = _in_creation_order(columns, metrics)
    return columns


def _sparse_columns(metrics: list[dict[str, Any]],
                    names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``_columns`` for many names, each logged in few records: linear in the values."""
    gathered: dict[str, tuple[list[int], list[Any]]] = {name: ([], []) for name in names}
    for row, record in enumerate(metrics):
        for name, value in record.items():
            entry = gathered.get(name)
            if entry is not None:
                entry[0].append(row)
                entry[1].append(value)
    count = len(metrics)
    columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    needs_reorder = False
    for name in names:
        rows, logged_values = gathered[name]
        column = _number_column(logged_values)
        if column is None:
            continue
        logged = np.asarray(rows, dtype=np.intp)
        dense = np.full(count, np.nan)
        present = np.zeros(count, dtype=bool)
        dense[logged] = column[0]
        present[logged] = column[1]
        needs_reorder = needs_reorder or not present[0]
        columns[name] = (dense, present)
    if needs_reorder:
        columns = _in_creation_order(columns, metrics)
    return columns


def _number_column(values: list[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(values, present) as ``_collect_metrics`` reads them; None when nothing is present;
    _NotFast when a value would be dropped with a problem."""
    count = len(values)
    types = set(map(type, values))
    if not types <= _NUMBER_TYPES:
        raise _NotFast  # a bool, list or object: dropped with a problem per record
    if _NONE_TYPE in types:
        present = np.fromiter(map(is_not, values, repeat(None)), dtype=bool, count=count)
        if not present.any():
            return None
    else:
        present = np.ones(count, dtype=bool)
    if types & {int, str}:
        values = [_exact_float(value) for value in values]
    return np.fromiter(values, dtype=np.float64, count=count), present  # None -> NaN


def _exact_float(value: Any) -> float | None:
    if value is None or value.__class__ is float:
        return value
    if value.__class__ is int and not _ORJSON_INT_MIN <= value <= _ORJSON_INT_MAX:
        # orjson reads a wider integer as a float, msgspec as an int: to_float would then
        # differ near the top of the float range. Leave it to orjson and decode_record.
        raise _NotFast
    number = to_float(value)
    if number is None:
        raise _NotFast  # a string that is not NaN/Infinity: dropped with a problem
    return number


def _in_creation_order(columns: dict[str, tuple[np.ndarray, np.ndarray]],
                       metrics: list[dict[str, Any]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    def creation_key(name: str) -> tuple[int, int]:
        first_row = int(np.argmax(columns[name][1]))
        return first_row, list(metrics[first_row]).index(name)

    return {name: columns[name] for name in sorted(columns, key=creation_key)}


# ---------------------------------------------------------------------- files


def read_jsonl(path: str | os.PathLike[str], history: History | None = None, *,
               start: int = 0, first_line: int = 1, finish: bool = True,
               on_progress: ProgressCallback | None = None,
               chunk_bytes: int = BULK_CHUNK_BYTES) -> ReadResult:
    """Read a JSON Lines history from byte ``start`` to the end of the file, in bulk.

    ``finish=False`` leaves a last line without newline unread (a writer may be mid-line), so a
    follower can pick it up from ``offset``. OSErrors propagate; ``read_history`` turns them into
    a ``SourceError``.
    """
    path = os.fspath(path)
    if history is None:
        history = History(source=path)
    parser = BulkJsonlParser(history, first_line)
    with open(path, "rb") as handle:
        total = max(os.fstat(handle.fileno()).st_size - start, 0)
        handle.seek(start)
        done = 0
        while chunk := handle.read(chunk_bytes):
            parser.feed(chunk)
            done += len(chunk)
            if on_progress is not None:
                on_progress(min(done / total, 1.0) if total else 1.0)
    offset = start + done
    if finish:
        parser.finish()
    else:
        offset -= parser.pending_bytes
    if on_progress is not None and not done:
        on_progress(1.0)
    return ReadResult(history, offset, parser.line_number, start, parser.newer_format)


def read_tail(path: str | os.PathLike[str], max_bytes: int, *,
              on_progress: ProgressCallback | None = None,
              history: History | None = None) -> ReadResult:
    """The newest part of a history: whole lines within the last ``max_bytes`` of the file.

    For showing a large file at once while ``read_jsonl`` reads all of it. The tail history has
    no header (unless the file is small), and line numbers in its problems count from the start
    of the window (``start_offset``), since the lines before it were not counted. ``history``:
    read into this one (a follower gives one that already holds the file's header).
    """
    path = os.fspath(path)
    size = os.stat(path).st_size
    start = max(size - max_bytes, 0)
    if start > 0:
        with open(path, "rb") as handle:
            # Begin after a newline so the window starts with a whole line.
            handle.seek(start - 1)
            while True:
                piece = handle.read(1 << 16)
                if not piece:
                    start = size
                    break
                newline = piece.find(b"\n")
                if newline >= 0:
                    start = handle.tell() - len(piece) + newline + 1
                    break
    return read_jsonl(path, History(source=path) if history is None else history, start=start,
                      on_progress=on_progress)
