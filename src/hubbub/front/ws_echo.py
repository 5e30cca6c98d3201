"""``GET /ws-echo`` on the lean path: the conformance echo (``transports/ws_echo.py``) served by
the same handshake and frame socket as the lean room WebSockets, so Autobahn|Testsuite tests
those. Registered only when ``Settings.ws_echo`` is set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType

from hubbub.front.ws_handshake import accept_key
from hubbub.front.ws_socket import FrameSocket, peer_gone, switch_protocols
from hubbub.protocol.encoding import ws_frame

if TYPE_CHECKING:
    from hubbub.front.context import StreamStart

WS_OPCODE_BINARY = 0x2


def start_ws_echo(start: StreamStart) -> None:
    """The handshake checks of ``transports/ws_echo.py`` (no room, no token), then echo."""
    accept = accept_key(start.head, start.address, start.ctx.settings.allow_origin)
    if peer_gone(start):
        return
    socket = LeanEcho(start.ctx, start.transport, start.address)
    switch_protocols(start, accept, socket)
    socket.take_over(start.leftover)


class LeanEcho(FrameSocket):
    """Sends back each text and binary message as it came, and pongs each ping. A client
    that does not read is not read either (aiohttp's echo waits on each send's drain)."""

    __slots__ = ()

    def _on_frame(self, kind: WSMsgType, data: Any) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if kind is WSMsgType.TEXT:
            transport.write(ws_frame(data.encode()))
        elif kind is WSMsgType.BINARY:
            transport.write(ws_frame(data, WS_OPCODE_BINARY))
        elif kind is WSMsgType.PING:
            self._pong(data)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._transport is not None and not self._closing:
            self._transport.resume_reading()
