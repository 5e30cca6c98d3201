"""A WebSocket that carries one stream: the room URL's (``websocket.py``) and the tutorial
dialect's (``compat/socket.py``).

The stream writes through the socket's outbox; the socket's end ends the stream; the
stream's end (the server's reasons: shutdown, a reset, an expired token, an admin's
disconnect) closes the socket with the code the subclass names in
:meth:`StreamSocket._server_close`, and a stream silent for two heartbeats is cut.
What queued before the close goes out before it; nothing after it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from hubbub.front.ws_socket import FrameSocket
from hubbub.hub import Outbox, Stream
from hubbub.principal import Principal
from hubbub.protocol.cursors import Cursor
from hubbub.protocol.encoding import WireFormat
from hubbub.transports.streams import timed_drain
from hubbub.transports.websocket import SocketStream

if TYPE_CHECKING:
    from hubbub.http.context import ServerContext
    from hubbub.node import Node

# A close frame a server-ended stream gets: code, reason, and whether the socket waits for
# the client's close before it is closed (False: closed once the frame is out).
ServerClose = tuple[int, str, bool]


class StreamSocket(FrameSocket):
    """One stream's socket: ``node``, and ``stream`` (a :class:`SocketStream`)."""

    __slots__ = ("node", "stream")

    def __init__(
        self,
        ctx: ServerContext,
        node: Node,
        transport: asyncio.Transport,
        address: str,
        room: str,
        frames: WireFormat,
        principal: Principal,
    ) -> None:
        super().__init__(ctx, transport, address)
        outbox = Outbox(
            transport, node.scheduler, limit=ctx.settings.outbox_limit, on_overflow=self._overflow
        )
        self.node = node
        self.stream = SocketStream(room, frames, outbox, principal, ctx.loop.time())

    def begin(self, cursor: Cursor | None, leftover: bytes) -> None:
        """Start the stream, and read what the client sent after its handshake."""
        stream = self.stream
        stream.when_ended(self._on_end)
        drain = timed_drain(self.writable, self.node.settings.heartbeat)
        self.node.start_stream(stream, cursor, drain, self._stream_ended)
        self.take_over(leftover)

    def _server_close(self, reason: str) -> ServerClose | None:
        """The close frame for a stream the server ended for ``reason`` (None: none)."""
        raise NotImplementedError

    # FrameSocket

    def _bytes_sent(self) -> int:
        return self.stream.outbox.sent

    def _before_close(self) -> None:
        """What the stream queued goes out first; nothing of it after the close frame."""
        stream = self.stream
        stream.outbox.flush(self._ctx.loop.time())
        stream.outbox.close()
        stream.end("gone")

    def _lost(self) -> None:
        self._writer_gone()
        self.stream.end("gone")

    # The stream

    def _on_end(self, stream: Stream) -> None:
        """The server ended the stream: a close frame with its code, or cut when dead."""
        reason = stream.reason
        assert reason is not None, "told only once the stream has ended"
        if reason == "timeout":
            self.abort()
            return
        close = self._server_close(reason)
        if close is not None:
            code, message, wait = close
            self._close(code, message, wait=wait)

    def _overflow(self) -> None:
        """The outbox passed its limit: close 1013 (the client resumes from its cursor)."""
        self.node.stats.slow_consumers_dropped += 1
        self._close_slow()
        self.stream.end("slow")

    def _stream_ended(self, stream: Stream, reason: str) -> None:
        if reason == "error":  # logged by the node's streams
            self.abort()
