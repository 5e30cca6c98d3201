"""The room URL's WebSocket: ``GET /rooms/{room}/messages`` upgraded by the front.

:func:`start_websocket` is the front's starter for ``WEBSOCKET`` routes
(``http/context.py: StreamStart``). It checks the request (token, room, cursor,
``?user=``, read access) and the handshake, each refused before anything is written
(the front answers in JSON), writes the ``101`` and gives the socket to a
:class:`RoomSocket`: one slotted protocol per connection (``front/ws_socket.py``) with
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

from hubbub.front.stream_socket import ServerClose, StreamSocket
from hubbub.front.ws_socket import switch_protocols, upgrade
from hubbub.node import Node
from hubbub.principal import Principal
from hubbub.protocol.cursors import parse_cursor
from hubbub.protocol.encoding import WS
from hubbub.protocol.messages import validate_room
from hubbub.transports.chat import requested_user_in
from hubbub.transports.http import node_of, principal_of
from hubbub.transports.websocket import SocketSession, server_close

if TYPE_CHECKING:
    from hubbub.http.context import ServerContext
    from hubbub.http.streaming import StreamStart


def start_websocket(start: StreamStart) -> None:
    """Check the request and the handshake (a ``ProtocolError`` refuses it), answer ``101``
    and hand the socket to a :class:`RoomSocket`."""
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
    socket = RoomSocket(ctx, node, start.transport, start.address, principal, room, user)
    switch_protocols(start, response, socket)
    socket.begin(cursor, start.leftover)


class RoomSocket(SocketSession, StreamSocket):
    """One room's WebSocket: its client's frames in, its stream out."""

    __slots__ = ()

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
        super().__init__(ctx, node, transport, address, room, WS, principal)
        self.stream.user = user

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

    def begin_close(self) -> None:
        self.stream.end("shutdown")  # the node ended every stream already: belt and braces

    def _server_close(self, reason: str) -> ServerClose | None:
        """The protocol's codes (``transports/websocket.py: server_close``). The socket is
        closed once the client's close comes back (at the latest after a while): cut at
        once, a proxy in between ends the client's side too before the client's close
        goes out, and the client records an abnormal closure (1006) instead."""
        close = server_close(reason)
        return None if close is None else (close[0], close[1], True)
