"""Messages between background work and the UI thread (the only way they talk)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.message import Message

if TYPE_CHECKING:
    from lstm_top.history import History, LossKeys
    from lstm_top.reduce import MetricSummary


@dataclass
class RunChanged(Message):
    """A source has new records or a new state (posted from its reader thread, coalesced)."""

    run_key: str


@dataclass
class ViewReady(Message):
    """The render worker finished: the chart of the selected view, built off the UI thread,
    and the metrics of the runs it looked at."""

    generation: int
    chart: Text
    legend: Text
    size: tuple[int, int]  # the chart size it was built for
    # run key -> (history version, loss keys, metrics table) as of the snapshot drawn
    summaries: dict[str, tuple[tuple[int, int], LossKeys, list[MetricSummary]]] = field(
        default_factory=dict)


@dataclass
class FindingsUpdated(Message):
    """The diagnosis worker brought one run's findings up to ``version``."""

    run_key: str
    version: tuple[int, int]
    findings: list[Any]  # list[Finding]; the signs are imported lazily
    error: str | None = None  # the diagnosis failed; shown in the warnings panel


@dataclass
class DiagnosisDone(Message):
    """The diagnosis worker has finished its pass over the runs it was given."""


@dataclass
class RunFileAppeared(Message):
    """A new history file showed up in a watched folder."""

    path: str


@dataclass
class RunReplaced(Message):
    """Another run started writing the same file; ``history`` is the earlier run's."""

    run_key: str
    history: History
