"""WebSocket on the lean path: ``GET /rooms/{room}/messages`` upgraded without aiohttp's objects.

:func:`start_websocket` is the front's starter for ``WEBSOCKET`` routes
(``front/context.py: StreamStart``). It makes the checks of
``transports/websocket.py: websocket_stream`` in the same order, with the same
errors (raised before anything is written: the front answers them in JSON), writes
the ``101`` and gives the socket to a :class:`LeanSocket`: one slotted protocol per
connection, with aiohttp's strict frame reader (``transports/ws_strict.py``) and the
stream every WebSocket has (``SocketStream``), and nothing else. aiohttp's path costs a
request, a response, a writer, a reader queue and a handler task per socket besides.

What the client sees is what aiohttp's path shows it: the same frames, the same close
codes (1002, 1003, 1007, 1008, 1009 from the reader; 1000 in answer to a close; 1001,
1012, 4401 and 1013 when the server ends the stream), pongs to its pings, pings from
the heartbeat. Two differences, both where aiohttp breaks RFC 6455 section 5.5.1: no
frame of the stream follows the server's close frame, and frames queued for the socket
before the close go out before it, not after.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, cast

from aiohttp import WSCloseCode, WSMsgType
from aiohttp._websocket.models import WebSocketError
from aiohttp._websocket.reader_py import WebSocketDataQueue

from hubbub.auth import token_from
from hubbub.front.answers import origin_headers
from hubbub.front.ws_handshake import accept_key, switching_protocols
from hubbub.hub import Outbox
from hubbub.principal import Principal
from hubbub.protocol.cursors import Cursor, parse_cursor
from hubbub.protocol.encoding import WS, ws_close_frame, ws_frame
from hubbub.protocol.messages import validate_room
from hubbub.transports.chat import requested_user_in
from hubbub.transports.websocket import (
    SocketSession,
    SocketStream,
    close_slow_consumer,
    server_close,
)
from hubbub.transports.ws_strict import StrictReader

if TYPE_CHECKING:
    from hubbub.front.context import FrontContext, StreamStart

log = logging.getLogger("hubbub")

WS_OPCODE_PONG = 0xA
# How long the server waits for the client's close frame after its own close (1003),
# as aiohttp's ``WebSocketResponse(timeout=min(heartbeat, 5))``.
MAX_CLOSE_WAIT = 5.0
# Past this, the reader would stall a socket whose messages wait: they never wait here.
NEVER_STALL = 1 << 62


def start_websocket(start: StreamStart) -> None:
    """Check the request and the handshake (a ``ProtocolError`` refuses it), answer ``101``
    and hand the socket to a :class:`LeanSocket`."""
    ctx, head, query = start.ctx, start.head, start.route.query
    node = ctx.node
    # transports/rooms.py: read_messages, then websocket_stream, then accept_websocket.
    principal = node.principal(token_from(head.headers, query), start.address)
    room = validate_room(start.route.room)
    cursor = parse_cursor(query)  # a bad cursor is a 400, before the upgrade
    user = node.presence_name(principal, requested_user_in(query))
    node.check_stream(principal, room)  # refused before the upgrade, too
    accept = accept_key(head, start.address, ctx.settings.allow_origin)
    transport = start.transport
    if transport.is_closing():  # the peer is gone: nothing to answer
        ctx.guard.release(start.address)
        return
    socket = LeanSocket(ctx, transport, start.address, principal, room, user)
    transport.set_protocol(socket)
    cors = origin_headers(ctx.allowed_origin(head.headers.get("origin")))
    transport.write(switching_protocols(accept, ctx.date(), cors))
    if not transport.is_reading():  # the front paused it while earlier answers went out
        transport.resume_reading()
    socket.begin(cursor, start.leftover)


class _Inbox:
    """Where the frame reader puts what it reads (it calls a ``WebSocketDataQueue``'s
    methods): complete messages, and the error that ended reading."""

    __slots__ = ("_limit", "_size", "_stalled_reader", "error", "messages")

    def __init__(self) -> None:
        self._size = 0  # the reader compares it with _limit before each frame
        self._limit = NEVER_STALL
        self._stalled_reader: object = None  # the reader clears it on each read
        self.messages: list[Any] = []
        self.error: BaseException | None = None

    def feed_data(self, message: Any, size: int) -> None:
        self.messages.append(message)

    def set_exception(self, error: BaseException, cause: object = None) -> None:
        self.error = error

    def feed_eof(self) -> None:
        """The peer stopped sending: ``connection_lost`` ends the stream."""


class LeanSocket(SocketSession, asyncio.Protocol):
    """One WebSocket of the lean path: its frames in, its stream out."""

    __slots__ = (
        "_address",
        "_close_timer",
        "_closing",
        "_ctx",
        "_drain_waiter",
        "_inbox",
        "_reader",
        "_task",
        "_transport",
        "_write_paused",
    )

    def __init__(
        self,
        ctx: FrontContext,
        transport: asyncio.Transport,
        address: str,
        principal: Principal,
        room: str,
        user: str | None,
    ) -> None:
        node = ctx.node
        settings = node.settings
        outbox = Outbox(
            transport, node.scheduler, limit=settings.outbox_limit, on_overflow=self._overflow
        )
        stream = SocketStream(room, WS, outbox, principal, ctx.loop.time())
        stream.user = user
        super().__init__(node, stream)
        self._ctx = ctx
        self._transport: asyncio.Transport | None = transport
        self._address = address
        self._inbox = _Inbox()
        # aiohttp (3.14) closes with 1009 at max_msg_size bytes, not past it: one more.
        self._reader: StrictReader | None = StrictReader(
            cast(WebSocketDataQueue, self._inbox),
            settings.max_body + 1,
            decode_text=True,
            max_fragments=settings.max_fragments,
        )
        self._closing = False  # a close frame went out (or the stream is cut): no more
        self._close_timer: asyncio.TimerHandle | None = None
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[str] | None = None

    def begin(self, cursor: Cursor | None, leftover: bytes) -> None:
        """Run the stream, and read what the client sent after its handshake."""
        ctx = self._ctx
        ctx.connections.add(self)
        stream = self.stream
        stream.done.add_done_callback(self._on_end)
        task = self._task = ctx.loop.create_task(self.node.run_stream(stream, cursor, self._drain))
        task.add_done_callback(self._stream_ended)
        if leftover:
            self.data_received(leftover)

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        if reader is None:
            return
        reader.feed_data(data)
        inbox = self._inbox
        if inbox.messages:
            messages, inbox.messages = inbox.messages, []
            for message in messages:
                self._on_message(message)
        if inbox.error is not None:
            self._on_error(inbox.error)

    def eof_received(self) -> bool:
        return False  # the transport closes; connection_lost ends the stream

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        ctx = self._ctx
        if self in ctx.connections:
            ctx.connections.discard(self)
            ctx.guard.release(self._address)
            ctx.note_closed()
        self._transport = None
        self._reader = None
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_exception(ConnectionResetError("Connection lost"))
        self.stream.end("gone")

    # Shutdown (FrontContext.shutdown): the node has ended every stream already.

    def begin_close(self) -> None:
        self.stream.end("shutdown")

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # Client frames, as transports/websocket.py: _receive takes them

    def _on_message(self, message: Any) -> None:
        kind = message.type
        if self._closing:
            # The server's close is out: only the client's close is waited for.
            if kind is WSMsgType.CLOSE and self._transport is not None:
                self._transport.close()
            return
        self.stream.last_seen = self._ctx.loop.time()
        if kind is WSMsgType.TEXT:
            self.on_text(message.data)
        elif kind is WSMsgType.PING:
            self._pong(message.data)
        elif kind is WSMsgType.BINARY:
            self._close(WSCloseCode.UNSUPPORTED_DATA, "binary frames", wait=True)
        elif kind is WSMsgType.CLOSE:
            self._close(WSCloseCode.OK, "", wait=False)  # answered with 1000, as aiohttp

    def _on_error(self, error: BaseException) -> None:
        """The reader refused what the client sent (1002, 1007, 1008, 1009): close with
        the code, at once (aiohttp waits for no close frame after an error either)."""
        self._reader = None
        if self._closing:
            if self._transport is not None:
                self._transport.close()
            return
        code = error.code if isinstance(error, WebSocketError) else WSCloseCode.OK
        self._close(code, "", wait=False)

    def _pong(self, payload: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.write(ws_frame(payload, WS_OPCODE_PONG))
        outbox = self.stream.outbox
        if transport.get_write_buffer_size() > outbox.limit:
            outbox.overflow()  # pinged by a client that does not read: a slow consumer

    # Ending

    def _close(self, code: int, reason: str, *, wait: bool) -> None:
        """Send what is queued, then the close frame, and end the stream; close the socket
        now, or (``wait``) when the client's close comes, at the latest after a while."""
        transport = self._transport
        if self._closing or transport is None:
            return
        self._closing = True
        stream = self.stream
        outbox = stream.outbox
        outbox.flush(self._ctx.loop.time())
        outbox.close()
        if not transport.is_closing():
            transport.write(ws_close_frame(code, reason))
        stream.end("gone")
        if wait:
            grace = min(self.node.settings.heartbeat, MAX_CLOSE_WAIT)
            self._close_timer = self._ctx.loop.call_later(grace, transport.close)
        else:
            transport.close()

    def _on_end(self, done: asyncio.Future[str]) -> None:
        """The server ended the stream: a close frame with its code, or cut when dead."""
        reason = done.result()
        close = server_close(reason)
        if close is not None:
            code, message = close
            self._close(code, message, wait=False)
        elif reason == "timeout" and self._transport is not None:
            self._closing = True
            self._transport.abort()

    def _overflow(self) -> None:
        """The outbox passed its limit: close 1013 (transports/websocket.py does the same)."""
        self.node.stats.slow_consumers_dropped += 1
        self._closing = True
        if self._transport is not None:
            close_slow_consumer(self._transport)
        self.stream.end("slow")

    def _stream_ended(self, task: asyncio.Task[str]) -> None:
        self._task = None
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("hubbub: error serving a WebSocket stream", exc_info=error)
            if self._transport is not None:
                self._transport.abort()

    async def _drain(self) -> None:
        """While catching up: wait until the socket's buffer is below its high-water mark
        (a reader that does not move for two heartbeats is a slow consumer)."""
        if self._transport is None:
            raise ConnectionResetError("Connection lost")
        if not self._write_paused:
            return
        async with asyncio.timeout(2 * self.node.settings.heartbeat):
            waiter = self._drain_waiter
            if waiter is None or waiter.done():
                waiter = self._drain_waiter = self._ctx.loop.create_future()
            await waiter
