"""Server-Sent Events: ``GET /rooms/{room}/messages`` with ``Accept: text/event-stream``.

The subscribe route (``subscribe.py``) answers such a request with :func:`start_events`,
which makes the stream's checks before a byte of the answer (a ``ProtocolError`` is
answered in JSON by the connection); then it writes the response head and an
:class:`EventConnection` owns the socket. Only the stream's own objects stay per
connection (the transport, this slotted protocol, its :class:`~hubbub.hub.Outbox` and
:class:`~hubbub.transports.sse.EventStream`, and the task running it).

The body is chunked. When the stream ends without cutting the connection (``expired``,
``reset``, ``shutdown``) the last chunk goes out and the socket goes back to the
:class:`~hubbub.http.connection.FrontConnection` it came from, which serves what the
client pipelined meanwhile (at shutdown, or after ``Connection: close``, it closes).
"""

from __future__ import annotations

import asyncio
import logging

from hubbub.front.flow import WriteFlow
from hubbub.http.answers import Answer, stream_head
from hubbub.http.context import ServerContext
from hubbub.http.head import EVENT_STREAM
from hubbub.http.streaming import StreamStart
from hubbub.hub import Outbox
from hubbub.node import Node
from hubbub.protocol.cursors import Cursor
from hubbub.protocol.encoding import SSE, SSE_RETRY
from hubbub.protocol.messages import validate_room
from hubbub.transports.chat import requested_user_in
from hubbub.transports.http import node_of, principal_of
from hubbub.transports.sse import SSE_MORE_HEADERS, EventStream, stream_cursor
from hubbub.transports.streams import timed_drain

log = logging.getLogger("hubbub")

LAST_CHUNK = b"0\r\n\r\n"
# What the client may send while its stream runs (pipelined requests, served after
# the stream ends) is kept up to this. Past it, nothing more is kept
# and the connection closes when the stream ends; it is still read, so that a client
# that leaves is noticed at once.
MAX_UNREAD = 65536


def start_events(start: StreamStart) -> None:
    """Check the request as ``sse_stream`` does, then let an :class:`EventConnection`
    run on the connection. Raises ``ProtocolError`` before anything is written."""
    ctx, head, route = start.ctx, start.head, start.route
    node = node_of(head)
    headers, query = head.headers, route.query
    # The order of transports/rooms.py: read_messages, then sse_stream.
    principal = principal_of(head)
    room = validate_room(route.room)
    cursor = stream_cursor(headers.get("last-event-id"), query)
    user = node.presence_name(principal, requested_user_in(query))
    node.check_stream(principal, room)
    connection = EventConnection(start, node)
    stream = EventStream(room, SSE, connection.outbox(), principal, ctx.loop.time())
    stream.user = user
    connection.run(stream, cursor, _head_bytes(ctx, start))


def _head_bytes(ctx: ServerContext, start: StreamStart) -> bytes:
    """The stream's head, shown to the answer hooks first (hubbub's adds CORS)."""
    head = start.head
    answer = Answer(200, content_type=EVENT_STREAM, headers=list(SSE_MORE_HEADERS))
    for hook in ctx.answer_hooks:
        hook(head, answer)
    return stream_head(answer, ctx.date(), chunked=True, close=not head.keep_alive)


class EventConnection(WriteFlow):
    """The socket of one SSE stream, from its response head until it ends."""

    __slots__ = (
        "_access",
        "_address",
        "_ctx",
        "_head_size",
        "_keep_alive",
        "_node",
        "_owner",
        "_stream",
        "_task",
        "_transport",
        "_unread",
    )

    def __init__(self, start: StreamStart, node: Node) -> None:
        super().__init__()
        self._node = node
        self._owner = start.owner
        self._ctx = start.ctx
        self._transport: asyncio.Transport | None = start.transport
        self._address = start.address
        self._access = start.access
        self._head_size = 0
        self._keep_alive = start.head.keep_alive
        self._stream: EventStream | None = None
        self._task: asyncio.Task[None] | None = None
        self._unread = b""
        self._take(start.leftover)

    def outbox(self) -> Outbox:
        transport = self._transport
        assert transport is not None
        return Outbox(
            transport,
            self._node.scheduler,
            limit=self._ctx.settings.outbox_limit,
            on_overflow=self._overflow,
            chunked=True,
        )

    def run(self, stream: EventStream, cursor: Cursor | None, head: bytes) -> None:
        """Attach to the connection, write the head, start the stream."""
        transport = self._transport
        assert transport is not None
        self._stream = stream
        # Before the first write, so that this protocol hears of a full buffer.
        self._owner.attach(self)
        # The front may have stopped reading while earlier answers went out.
        if not transport.is_reading():
            transport.resume_reading()
        transport.write(head)
        self._head_size = len(head)
        # The first event (gap or ready) completes this block: never a block of retry alone.
        stream.outbox.push(SSE_RETRY)
        self._task = task = self._ctx.loop.create_task(self._serve(stream, cursor))
        task.add_done_callback(self._served)

    def _served(self, task: asyncio.Task[None]) -> None:
        # The task keeps what ended it (a cancellation's traceback, whose frames refer
        # to this object): let it go, or the pair is a cycle for the collector.
        self._task = None

    async def _serve(self, stream: EventStream, cursor: Cursor | None) -> None:
        node = self._node
        try:
            reason = await node.run_stream(
                stream, cursor, timed_drain(self.writable, node.settings.heartbeat)
            )
        except Exception:
            log.error("hubbub: error serving an SSE stream", exc_info=True)
            if self._transport is not None:
                self._transport.abort()
            return
        self._end(reason)

    def _end(self, reason: str) -> None:
        """The stream ended: its last chunk, then keep-alive (or close)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return  # cut (a slow consumer) or gone
        stream = self._stream
        self._stream = None
        transport.write(LAST_CHUNK)
        self._log_end(stream, len(LAST_CHUNK))
        ctx = self._ctx
        if reason == "shutdown" or ctx.closing or not self._keep_alive:
            transport.close()
            return
        # The connection serves requests again, what was sent meanwhile first.
        self._transport = None
        unread, self._unread = self._unread, b""
        self._owner.detach(unread)

    def _log_end(self, stream: EventStream | None, tail: int) -> None:
        if self._access is not None:
            sent = self._head_size + tail + (0 if stream is None else stream.outbox.sent)
            self._access.ended(200, sent)

    def _overflow(self) -> None:
        # A slow consumer: end the stream now; EventSource reconnects with its cursor.
        self._node.stats.slow_consumers_dropped += 1
        if self._transport is not None:
            self._transport.abort()
        if self._stream is not None:
            self._stream.end("slow")

    def _take(self, data: bytes) -> None:
        """Keep what the client sends meanwhile (served once the stream ends)."""
        if not data or not self._keep_alive:
            return
        if len(self._unread) + len(data) > MAX_UNREAD:
            self._keep_alive = False
            self._unread = b""
        else:
            self._unread += data

    # asyncio.Protocol

    def begin_close(self) -> None:
        """Shutdown: the node ends every stream, and this one's end closes the socket."""

    def data_received(self, data: bytes) -> None:
        self._take(data)

    def eof_received(self) -> bool:
        # A peer that stops sending is gone; the transport closes.
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is None:
            return  # detached: the connection serves requests again
        self._transport = None
        self._log_end(self._stream, 0)
        self._writable = None  # its waiter is cancelled with the task, just below
        if self._task is not None and not self._task.done():
            # The client left: the stream detaches at once.
            self._task.cancel()
        self._unread = b""
