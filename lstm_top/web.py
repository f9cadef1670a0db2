"""``lstm-top --web FILE``: the same terminal app, in a browser, through ``textual-serve``.

Every browser tab that opens the page starts its own ``lstm-top FILE`` process, whose screen
textual-serve streams over a websocket to xterm.js. The server listens on the loopback address
by default: the page gives whoever reaches it a running lstm-top, with no login. To watch a
remote training machine, keep the default and forward the port (``ssh -L 8000:127.0.0.1:8000
host``); binding another address is possible and warned about.

What a web page elsewhere in the same browser cannot do (a local web app is reachable from any
page the user visits, through the browser):

* open a session without the per-launch secret: the URL printed at start carries
  ``?key=<random>``; the page sets it as a ``SameSite=Strict``, ``HttpOnly`` cookie, and every
  request but the static files needs the key or the cookie (403 otherwise);
* connect the websocket from another origin: its ``Origin`` must be the served address itself
  (and the ``Host`` header one of ours, so a DNS-rebound name is refused too);
* start processes without limit: at most ``MAX_WEB_SESSIONS`` app processes at once, more
  websockets are answered 503 before any process starts.

Needs the optional ``textual-serve`` package: ``pip install 'lstm-top[web]'``.
"""

from __future__ import annotations

import argparse
import hmac
import secrets
import shlex
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from lstm_top.protocol import is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# Browser tabs served at once (each one is an lstm-top process).
MAX_WEB_SESSIONS = 4
KEY_COOKIE = "lstm_top_key"


def app_command(targets: Sequence[str], extra_args: Sequence[str] = ()) -> str:
    """The shell command textual-serve runs per browser tab: this Python, this lstm-top."""
    return shlex.join([sys.executable, "-m", "lstm_top", *extra_args, *targets])


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
    server = guarded_server(Server, app_command(targets, extra_args), host=host, port=port,
                            title=title)
    sys.stderr.write(f"lstm-top: open {server.public_url}/?key={server.secret} in a browser "
                     "(Ctrl-C stops; the key is new at every launch)\n")
    server.serve()
    return 0


Handler = Callable[[Any], Awaitable[Any]]


def guarded_server(server_class: type[Any], command: str, *, host: str, port: int,
                   title: str, max_sessions: int = MAX_WEB_SESSIONS) -> Any:
    """A textual-serve ``Server`` that checks the secret, the Origin and the session count."""
    from aiohttp import web

    class GuardedServer(server_class):
        def __init__(self) -> None:
            super().__init__(command, host=host, port=port, title=title)
            self.secret = secrets.token_urlsafe(18)
            self.max_sessions = max_sessions
            self.sessions = 0
            url_host = _url_host(host)
            self.allowed_hosts = {f"{url_host}:{port}"}
            if is_loopback(host):
                self.allowed_hosts |= {f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"}

        async def _make_app(self) -> Any:
            app = await super()._make_app()
            app.middlewares.append(self._guard)
            return app

        @web.middleware
        async def _guard(self, request: Any, handler: Handler) -> Any:
            if request.host not in self.allowed_hosts:
                raise web.HTTPForbidden(text="lstm-top: unknown host name")
            if request.path.startswith("/static/"):
                return await handler(request)
            key = request.query.get("key") or request.cookies.get(KEY_COOKIE) or ""
            if not hmac.compare_digest(key.encode(), self.secret.encode()):
                raise web.HTTPForbidden(text="lstm-top: open the URL printed by lstm-top --web "
                                             "(it carries the key of this launch)")
            if request.path == "/ws":
                origin = request.headers.get("Origin")
                if origin is None or origin.removeprefix("http://") not in self.allowed_hosts:
                    raise web.HTTPForbidden(text="lstm-top: websocket from another origin")
                if self.sessions >= self.max_sessions:
                    raise web.HTTPServiceUnavailable(
                        text=f"lstm-top: at most {self.max_sessions} sessions at once")
                self.sessions += 1
                try:
                    return await handler(request)
                finally:
                    self.sessions -= 1
            response = await handler(request)
            if request.path == "/" and request.query.get("key"):
                response.set_cookie(KEY_COOKIE, self.secret, httponly=True, samesite="Strict",
                                    path="/")
            return response

    return GuardedServer()


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
