"""``GET /ws-echo``: a WebSocket that echoes every message, for conformance testing only.

Autobahn|Testsuite's fuzzing client needs an echo peer. This one is hubbub's WebSocket
stack and nothing else: the same handshake, origin and version checks, size and fragment
limits and frame reading as every other WebSocket route (``front/ws_socket.py``), with
no room behind it. It exists only when ``Settings.ws_echo`` is set (tests,
``python -m tests.autobahn``); no ``hubbub serve`` flag turns it on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from websockets.frames import Opcode

from hubbub.front.ws_socket import FrameSocket, switch_protocols, upgrade
from hubbub.protocol.encoding import ws_frame

if TYPE_CHECKING:
    from hubbub.http.streaming import StreamStart

WS_OPCODE_BINARY = 0x2


def start_ws_echo(start: StreamStart) -> None:
    """The handshake checks (no room, no token), then echo."""
    response = upgrade(start)
    if response is None:
        return
    socket = EchoSocket(start.ctx, start.transport, start.address)
    switch_protocols(start, response, socket)
    socket.take_over(start.leftover)


class EchoSocket(FrameSocket):
    """Sends back each text and binary message as it came (the library answers pings).
    A client that does not read is not read either."""

    __slots__ = ()

    def _on_message(self, opcode: Opcode, data: str | bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if isinstance(data, str):
            transport.write(ws_frame(data.encode()))
        elif opcode is Opcode.BINARY:
            transport.write(ws_frame(data, WS_OPCODE_BINARY))

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._transport is not None and not self._closing:
            self._transport.resume_reading()
