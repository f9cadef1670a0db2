"""The demo: a small LSTM written in numpy, trained on scenarios that show each warning sign.

A demo run is a training script like any other: it logs through ``lstm_top.hook.Logger``.
``python -m lstm_top.demo --scenario NAME --out FILE`` (or ``lstm-top demo ...``) runs one.

Nothing heavy is imported here, so ``python -m lstm_top.demo`` can settle BLAS threading before
numpy loads; the names below are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lstm_top.demo.runner import run_scenario
    from lstm_top.demo.scenarios import SCENARIOS, Scenario

__all__ = ["SCENARIOS", "Scenario", "main", "run_scenario"]


def __getattr__(name: str) -> Any:
    if name in ("SCENARIOS", "Scenario"):
        from lstm_top.demo import scenarios

        return getattr(scenarios, name)
    if name == "run_scenario":
        from lstm_top.demo.runner import run_scenario

        return run_scenario
    if name == "main":
        from lstm_top.demo.__main__ import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
