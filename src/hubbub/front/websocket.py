"""WebSocket on the lean path: ``GET /rooms/{room}/messages`` upgraded without aiohttp's objects.

:func:`start_websocket` is the front's starter for ``WEBSOCKET`` routes
(``front/context.py: StreamStart``). It makes the checks of
``transports/websocket.py: websocket_stream`` in the same order, with the same
errors (raised before anything is written: the front answers them in JSON), writes
the ``101`` and gives the socket to a :class:`LeanSocket`: one slotted protocol per
connection (``front/ws_socket.py``) with the stream every WebSocket has
(``SocketStream``), and nothing else. aiohttp's path costs a request, a response, a
writer, a reader queue and a handler task per socket besides.

What the client sees is what aiohttp's path shows it: the same frames, the same close
codes (1002, 1007, 1008, 1009 from the reader; 1000 in answer to a close; 1003 for a
binary message; 1001, 1012, 4401 and 1013 when the server ends the stream), pongs to
its pings, pings from the heartbeat. Two differences, both where aiohttp breaks RFC 6455
section 5.5.1: no frame of the stream follows the server's close frame, and frames
queued for the socket before the close go out before it, not after.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType

from hubbub.auth import token_from
from hubbub.front.ws_handshake import accept_key
from hubbub.front.ws_socket import FrameSocket, peer_gone, switch_protocols
from hubbub.hub import Outbox
from hubbub.node import Node
from hubbub.principal import Principal
from hubbub.protocol.cursors import Cursor, parse_cursor
from hubbub.protocol.encoding import WS
from hubbub.protocol.messages import validate_room
from hubbub.transports.chat import requested_user_in
from hubbub.transports.streams import timed_drain
from hubbub.transports.websocket import (
    SocketSession,
    SocketStream,
    close_slow_consumer,
    server_close,
)

if TYPE_CHECKING:
    from hubbub.front.context import FrontContext, StreamStart

log = logging.getLogger("hubbub")


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
    if peer_gone(start):
        return
    socket = LeanSocket(ctx, start.transport, start.address, principal, room, user)
    socket.access = start.access
    switch_protocols(start, accept, socket)
    socket.begin(cursor, start.leftover)


class LeanSocket(SocketSession, FrameSocket):
    """One room's WebSocket on the lean path: its client's frames in, its stream out."""

    __slots__ = ("_task", "node", "stream")

    def __init__(
        self,
        ctx: FrontContext,
        transport: asyncio.Transport,
        address: str,
        principal: Principal,
        room: str,
        user: str | None,
    ) -> None:
        super().__init__(ctx, transport, address)
        node: Node = ctx.node
        outbox = Outbox(
            transport, node.scheduler, limit=ctx.settings.outbox_limit, on_overflow=self._overflow
        )
        self.node = node
        self.stream = SocketStream(room, WS, outbox, principal, ctx.loop.time())
        self.stream.user = user
        self._task: asyncio.Task[str] | None = None

    def begin(self, cursor: Cursor | None, leftover: bytes) -> None:
        """Run the stream, and read what the client sent after its handshake."""
        stream = self.stream
        stream.done.add_done_callback(self._on_end)
        task = self._task = self._ctx.loop.create_task(
            self.node.run_stream(
                stream, cursor, timed_drain(self.writable, self.node.settings.heartbeat)
            )
        )
        task.add_done_callback(self._stream_ended)
        self.take_over(leftover)

    # FrameSocket

    def _bytes_sent(self) -> int:
        return self.stream.outbox.sent

    def _on_frame(self, kind: WSMsgType, data: Any) -> None:
        """As transports/websocket.py: _receive takes a message."""
        self.stream.last_seen = self._ctx.loop.time()
        if kind is WSMsgType.TEXT:
            self.on_text(data)
        elif kind is WSMsgType.PING:
            self._pong(data)
            transport, outbox = self._transport, self.stream.outbox
            if transport is not None and transport.get_write_buffer_size() > outbox.limit:
                outbox.overflow()  # pinged by a client that does not read: a slow consumer
        elif kind is WSMsgType.BINARY:
            self._close(WSCloseCode.UNSUPPORTED_DATA, "binary frames", wait=True)

    def _before_close(self) -> None:
        """What the stream queued goes out first; nothing of it after the close frame."""
        stream = self.stream
        stream.outbox.flush(self._ctx.loop.time())
        stream.outbox.close()
        stream.end("gone")

    def _lost(self) -> None:
        self._writer_gone()
        self.stream.end("gone")

    def begin_close(self) -> None:
        self.stream.end("shutdown")  # the node ended every stream already: belt and braces

    # The stream

    def _on_end(self, done: asyncio.Future[str]) -> None:
        """The server ended the stream: a close frame with its code, or cut when dead."""
        reason = done.result()
        close = server_close(reason)
        if close is not None:
            code, message = close
            self._close(code, message, wait=False)
        elif reason == "timeout":
            self.abort()

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
            self.abort()
