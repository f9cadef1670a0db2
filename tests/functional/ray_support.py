"""A local Ray for the Ray Tune tests, started the same way in each."""

from __future__ import annotations

from typing import Any

STARTS = 3


def start_local_ray(**options: Any) -> None:
    """``ray.init`` on this machine's two cores, no dashboard. Ray waits a fixed 30 s for its
    raylet to register; on a loaded machine it may not make it: then Ray is started again
    (what the tests check comes after; a Ray that never starts still fails them)."""
    import ray

    for attempt in range(1, STARTS + 1):
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, **options)
            return
        except Exception as exc:
            ray.shutdown()
            if attempt == STARTS or "timed out during startup" not in str(exc):
                raise
