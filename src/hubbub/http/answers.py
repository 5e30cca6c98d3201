"""Answers, written as bytes: a status line, headers, the body.

A route returns an :class:`Answer` (or raises a ``ProtocolError``, answered by
:func:`error_answer`); the connection renders it with ``Content-Length``, ``Date``,
``Server`` and ``Connection: close`` when the connection ends after it. Pure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

SERVER = b"Server: hubbub\r\n"
NO_STORE = b"Cache-Control: no-store\r\n"
CLOSE = b"Connection: close\r\n"
# An HTTP/1.0 client keeps its connection only if the answer says so (RFC 9112 C.2.2).
KEEP_ALIVE = b"Connection: keep-alive\r\n"
_STATUS_LINES = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode())
    for status in HTTPStatus
}


def status_line(status: int) -> bytes:
    """``HTTP/1.1 200 OK\r\n``; a status Python does not name (an embedding route's
    ``499``) gets an empty reason phrase (RFC 9112 section 4 allows it)."""
    line = _STATUS_LINES.get(status)
    if line is None:
        if not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")
        line = b"HTTP/1.1 %d \r\n" % status
    return line


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


class Answer:
    """What a route answers: ``status``, ``body``, its media type, more headers.

    ``close``: the connection closes after it. ``headers`` may be changed by the
    answer hooks an embedding application adds (``docs/design.md``, Embedding)."""

    __slots__ = ("body", "close", "content_type", "headers", "no_store", "status")

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        *,
        content_type: str | None = "application/json",
        headers: list[tuple[str, str]] | None = None,
        no_store: bool = False,
        close: bool = False,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers if headers is not None else []
        self.no_store = no_store
        self.close = close

    def render(
        self, date: bytes, *, close: bool, head_only: bool = False, keep_alive: bool = False
    ) -> bytes:
        """The answer's bytes; ``head_only``: the answer to ``HEAD`` (no body, the
        ``Content-Length`` a ``GET`` would have); ``keep_alive``: an HTTP/1.0 request's
        connection stays open (said, since 1.0 closes by default)."""
        body = self.body
        content_type = self.content_type
        has_body = self.status not in (204, 304)
        return b"".join(
            (
                _STATUS_LINES.get(self.status) or status_line(self.status),
                b"Content-Type: %s\r\n" % content_type.encode("latin-1")
                if content_type is not None and has_body
                else b"",
                NO_STORE if self.no_store else b"",
                b"Content-Length: %d\r\n" % len(body) if has_body else b"",
                date,
                SERVER,
                CLOSE if close else KEEP_ALIVE if keep_alive else b"",
                header_lines(self.headers) if self.headers else b"",
                b"\r\n",
                b"" if head_only or not has_body else body,
            )
        )


def stream_head(answer: Answer, date: bytes, *, chunked: bool, close: bool) -> bytes:
    """The head of an answer whose body follows over time (a stream): no length; chunked
    on HTTP/1.1, ended by the close on HTTP/1.0."""
    return b"".join(
        (
            _STATUS_LINES[answer.status],
            b"Content-Type: %s\r\n" % (answer.content_type or "").encode("latin-1"),
            header_lines(answer.headers),
            b"Transfer-Encoding: chunked\r\n" if chunked else b"",
            date,
            SERVER,
            CLOSE if close else b"",
            b"\r\n",
        )
    )


class Later:
    """A route's answer once ``future`` is done: ``make(its result)`` (a publish's, made in
    its commit's callback: no task, no second future). ``future``'s exception, if any,
    is answered as a handler's would be."""

    __slots__ = ("future", "make")

    def __init__(self, future: asyncio.Future[Any], make: Callable[[Any], Answer]) -> None:
        self.future = future
        self.make = make


# A route's answer that is no answer: the connection closes without a byte (the tutorial
# dialect's held /subscribe at shutdown, where any answer would be shown as a message).
NO_ANSWER = Answer(0, content_type=None, close=True)


def header_lines(pairs: list[tuple[str, str]]) -> bytes:
    return b"".join(b"%s: %s\r\n" % (k.encode(), v.encode("latin-1")) for k, v in pairs)
