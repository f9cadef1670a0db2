"""A sweep as a table: one row per run, the same for the viewer's run table and ``check DIR``.

Textual-free. ``sweep_rows`` turns (name, history, findings, state) tuples into ``RunRow``s:
state, rows judged (epochs, or evaluations for a run logged by step), best validation loss and
where, the worst active sign, and the config values that differ between the runs (``lr``,
``batch``, ...: keys that are the same everywhere say nothing about a run). ``sort_rows`` puts
the worst first; ``filter_rows`` keeps the rows matching a typed filter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lstm_top.format import is_number
from lstm_top.history import History, resolve_loss_keys

if TYPE_CHECKING:  # the viewer's first paint of a sweep makes rows before the signs load
    from lstm_top.signs.base import Finding

# Config keys every run writes that tell nothing about the run.
IGNORED_CONFIG_KEYS = frozenset({"source_format", "run", "seed_everything", "hostname",
                                 "pid", "trial_id", "experiment_id", "date"})
MAX_CONFIG_COLUMNS = 6
_SMALL = 4096  # values below this many are scanned in Python (see best_val)
SORT_KEYS = ("worst", "name", "best", "epochs", "state")
SEVERITY_NAMES = {0: "", 1: "info", 2: "warning", 3: "critical"}
# States that say something is wrong, worst first, for the sort.
_STATE_RANK = {"crashed": 3, "error": 3, "stalled": 2, "interrupted": 1, "deleted": 1}


@dataclass
class RunRow:
    key: str
    run: str
    state: str
    rows: int  # epochs, or evaluations of a run logged by step
    unit: str  # "epoch" or "step"
    best_val: float | None
    best_at: int | None
    sign: str | None  # the worst active sign's id
    severity: int  # its severity (0 when none)
    active_signs: int
    config: dict[str, str] = field(default_factory=dict)  # only the keys that differ

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "run": self.run, "state": self.state, "rows": self.rows,
                "unit": self.unit,
                "best_val_loss": self.best_val, "best_at": self.best_at,
                "worst_sign": self.sign, "severity": SEVERITY_NAMES[self.severity] or None,
                "active_signs": self.active_signs, "config": dict(self.config)}

    def cells(self, config_keys: Sequence[str]) -> list[str]:
        """The row as text cells, in ``header(config_keys)``'s order."""
        best = "–" if self.best_val is None else f"{self.best_val:.4g} @{self.best_at}"
        sign = "–" if self.sign is None else f"{SEVERITY_NAMES[self.severity]} {self.sign}"
        if self.active_signs > 1:
            sign += f" +{self.active_signs - 1}"
        count = f"{self.rows}" + (" st" if self.unit == "step" else "")
        return [self.run, self.state, count, best, sign,
                *(self.config.get(key, "") for key in config_keys)]


def header(config_keys: Sequence[str]) -> list[str]:
    return ["run", "state", "epochs", "best val @", "worst sign", *config_keys]


def _flat_config(config: dict[str, Any], prefix: str = "", depth: int = 0) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in list(config.items())[:200]:
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth < 3:
            flat.update(_flat_config(value, f"{name}.", depth + 1))
        elif isinstance(value, bool | int | str) or value is None:
            flat[name] = str(value)[:24]
        elif isinstance(value, float):
            flat[name] = f"{value:.4g}"
    return flat


def differing_config(configs: Sequence[dict[str, Any]]) -> tuple[list[str], list[dict[str, str]]]:
    """The keys whose values differ between runs (at most ``MAX_CONFIG_COLUMNS``, fewest
    distinct values first: lr and batch before a per-run output path), and each run's values."""
    return _differing([_flat_config(config) for config in configs])


def _differing(flats: Sequence[dict[str, str]]) -> tuple[list[str], list[dict[str, str]]]:
    if len(flats) < 2:
        return [], [{} for _ in flats]
    keys: dict[str, set[str]] = {}
    for flat in flats:
        for key, value in flat.items():
            keys.setdefault(key, set()).add(value)
    differing = [key for key, values in keys.items()
                 if key.rsplit(".", 1)[-1] not in IGNORED_CONFIG_KEYS
                 and (len(values) > 1 or any(key not in flat for flat in flats))]
    # A text unique to every run (a path, an id, a date) is an identity, not a setting; a
    # number unique to every run (an lr grid) is a setting.
    differing = [key for key in differing
                 if len(keys[key]) < len(flats) or len(flats) <= 3
                 or all(is_number(value) for value in keys[key])]
    differing.sort(key=lambda key: (len(keys[key]), key))
    chosen = differing[:MAX_CONFIG_COLUMNS]
    return chosen, [{key: flat.get(key, "") for key in chosen} for flat in flats]


