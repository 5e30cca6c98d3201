"""Publishing connections: one WebSocket per room, or one pipelined HTTP/1.1 connection.

Both keep the send time of every outstanding publish and call ``on_ack(latency_ns)`` as
acknowledgements arrive, so the same classes drive the paced and flooded fan-out runs
(through ``Driver``) and the closed-loop publish throughput runs (one ack, one new send).
A single connection per room keeps publishes in order: the stream checks then know that
sequence number order is publish order.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable

from bench import http1, wsframe
from bench.conn import Connection
from bench.dialects import Dialect, Transport

AckCallback = Callable[[int], None]


class Publisher(Connection):
    """Base: outstanding publishes, acks, errors and a window to wait on."""

    def __init__(self, dialect: Dialect, host: str, window: int) -> None:
        self.dialect = dialect
        self.host = host
        self.window = window
        self.pending: collections.deque[int] = collections.deque()
        self.acked = 0
        self.errors = 0
        self.first_error = ""
        self.on_ack: AckCallback | None = None
        self.room_free = asyncio.Event()
        self.room_free.set()
        self.live: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def opened(self) -> None:
        raise NotImplementedError

    def publish(self, room: str, text: str, client_id: str) -> None:
        raise NotImplementedError

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.live.done():
            self.live.set_exception(ConnectionError(f"publisher closed: {exc}"))
        self.room_free.set()  # wake a waiting sender: it sees `closed`

    def _sent(self) -> None:
        self.pending.append(time.monotonic_ns())
        if len(self.pending) >= self.window:
            self.room_free.clear()

    def _answered(self, ok: bool, detail: str = "") -> None:
        if not self.pending:
            return  # an unsolicited answer: nothing to match it with
        sent = self.pending.popleft()
        if ok:
            self.acked += 1
        else:
            self.errors += 1
            self.first_error = self.first_error or detail
        if len(self.pending) < self.window:
            self.room_free.set()
        if self.on_ack is not None:
            self.on_ack(time.monotonic_ns() - sent)

    def stop(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()


class WsPublisher(Publisher):
    """Publishes into the room its WebSocket is connected to (and is subscribed to it)."""

    def __init__(self, dialect: Dialect, host: str, room: str, window: int) -> None:
        super().__init__(dialect, host, window)
        self.room = room
        self._head = b""
        self._upgraded = False
        self._frames = wsframe.FrameParser()
        self._ack_ids = 0

    def opened(self) -> None:
        assert self.transport is not None
        path = self.dialect.sub_path(Transport.WS, self.room)
        self.transport.write(wsframe.handshake_request(self.host, path))

    def publish(self, room: str, text: str, client_id: str) -> None:
        assert self.transport is not None
        assert room == self.room
        self._ack_ids += 1
        payload = self.dialect.ws_publish_payload(text, client_id, self._ack_ids)
        self.transport.write(wsframe.encode(payload))
        self._sent()

    def data_received(self, data: bytes) -> None:
        if not self._upgraded:
            try:
                done, data = wsframe.handshake_response(self._head + data)
            except wsframe.HandshakeError as exc:
                if not self.live.done():
                    self.live.set_exception(ConnectionError(str(exc)))
                return
            if not done:
                self._head = data
                return
            self._upgraded = True
            if self.dialect.ws_live_at_upgrade():
                self.live.set_result(None)
        for frame in self._frames.feed(data):
            if frame.opcode == wsframe.OP_PING:
                assert self.transport is not None
                self.transport.write(wsframe.encode(frame.payload, wsframe.OP_PONG))
            elif frame.opcode != wsframe.OP_TEXT:
                continue
            elif not self.live.done():
                live, reply = self.dialect.ws_opening(frame.payload)
                if reply is not None and self.transport is not None:
                    self.transport.write(wsframe.encode(reply))
                if live:
                    self.live.set_result(None)
            elif self.dialect.ws_ack(frame.payload):
                self._answered(True)
            elif frame.payload.startswith(b'{"type":"error"'):
                self._answered(False, frame.payload[:200].decode(errors="replace"))


class HttpPublisher(Publisher):
    """POSTs publishes on one keep-alive connection, pipelined up to ``window``."""

    def __init__(self, dialect: Dialect, host: str, window: int) -> None:
        super().__init__(dialect, host, window)
        self._responses = http1.ResponseParser()

    def opened(self) -> None:
        self.live.set_result(None)

    def publish(self, room: str, text: str, client_id: str) -> None:
        assert self.transport is not None
        body = self.dialect.publish_body(text, client_id)
        self.transport.write(self.dialect.http_publish_request(self.host, room, body))
        self._sent()

    def data_received(self, data: bytes) -> None:
        for response in self._responses.feed(data):
            ok = 200 <= response.status < 300
            self._answered(ok, f"{response.status} {response.body[:200]!r}")


async def open_publisher(pub: Publisher, port: int, timeout_s: float = 10.0) -> None:
    """Connect ``pub`` and wait until it can publish."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout_s):
        await loop.create_connection(lambda: pub, "127.0.0.1", port)
        await pub.live
