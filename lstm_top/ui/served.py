"""``lstm-top --web``: an app process started by textual-serve for one browser tab must end
when its server does. Killed, the server leaves the app behind, re-parented and redrawing for
nobody at full speed; textual's web driver just stops reading its input. So the app asks once a
second whether anyone is still there."""

from __future__ import annotations

import os
import threading


def served_to_browser() -> bool:
    """Running under textual-serve (which starts each app with the web driver)."""
    return "web_driver" in os.environ.get("TEXTUAL_DRIVER", "")


def server_gone(driver: object, parent_pid: int) -> bool:
    """Our parent changed (we were re-parented: the server died), or the driver's input
    stream ended (the server closed our stdin)."""
    if os.getppid() != parent_pid:
        return True
    # The web driver's reader thread (a private name: textual offers no public way to learn
    # that the input ended); it returns at end of input.
    reader = getattr(driver, "_key_thread", None)
    return isinstance(reader, threading.Thread) and reader.ident is not None \
        and not reader.is_alive()
