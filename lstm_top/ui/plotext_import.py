"""Import plotext without its documentation tables.

plotext 6 builds its whole interactive documentation (``plotext._doc.doc``) at import time,
about 0.3 s that would be most of lstm-top's start-up; we never use ``plotext.doc``. A stand-in
module is registered first, only when plotext has not been imported already.
"""

from __future__ import annotations

import sys
import types

if "plotext" not in sys.modules and "plotext._doc.doc" not in sys.modules:
    _stand_in = types.ModuleType("plotext._doc.doc")
    _stand_in.docs = None  # type: ignore[attr-defined]
    sys.modules["plotext._doc.doc"] = _stand_in

import plotext

__all__ = ["plotext"]
