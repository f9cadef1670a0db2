"""What an input may be before any reader touches it, and how its bytes are text.

* Only regular files (and folders) are read: a FIFO, a device (``/dev/zero``,
  ``/dev/urandom``), a socket file would block a reader or never end. ``refuse_special``
  raises a ``SourceError`` saying so, before anything opens the path (opening a FIFO for
  reading blocks until a writer comes).
* Text is UTF-8; a UTF-8 byte-order mark is dropped, and UTF-16 (with a BOM, or without one
  when every other byte of ASCII text is zero — what Windows PowerShell's ``>`` writes) is
  decoded, so such a file reads the same as its UTF-8 copy instead of as garbage.
"""

from __future__ import annotations

import codecs
import os
import stat

from lstm_top.sources.base import SourceError

_UTF8_BOM = codecs.BOM_UTF8


def special_kind(path: str) -> str | None:
    """'a FIFO', 'a device', 'a socket' when ``path`` is one of those, else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # missing or unreadable: the reader says why
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket file (for a training that serves its history, use unix:PATH)"
    return "not a regular file"


def refuse_special(path: str) -> None:
    kind = special_kind(path)
    if kind is not None:
        raise SourceError(f"{path} is {kind}, not a history file; lstm-top reads regular files "
                          "(a pipe or a device may never end)")


def utf16_codec(head: bytes) -> str | None:
    """The UTF-16 codec the bytes are in, or None (UTF-8 or plain bytes)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # the BOM says which byte order
    sample = head[:4096]
    if len(sample) >= 4 and b"\0" in sample:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) == len(odd) and even.count(0) == 0:
            return "utf-16-le"
        if even.count(0) == len(even) and odd.count(0) == 0:
            return "utf-16-be"
    return None


def as_utf8(data: bytes) -> bytes:
    """The bytes of a whole file as UTF-8: BOM dropped, UTF-16 transcoded."""
    codec = utf16_codec(data)
    if codec is not None:
        return data.decode(codec, "replace").encode("utf-8")
    if data.startswith(_UTF8_BOM):
        return data[len(_UTF8_BOM):]
    return data


def decode_text(data: bytes) -> str:
    return as_utf8(data).decode("utf-8", "replace")
