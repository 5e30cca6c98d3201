"""Subscribers on the event loop: probes (every transport) and counting pollers.

A probe decodes every frame and every message fully, checks the server's own ids where
the dialect has them, and records publish-to-receive latency. Counting WebSocket and SSE
subscribers live in ``counters.py``; counting pollers are here, since every poll is a
request anyway, and read each answer with a ``SeqScanner`` without decoding it. All of
them check their whole stream: nothing lost, doubled or out of order.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import http1, wsframe
from bench.checker import StreamCheck
from bench.conn import Connection
from bench.dialects import Delivered, Dialect, Transport
from bench.payload import SeqScanner


@dataclass
class SubContext:
    """What every subscriber of one worker shares."""

    dialect: Dialect
    host: str
    measure_from_ns: int = 2**63  # messages sent before this are checked but not timed
    latencies_ns: list[int] = field(default_factory=list)
    on_progress: Callable[[], None] | None = None  # probes call it when they advance
    long_poll_wait_s: float = 30.0
    short_poll_interval_s: float = 0.25


class Subscriber(Connection):
    """One subscription; subclasses speak a transport."""

    def __init__(self, ctx: SubContext, room: str, probe: bool) -> None:
        self.ctx = ctx
        self.room = room
        self.probe = probe
        self.check = StreamCheck()
        self.live: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.last_rx_ns = 0
        self.error: str | None = None
        self.closed = False
        self.stopping = False
        self.id_mismatches = 0

    # asyncio.Protocol

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.stopping and self.error is None:
            self.error = f"closed by server ({exc or 'EOF'})"
        if not self.live.done():
            self.live.set_exception(ConnectionError(self.error or "closed"))

    # Shared helpers

    def opened(self) -> None:
        raise NotImplementedError

    def fail(self, reason: str) -> None:
        self.error = reason
        if not self.live.done():
            self.live.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()

    def set_live(self) -> None:
        if not self.live.done():
            self.live.set_result(None)

    def delivered(self, items: list[Delivered], now_ns: int) -> None:
        """A probe's decoded messages: check the stream, the ids, and time them."""
        if not items:
            return
        self.check.feed([d.seq for d in items])
        self.last_rx_ns = now_ns
        start = self.ctx.measure_from_ns
        samples = self.ctx.latencies_ns
        for d in items:
            if d.sent_ns >= start:
                samples.append(now_ns - d.sent_ns)
            if d.server_id is not None and d.server_id != d.seq:
                self.id_mismatches += 1
        if self.ctx.on_progress is not None:
            self.ctx.on_progress()

    def stop(self) -> None:
        self.stopping = True
        if self.transport is not None and not self.closed:
            self.transport.close()


class WsSubscriber(Subscriber):
    """RFC 6455 probe."""

    def __init__(self, ctx: SubContext, room: str, probe: bool) -> None:
        super().__init__(ctx, room, probe)
        self._head = b""
        self._upgraded = False
        self._frames = wsframe.FrameParser()

    def opened(self) -> None:
        path = self.ctx.dialect.sub_path(Transport.WS, self.room)
        assert self.transport is not None
        self.transport.write(wsframe.handshake_request(self.ctx.host, path))

    def data_received(self, data: bytes) -> None:
        if not self._upgraded:
            try:
                done, rest = wsframe.handshake_response(self._head + data)
            except wsframe.HandshakeError as exc:
                self.fail(f"upgrade refused: {exc}")
                return
            if not done:
                self._head = rest
                return
            self._upgraded = True
            self._head = b""
            if self.ctx.dialect.ws_live_at_upgrade():
                self.set_live()
            data = rest
        now = time.time_ns()
        for frame in self._frames.feed(data):
            if frame.opcode == wsframe.OP_PING:
                assert self.transport is not None
                self.transport.write(wsframe.encode(frame.payload, wsframe.OP_PONG))
            elif frame.opcode == wsframe.OP_CLOSE:
                code = int.from_bytes(frame.payload[:2], "big") if frame.payload else 1005
                self.fail(f"server closed the WebSocket ({code})")
                return
            elif frame.opcode != wsframe.OP_TEXT:
                continue
            elif not self.live.done():
                live, reply = self.ctx.dialect.ws_opening(frame.payload)
                if reply is not None and self.transport is not None:
                    self.transport.write(wsframe.encode(reply))
                if live:
                    self.set_live()
            else:
                try:
                    self.delivered(self.ctx.dialect.decode_ws(frame.payload), now)
                except (ValueError, KeyError, TypeError) as exc:
                    self.fail(f"undecodable frame: {exc}: {frame.payload[:80]!r}")
                    return


