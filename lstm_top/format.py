"""The history file format: one JSON object per line (JSON Lines).

This module is the single place that knows the record schema; the writer (``hook``) and every
reader use it. It depends on the standard library only, so the hook stays importable anywhere.
See docs/FORMAT.md for the specification.

Record kinds::

    {"kind": "header", "format": "lstm-top", "version": 1, "run": "name", "started": 1732.0,
     "config": {...}}
    {"kind": "epoch", "epoch": 3, "time": 1732.5, "metrics": {"loss": 0.5, "val_loss": 0.6},
     "subsets": {"long": {"n": 200, "val_loss": 0.9, "val_loss_std": 0.3}}}
    {"kind": "step", "step": 1200, "epoch": 3, "time": 1732.4, "metrics": {"loss": 0.52}}
    {"kind": "end", "time": 1790.0, "status": "completed" | "crashed" | "interrupted",
     "error": "ValueError: ..."}

Non-finite values are written as the strings "NaN", "Infinity" and "-Infinity" so that every
strict JSON parser reads them back; the bare tokens Python's ``json`` emits are accepted too.
Lines without a ``kind`` (flat ``{"epoch": 1, "loss": ...}`` records, as many loggers write)
are read as epoch records, or step records when they carry a step and no epoch.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

FORMAT_NAME = "lstm-top"
FORMAT_VERSION = 1

# The socket protocol's hello and goodbye lines are in lstm_top/protocol.py.

STATUS_COMPLETED = "completed"
STATUS_CRASHED = "crashed"
STATUS_INTERRUPTED = "interrupted"
END_STATUSES = (STATUS_COMPLETED, STATUS_CRASHED, STATUS_INTERRUPTED)

# The loss of the best constant guess on the training targets (the class frequencies, the
# mean), logged as a metric beside the losses: train_plateau compares the training loss with it
# (lstm_top/hook/baseline.py computes it).
CONSTANT_GUESS_METRIC = "constant_guess_loss"

_NONFINITE_TEXT = {"NaN": math.nan, "nan": math.nan, "Infinity": math.inf, "inf": math.inf,
                   "-Infinity": -math.inf, "-inf": -math.inf}

# A longer line is certainly not a record of ours; refusing it keeps a hostile or corrupt file
# from costing unbounded memory per line.
MAX_LINE_BYTES = 1 << 20
# Deeply nested JSON is never a record; the cap keeps parsers far from recursion limits.
MAX_NAME_CHARS = 200


def subset_column(metric: str, subset: str) -> str:
    """Flat column name of a subset metric: ``val_loss[long_seqs]``."""
    return f"{metric}[{subset}]"


def split_subset_column(name: str) -> tuple[str, str] | None:
    """``"val_loss[long]"`` -> ``("val_loss", "long")``; None for a plain metric."""
    if name.endswith("]"):
        open_at = name.find("[")
        if open_at > 0:
            return name[:open_at], name[open_at + 1 : -1]
    return None


# ---------------------------------------------------------------------------- encoding


def encode_number(value: Any) -> Any:
    """A float as JSON allows it: non-finite values as "NaN", "Infinity", "-Infinity"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _number_or_none(value: Any) -> float | int | str | None:
    """Metric value as JSON-safe scalar; objects with ``item()`` (numpy, torch) unwrapped."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return encode_number(value)
    item = getattr(value, "item", None)
    if item is not None:
        try:
            return _number_or_none(item())
        except Exception:
            return None
    try:
        return encode_number(float(value))
    except (TypeError, ValueError):
        return None


def _clean_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    # The hot path of Logger.log: plain finite floats under str names pass straight through
    # (x - x == 0.0 is false exactly for NaN and +-inf); everything else takes the full route.
    clean: dict[str, Any] = {}
    for key, value in metrics.items():
        if type(value) is float and value - value == 0.0:
            clean[key if type(key) is str else str(key)] = value
        else:
            clean[str(key)] = _number_or_none(value)
    return clean


# Built once: json.dumps with non-default options constructs a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=str)


def _cached_c_encoder() -> Any:
    """CPython's C encoder, built once rather than per record as ``JSONEncoder.encode`` does:
    a third of Logger.log's time (bench/bench_logger.py). Its constructor is private, so it
    is used only if it gives exactly the stdlib encoder's output on a probe record."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        encode = make(None, str, json.encoder.encode_basestring_ascii, None, ":", ",",
                      False, False, False)
        probe = {"kind": "epoch", "epoch": 3, "time": 1.5, "metrics": {"loss": 0.1, "n": 200,
                 "é": "NaN", "x": None, "ok": True, "list": [1, 2.5]}, "obj": object}
        if "".join(encode(probe, 0)) != _ENCODER.encode(probe):
            return None
        try:
            "".join(encode({"bad": math.nan}, 0))
            return None  # must refuse a bare NaN, as allow_nan=False does
        except ValueError:
            pass
    except Exception:
        return None
    return encode


