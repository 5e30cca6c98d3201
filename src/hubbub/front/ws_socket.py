"""A WebSocket after its handshake on the lean path: frames in, closes, its place under the guard.

:class:`FrameSocket` is one slotted protocol per socket. Client frames are read by
aiohttp's pure-Python reader made strict (``transports/ws_strict.py: StrictReader``)
into an :class:`_Inbox`, and taken as aiohttp's ``WebSocketResponse.receive`` takes
them: a close is answered with 1000 and the socket closed; a frame the reader refuses
is answered with its code (1002, 1007, 1008, 1009) and the socket closed; after the
server's own close, only the client's close is waited for. Subclasses say what a
message does (``_on_frame``) and what goes out before a close (``_before_close``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from aiohttp import WSCloseCode, WSMsgType
from aiohttp._websocket.models import WebSocketError
from aiohttp._websocket.reader_py import WebSocketDataQueue

from hubbub.front.flow import WriteFlow
from hubbub.front.ws_handshake import switching_protocols
from hubbub.protocol.encoding import ws_close_frame, ws_frame
from hubbub.transports.ws_strict import StrictReader

if TYPE_CHECKING:
    from hubbub.access_log import StreamAccess
    from hubbub.front.context import FrontContext, StreamStart

WS_OPCODE_PONG = 0xA
# How long the server waits for the client's close frame after its own close (1003),
# as aiohttp's ``WebSocketResponse(timeout=min(heartbeat, 5))``.
MAX_CLOSE_WAIT = 5.0
# Past this, the reader would stall a socket whose messages wait: they never wait here.
NEVER_STALL = 1 << 62


def peer_gone(start: StreamStart) -> bool:
    """Whether the client left before its ``101``: then its place is given back here."""
    if not start.transport.is_closing():
        return False
    start.ctx.guard.release(start.address)
    return True


def switch_protocols(start: StreamStart, accept: str, socket: FrameSocket) -> None:
    """Answer ``101`` (with the origin's CORS lines, as aiohttp's answers carry them) and
    give the transport to ``socket``, reading."""
    ctx, transport = start.ctx, start.transport
    transport.set_protocol(socket)
    cors = ctx.cors(start.head)
    transport.write(switching_protocols(accept, ctx.date(), cors))
    if not transport.is_reading():  # the front paused it while earlier answers went out
        transport.resume_reading()


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
        """The peer stopped sending: ``connection_lost`` follows."""


class FrameSocket(WriteFlow):
    """One upgraded connection of the lean path, from its ``101`` to ``connection_lost``."""

    __slots__ = (
        "_address",
        "_close_timer",
        "_closing",
        "_ctx",
        "_inbox",
        "_reader",
        "_transport",
        "access",
    )

    def __init__(self, ctx: FrontContext, transport: asyncio.Transport, address: str) -> None:
        super().__init__()
        settings = ctx.settings
        self._ctx = ctx
        self._transport: asyncio.Transport | None = transport
        self._address = address  # counted under ctx.guard until connection_lost
        self._inbox = _Inbox()
        # aiohttp (3.14) closes with 1009 at max_msg_size bytes, not past it: one more,
        # as transports/websocket.py: accept_websocket asks.
        self._reader: StrictReader | None = StrictReader(
            cast(WebSocketDataQueue, self._inbox),
            settings.max_body + 1,
            decode_text=True,
            max_fragments=settings.max_fragments,
        )
        self._closing = False  # a close frame went out (or the socket is cut): no more
        self._close_timer: asyncio.TimerHandle | None = None
        self.access: StreamAccess | None = None  # its access log line, at connection_lost

    def take_over(self, leftover: bytes) -> None:
        """Own the socket (counted as a lean connection) and read what followed the head."""
        self._ctx.connections.add(self)
        if leftover:
            self.data_received(leftover)

    # What subclasses say

    def _on_frame(self, kind: WSMsgType, data: Any) -> None:
        """A text, binary, ping or pong message from the client."""
        raise NotImplementedError

    def _before_close(self) -> None:
        """The server's close frame is about to go out: what must precede it, and the end."""

    def _lost(self) -> None:
        """The connection is gone."""

    def _bytes_sent(self) -> int:
        """The bytes of messages sent, for the access log."""
        return 0

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
        return False  # the transport closes; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._ctx.forget(self, self._address)
        if self.access is not None:
            self.access.ended(101, self._bytes_sent())
        self._transport = None
        self._reader = None
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._lost()

    # Shutdown (FrontContext.shutdown)

    def begin_close(self) -> None:
        self._close(WSCloseCode.GOING_AWAY, "server shutting down", wait=False)

    def abort(self) -> None:
        if self._transport is not None:
            self._closing = True
            self._transport.abort()

    # Client frames

    def _on_message(self, message: Any) -> None:
        kind = message.type
        if self._closing:
            # The server's close is out: only the client's close is waited for.
            if kind is WSMsgType.CLOSE and self._transport is not None:
                self._transport.close()
            return
        if kind is WSMsgType.CLOSE:
            self._close(WSCloseCode.OK, "", wait=False)  # answered with 1000, as aiohttp
        else:
            self._on_frame(kind, message.data)

    def _on_error(self, error: BaseException) -> None:
        """The reader refused what the client sent: close with its code, at once (aiohttp
        waits for no close frame after an error either)."""
        self._reader = None
        if self._closing:
            if self._transport is not None:
                self._transport.close()
            return
        code = error.code if isinstance(error, WebSocketError) else WSCloseCode.OK
        self._close(code, "", wait=False)

    def _pong(self, payload: bytes) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(ws_frame(payload, WS_OPCODE_PONG))

    # Ending

    def _close(self, code: int, reason: str, *, wait: bool) -> None:
        """Send the close frame after what must precede it; close the socket now, or
        (``wait``) when the client's close comes, at the latest after a while."""
        transport = self._transport
        if self._closing or transport is None:
            return
        self._closing = True
        self._before_close()
        if not transport.is_closing():
            transport.write(ws_close_frame(code, reason))
        if wait:
            grace = min(self._ctx.settings.heartbeat, MAX_CLOSE_WAIT)
            self._close_timer = self._ctx.loop.call_later(grace, transport.close)
        else:
            transport.close()
