"""``lstm-top --web FILE``: the same terminal app, in a browser, through ``textual-serve``.

Every browser tab that opens the page starts its own ``lstm-top FILE`` process, whose screen
textual-serve streams over a websocket to xterm.js. The server listens on the loopback address
by default: the page gives whoever reaches it a running lstm-top, with no login. To watch a
remote training machine, keep the default and forward the port (``ssh -L 8000:127.0.0.1:8000
host``); binding another address is possible and warned about.

Needs the optional ``textual-serve`` package: ``pip install 'lstm-top[web]'``.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import sys
from collections.abc import Sequence

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def app_command(targets: Sequence[str], extra_args: Sequence[str] = ()) -> str:
    """The shell command textual-serve runs per browser tab: this Python, this lstm-top."""
    return shlex.join([sys.executable, "-m", "lstm_top", *extra_args, *targets])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def serve_web(targets: Sequence[str], host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
              extra_args: Sequence[str] = (), title: str = "lstm-top") -> int:
    """Serve ``lstm-top TARGETS...`` at http://HOST:PORT until Ctrl-C; returns an exit status.

    ``extra_args`` go to every app process before the targets (``["--val-key", "val/loss"]``).
    """
    try:
        from textual_serve.server import Server
    except ImportError:
        sys.stderr.write("lstm-top --web needs textual-serve: pip install 'lstm-top[web]'\n")
        return 2
    if not is_loopback(host):
        sys.stderr.write(f"lstm-top: warning: serving on {host}, not the loopback address: "
                         "anyone who can reach this port can watch (and drive) the viewer, "
                         "with no login. Prefer an SSH tunnel to 127.0.0.1.\n")
    server = Server(app_command(targets, extra_args), host=host, port=port, title=title)
    sys.stderr.write(f"lstm-top: open http://{_url_host(host)}:{port} in a browser "
                     "(Ctrl-C stops)\n")
    server.serve()
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lstm_top.web FILE...``: the same as ``lstm-top --web FILE...``."""
    parser = argparse.ArgumentParser(
        prog="python -m lstm_top.web",
        description="Serve the lstm-top viewer to a browser (textual-serve).",
        epilog="examples:\n  python -m lstm_top.web run.jsonl\n"
               "  python -m lstm_top.web runs/ --port 8080",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help="what lstm-top shows: files, folders, sockets")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default: {DEFAULT_HOST}, this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default: {DEFAULT_PORT})")
    options = parser.parse_args(argv)
    return serve_web(options.targets, options.host, options.port)


if __name__ == "__main__":
    sys.exit(main())
