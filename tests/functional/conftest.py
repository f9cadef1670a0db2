"""What every functional test module shares: the async backend of the Textual pilot tests, and
viewer preferences kept in a folder of the test's own."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Textual runs on asyncio (the ``pytest.mark.anyio`` tests)."""
    return "asyncio"


@pytest.fixture(autouse=True)
def own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``XDG_CONFIG_HOME`` in the test's own folder: the viewer's saved preferences (log scale,
    smoothing...) neither change what a test sees nor touch the user's, and a child process
    (``lstm-top``, a trainer) inherits it."""
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return config
