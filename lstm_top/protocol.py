"""The socket protocol between a training process and its viewers, beside the file format.

``Logger(path, serve=ADDRESS)`` serves (``lstm_top.hook.serve``); ``lstm-top ADDRESS`` reads
(``lstm_top.sources.socket_client``). Both take what they share from here, so the client never
imports the server: the address forms, and the hello and goodbye lines around the same records
as the file (their fields are described in hook/serve.py's docstring). Standard library only:
it runs in the training process.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from lstm_top.format import FORMAT_NAME

HELLO_KIND = "hello"
GOODBYE_KIND = "goodbye"
PROTOCOL_FORMAT = FORMAT_NAME
PROTOCOL_VERSION = 1


@dataclass(frozen=True, slots=True)
class ServeAddress:
    """A parsed ``unix:PATH`` or ``tcp://HOST:PORT`` address."""

    scheme: str  # "unix" or "tcp"
    path: str = ""
    host: str = ""
    port: int = 0
    allow_remote: bool = False

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


def is_socket_address(target: str) -> bool:
    return target.startswith(("unix:", "tcp://"))


def parse_address(address: str) -> ServeAddress:
    """``unix:/p.sock``, ``unix:///p.sock``, ``tcp://127.0.0.1:7000[?allow_remote=1]``."""
    if address.startswith("unix:"):
        path = address[len("unix:"):]
        if path.startswith("//"):
            path = path[2:]
        if not path:
            raise ValueError(f"{address!r}: a unix address needs a path, e.g. unix:/tmp/run.sock")
        return ServeAddress("unix", path=os.path.expanduser(path))
    if address.startswith("tcp://"):
        parts = urlsplit(address)
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise ValueError(f"{address!r}: expected tcp://HOST:PORT, e.g. tcp://127.0.0.1:7000")
        query = parse_qs(parts.query)
        allow_remote = query.get("allow_remote", ["0"])[-1].lower() in ("1", "true", "yes")
        return ServeAddress("tcp", host=parts.hostname, port=port, allow_remote=allow_remote)
    raise ValueError(f"{address!r}: expected unix:/path.sock or tcp://127.0.0.1:PORT")


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP; a host name may resolve to anything, so it is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
