"""hubbub's HTTP/1.1 connection: one slotted protocol object per connection, from accept
to close, serving every route of the table it is handed (``http/routes.py``).

Framing: a head ends at the first blank line and llhttp checks it (``head.py``); a body
is ``Content-Length`` bytes or chunks llhttp decodes (``body.py``), never read past
``max_body``; ``Expect: 100-continue`` is answered before a body is invited. A request
whose framing cannot be trusted is refused ``400`` and the connection closed.

Pipelining: every complete request in a read is taken in the same loop iteration, so
the publishes of one connection share one commit; answers go out in request order, those
ready together in one write. Polls and publishes of a room may be in flight together (a
read waits for the publishes before it); any other request waits for the answers before
it (one with ``Expect: 100-continue`` too: its invitation may not pass their answers).
At most :data:`MAX_PIPELINE` requests wait for their answers; past that, or while the
peer does not read, the connection is not read; behind a request that waits its turn, at
most :data:`READ_AHEAD` bytes are (so a client that leaves is still noticed). A
WebSocket or SSE stream runs on the connection (``streaming.py: Takeover``): the
connection stays the socket's protocol and keeps its place under the guard, and hands
the stream what it reads, its write pauses and its loss; an SSE stream that ends with
the connection open hands it back.
A connection over a cap is answered ``503`` at once by the guard (``http/guard.py``).
The reads of one loop iteration take a bounded time (``http/turns.py``): a connection
that reads after it waits for its turn in a later iteration, its bytes kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, cast

from hubbub.errors import (
    InvalidRequest,
    ProtocolError,
)
from hubbub.http.body import ChunkedBody, decode_body
from hubbub.http.head import (
    MAX_HEAD,
    Request,
    accepts_event_stream,
    framing_error,
    is_websocket_upgrade,
    parse_head,
)
from hubbub.http.requests import ALONE, READ, WRITE, Pending, Requests
from hubbub.http.streaming import StreamProtocol, StreamStart, Takeover
from hubbub.http.writing import MAX_PIPELINE, Writing

if TYPE_CHECKING:
    from hubbub.http.context import ServerContext
    from hubbub.http.routes import Match, Routes

log = logging.getLogger("hubbub")

# Bytes a connection waiting for its turn to read holds before it is served out of turn.
QUEUED_BYTES = 1 << 16
# What a connection running a stream keeps instead of its queues: nothing is queued then.
_NO_PENDING: deque[Pending] = deque(maxlen=0)
_NO_TASKS: set[asyncio.Task[Any]] = set()


class FrontConnection(Writing, Requests, asyncio.Protocol):
    """One client connection."""

    __slots__ = (
        "_address",
        "_attached",
        "_buffer",
        "_ctx",
        "_peer",
        "_pending",
        "_proxied",
        "_queued",
        "_routes",
        "_serving",
        "_tasks",
        "_transport",
        "_waiting_turn",
        "_writable",
        "_write_paused",
    )

    def __init__(self, ctx: ServerContext, routes: Routes) -> None:
        self._ctx = ctx
        self._routes = routes
        self._transport: asyncio.Transport | None = None
        self._address = "unknown"  # the client's, counted under ctx.guard
        self._peer = "unknown"  # who the socket is from (a proxy, behind one)
        self._proxied = False  # from a trusted proxy: each request names its client
        self._buffer = bytearray()
        self._queued = False  # waiting for its turn to read (http/turns.py), bytes kept
        self._pending: deque[Pending] = deque()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._idle_since = 0.0
        self._body_deadline: float | None = None  # a head is in, its body is not
        self._chunked: ChunkedBody | None = None  # the chunked body being read
        self._continued = False  # 100 Continue sent for the head at the buffer's start
        self._ending = False  # no more requests are taken; closed once answered
        self._linger = False  # a refusal left a body unread: discard it before closing
        self._waiting_turn = False  # a request waits for the answers before it
        self._flush_soon = False
        self._serving = False  # in _serve: answers wait for the end of the read
        self._reading = True
        self._write_paused = False
        self._writable: asyncio.Future[None] | None = None  # a streamed answer waits
        # A WebSocket or SSE stream this connection runs: its reads and loss go there.
        self._attached: StreamProtocol | None = None

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
        # The socket's peer: connection_made's address (asked of the transport once).
        self._address = self._peer = address
        self._proxied = ctx.guard.proxies.trusts(self._peer)
        ctx.connections.add(self)
        self._idle_since = ctx.loop.time()
        self._timer = ctx.loop.call_at(self._idle_since + ctx.idle_timeout, self._on_timer)
        if ctx.closing:
            self.begin_close()

    # A stream (StreamStart.owner)

    def attach(self, stream: StreamProtocol) -> None:
        """``stream`` runs on this connection: its reads, write pauses and loss go to it.
        The connection's own deadlines stop; its place under the guard stays its own."""
        self._attached = stream
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # Nothing is queued while a stream runs: the queues are let go (a WebSocket keeps
        # its connection for life, so each of its objects counts).
        self._pending = _NO_PENDING
        self._tasks = _NO_TASKS

    def detach(self, unread: bytes) -> None:
        """The stream ended and the connection stays open (SSE): requests are served
        again, ``unread`` first."""
        self._attached = None
        self._pending = deque()
        self._tasks = set()
        ctx = self._ctx
        self._idle_since = ctx.loop.time()
        self._timer = ctx.loop.call_at(self._idle_since + ctx.idle_timeout, self._on_timer)
        if ctx.closing:
            self.begin_close()
        if unread and not self._ending:
            # Before what came while it waited for a turn (read after the stream's).
            self._buffer[:0] = unread
        self._serve()

    def data_received(self, data: bytes) -> None:
        if self._queued or not self._ctx.turns.take():
            # This iteration's reads took their time: served in a turn of a later one.
            if self._attached is not None or not self._ending:
                self._buffer += data
            if not self._queued:
                self._queued = True
                self._ctx.turns.wait(self)
            elif len(self._buffer) > QUEUED_BYTES:
                self.read_turn()  # not more than this is held: served out of turn
            return
        stream = self._attached
        if stream is not None:
            stream.data_received(data)
            return
        if self._ending:
            return  # after "Connection: close", or at shutdown: nothing more is read
        self._buffer += data
        self._serve()

    def read_turn(self) -> None:
        """Its turn (``http/turns.py``): what it read while it waited, as it came."""
        if not self._queued:
            return
        self._queued = False
        stream = self._attached
        if stream is not None:
            if self._buffer:
                data = bytes(self._buffer)
                self._buffer.clear()
                stream.data_received(data)
        elif self._transport is not None and not self._ending:
            self._serve()

    def eof_received(self) -> bool:
        # What it sent before its end is served first (not left for a turn after the close).
        self.read_turn()
        # A peer that stops sending is gone; the transport closes and connection_lost
        # cancels what it waits for (a long poll releases its waiter).
        if self._attached is not None:
            return bool(self._attached.eof_received())
        return False

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._attached is not None:
            self._attached.pause_writing()
            return
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._attached is not None:
            self._attached.resume_writing()
            return
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None
        self._update_reading()
        self._serve()

    async def writable(self) -> None:
        """Returns once the transport takes writes again (a streamed answer waits here)."""
        if self._write_paused:
            if self._writable is None:
                self._writable = self._ctx.loop.create_future()
            await self._writable

    def connection_lost(self, exc: Exception | None) -> None:
        stream, self._attached = self._attached, None
        if stream is not None:
            stream.connection_lost(exc)
        self._ctx.forget(self, self._address)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for entry in self._pending:
            if entry.access is not None and entry.data is None:
                self._log(*entry.access, 499, 0)  # nginx's status: the client left first
        self._pending.clear()
        self._buffer.clear()
        for task in self._tasks:
            task.cancel()  # a long poll whose client vanished releases its waiter now
        if self._writable is not None:
            self._writable.cancel()
        self._transport = None

    # Shutdown

    def begin_close(self) -> None:
        """The server stops: answer what was asked (long polls are woken), then close; a
        stream ends as it does at shutdown."""
        if self._attached is not None:
            self._attached.begin_close()
            return
        self._ending = True
        self._end_if_answered()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # Requests

    def _serve(self) -> None:
        """Take every complete request in the buffer (until one must wait its turn)."""
        if self._attached is not None:
            return  # a stream runs: what follows it is read once it ends (detach)
        if self._waiting_turn:
            if self._pending:
                self._update_reading()
                return
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
        max_body = ctx.settings.max_body
        while buffer and not self._ending and self._transport is not None:
            if len(self._pending) >= MAX_PIPELINE or self._write_paused:
                break
            if self._pending and self._pending[-1].kind == ALONE:
                self._waiting_turn = True  # nothing after it is read before it is answered
                break
            end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
            if end < 0:
                self._incomplete_head()
                break
            head_size = end + 4
            try:
                head = parse_head(bytes(buffer[:head_size]))
            except ProtocolError as error:
                self._refuse_and_close(error)  # no request to show the hooks
                break
            head.peer = self._peer
            head.address = self._address
            head.app = ctx.app
            framing = framing_error(head)
            if framing is not None:
                self._refuse_and_close(framing, head)
                break
            refusal = ctx.host_refusal(head.headers.get("host"))
            if refusal is not None:
                del buffer[:]  # nothing after it is read: the connection closes
                self._refuse_now(head, refusal, close=True)
                break
            if self._proxied and not self._readdress(head):
                del buffer[:]
                break
            match: Match | None = None
            route_error: ProtocolError | None = None
            try:
                match = self._routes.match(head.method, head.path, head.raw_path)
            except ProtocolError as error:
                route_error = error
            kind = _kind_of(head, match)
            headers = head.headers
            if self._pending and not self._may_overlap(kind):
                self._waiting_turn = True
                break
            if "content-length" in headers or "transfer-encoding" in headers or "expect" in headers:
                try:
                    end_of_body = self._body(head, head_size)
                except ProtocolError as error:
                    self._refuse_and_close(error, head)
                    break
            else:
                end_of_body = head_size  # no body: most reads
            if end_of_body is None:
                break  # waits for the rest of its body
            del buffer[:end_of_body]
            self._body_deadline = None
            self._continued = False
            entry = self._take(head, kind)
            if head.body_refused:
                entry.close = True  # the body stays unread: discarded after the answer
                self._linger = True
                self._stop_taking()
                buffer.clear()
            if route_error is not None or match is None:
                self._refuse(entry, head, route_error or InvalidRequest("no route"))
                continue
            head.params = match.params
            if "content-encoding" in headers and not head.body_refused and head.body:
                try:
                    head.body = decode_body(
                        head.body, head.headers.get("content-encoding"), max_body
                    )
                except ProtocolError as error:
                    self._refuse(entry, head, error)
                    continue
            self._call(entry, head, match.route.handler)
            if kind == ALONE:
                break  # what follows waits for this answer (or belongs to its stream)

    def _may_overlap(self, kind: int) -> bool:
        """Whether a request of ``kind`` may start while ``_pending`` waits: reads beside
        reads, publishes beside reads and publishes (a read waits for earlier publishes,
        RFC 9112 section 9.3.2: only safe requests are served in parallel)."""
        if kind == ALONE:
            return False
        for entry in self._pending:
            if entry.kind == ALONE or (kind == READ and entry.kind == WRITE):
                return False
        return True

    def _readdress(self, head: Request) -> bool:
        """A request from a trusted proxy names its client: the connection is counted
        under the client's address from now on (``http/guard.py: ConnectionGuard.move``).
        False if that address is at its cap (answered ``503``, the connection closed)."""
        headers = head.headers
        proxies = self._ctx.guard.proxies
        client = proxies.client_of(
            self._peer, headers.get("x-forwarded-for"), headers.get("x-real-ip")
        )
        refusal = self._ctx.guard.move(self._address, client)
        if refusal is None:
            self._address = head.address = client
            return True
        self._refuse_over_cap(head, client, refusal)
        return False

    def _refuse_now(self, head: Request, error: ProtocolError, *, close: bool) -> None:
        entry = self._take(head, ALONE)
        if close:
            entry.close = True
            self._stop_taking()
        self._refuse(entry, head, error)

    def _take_over(self, entry: Pending, head: Request, takeover: Takeover) -> None:
        """A WebSocket or SSE stream runs on the connection from now on (it came alone:
        nothing before it is owed)."""
        transport = self._transport
        assert transport is not None and self._pending[-1] is entry
        leftover = b""
        if _upgrading(head):
            # Its first frames may have come with its head: the stream reads them.
            leftover = bytes(self._buffer)
            self._buffer.clear()
        start = StreamStart(self._ctx, transport, self._address, head, leftover, self)
        try:
            takeover.start(start)
        except ProtocolError as error:
            # Refused before the stream began (401, 403, 400, 426): answered in JSON,
            # and the connection closed (an upgrade may have sent frames after its head).
            del self._buffer[:]
            entry.close = True
            self._stop_taking()
            self._refuse(entry, head, error)
            return
        except Exception:
            self._crash(entry)
            return
        # Attached, the stream writes its own head and access log line (the queue with
        # this entry was let go); not attached, the client left before it began.
        if self._attached is None:
            self._pending.pop()
            self._stop_taking()

    def _stop_taking(self) -> None:
        self._ending = True


def _kind_of(head: Request, match: Match | None) -> int:
    """How the request may overlap others on its connection (``requests.py``)."""
    headers = head.headers
    if match is None or not match.route.ordered or head.upgrade or "upgrade" in headers:
        return ALONE
    if "expect" in headers:
        return ALONE  # its 100 Continue may go out only once the answers before it have
    if head.method == "POST":
        return WRITE
    if accepts_event_stream(head.headers.get("accept")):
        return ALONE  # a stream: it takes the connection
    return READ


def _upgrading(head: Request) -> bool:
    """A WebSocket upgrade llhttp saw (``Connection: upgrade``): what follows its head
    is the stream's (frames), not another request."""
    return head.upgrade and head.method == "GET" and is_websocket_upgrade(head)


def _peer_of(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
