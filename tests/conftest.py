"""Shared test helpers. The shared/ reference folder sits beside the project root."""

from __future__ import annotations

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
