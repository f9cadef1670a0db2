"""Shared test helpers. The shared/ reference folder sits beside the project root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared"
REAL_CURVES = SHARED / "curves" / "real"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def real_curves_dir() -> Path:
    if not REAL_CURVES.is_dir():
        pytest.skip(f"shared reference curves not found at {REAL_CURVES}")
    return REAL_CURVES


# ---------------------------------------------------------------- fuzzing budget (issue 8)
# Fuzz tests run a modest number of examples by default so the suite stays quick; a longer
# run is one flag away: ``pytest --fuzz-long`` (or LSTM_TOP_FUZZ_LONG=1).
FUZZ_LONG_ENV = "LSTM_TOP_FUZZ_LONG"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fuzz-long", action="store_true", default=False,
                     help="run the fuzz tests with many more examples (minutes, not seconds)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--fuzz-long", default=False):
        os.environ[FUZZ_LONG_ENV] = "1"


def fuzz_long() -> bool:
    """True when the long fuzzing run was asked for."""
    return os.environ.get(FUZZ_LONG_ENV, "") not in ("", "0")


def fuzz_examples(default: int, long: int | None = None) -> int:
    """Hypothesis ``max_examples`` for a fuzz test: ``default`` normally, ``long`` (or 50x)
    with --fuzz-long."""
    return (long if long is not None else default * 50) if fuzz_long() else default
