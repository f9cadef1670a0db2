"""Import plotext without what lstm-top never uses from it.

plotext 6 builds its whole interactive documentation (``plotext._doc.doc``) at import time,
about 0.3 s that would be most of lstm-top's start-up; it also imports Pillow (for
``plotext.image_plot``) and ``unittest`` (for ``plotext.test``), together another tenth of the
launch. Stand-ins are registered first, only when plotext has not been imported already, and
Pillow is hidden only while plotext imports (``import PIL`` works as ever afterwards).
"""

from __future__ import annotations

import sys
import types

if "plotext" not in sys.modules:
    for _name, _attribute in (("plotext._doc.doc", "docs"), ("plotext._tests.run", "test")):
        if _name not in sys.modules:
            _stand_in = types.ModuleType(_name)
            setattr(_stand_in, _attribute, None)
            sys.modules[_name] = _stand_in
    _hide_pillow = "PIL" not in sys.modules
    if _hide_pillow:
        sys.modules["PIL"] = None  # type: ignore[assignment]  # plotext: "not installed"
    try:
        import plotext
    finally:
        if _hide_pillow:
            del sys.modules["PIL"]

import plotext

__all__ = ["plotext"]
