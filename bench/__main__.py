"""``python -m bench``: every benchmark of the project, one table (see ``bench/run.py``)."""

from bench.run import main

raise SystemExit(main())