_C_ENCODE = _cached_c_encoder()


def _dumps(obj: Mapping[str, Any]) -> str:
    if _C_ENCODE is not None:
        return "".join(_C_ENCODE(obj, 0)) + "\n"
    return _ENCODER.encode(obj) + "\n"


def _json_safe(value: Any, depth: int = 0) -> Any:
    """Config values as plain JSON: non-finite floats as text, unknown objects as their str."""
    if isinstance(value, str | bool | int) or value is None:
        return value
    if isinstance(value, float):
        return encode_number(value)
    if depth < 8 and isinstance(value, Mapping):
        return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
    if depth < 8 and isinstance(value, list | tuple):
        return [_json_safe(v, depth + 1) for v in value]
    return str(value)


def encode_header(run: str, started: float, config: Mapping[str, Any] | None = None) -> str:
    record: dict[str, Any] = {"kind": "header", "format": FORMAT_NAME, "version": FORMAT_VERSION,
                              "run": run, "started": started}
    if config:
        record["config"] = _json_safe(config)
    return _dumps(record)


def encode_epoch(epoch: int, time: float, metrics: Mapping[str, Any],
                 subsets: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    record: dict[str, Any] = {"kind": "epoch", "epoch": epoch, "time": round(time, 3),
                              "metrics": _clean_metrics(metrics)}
    if subsets:
        record["subsets"] = {str(name): _clean_metrics(values) for name, values in subsets.items()}
    return _dumps(record)


def encode_step(step: int, epoch: int | None, time: float, metrics: Mapping[str, Any]) -> str:
    record: dict[str, Any] = {"kind": "step", "step": step, "time": round(time, 3),
                              "metrics": _clean_metrics(metrics)}
    if epoch is not None:
        record["epoch"] = epoch
    return _dumps(record)


def encode_end(status: str, time: float, error: str | None = None,
               stopped_by: Mapping[str, Any] | None = None) -> str:
    record: dict[str, Any] = {"kind": "end", "time": round(time, 3), "status": status}
    if error:
        record["error"] = error
    if stopped_by:
        record["stopped_by"] = _json_safe(dict(stopped_by))
    return _dumps(record)


# ---------------------------------------------------------------------------- decoding


class RecordError(ValueError):
    """A line that is not a usable record; the message is the reason shown to the user."""


class NewerFormatError(RecordError):
    """The file was written by a newer lstm-top than this one."""


@dataclass(slots=True)
class Header:
    run: str
    started: float | None
    config: dict[str, Any]
    version: int


@dataclass(slots=True)
class EpochRecord:
    epoch: int
    time: float | None
    # Flat: subset metrics appear as "val_loss[subset]", their sample count as "n[subset]".
    metrics: dict[str, float]
    # Reasons for fields that were dropped (wrong type); the record itself is kept.
    dropped: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StepRecord:
    step: int
    # The epoch the step belongs to: an integer (our callbacks: the epoch whose record ends
    # it) or fractional (Hugging Face's ``state.epoch``: 0.5 = half-way through the first).
    epoch: float | None
    time: float | None
    metrics: dict[str, float]
    dropped: list[str] = field(default_factory=list)


@dataclass(slots=True)
class EndRecord:
    status: str
    time: float | None
    error: str | None
    # Set when a warning sign stopped the run (stop_on=): sign, severity, since_epoch, epoch,
    # message; see lstm_top/actions.py.
    stopped_by: dict[str, Any] | None = None


Record = Header | EpochRecord | StepRecord | EndRecord



@functools.cache
def _orjson() -> tuple[Callable[[bytes | str], Any], type[Exception]] | None:
    """orjson's ``loads`` and its error, imported on the first parse rather than with this
    module: the hook imports this module to write, and must load the standard library only
    (tests/unit/test_import_hygiene.py). None without orjson: the stdlib parser then reads."""
    try:
        from orjson import JSONDecodeError, loads
    except ImportError:  # pragma: no cover - exercised only without orjson installed
        return None
    return loads, JSONDecodeError


# Deeper nesting is never a record. Both orjson (3.8) and the standard library's C scanner can
# overflow the C stack - a segfault, not an exception - on a line of ~100,000 nested objects,
# so such text is refused before either parser sees it.
MAX_JSON_DEPTH = 512


def nesting_too_deep(text: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when brackets outside strings nest deeper than ``limit``."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # the common case: cannot nest that deep
    depth = 0
    in_string = False
    escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def parse_json(line: bytes | str) -> Any:
    """Parse one JSON text; accepts Python's bare NaN/Infinity tokens as a fallback."""
    if nesting_too_deep(line):
        raise RecordError(f"not valid JSON (nested more than {MAX_JSON_DEPTH} levels deep)")
    fast = _orjson()
    if fast is not None:
        fast_loads, fast_error = fast
        try:
            return fast_loads(line)
        except fast_error:
            pass  # maybe bare NaN/Infinity tokens, which orjson rejects; json accepts them
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise RecordError(f"not valid JSON ({_short_reason(exc)})") from None


def _short_reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:80]


def is_number(text: str) -> bool:
    """Whether ``text`` reads as a number (``float`` accepts it: "3", "1e-4", "nan")."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_float(value: Any) -> float | None:
    """A metric value as float; None when it is missing or not a number."""
    if isinstance(value, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value) if abs(value) < 1 << 1023 else math.copysign(math.inf, value)
    if isinstance(value, str):
        return _NONFINITE_TEXT.get(value)
    return None


# Epoch and step numbers are stored as int64; a larger one is certainly not a real index.
MAX_INDEX = (1 << 63) - 1


def _checked_index(number: int, what: str) -> int:
    if -MAX_INDEX <= number <= MAX_INDEX:
        return number
    raise RecordError(f"{what} is out of range: {str(number)[:40]}")


def _to_position(value: Any) -> float:
    """A step record's epoch: an integer index, or a finite fractional epoch."""
    if isinstance(value, float) and not value.is_integer():
        if math.isfinite(value) and abs(value) <= MAX_INDEX:
            return value
        raise RecordError(f"epoch is not a number in range: {str(value)[:40]!r}")
    return float(_to_index(value, "epoch"))


def _to_index(value: Any, what: str) -> int:
    if isinstance(value, bool) or value is None:
        raise RecordError(f"{what} missing or not an integer")
    if isinstance(value, int):
        return _checked_index(value, what)
    if isinstance(value, float) and value.is_integer():
        return _checked_index(int(value), what)
    if isinstance(value, str):
        try:
            return _checked_index(int(value), what)
        except ValueError:
            pass
    raise RecordError(f"{what} is not an integer: {str(value)[:40]!r}")


def _time(obj: Mapping[str, Any]) -> float | None:
    value = to_float(obj.get("time"))
    return value if value is not None and math.isfinite(value) else None


def _collect_metrics(source: Any, into: dict[str, float], dropped: list[str],
                     subset: str | None = None) -> None:
    if not isinstance(source, Mapping):
        dropped.append("metrics is not an object")
        return
    for key, value in source.items():
        name = str(key)[:MAX_NAME_CHARS]
        if value is None:
            continue  # logged as missing: missing is not NaN
        number = to_float(value)
        if number is None:
            dropped.append(f"metric {name!r} is not a number")
            continue
        if subset is not None:
            name = subset_column("n" if name == "n" else name, subset)
        into[name] = number


_RESERVED_FLAT_KEYS = frozenset({"kind", "epoch", "step", "time", "_step", "_runtime",
                                 "_timestamp", "timestamp", "wall_time"})


def decode_record(obj: Any) -> Record:
    """Turn one parsed JSON value into a record, or raise RecordError with the reason."""
    if not isinstance(obj, dict):
        raise RecordError("line is not a JSON object")
    kind = obj.get("kind")
    if kind == "epoch" or kind == "step":
        metrics: dict[str, float] = {}
        dropped: list[str] = []
        if "metrics" in obj:
            _collect_metrics(obj["metrics"], metrics, dropped)
        subsets = obj.get("subsets")
        if isinstance(subsets, Mapping):
            for name, values in subsets.items():
                _collect_metrics(values, metrics, dropped, subset=str(name)[:MAX_NAME_CHARS])
        elif subsets is not None:
            dropped.append("subsets is not an object")
        if kind == "epoch":
            return EpochRecord(_to_index(obj.get("epoch"), "epoch"), _time(obj), metrics, dropped)
        epoch = obj.get("epoch")
        return StepRecord(_to_index(obj.get("step"), "step"),
                          None if epoch is None else _to_position(epoch),
                          _time(obj), metrics, dropped)
    if kind == "header":
        version = obj.get("version", FORMAT_VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            raise RecordError("header version is not an integer")
        if version > FORMAT_VERSION:
            raise NewerFormatError(
                f"written by a newer lstm-top (format version {version}, this one reads "
                f"up to {FORMAT_VERSION}); upgrade with: pip install -U lstm-top")
        config = obj.get("config")
        started = to_float(obj.get("started"))
        return Header(str(obj.get("run") or "")[:MAX_NAME_CHARS], started,
                      _bounded_config(config) if isinstance(config, dict) else {}, version)
    if kind == "end":
        status = obj.get("status")
        if status not in END_STATUSES:
            status = STATUS_CRASHED if obj.get("error") else STATUS_COMPLETED
        error = obj.get("error")
        return EndRecord(status, _time(obj), None if error is None else str(error)[:500],
                         _stopped_by(obj.get("stopped_by")))
    if kind is None:
        return _decode_flat(obj)
    raise RecordError(f"unknown record kind {str(kind)[:40]!r}")


def _stopped_by(value: Any) -> dict[str, Any] | None:
    """The end record's ``stopped_by``, with only the fields we know and bounded text."""
    if not isinstance(value, Mapping):
        return None
    sign = value.get("sign")
    if not isinstance(sign, str) or not sign:
        return None
    result: dict[str, Any] = {"sign": sign[:MAX_NAME_CHARS]}
    for name in ("severity", "message"):
        text = value.get(name)
        if isinstance(text, str):
            result[name] = text[:500]
    for name in ("since_epoch", "epoch"):
        number = value.get(name)
        if isinstance(number, int) and not isinstance(number, bool):
            result[name] = number
    return result


# The writer nests config at most 8 deep; a deeper one (a hostile file) is cut, so that code
# walking the config recursively (repr, json.dumps, a tree view) stays far from the recursion
# limit.
MAX_CONFIG_DEPTH = 16


def _bounded_config(value: Any, depth: int = 0) -> Any:
    if isinstance(value, dict):
        if depth >= MAX_CONFIG_DEPTH:
            return "{…}"
        return {key: _bounded_config(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        if depth >= MAX_CONFIG_DEPTH:
            return "[…]"
        return [_bounded_config(item, depth + 1) for item in value]
    return value


def _decode_flat(obj: dict[str, Any]) -> Record:
    """A record from another logger: top-level numbers are the metrics."""
    metrics: dict[str, float] = {}
    dropped: list[str] = []
    for key, value in obj.items():
        if key in _RESERVED_FLAT_KEYS or value is None:
            continue
        number = to_float(value)
        if number is not None:
            metrics[str(key)[:MAX_NAME_CHARS]] = number
    epoch = obj.get("epoch")
    time = _time(obj) or to_float(obj.get("_timestamp")) or to_float(obj.get("timestamp"))
    if epoch is not None:
        return EpochRecord(_to_index(epoch, "epoch"), time, metrics, dropped)
    step = obj.get("step", obj.get("_step"))
    if step is not None:
        return StepRecord(_to_index(step, "step"), None, time, metrics, dropped)
    raise RecordError("record has neither 'kind', 'epoch' nor 'step'")


def decode_line(line: bytes | str) -> Record:
    """Parse and decode one line (without its newline)."""
    if len(line) > MAX_LINE_BYTES:
        raise RecordError(f"line longer than {MAX_LINE_BYTES} bytes")
    return decode_record(parse_json(line))
