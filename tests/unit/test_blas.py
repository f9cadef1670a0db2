"""The viewer loads numpy with OpenBLAS on one thread, and leaves the environment as it was.

Each case runs in a fresh interpreter (OpenBLAS reads its thread count once, when numpy loads)
and asks OpenBLAS itself how many threads it has.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lstm_top.demo.blas import THREAD_VARIABLES, openblas_threads

PROJECT_ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json, os
from lstm_top.cli import _load_numpy
_load_numpy()
from lstm_top.demo.blas import THREAD_VARIABLES, openblas_threads
print(json.dumps([openblas_threads(), {v: os.environ.get(v) for v in THREAD_VARIABLES}]))
"""


def probe(extra_env: dict[str, str]) -> tuple[int | None, dict[str, str | None]]:
    env = {key: value for key, value in os.environ.items() if key not in THREAD_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(extra_env)
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    threads, variables = json.loads(result.stdout.strip().splitlines()[-1])
    return threads, variables


@pytest.fixture(scope="module")
def openblas() -> None:
    if openblas_threads() is None:
        pytest.skip("numpy is not built on OpenBLAS here")
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: OpenBLAS has one thread anyway")


def test_the_viewer_loads_numpy_with_one_blas_thread_and_no_variable_left(openblas: None
                                                                         ) -> None:
    threads, variables = probe({})
    assert threads == 1
    # A --notify command or a demo started from the viewer inherits the user's environment.
    assert variables == {v: None for v in THREAD_VARIABLES}


def test_a_thread_count_the_user_chose_is_kept(openblas: None) -> None:
    threads, variables = probe({"OPENBLAS_NUM_THREADS": "2"})
    assert threads == 2 and variables["OPENBLAS_NUM_THREADS"] == "2"
