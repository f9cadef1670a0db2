"""Issue 16: ``e`` (export) in a shared folder never overwrites, never follows a planted link.

The real app, driven by a pilot, exporting into a folder where another user planted symlinks
under the names the old export used (``lstm-top-<run>-<time>.svg``) and where files exist.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from lstm_top.ui.app import LstmTopApp
from lstm_top.ui.export import write_new_file
from tests.functional.histories import run_text
from tests.functional.pilots import wait_until

pytestmark = pytest.mark.anyio
NOBODY = 65534


async def test_export_never_overwrites_or_follows_planted_links(tmp_path: Path) -> None:
    run = tmp_path / "run.jsonl"
    run.write_text(run_text("healthy", 8))
    export_dir = tmp_path / "shared"
    export_dir.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    # Before: names were lstm-top-<run>-<YYYYmmdd-HHMMSS>: plant one per second ahead.
    now = time.time()
    for ahead in range(0, 30):
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now + ahead))
        for suffix in ("svg", "txt"):
            link = export_dir / f"lstm-top-healthy-{stamp}.{suffix}"
            link.symlink_to(victim)
            if os.getuid() == 0:
                os.lchown(link, NOBODY, NOBODY)
    planted = set(os.listdir(export_dir))
    app = LstmTopApp([str(run)], export_dir=str(export_dir))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "epoch 8" in app.status_header.plain_text, 15,
                         "run shown")
        for exported in (2, 4):
            await pilot.press("e")
            await wait_until(pilot, lambda n=exported: len(os.listdir(export_dir))  # type: ignore[misc]
                             == len(planted) + n, 10, "export files")
        await pilot.press("q")
    assert victim.read_text() == "precious"
    made = sorted(set(os.listdir(export_dir)) - planted)
    assert len(made) == 4  # two exports, two files each, nothing overwritten
    for name in made:
        path = export_dir / name
        assert not path.is_symlink()
        assert re.fullmatch(r"lstm-top-healthy-\d{8}-\d{6}-[0-9a-f]{8}\.(svg|txt)", name), name
    assert all((export_dir / name).read_text().startswith("<svg")
               for name in made if name.endswith(".svg"))


def test_write_new_file_refuses_an_existing_file_or_link(tmp_path: Path) -> None:
    existing = tmp_path / "a.txt"
    existing.write_text("keep")
    with pytest.raises(FileExistsError):
        write_new_file(existing, b"new")
    assert existing.read_text() == "keep"
    dangling = tmp_path / "b.txt"
    dangling.symlink_to(tmp_path / "would-be-created")
    with pytest.raises(FileExistsError):
        write_new_file(dangling, b"new")
    assert not (tmp_path / "would-be-created").exists()
