"""``python -m lstm_top.signs.evaluate``: alias of ``python -m lstm_top.evaluation``."""

from __future__ import annotations

if __name__ == "__main__":
    from lstm_top.evaluation.__main__ import main

    raise SystemExit(main())
