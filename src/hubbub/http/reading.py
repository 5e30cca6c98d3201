"""How a connection reads: a request's head that has not ended, its body (by
``Content-Length``, or chunks llhttp decodes), ``Expect: 100-continue``, the deadlines, and
the close after a refusal. Part of :class:`~hubbub.http.connection.FrontConnection`."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from hubbub.errors import (
    BodyTooLarge,
    ExpectationFailed,
    HeadTooLarge,
    InvalidRequest,
    ProtocolError,
    RequestTimeout,
)
from hubbub.http.body import ChunkedBody
from hubbub.http.head import MAX_HEAD, Request, partial_head_error
from hubbub.http.refusals import error_answer
from hubbub.http.requests import ALONE, Pending, hooked

if TYPE_CHECKING:
    from hubbub.http.context import ServerContext

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Reading:
    """The reading side of a connection (its state is the connection's own slots)."""

    # The state it changes (set by FrontConnection.__init__).
    __slots__ = (
        "_body_deadline",
        "_chunked",
        "_continued",
        "_ending",
        "_linger",
        "_reading",
        "_timer",
    )

    _ctx: ServerContext
    _transport: asyncio.Transport | None
    _buffer: bytearray
    _pending: deque[Pending]
    _chunked: ChunkedBody | None
    _continued: bool
    _body_deadline: float | None
    _timer: asyncio.TimerHandle | None
    _idle_since: float
    _ending: bool
    _linger: bool
    _reading: bool

    def _answered(self) -> None:
        raise NotImplementedError

    def _update_reading(self) -> None:
        raise NotImplementedError

    def _incomplete_head(self) -> None:
        buffer = self._buffer
        if len(buffer) > MAX_HEAD:
            self._refuse_and_close(HeadTooLarge(f"request head over {MAX_HEAD} bytes"))
        elif buffer.find(b"\n\n", 0, MAX_HEAD) >= 0:
            self._refuse_and_close(InvalidRequest("malformed request: a line ended by a bare LF"))
        elif (error := partial_head_error(bytes(buffer))) is not None:
            self._refuse_and_close(error)

    def _body(self, head: Request, head_size: int) -> int | None:
        """Where the request's body ends in the buffer, once it is all in (its bytes in
        ``head.body``, decoded); None while it arrives. Refusals close the connection."""
        buffer = self._buffer
        max_body = self._ctx.settings.max_body
        headers = head.headers
        expect = headers.get("expect")
        if expect is not None and expect.strip().lower() != "100-continue":
            raise ExpectationFailed(f"cannot meet Expect: {expect.strip()[:50]!r}")
        if "transfer-encoding" in headers:
            chunked = self._chunked
            if chunked is None:
                chunked = self._chunked = ChunkedBody(bytes(buffer[:head_size]), max_body)
            if not chunked.feed(buffer, head_size):
                self._wait_for_body(expect is not None)
                return None
            self._chunked = None
            body, end = chunked.body(), head_size + chunked.fed
        else:
            length = _content_length(head)
            if length > max_body:
                refusal = BodyTooLarge(f"request body is over the {max_body}-byte limit")
                if expect is not None:
                    raise refusal  # never invited
                # Not read: the route's own checks come first, then this refusal when it
                # asks for the body; the connection closes after the answer.
                head.refuse_body(refusal)
                return head_size
            end = head_size + length
            if len(buffer) < end:
                self._wait_for_body(expect is not None)
                return None
            body = bytes(buffer[head_size:end]) if length else b""
        head.body = body
        return end

    def _wait_for_body(self, expects_continue: bool) -> None:
        if expects_continue and not self._continued and self._transport is not None:
            # Invited only now: every answer before it is out (it waited its turn).
            self._continued = True
            self._transport.write(CONTINUE)
        if self._body_deadline is not None:
            return
        ctx = self._ctx
        self._body_deadline = deadline = ctx.loop.time() + ctx.body_timeout
        if self._timer is None or self._timer.when() > deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = ctx.loop.call_at(deadline, self._on_timer)

    # Deadlines: one timer per connection, moved on only when it fires.

    def _on_timer(self) -> None:
        """A body past its deadline is a 408; a connection with no complete request head
        within ``idle_timeout`` of opening or of its last answer is closed."""
        ctx = self._ctx
        self._timer = None
        transport = self._transport
        if transport is None:
            return
        now = ctx.loop.time()
        body_deadline = self._body_deadline
        if body_deadline is not None and now >= body_deadline:
            deadline = ctx.body_timeout
            self._refuse_and_close(
                RequestTimeout(f"request body not received within {deadline:g} s")
            )
            return
        if self._pending:
            due = now + ctx.idle_timeout  # answers are owed: not idle
        else:
            due = self._idle_since + ctx.idle_timeout
            if body_deadline is None and now >= due:
                transport.close()
                return
        if body_deadline is not None:
            due = min(due, body_deadline)
        self._timer = ctx.loop.call_at(max(due, now + 0.001), self._on_timer)

    def _refuse_and_close(self, error: ProtocolError, head: Request | None = None) -> None:
        """``error`` answered after the answers owed before it, then the connection
        closed: nothing more it sent is read (its framing cannot be trusted). With the
        ``head`` it refuses (its body is what is refused), the answer hooks see it."""
        self._ctx.stats.rejected[error.code] += 1
        entry = Pending(close=True, kind=ALONE)
        answer = error_answer(error, None)
        if head is not None:
            answer = hooked(self._ctx, head, answer)
        entry.data = answer.render(self._ctx.date(), close=True)
        self._pending.append(entry)
        self._body_deadline = None
        self._chunked = None
        self._ending = True
        self._linger = bool(self._buffer) or error.status in (408, 413)
        self._buffer.clear()
        self._update_reading()
        self._answered()

    def _close(self, transport: asyncio.Transport) -> None:
        """Close after the last answer. After a refusal that left the client still
        sending (a body over the limit), the answer is followed by the end of our side
        and what arrives is discarded for ``lingering_time`` before the close: closing
        with unread bytes resets the connection, and the client could lose the answer
        (RFC 9112 section 9.6)."""
        if not self._linger or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._buffer.clear()
        self._reading = True
        transport.resume_reading()
        if self._timer is not None:
            self._timer.cancel()
        linger = self._ctx.settings.lingering_time
        self._timer = self._ctx.loop.call_later(linger, transport.close)


def _content_length(head: Request) -> int:
    """llhttp checked it: digits only, one value (or none: no body)."""
    raw = head.headers.get("content-length")
    return int(raw) if raw else 0
