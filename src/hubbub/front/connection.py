"""The lean HTTP path: one slotted protocol object per connection, no per-request objects.

Every accepted socket starts here. Polls (short and long) and publishes of
``/rooms/{room}/messages`` are served directly: the head is checked by llhttp, the
answer written as prebuilt bytes. The first request that is anything else (another
route, SSE, a WebSocket upgrade, a chunked or encoded body, an over-limit body,
HTTP/1.0, a head llhttp refuses) hands the connection, bytes unread included, to
aiohttp's connection handler, which serves it from then on exactly as before. A
connection over a cap is answered ``503`` at once by the guard (``connections.py``).

Pipelining: every complete request in a read is taken in the same loop iteration,
so the publishes of one connection share one commit (aiohttp serves them one at a
time); answers go out in request order, those ready together in one write. At most
:data:`MAX_PIPELINE` requests wait for their answers; past that, or while the peer
does not read, the connection is not read.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import cast

from hubbub.errors import ProtocolError, RequestTimeout
from hubbub.front.answers import error_answer
from hubbub.front.context import FrontContext, StreamStart
from hubbub.front.head import (
    MAX_HEAD,
    PUBLISH,
    READ,
    Head,
    Route,
    framing_error,
    parse_head,
    partial_head_error,
    route_of,
)
from hubbub.front.requests import Pending, Requests, log_access

log = logging.getLogger("hubbub")

MAX_PIPELINE = 64


class FrontConnection(Requests, asyncio.Protocol):
    """One client connection on the lean path (until it is handed to aiohttp)."""

    __slots__ = (
        "_address",
        "_body_deadline",
        "_buffer",
        "_ctx",
        "_ending",
        "_flush_soon",
        "_idle_since",
        "_peer",
        "_pending",
        "_proxied",
        "_reading",
        "_serving",
        "_tasks",
        "_timer",
        "_transport",
        "_waiting_turn",
        "_write_paused",
    )

    def __init__(self, ctx: FrontContext) -> None:
        self._ctx = ctx
        self._transport: asyncio.Transport | None = None
        self._address = "unknown"  # the client's, counted under ctx.guard
        self._peer = "unknown"  # who the socket is from (a proxy, behind one)
        self._proxied = False  # from a trusted proxy: each request names its client
        self._buffer = bytearray()
        self._pending: deque[Pending] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._idle_since = 0.0
        self._body_deadline: float | None = None  # a head is in, its body is not
        self._ending = False  # no more requests are taken; closed once answered
        self._waiting_turn = False  # a hand-off or a stream waits for earlier answers
        self._flush_soon = False
        self._serving = False  # in _serve: answers wait for the end of the read
        self._reading = True
        self._write_paused = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's; they have its methods.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        address = _peer_of(transport)
        ctx = self._ctx
        refusal = ctx.guard.admit(address)
        if refusal is not None:
            ctx.guard.refuse(transport, refusal)
            return
        self._begin(address)

    def _begin(self, address: str) -> None:
        ctx = self._ctx
        self._address = address
        assert self._transport is not None
        self._peer = _peer_of(self._transport)
        self._proxied = ctx.guard.proxies.trusts(self._peer)
        ctx.connections.add(self)
        self._idle_since = ctx.loop.time()
        self._timer = ctx.loop.call_at(self._idle_since + ctx.idle_timeout, self._on_timer)
        if ctx.closing:
            self.begin_close()

    def resume(self, transport: asyncio.Transport, address: str, data: bytes) -> None:
        """A lean stream's response ended and its connection stays open (keep-alive, as
        aiohttp's handler does): serve it from here, with what the client sent meanwhile.
        Its place under the guard passes to this connection."""
        self._transport = transport
        transport.set_protocol(self)
        self._begin(address)
        if data:
            self.data_received(data)

    def data_received(self, data: bytes) -> None:
        if self._ending:
            return  # after "Connection: close", or at shutdown: nothing more is read
        self._buffer += data
        self._serve()

    def eof_received(self) -> bool:
        # As aiohttp does: a peer that stops sending is gone; the transport closes and
        # connection_lost cancels what it waits for (a long poll releases its waiter).
        return False

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()
        self._serve()

    def connection_lost(self, exc: Exception | None) -> None:
        self._ctx.forget(self, self._address)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()
        self._buffer.clear()
        for task in self._tasks:
            task.cancel()  # a long poll whose client vanished releases its waiter now
        self._transport = None

    # Shutdown

    def begin_close(self) -> None:
        """The server stops: answer what was asked (long polls are woken), then close."""
        self._ending = True
        self._end_if_answered()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # Requests

    def _serve(self) -> None:
        """Take every complete request in the buffer (until a hand-off, a stream or a close)."""
        if self._waiting_turn:
            if self._pending:
                return  # a hand-off or a stream waits for the answers before it
            self._waiting_turn = False
        self._serving = True
        try:
            self._take_requests()
        finally:
            self._serving = False
        self._update_reading()

    def _take_requests(self) -> None:
        buffer = self._buffer
        ctx = self._ctx
        while buffer and not self._ending and self._transport is not None:
            if len(self._pending) >= MAX_PIPELINE or self._write_paused:
                break
            end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
            if end < 0:
                # Too long, or ended by bare LFs: aiohttp's to answer (400, 431).
                if len(buffer) > MAX_HEAD or buffer.find(b"\n\n", 0, MAX_HEAD) >= 0:
                    self._hand_off_in_turn()
                elif (error := partial_head_error(bytes(buffer))) is not None:
                    self._refuse_and_close(error)
                break
            head_size = end + 4
            head = parse_head(bytes(buffer[:head_size]))
            if head is not None and (error := framing_error(head)) is not None:
                self._refuse_and_close(error)
                break
            route = route_of(head) if head is not None else None
            if head is None or route is None:
                self._hand_off_in_turn()
                break
            refusal = ctx.node.host_refusal(head.headers.get("host"))
            if refusal is not None:
                del buffer[:]  # nothing after it is read: the connection closes
                entry = self._take(head)
                entry.close = True
                self._stop_taking()
                self._refuse(entry, head, route, refusal)
                break
            if self._proxied and not self._readdress(head):
                del buffer[:]
                break
            kind = route.kind
            if kind == PUBLISH:
                length = _content_length(head)
                if length is None or length > ctx.settings.max_body:
                    self._hand_off_in_turn()  # aiohttp refuses it (400, 413)
                    break
                if len(buffer) < head_size + length:
                    self._wait_for_body()
                    break
                body = bytes(buffer[head_size : head_size + length])
                del buffer[: head_size + length]
                self._body_deadline = None
                self._publish(head, route, body)
            elif kind == READ:
                if self._publish_pending():
                    # A read pipelined after a publish sees it (RFC 9112 section 9.3.2:
                    # only safe requests may be served in parallel).
                    self._waiting_turn = True
                    break
                del buffer[:head_size]
                self._read(head, route)
            else:
                self._stream_in_turn(head, route, head_size)
                break

    def _readdress(self, head: Head) -> bool:
        """A request from a trusted proxy names its client: the connection is counted
        under the client's address from now on (``connections.py: ConnectionGuard.move``).
        False if that address is at its cap (answered ``503``, the connection closed)."""
        headers = head.headers
        proxies = self._ctx.guard.proxies
        client = proxies.client_of(
            self._peer, headers.get("x-forwarded-for"), headers.get("x-real-ip")
        )
        refusal = self._ctx.guard.move(self._address, client)
        if refusal is None:
            self._address = client
            return True
        self._refuse_over_cap(head, client, refusal)
        return False

    def _publish_pending(self) -> bool:
        return any(entry.publish and entry.data is None for entry in self._pending)

    def _stream_in_turn(self, head: Head, route: Route, head_size: int) -> None:
        """A WebSocket or SSE request: its stream takes the connection over, once the
        answers before it are out (aiohttp's handler does, where the lean path has none)."""
        starter = self._ctx.starters.get(route.kind)
        if starter is None:
            self._hand_off_in_turn()
            return
        if self._pending:
            self._waiting_turn = True
            return
        transport = self._transport
        assert transport is not None
        leftover = bytes(self._buffer[head_size:])
        try:
            starter(StreamStart(self._ctx, transport, self._address, head, route, leftover))
        except ProtocolError as error:
            # Refused before the stream began (401, 403, 400, 426): answered in JSON,
            # and the connection closed (an upgrade may have sent frames after its head).
            del self._buffer[:]
            entry = self._take(head)
            entry.close = True
            self._stop_taking()
            self._refuse(entry, head, route, error)
            return
        # The stream's protocol owns the socket now, and its place under the guard.
        self._let_go()

    def _stop_taking(self) -> None:
        self._ending = True

    # Answers

    def _answered(self) -> None:
        """An answer is ready. The only one owed goes out now (a long poll's); with others
        in flight, it is written with those ready in this loop iteration (a pipeline's
        publishes committed together leave in one write)."""
        if self._flush_soon:
            return
        if len(self._pending) == 1 and not self._serving:
            self._flush()
            return
        self._flush_soon = True
        self._ctx.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_soon = False
        transport = self._transport
        pending = self._pending
        ready: list[bytes] = []
        close = False
        while pending and pending[0].data is not None:
            entry = pending.popleft()
            ready.append(entry.data)  # type: ignore[arg-type]
            if entry.access is not None:
                log_access(self._ctx, entry)
            if entry.close:
                close = True
                pending.clear()
                break
        if transport is None or not ready:
            return
        transport.write(ready[0] if len(ready) == 1 else b"".join(ready))
        if close:
            transport.close()
            return
        if not pending:
            self._idle_since = self._ctx.loop.time()
            self._end_if_answered()
            if self._transport is not None:
                self._serve()

    def _end_if_answered(self) -> None:
        """Once nothing is pending: close if ending, or hand off if a request waits for aiohttp."""
        if self._pending or self._transport is None:
            return
        if self._waiting_turn:
            self._serve()
        elif self._ending:
            self._transport.close()

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None:
            return
        reading = (
            len(self._pending) < MAX_PIPELINE
            and not self._write_paused
            and not self._waiting_turn
            and not self._ending
        )
        if reading != self._reading:
            self._reading = reading
            if reading:
                transport.resume_reading()
            else:
                transport.pause_reading()

    # Deadlines: one timer per connection, moved on only when it fires.

    def _wait_for_body(self) -> None:
        if self._body_deadline is not None:
            return
        ctx = self._ctx
        self._body_deadline = deadline = ctx.loop.time() + ctx.body_timeout
        if self._timer is None or self._timer.when() > deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = ctx.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        """A body past its deadline is a 408; a connection with no complete request head
        within ``idle_timeout`` of opening or of its last answer is closed (as aiohttp's
        keep-alive timer does)."""
        ctx = self._ctx
        self._timer = None
        transport = self._transport
        if transport is None:
            return
        now = ctx.loop.time()
        body_deadline = self._body_deadline
        if body_deadline is not None and now >= body_deadline:
            self._body_too_slow()
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

    def _body_too_slow(self) -> None:
        """``408``, after the answers owed before it; nothing more is read."""
        deadline = self._ctx.body_timeout
        self._refuse_and_close(RequestTimeout(f"request body not received within {deadline:g} s"))

    def _refuse_and_close(self, error: ProtocolError) -> None:
        """``error`` answered after the answers owed before it, then the connection
        closed: nothing more it sent is read (its framing cannot be trusted)."""
        self._ctx.node.stats.rejected[error.code] += 1
        entry = Pending(close=True)
        entry.data, _ = error_answer(
            error, self._ctx.date(), token_sent=False, close=True, cors=b""
        )
        self._pending.append(entry)
        self._body_deadline = None
        self._ending = True
        self._buffer.clear()
        self._update_reading()
        self._answered()

    # Hand-off to aiohttp

    def _hand_off_in_turn(self) -> None:
        """The request at the buffer's start is aiohttp's: once the answers before it
        are out (``_flush`` calls ``_serve`` again), the connection goes over."""
        if self._pending:
            self._waiting_turn = True
        else:
            self._hand_off(self._address)

    def _let_go(self) -> None:
        """Another protocol owns the socket (and counts it under the guard) from now on."""
        self._ctx.forget(self, None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._buffer.clear()
        self._transport = None

    def _hand_off(self, address: str) -> None:
        transport = self._transport
        assert transport is not None
        data = bytes(self._buffer)
        reading, write_paused = self._reading, self._write_paused
        self._let_go()
        handler = self._ctx.make_handler(address)
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if write_paused:
            handler.pause_writing()
        if not reading:
            transport.resume_reading()
        if data:
            handler.data_received(data)


def _peer_of(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"


def _content_length(head: Head) -> int | None:
    raw = head.headers.get("content-length") or ""
    return int(raw) if raw.isdigit() and len(raw) < 19 else None
