"""The room URL's WebSocket: ``GET /rooms/{room}/messages`` upgraded by the front.

:func:`start_websocket` is the front's starter for ``WEBSOCKET`` routes
(``http/context.py: StreamStart``). It checks the request (token, room, cursor,
``?user=``, read access) and the handshake, each refused before anything is written
(the front answers in JSON), writes the ``101`` and gives the socket to a
:class:`LeanSocket`: one slotted protocol per connection (``front/ws_socket.py``) with
the stream every WebSocket has (``SocketStream``), and nothing else: once the stream
is live no task or coroutine is held for it (``Node.start_stream``).

Close codes: 1002, 1007, 1008, 1009 for what the client sent (the library and
``ws_socket.py``); the client's own code echoed in answer to its close; 1003 for a
binary message; 1001, 1012, 4401 and 1013 when the server ends the stream. Frames
queued for the socket before the close go out before it; none after it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from websockets.frames import CloseCode, Opcode

from hubbub.front.ws_socket import FrameSocket, switch_protocols, upgrade
from hubbub.hub import Outbox
from hubbub.node import Node
from hubbub.principal import Principal
from hubbub.protocol.cursors import Cursor, parse_cursor
from hubbub.protocol.encoding import WS
from hubbub.protocol.messages import validate_room
from hubbub.transports.chat import requested_user_in
from hubbub.transports.http import node_of, principal_of
from hubbub.transports.streams import timed_drain
from hubbub.transports.websocket import SocketSession, SocketStream, server_close

if TYPE_CHECKING:
    from hubbub.http.context import ServerContext
    from hubbub.http.streaming import StreamStart


def start_websocket(start: StreamStart) -> None:
    """Check the request and the handshake (a ``ProtocolError`` refuses it), answer ``101``
    and hand the socket to a :class:`LeanSocket`."""
    ctx, head, query = start.ctx, start.head, start.route.query
    node = node_of(head)
    # transports/rooms.py: read_messages, then websocket_stream, then accept_websocket.
    principal = principal_of(head)
    room = validate_room(start.route.room)
    cursor = parse_cursor(query)  # a bad cursor is a 400, before the upgrade
    user = node.presence_name(principal, requested_user_in(query))
    node.check_stream(principal, room)  # refused before the upgrade, too
    response = upgrade(start)
    if response is None:
        return
    socket = LeanSocket(ctx, node, start.transport, start.address, principal, room, user)
    switch_protocols(start, response, socket)
    socket.begin(cursor, start.leftover)


class LeanSocket(SocketSession, FrameSocket):
    """One room's WebSocket on the lean path: its client's frames in, its stream out."""

    __slots__ = ("node", "stream")

    def __init__(
        self,
        ctx: ServerContext,
        node: Node,
        transport: asyncio.Transport,
        address: str,
        principal: Principal,
        room: str,
        user: str | None,
    ) -> None:
        super().__init__(ctx, transport, address)
        outbox = Outbox(
            transport, node.scheduler, limit=ctx.settings.outbox_limit, on_overflow=self._overflow
        )
        self.node = node
        self.stream = SocketStream(room, WS, outbox, principal, ctx.loop.time())
        self.stream.user = user

    def begin(self, cursor: Cursor | None, leftover: bytes) -> None:
        """Start the stream, and read what the client sent after its handshake."""
        stream = self.stream
        stream.done.add_done_callback(self._on_end)
        drain = timed_drain(self.writable, self.node.settings.heartbeat)
        self.node.start_stream(stream, cursor, drain, self._stream_ended)
        self.take_over(leftover)

    # FrameSocket

    def _bytes_sent(self) -> int:
        return self.stream.outbox.sent

    def _on_message(self, opcode: Opcode, data: str | bytes) -> None:
        self.stream.last_seen = self._ctx.loop.time()
        if opcode is Opcode.TEXT:
            self.on_text(data)  # type: ignore[arg-type]
        elif opcode is Opcode.PING:
            transport, outbox = self._transport, self.stream.outbox
            if transport is not None and transport.get_write_buffer_size() > outbox.limit:
                outbox.overflow()  # pinged by a client that does not read: a slow consumer
        elif opcode is Opcode.BINARY:
            self._close(CloseCode.UNSUPPORTED_DATA, "binary frames", wait=True)

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
        """The server ended the stream: a close frame with its code, or cut when dead.

        The socket is closed once the client's close comes back (at the latest after a
        while), as aiohttp's ``close`` does: cut at once, a proxy in between ends the
        client's side too before the client's close goes out, and the client records
        an abnormal closure (1006) instead of the code it was sent."""
        reason = done.result()
        close = server_close(reason)
        if close is not None:
            code, message = close
            self._close(code, message, wait=True)
        elif reason == "timeout":
            self.abort()

    def _overflow(self) -> None:
        """The outbox passed its limit: close 1013 (transports/websocket.py does the same)."""
        self.node.stats.slow_consumers_dropped += 1
        self._close_slow()
        self.stream.end("slow")

    def _stream_ended(self, reason: str) -> None:
        if reason == "error":  # logged by the node's streams
            self.abort()
