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
from hubbub.front.ws_socket import FrameSocket, switch_protocols, upgrade
from hubbub.hub import Outbox
from hubbub.principal import ANONYMOUS, Principal
from hubbub.transports.http import node_of, principal_of
from hubbub.transports.streams import timed_drain
from hubbub.transports.websocket import CLOSE_DISCONNECTED, CLOSE_TOKEN_EXPIRED, SocketStream

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
    socket.begin(start.leftover)


class DialectSocket(FrameSocket):
    """One tutorial client's socket: the lobby's messages out, nothing taken in."""

    __slots__ = ("node", "stream")

    def __init__(
        self,
        ctx: ServerContext,
        node: Node,
        transport: asyncio.Transport,
        address: str,
        principal: Principal,
    ) -> None:
        super().__init__(ctx, transport, address)
        outbox = Outbox(
            transport, node.scheduler, limit=ctx.settings.outbox_limit, on_overflow=self._overflow
        )
        self.node = node
        self.stream = SocketStream(
            node.settings.lobby, TUTORIAL_FRAMES, outbox, principal, ctx.loop.time()
        )

    def begin(self, leftover: bytes) -> None:
        stream = self.stream
        stream.done.add_done_callback(self._on_end)
        drain = timed_drain(self.writable, self.node.settings.heartbeat)
        self.node.start_stream(stream, None, drain, self._stream_ended)
        self.take_over(leftover)

    # FrameSocket

    def _bytes_sent(self) -> int:
        return self.stream.outbox.sent

    def _on_message(self, opcode: Opcode, data: str | bytes) -> None:
        self.stream.last_seen = self._ctx.loop.time()  # alive; what it says is ignored

    def _before_close(self) -> None:
        stream = self.stream
        stream.outbox.flush(self._ctx.loop.time())
        stream.outbox.close()
        stream.end("gone")

    def _lost(self) -> None:
        self._writer_gone()
        self.stream.end("gone")

    # The stream

    def _on_end(self, done: asyncio.Future[str]) -> None:
        reason = done.result()
        if reason == "expired":
            self._close(CLOSE_TOKEN_EXPIRED, "token expired", wait=False)
        elif reason == "disconnected":
            self._close(CLOSE_DISCONNECTED, "disconnected by an admin", wait=False)
        elif reason == "timeout":
            self.abort()
        elif reason not in ("gone", "slow"):
            self._close(CloseCode.GOING_AWAY, "", wait=False)

    def _overflow(self) -> None:
        self.node.stats.slow_consumers_dropped += 1
        self._close_slow()
        self.stream.end("slow")

    def _stream_ended(self, reason: str) -> None:
        if reason == "error":  # logged by the node's streams
            self.abort()
