"""Messages between background work and the UI thread (the only way they talk)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message


@dataclass
class RunChanged(Message):
    """A source has new records or a new state (posted from its reader thread, coalesced)."""

    run_key: str


@dataclass
class ViewReady(Message):
    """The render worker finished: the chart of the selected view, built off the UI thread."""

    generation: int
    chart: Text | None  # None: the worker is done, nothing new to draw
    legend: Text | None
    partial: bool = False  # more may follow from the same worker


@dataclass
class RunFileAppeared(Message):
    """A new history file showed up in a watched folder."""

    path: str
