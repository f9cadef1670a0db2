"""Peak memory of the whole process after opening a 1,000,000-record history.

Measured in a fresh subprocess: it imports lstm-top, records its peak RSS so far (the import
floor), reads the file with ``read_history`` and reports ``ru_maxrss`` (the peak resident set
over the process's life, in KB on Linux). The columns' own size (``Table.nbytes``) is reported
beside it. Alone: ``python -m bench.bench_memory [--quick]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import FULL_RECORDS, QUICK_RECORDS, cached_history

GOAL_MB = 150
ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import json, resource, sys
import lstm_top.sources.formats as files
floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
history = files.read_history(sys.argv[1])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"floor_kb": floor, "peak_kb": peak, "rows": len(history.steps),
                  "columns": len(history.steps.names),
                  "table_bytes": history.steps.nbytes() + history.epochs.nbytes()}))
"""


def measure(path: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True,
                          text=True, cwd=ROOT, timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[dict[str, object]]:
    records = QUICK_RECORDS if quick else FULL_RECORDS
    result = measure(cached_history(records))
    peak_mb = result["peak_kb"] / 1024
    label = f"{records // 1000}k" if records < 1_000_000 else f"{records // 1_000_000}M"
    return [{
        "name": f"peak RSS, whole process, open {label} records",
        "value": round(peak_mb, 1), "unit": "MB",
        "goal": f"< {GOAL_MB}" if records == FULL_RECORDS else "",
        "detail": (f"import floor {result['floor_kb'] / 1024:.0f} MB; columns "
                   f"{result['table_bytes'] / 1e6:.0f} MB ({result['rows']} step rows x "
                   f"{result['columns']} metrics, float64 + present mask)"),
    }]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(f"{row['name']:<50} {row['value']:>8} {row['unit']:<3} goal {row['goal']:<6} "
              f"{row['detail']}")
