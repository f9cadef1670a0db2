"""The viewer's toggles (log scale, smoothing, window, series), remembered between runs.

Stored as JSON in ``$XDG_CONFIG_HOME/lstm-top/prefs.json`` (``~/.config`` when the variable is
unset or not absolute, as the XDG spec says). Reading never fails: a missing, unreadable or
corrupt file gives the defaults, and a field of the wrong type falls back to its default alone.
Writing is atomic (a temporary file in the same folder, then a rename), so a crash mid-write
leaves the previous file whole. ``lstm-top --reset-prefs`` deletes the file.

    prefs = load_prefs()
    prefs.log_scale = True
    save_prefs(prefs)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeGuard

PREFS_VERSION = 1
MAX_PREFS_BYTES = 1 << 16  # far above any real file; a huge one is not ours
MAX_SMOOTHING = 0.99
MAX_WINDOW = 1_000_000
MAX_SERIES_CHARS = 40


@dataclass
class Prefs:
    """What the user set last time. ``extra`` holds the file's other top-level keys (a newer
    lstm-top's, or a viewer toggle added later), so saving never drops them."""

    log_scale: bool = False
    # Exponential smoothing weight of the curves, 0 (raw) to 0.99 (TensorBoard's slider).
    smoothing: float = 0.0
    # Show only the last ``window`` epochs; 0 shows them all.
    window: int = 0
    # Which series the chart shows (the viewer's mode name); "" is the viewer's default.
    series: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def prefs_path() -> Path:
    """``$XDG_CONFIG_HOME/lstm-top/prefs.json``, else ``~/.config/lstm-top/prefs.json``."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    # The spec: a relative path in the variable is invalid and must be ignored.
    config_home = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return config_home / "lstm-top" / "prefs.json"


def load_prefs(path: str | os.PathLike[str] | None = None) -> Prefs:
    """The saved preferences, or the defaults. Never raises."""
    target = Path(path) if path is not None else _default_path()
    if target is None:
        return Prefs()
    try:
        with open(target, "rb") as handle:
            data = handle.read(MAX_PREFS_BYTES + 1)
        if len(data) > MAX_PREFS_BYTES:
            return Prefs()
        stored = json.loads(data)
    except (OSError, ValueError, RecursionError):
        return Prefs()
    if not isinstance(stored, dict):
        return Prefs()
    return _from_dict(stored)


def save_prefs(prefs: Prefs, path: str | os.PathLike[str] | None = None) -> bool:
    """Write atomically; True on success. Never raises: a read-only home costs only memory."""
    target = Path(path) if path is not None else _default_path()
    if target is None:
        return False
    data = {"version": PREFS_VERSION, **_to_dict(prefs)}
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False, default=str) + "\n"
    temporary: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=".prefs-", suffix=".tmp",
                                                 dir=target.parent)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        temporary = None
        return True
    except (OSError, ValueError):
        return False
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def reset_prefs(path: str | os.PathLike[str] | None = None) -> bool:
    """Forget the saved preferences; True when a file was removed."""
    target = Path(path) if path is not None else _default_path()
    if target is None:
        return False
    try:
        target.unlink()
        return True
    except OSError:
        return False


def _default_path() -> Path | None:
    try:
        return prefs_path()
    except RuntimeError:  # no home directory can be determined (a bare container user)
        return None


def _from_dict(stored: dict[str, Any]) -> Prefs:
    defaults = Prefs()
    known = {f.name for f in fields(Prefs)} - {"extra"}
    log_scale = stored.get("log_scale")
    smoothing = stored.get("smoothing")
    window = stored.get("window")
    series = stored.get("series")
    return Prefs(
        log_scale=log_scale if isinstance(log_scale, bool) else defaults.log_scale,
        smoothing=(min(max(float(smoothing), 0.0), MAX_SMOOTHING)
                   if _is_number(smoothing) and math.isfinite(smoothing)
                   else defaults.smoothing),
        window=(min(max(int(window), 0), MAX_WINDOW)
                if _is_number(window) and math.isfinite(window) and float(window).is_integer()
                else defaults.window),
        series=(series if isinstance(series, str) and len(series) <= MAX_SERIES_CHARS
                and series.isprintable() else defaults.series),
        extra={key: value for key, value in stored.items() if key not in known | {"version"}},
    )


def _to_dict(prefs: Prefs) -> dict[str, Any]:
    """Unknown keys first, so a known field always wins; all at the top level as read."""
    data = asdict(prefs)
    extra = data.pop("extra")
    return {**{str(k): v for k, v in extra.items()}, **data}


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
