"""A WebSocket after its handshake, on ``websockets``' Sans-I/O ``ServerProtocol``.

:class:`FrameSocket` is one slotted ``asyncio.Protocol`` per socket, for every
WebSocket route (room URL, ``GET /ws``, the tutorial dialect, the conformance echo).
The library parses client frames and does the close handshake: it refuses an
unmasked frame, reserved bits, an unknown opcode, a fragmented or over-long control
frame, a continuation out of place and a close code a peer may not send (1002), a
message over ``max_body`` (1009), and answers pings and the client's close (echoing
its code), after which it reads nothing more. hubbub adds on top what the library
leaves to its caller: joining fragments (at most ``max_fragments`` of one message,
else 1008), UTF-8 of text messages (1007), and never a frame after the server's close
frame (RFC 6455 section 5.5.1: a pong the library would queue then is dropped).

The library's protocol object is made when it is first needed. Until then, reads of
whole, unfragmented, masked data frames (what clients send nearly always) are parsed
by ``protocol/encoding.py``'s :func:`client_messages`, a frame cut by the end of a read
kept until the next; the first read holding anything else (a control frame, a
fragment) goes to the library, which then parses every read after it. A socket that
only ever sends ordinary frames costs no library object and no parser generator (issue
19: a reconnect storm makes thousands a second), and a busy publisher's frames are not
parsed by the library because one read ended inside one.

What the server sends is mostly not framed here: a stream's outbox writes the shared,
pre-encoded frames of ``protocol/encoding.py`` straight to the transport, the same
bytes to every socket. That is safe while the library's state is ``OPEN``, and the
outbox is closed (``_before_close``) before the state leaves it, so the outbox's own
``closed`` check is the state check, at no cost per delivery.
"""

from __future__ import annotations

import asyncio
import codecs
from typing import TYPE_CHECKING, cast

from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from hubbub.front.flow import WriteFlow
from hubbub.front.ws_handshake import LIBRARY_LOG, answer_101, check_handshake
from hubbub.protocol.encoding import (
    WS_OPCODE_CLOSE,
    WS_OPCODE_TEXT,
    client_messages,
    ws_close_frame,
    ws_frame,
)

if TYPE_CHECKING:
    from hubbub.access_log import StreamAccess
    from hubbub.http.context import ServerContext
    from hubbub.http.streaming import StreamStart

# How long the server waits for the client's close frame after its own close (1003).
MAX_CLOSE_WAIT = 5.0
# RFC 6455 section 7.4.1 / IANA registry: 1013 "Try Again Later", for a slow consumer,
# which has this long to read its close frame before the socket is cut.
CLOSE_TRY_AGAIN_LATER = 1013
SLOW_CLOSE_GRACE = 5.0
TEXT, BINARY, CONT, PING, CLOSE = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PING, Opcode.CLOSE


def peer_gone(start: StreamStart) -> bool:
    """Whether the client left before its ``101`` (its connection closes by itself)."""
    return start.transport.is_closing()


def upgrade(start: StreamStart) -> bytes | None:
    """The ``101`` for ``start`` once the handshake is checked (a ``ProtocolError``
    refuses it); None if the client already left."""
    ctx, head = start.ctx, start.head
    accept = check_handshake(head, start.address, ctx.settings.allow_origin)
    response = answer_101(head, ctx.date(), ctx.cors(head), accept)
    return None if peer_gone(start) else response


def switch_protocols(start: StreamStart, response: bytes, socket: FrameSocket) -> None:
    """Write the ``101`` and attach ``socket`` to the connection, reading (and its access
    log line, written when it closes)."""
    socket.access = start.access
    socket.handshake_bytes = len(response)
    transport = start.transport
    start.owner.attach(socket)
    transport.write(response)
    if not transport.is_reading():  # the front paused it while earlier answers went out
        transport.resume_reading()


class _Message:
    """A fragmented message being joined: its parts, their count, and its text decoder."""

    __slots__ = ("decoder", "fragments", "opcode", "parts")

    def __init__(self, opcode: Opcode, first: bytes) -> None:
        self.opcode = opcode
        self.parts = [first]
        self.fragments = 1
        self.decoder = codecs.getincrementaldecoder("utf-8")() if opcode is TEXT else None


