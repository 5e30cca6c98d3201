"""Answers of the lean path, written as bytes: a status line, fixed headers, the body.

The same headers as aiohttp's answers on these routes (``Content-Type``,
``Cache-Control``, ``Content-Length``, ``Date``, and ``Access-Control-Allow-Origin``
for an allowed origin), so a client cannot tell which path served it. Pure.
"""

from __future__ import annotations

from email.utils import formatdate
from http import HTTPStatus

from hubbub.errors import ProtocolError
from hubbub.protocol.encoding import error_body
from hubbub.refusals import refusal_headers
from hubbub.transports.cors import origin_header_pairs

SERVER = b"Server: hubbub\r\n"
JSON_TYPE = b"Content-Type: application/json\r\n"
NO_STORE = b"Cache-Control: no-store\r\n"
CLOSE = b"Connection: close\r\n"
_STATUS_LINES = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode())
    for status in HTTPStatus
}


class DateHeader:
    """``Date: ...\\r\\n``, made again at most once a second."""

    __slots__ = ("_line", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def at(self, now: float) -> bytes:
        second = int(now)
        if second != self._second:
            self._second = second
            self._line = b"Date: %s\r\n" % formatdate(second, usegmt=True).encode()
        return self._line


def answer(
    status: int,
    body: bytes,
    date: bytes,
    *,
    no_store: bool = False,
    close: bool = False,
    extra: bytes = b"",
) -> bytes:
    """A whole JSON answer; ``extra``: more header lines, each ending in CRLF."""
    return b"".join(
        (
            _STATUS_LINES[status],
            JSON_TYPE,
            NO_STORE if no_store else b"",
            b"Content-Length: %d\r\n" % len(body),
            date,
            SERVER,
            CLOSE if close else b"",
            extra,
            b"\r\n",
            body,
        )
    )


def origin_headers(allowed: str | None) -> bytes:
    """``Access-Control-Allow-Origin`` (and ``Vary``) for an allowed origin, if any
    (``transports/cors.py: origin_header_pairs``, shared with aiohttp's path)."""
    return header_lines(origin_header_pairs(allowed))


def header_lines(pairs: list[tuple[str, str]]) -> bytes:
    return b"".join(b"%s: %s\r\n" % (k.encode(), v.encode("latin-1")) for k, v in pairs)


def error_headers(error: ProtocolError, token_sent: bool) -> tuple[bytes, bool]:
    """The header lines an error answer adds, and whether the connection closes after
    (``refusals.py``, shared with aiohttp's path)."""
    headers, close = refusal_headers(error, token_sent)
    return header_lines(headers), close


def error_answer(
    error: ProtocolError, date: bytes, *, token_sent: bool, close: bool, cors: bytes
) -> tuple[bytes, bool]:
    """The JSON error answer, and whether the connection closes after it."""
    extra, must_close = error_headers(error, token_sent)
    close = close or must_close
    data = answer(
        error.status,
        error_body(error.code, error.message),
        date,
        close=close,
        extra=extra + cors,
    )
    return data, close
