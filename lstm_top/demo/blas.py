"""Keep OpenBLAS to one thread while a demo trains.

The demo's matrix products are small (a batch of 32 by a few hundred columns). OpenBLAS splits
them across threads that busy-wait, and on a shared machine (the TUI drawing, other jobs) that
made an epoch 15-35x slower than on one thread — measured: 0.32 s single-threaded against
5.4 s with two threads while four other processes ran. One thread is never meaningfully slower
at these sizes, so the demo always asks for it.

Two ways in: environment variables, honoured only if set before numpy loads its BLAS (the
``python -m lstm_top.demo`` entry point does this; the viewer asks the same while it loads
numpy, ``single_thread_while_numpy_loads``), and OpenBLAS's own setter, found in the
library bundled with numpy's wheels, for a process where numpy is already loaded (tests, a TUI
running a scenario in-process). Anything else (MKL, Accelerate) is left alone.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# Symbol pairs (setter, getter) as exported by scipy-openblas (numpy >= 2 wheels) and by a
# plain OpenBLAS build.
_OPENBLAS_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)


def prefer_single_thread_before_numpy() -> None:
    """Ask for one BLAS thread through the environment, unless numpy is already loaded."""
    if "numpy" not in sys.modules:
        for variable in THREAD_VARIABLES:
            os.environ.setdefault(variable, "1")


@contextmanager
def single_thread_while_numpy_loads() -> Iterator[None]:
    """One OpenBLAS thread for this process, asked through the environment while numpy loads
    (OpenBLAS reads it once, then); the environment is as it was afterwards, so child processes
    (a ``--notify`` command, a demo) inherit nothing. Nothing changes when numpy is loaded
    already or a thread count was chosen (any of ``THREAD_VARIABLES`` set)."""
    asked = "numpy" not in sys.modules and not any(v in os.environ for v in THREAD_VARIABLES)
    if asked:
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        if asked:
            os.environ.pop("OPENBLAS_NUM_THREADS", None)


def openblas_threads() -> int | None:
    """OpenBLAS's thread count in this process (loads numpy); None when it is not OpenBLAS."""
    controls = _openblas_controls()
    return None if controls is None else int(controls[1]())


def _openblas_controls() -> tuple[Callable[[int], None], Callable[[], int]] | None:
    import numpy as np

    package_dir = os.path.dirname(np.__file__)
    # numpy.libs on Linux wheels, .dylibs on macOS wheels, the package folder on Windows.
    patterns = [os.path.join(package_dir, os.pardir, "numpy.libs", "*openblas*"),
                os.path.join(package_dir, ".dylibs", "*openblas*"),
                os.path.join(package_dir, ".libs", "*openblas*")]
    for path in (p for pattern in patterns for p in sorted(glob.glob(pattern))):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for setter_name, getter_name in _OPENBLAS_SYMBOLS:
            setter = getattr(library, setter_name, None)
            getter = getattr(library, getter_name, None)
            if setter is not None and getter is not None:
                setter.argtypes = [ctypes.c_int]
                setter.restype = None
                getter.restype = ctypes.c_int
                return setter, getter
    return None


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with OpenBLAS on one thread, restoring the previous count afterwards."""
    controls = _openblas_controls()
    if controls is None:
        yield
        return
    setter, getter = controls
    previous = int(getter())
    setter(1)
    try:
        yield
    finally:
        setter(previous)
