"""The tutorial dialect's WebSocket: ``GET /messages`` upgraded by the front.

One ``{"id", "text", "username"}`` frame per lobby message, written by the room's
fan-out like the protocol's own sockets, with the same outbox and slow-consumer rule
(1013), the same liveness (a ping every heartbeat, cut after two silent ones), 4401 at
the token's expiry and 1001 when the server ends the stream. The tutorial's client only
listens: whatever it sends is read (the library's checks apply) and ignored.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING

from websockets.frames import CloseCode, Opcode

from hubbub.compat.lobby import TUTORIAL_FRAMES
from hubbub.front.stream_socket import ServerClose, StreamSocket
from hubbub.front.ws_socket import switch_protocols, upgrade
from hubbub.principal import ANONYMOUS, Principal
from hubbub.transports.http import node_of, principal_of
from hubbub.transports.websocket import CLOSE_DISCONNECTED, CLOSE_TOKEN_EXPIRED

if TYPE_CHECKING:
    from hubbub.http.context import ServerContext
    from hubbub.http.streaming import StreamStart
    from hubbub.node import Node


def start_dialect_socket(start: StreamStart) -> None:
    """Who asks (``compat/streams.py: lobby_principal``'s rule), whether it may read the
    lobby, the handshake; then the socket's lobby stream."""
    ctx, head = start.ctx, start.head
    node = node_of(head)
    settings = node.settings
    if settings.open_lobby:
        principal = replace(ANONYMOUS, address=start.address)
    else:
        principal = principal_of(head)
    node.check_stream(principal, settings.lobby)
    response = upgrade(start)
    if response is None:
        return
    socket = DialectSocket(ctx, node, start.transport, start.address, principal)
    switch_protocols(start, response, socket)
    socket.begin(None, start.leftover)


class DialectSocket(StreamSocket):
    """One tutorial client's socket: the lobby's messages out, nothing taken in."""

    __slots__ = ()

    def __init__(
        self,
        ctx: ServerContext,
        node: Node,
        transport: asyncio.Transport,
        address: str,
        principal: Principal,
    ) -> None:
        lobby = node.settings.lobby
        super().__init__(ctx, node, transport, address, lobby, TUTORIAL_FRAMES, principal)

    def _on_message(self, opcode: Opcode, data: str | bytes) -> None:
        self.stream.last_seen = self._ctx.loop.time()  # alive; what it says is ignored

    def _server_close(self, reason: str) -> ServerClose | None:
        """4401 at expiry, 4403 after an admin's disconnect, 1001 for the other ends the
        server chose (the tutorial's client knows no cursor: it reconnects)."""
        if reason == "expired":
            return CLOSE_TOKEN_EXPIRED, "token expired", False
        if reason == "disconnected":
            return CLOSE_DISCONNECTED, "disconnected by an admin", False
        if reason in ("gone", "slow"):
            return None
        return CloseCode.GOING_AWAY, "", False