class FrameSocket(WriteFlow):
    """One upgraded connection, from its ``101`` to ``connection_lost``."""

    __slots__ = (
        "_address",
        "_close_out",
        "_close_timer",
        "_closing",
        "_ctx",
        "_cut",
        "_message",
        "_transport",
        "_ws",
        "access",
        "handshake_bytes",
    )

    def __init__(self, ctx: ServerContext, transport: asyncio.Transport, address: str) -> None:
        super().__init__()
        self._ctx = ctx
        self._transport: asyncio.Transport | None = transport
        self._address = address  # counted under ctx.guard until connection_lost
        self._ws: ServerProtocol | None = None  # the library, once needed (_library)
        self._cut = b""  # the start of a frame the last read cut, before the library
        self._message: _Message | None = None
        self._closing = False  # the server's close frame is going out (or the socket cut)
        self._close_out = False  # it is out: nothing more is written
        self._close_timer: asyncio.TimerHandle | None = None
        self.access: StreamAccess | None = None  # its access log line, at connection_lost
        self.handshake_bytes = 0  # the 101's, counted in the access log's bytes

    def take_over(self, leftover: bytes) -> None:
        """Read what followed the head."""
        if leftover:
            self.data_received(leftover)

    # What subclasses say

    def _on_message(self, opcode: Opcode, data: str | bytes) -> None:
        """A whole text (``str``) or binary (``bytes``) message, or a ping or pong."""
        raise NotImplementedError

    def _before_close(self) -> None:
        """The server's close frame is about to go out: what must precede it, and the end."""

    def _lost(self) -> None:
        """The connection is gone."""

    def _bytes_sent(self) -> int:
        """The bytes of messages sent, for the access log."""
        return 0

    def _library(self) -> ServerProtocol:
        """The library's protocol, made on first use: open, since the handshake was the
        front's (front/ws_handshake.py, on a protocol of its own whose parser would keep
        the request for the socket's life)."""
        ws = self._ws
        if ws is None:
            max_size = self._ctx.settings.max_body
            ws = self._ws = ServerProtocol(state=State.OPEN, max_size=max_size, logger=LIBRARY_LOG)
        return ws

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        cut, self._cut = self._cut, b""
        if cut:
            data = cut + data
        if self._ws is None and not self._closing:
            found = client_messages(data, self._ctx.settings.max_body)
            if found is not None:
                messages, end = found
                if end < len(data):
                    self._cut = data[end:]  # a frame the read cut: the rest comes next
                for opcode, payload in messages:
                    if self._closing:
                        break  # as below: after the server's close, nothing more is read
                    self._whole(TEXT if opcode == WS_OPCODE_TEXT else BINARY, payload)
                return
        ws = self._library()
        ws.receive_data(data)
        # What the library framed: a pong per ping, in order, then a close frame and
        # the end of stream. Each pong goes out in its ping's place among the answers.
        output = ws.data_to_send()
        for event in ws.events_received():
            if self._closing:
                break  # after the server's close, only the client's close matters
            frame = cast(Frame, event)  # after the handshake, only frames
            if frame.opcode is PING and output and output[0]:
                self._send_library_output([output.pop(0)])
            self._on_frame(frame)
        if ws.state is not State.OPEN and not self._closing:
            # The client's close, or a frame the library refused: its close frame
            # follows what the stream queued before it.
            self._closing = True
            self._before_close()
            if self._message is not None and ws.close_rcvd is not None:
                self._answer_close_mid_message(ws.close_rcvd.code)
                return
        self._send_library_output(output)

    def eof_received(self) -> bool:
        return False  # the transport closes; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self.access is not None:
            self.access.ended(101, self.handshake_bytes + self._bytes_sent())
        self._transport = None
        self._message = None
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._lost()

    # Shutdown (ServerContext.shutdown)

    def begin_close(self) -> None:
        # Closed when the client's close comes back (ServerContext.shutdown cuts it at its
        # deadline): a socket closed at once would reset a client, or a proxy, whose frame
        # crossed ours, and the 1001 could be lost with it.
        self._close(CloseCode.GOING_AWAY, "server shutting down", wait=True)

    def abort(self) -> None:
        if self._transport is not None:
            self._closing = True
            self._transport.abort()

    # Client frames

    def _on_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        data = cast(bytes, frame.data)  # what the library parsed is bytes
        if opcode is TEXT or opcode is BINARY:
            if frame.fin:
                self._whole(opcode, data)
            else:
                self._message = _Message(opcode, data)
                self._check_text(self._message, data, final=False)
        elif opcode is CONT:
            message = self._message
            assert message is not None  # the library refuses a continuation out of place
            message.fragments += 1
            limit = self._ctx.settings.max_fragments
            if message.fragments > limit:
                self._fail(CloseCode.POLICY_VIOLATION, f"more than {limit} fragments")
                return
            message.parts.append(data)
            if not self._check_text(message, data, final=frame.fin):
                return
            if frame.fin:
                self._message = None
                self._whole(message.opcode, b"".join(message.parts))
        elif opcode is not CLOSE:  # a ping (the library has queued its pong) or a pong
            self._on_message(opcode, data)

    def _check_text(self, message: _Message, data: bytes, *, final: bool) -> bool:
        """Fragments of a text message are checked as they come (fail fast on bad UTF-8)."""
        if message.decoder is None:
            return True
        try:
            message.decoder.decode(data, final)
        except UnicodeDecodeError:
            self._fail(CloseCode.INVALID_DATA, "invalid UTF-8")
            return False
        return True

    def _whole(self, opcode: Opcode, data: bytes) -> None:
        if opcode is TEXT:
            try:
                text = data.decode()
            except UnicodeDecodeError:
                self._fail(CloseCode.INVALID_DATA, "invalid UTF-8")
                return
            self._on_message(TEXT, text)
        else:
            self._on_message(BINARY, data)

    # Writing

    def _send_library_output(self, chunks: list[bytes] | None = None) -> None:
        """Write what the library framed (pongs, close frames); ``b""`` is its end of
        stream: the server closes the TCP connection (at once: nothing more is read)."""
        transport = self._transport
        ws = self._ws
        if chunks is None:
            chunks = ws.data_to_send() if ws is not None else None
        if transport is None or not chunks or ws is None:
            return
        end = chunks[-1] == b""
        if end:
            chunks.pop()
        if chunks and not self._close_out and not transport.is_closing():
            # The close frame is the last of the chunks it is in; anything the library
            # frames later (a pong to a ping that follows it) is dropped.
            transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            self._close_out = self._closing and ws.close_sent is not None
        if end:
            transport.close()

    def _answer_close_mid_message(self, code: int) -> None:
        """A close between the fragments of a message: RFC 6455 (section 5.4) lets a
        control frame come there, and the close ends the connection, the message unfinished.
        The library fails such a close with 1002; it is answered as any close is, its
        code echoed (Autobahn|Testsuite case 7.1.5)."""
        self._message = None  # the library's 1002 is not sent
        transport = self._transport
        if transport is None:
            return
        if not transport.is_closing():
            if code == CloseCode.NO_STATUS_RCVD:  # an empty close: answered empty
                transport.write(ws_frame(b"", WS_OPCODE_CLOSE))
            else:
                transport.write(ws_close_frame(code))
        self._close_out = True
        transport.close()

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 section 7.1.7): close frame, then the socket."""
        if self._closing:
            return
        self._closing = True
        self._message = None
        self._before_close()
        self._library().fail(code, reason)
        self._send_library_output()

    def _close(self, code: int, reason: str, *, wait: bool) -> None:
        """Send the close frame after what must precede it; close the socket now, or
        (``wait``) when the client's close comes, at the latest after a while."""
        transport = self._transport
        if self._closing or transport is None:
            return
        self._closing = True
        self._before_close()
        self._library().send_close(code, reason)
        self._send_library_output()
        if wait:
            grace = min(self._ctx.settings.heartbeat, MAX_CLOSE_WAIT)
            self._close_timer = self._ctx.loop.call_later(grace, transport.close)
        else:
            transport.close()

    def _close_slow(self) -> None:
        """Close 1013 after what is buffered (the outbox dropped what it held); cut the
        socket if the peer still does not read."""
        transport = self._transport
        if self._close_out or transport is None:
            return
        self._closing = True
        self._library().send_close(CLOSE_TRY_AGAIN_LATER, "slow consumer")
        self._send_library_output()
        transport.close()
        self._ctx.loop.call_later(SLOW_CLOSE_GRACE, transport.abort)