class SseSubscriber(Subscriber):
    """Server-Sent Events probe."""

    def __init__(self, ctx: SubContext, room: str, probe: bool) -> None:
        super().__init__(ctx, room, probe)
        self._head = http1.StreamHead()
        self._chunks: http1.ChunkedDecoder | None = None
        self._events = http1.SseParser()

    def opened(self) -> None:
        assert self.transport is not None
        self.transport.write(self.ctx.dialect.sse_request(self.ctx.host, self.room))

    def data_received(self, data: bytes) -> None:
        if self._head.head is None:
            data = self._head.feed(data)
            head = self._head.head
            if head is None:
                return
            if head.status != 200:
                self.fail(f"SSE answered {head.status}")
                return
            if self._head.chunked:
                self._chunks = http1.ChunkedDecoder()
            self.set_live()
            if not data:
                return
        now = time.time_ns()
        pieces = self._chunks.feed(data) if self._chunks is not None else [data]
        items: list[Delivered] = []
        try:
            for piece in pieces:
                for event in self._events.feed(piece):
                    items.extend(self.ctx.dialect.decode_sse(event))
        except (ValueError, KeyError, TypeError) as exc:
            self.fail(f"undecodable event: {exc}")
            return
        self.delivered(items, now)


class PollSubscriber(Subscriber):
    """Long poll (``wait`` set) or short poll (every ``short_poll_interval_s``)."""

    def __init__(self, ctx: SubContext, room: str, probe: bool, long: bool) -> None:
        super().__init__(ctx, room, probe)
        self.long = long
        self.cursor: Any = ctx.dialect.poll_start()
        self._responses = http1.ResponseParser()
        self.polls = 0
        self._next_at = 0.0

    def opened(self) -> None:
        # A long poll is subscribed once its first request is in; a short poller always is,
        # and starts at a random phase so that pollers do not all ask at once.
        if self.long:
            self._request()
        else:
            asyncio.get_running_loop().call_later(
                jitter(self.ctx.short_poll_interval_s), self._request
            )
        self.set_live()

    def _request(self) -> None:
        if self.stopping or self.closed or self.transport is None:
            return
        wait = self.ctx.long_poll_wait_s if self.long else None
        self._next_at = time.monotonic() + self.ctx.short_poll_interval_s
        self.polls += 1
        self.transport.write(
            self.ctx.dialect.poll_request(self.ctx.host, self.room, self.cursor, wait)
        )

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        for response in self._responses.feed(data):
            self._answered(response, now)

    def _answered(self, response: http1.Response, now: int) -> None:
        if response.status == 200:
            if self.probe:
                try:
                    self.delivered(self.ctx.dialect.decode_poll(response), now)
                except (ValueError, KeyError, TypeError) as exc:
                    self.fail(f"undecodable poll answer: {exc}")
                    return
            else:
                # A complete body: no token can be split, a fresh scanner reads it whole.
                count, first, last, body = SeqScanner().feed(response.body)
                if count:
                    self.check.feed_span(count, first, last, body)
                    self.last_rx_ns = now
            self.cursor = self.ctx.dialect.poll_cursor(self.cursor, response)
        elif response.status not in (304, 408):
            self.error = f"poll answered {response.status}"
        loop = asyncio.get_running_loop()
        if self.long and response.status in (200, 304, 408):
            self._request()
        else:
            # Short polls keep their cadence; a failed long poll backs off, never spins.
            delay = max(0.0, self._next_at - time.monotonic()) if not self.long else 0.1
            loop.call_later(delay, self._request)


def make_subscriber(transport: Transport, ctx: SubContext, room: str, probe: bool) -> Subscriber:
    if transport is Transport.WS:
        return WsSubscriber(ctx, room, probe)
    if transport is Transport.SSE:
        return SseSubscriber(ctx, room, probe)
    return PollSubscriber(ctx, room, probe, long=transport is Transport.LONGPOLL)


async def connect_all(
    subs: list[Subscriber],
    port: int,
    *,
    concurrency: int = 200,
    timeout_s: float = 30.0,
) -> list[str]:
    """Connect every subscriber and wait until each is live; returns the failures."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    failures: list[str] = []

    async def one(sub: Subscriber) -> None:
        async with gate:
            try:
                async with asyncio.timeout(timeout_s):
                    await loop.create_connection(lambda: sub, "127.0.0.1", port)
                    await sub.live
            except (OSError, TimeoutError, ConnectionError) as exc:
                failures.append(f"{sub.room}: {type(exc).__name__}: {exc}")
                sub.stop()

    await asyncio.gather(*(one(s) for s in subs))
    return failures


def jitter(seconds: float) -> float:
    """A random phase in [0, seconds): spreads short pollers over the interval."""
    return random.random() * seconds