def best_val(history: History) -> tuple[float | None, int | None]:
    table = history.epochs
    keys = resolve_loss_keys(table.names)
    if keys.val is None:
        return None, None
    index, values = table.logged(keys.val)
    finite = np.isfinite(values)
    if not finite.any():
        return None, None
    masked = np.where(finite, values, np.inf)
    if len(masked) <= _SMALL:
        # numpy's argmin lets go of the GIL even for 40 numbers, and getting it back from
        # the reader and diagnosis threads took ~0.5 ms a call: a sweep table of a thousand
        # runs spent half a second in it per refresh.
        listed = masked.tolist()
        at = listed.index(min(listed))
    else:
        at = int(np.argmin(masked))
    return float(values[at]), int(index[at])


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What a row says of a run's history: the costly part of a row (a snapshot, the best
    val), which a viewer keeps while the history does not change."""

    rows: int
    unit: str
    best_val: float | None
    best_at: int | None
    config: dict[str, str]  # flattened, as the config columns show it


def run_facts(history: History) -> RunFacts:
    """The facts of a judged history (``lstm_top.steps.judged``)."""
    value, at = best_val(history)
    return RunFacts(len(history.epochs), history.index_unit, value, at,
                    _flat_config(history.config))


def sweep_rows(entries: Iterable[tuple[str, str, History, Sequence[Finding], str]]
               ) -> tuple[list[str], list[RunRow]]:
    """(config columns, rows) for (key, name, judged history, findings, state) entries."""
    return rows_from_facts((key, name, run_facts(history), findings, state)
                           for key, name, history, findings, state in entries)


def rows_from_facts(entries: Iterable[tuple[str, str, RunFacts, Sequence[Finding], str]]
                    ) -> tuple[list[str], list[RunRow]]:
    """(config columns, rows) for (key, name, facts, findings, state) entries."""
    items = list(entries)
    config_keys, configs = _differing([facts.config for _, _, facts, _, _ in items])
    rows = []
    for (key, name, facts, findings, state), config in zip(items, configs, strict=True):
        active = [f for f in findings if f.until_epoch is None]
        worst = max(active, key=lambda f: (int(f.severity), f.since_epoch), default=None)
        rows.append(RunRow(key, name, state, facts.rows, facts.unit, facts.best_val,
                           facts.best_at, worst.id if worst else None,
                           int(worst.severity) if worst else 0, len(active), config))
    return config_keys, rows


def sort_rows(rows: Sequence[RunRow], by: str = "worst") -> list[RunRow]:
    """``worst`` (default): highest severity, then troubled states, then best val loss."""
    def best(row: RunRow) -> float:
        return row.best_val if row.best_val is not None and math.isfinite(row.best_val) \
            else math.inf

    if by == "name":
        return sorted(rows, key=lambda r: r.run)
    if by == "best":
        return sorted(rows, key=lambda r: (best(r), r.run))
    if by == "epochs":
        return sorted(rows, key=lambda r: (-r.rows, r.run))
    if by == "state":
        return sorted(rows, key=lambda r: (r.state, r.run))
    return sorted(rows, key=lambda r: (-r.severity, -_STATE_RANK.get(r.state, 0), best(r),
                                       r.run))


def filter_rows(rows: Sequence[RunRow], text: str) -> list[RunRow]:
    """Rows whose name, state, sign or config values contain every word of ``text``
    (case-insensitive); ``key=value`` matches a config value."""
    words = text.lower().split()
    if not words:
        return list(rows)

    def matches(row: RunRow, word: str) -> bool:
        key, sep, value = word.partition("=")
        if sep:
            return any(k.lower().endswith(key) and value in v.lower()
                       for k, v in row.config.items())
        haystack = " ".join([row.run, row.state, row.sign or "",
                             SEVERITY_NAMES[row.severity], *row.config.values()]).lower()
        return word in haystack

    return [row for row in rows if all(matches(row, word) for word in words)]


def format_table(config_keys: Sequence[str], rows: Sequence[RunRow], width: int = 120) -> str:
    """Plain-text table (``check DIR``): columns padded to their widest cell."""
    table = [header(config_keys)] + [row.cells(config_keys) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    widths[0] = min(widths[0], 40)
    lines = []
    for line in table:
        cells = [cell[:w].ljust(w) for cell, w in zip(line, widths, strict=True)]
        lines.append("  ".join(cells).rstrip()[:width])
    return "\n".join(lines) + "\n"
