"""Counting subscribers read in batches: plain sockets, polled every few milliseconds.

An event loop reads a socket as soon as anything arrives, so at low rates every message
costs a read system call and a callback: on the small VM this suite was written on, about
10 microseconds, and the generator, not the server, would set the limit. Counting
subscribers therefore open their subscription with asyncio's socket calls, then leave the
event loop: one ``Pump`` polls all of them every ``tick_s`` and reads whatever
accumulated in one ``recv`` each.
Servers write exactly as they would to any client; only the counting side batches its
reads (the probes still read at once, and they alone measure latency).
"""

from __future__ import annotations

import asyncio
import select
import socket
import time

from bench import http1, wsframe
from bench.checker import StreamCheck
from bench.dialects import Dialect, Transport
from bench.payload import SeqScanner

READ_BYTES = 1 << 18


class Counter:
    """One counting subscription (WebSocket or SSE) on a plain non-blocking socket."""

    probe = False
    id_mismatches = 0

    def __init__(self, room: str) -> None:
        self.room = room
        self.check = StreamCheck()
        self.scan = SeqScanner()
        self.sock: socket.socket | None = None
        self.last_rx_ns = 0
        self.closed = False
        self.stopping = False
        self.error: str | None = None

    async def open(self, dialect: Dialect, transport: Transport, port: int) -> None:
        """Connect and subscribe; returns once the subscription is live."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        self.sock = sock
        await loop.sock_connect(sock, ("127.0.0.1", port))
        host = f"127.0.0.1:{port}"
        if transport is Transport.SSE:
            rest = await self._open_sse(loop, sock, dialect, host)
        else:
            rest = await self._open_ws(loop, sock, dialect, host)
        if rest:
            self.on_data(rest)

    async def _recv(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
        data = await loop.sock_recv(sock, READ_BYTES)
        if not data:
            raise ConnectionError("closed by server while subscribing")
        return data

    async def _open_sse(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, dialect: Dialect, host: str
    ) -> bytes:
        await loop.sock_sendall(sock, dialect.sse_request(host, self.room))
        head = http1.StreamHead()
        rest = b""
        while head.head is None:
            rest = head.feed(await self._recv(loop, sock))
        if head.head.status != 200:
            raise ConnectionError(f"SSE answered {head.head.status}")
        return rest

    async def _open_ws(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, dialect: Dialect, host: str
    ) -> bytes:
        path = dialect.sub_path(Transport.WS, self.room)
        await loop.sock_sendall(sock, wsframe.handshake_request(host, path))
        buf = b""
        done = False
        while not done:
            buf += await self._recv(loop, sock)
            done, rest = wsframe.handshake_response(buf)
        if dialect.ws_live_at_upgrade():
            return rest
        # Socket.IO: answer the open packet, wait for the namespace's CONNECT.
        frames = wsframe.FrameParser()
        pending = rest
        while True:
            parsed = frames.feed(pending)
            for i, frame in enumerate(parsed):
                if frame.opcode != wsframe.OP_TEXT:
                    continue
                live, reply = dialect.ws_opening(frame.payload)
                if reply is not None:
                    await loop.sock_sendall(sock, wsframe.encode(reply))
                if live:
                    later = parsed[i + 1 :]
                    return b"".join(wsframe.reframe(f) for f in later) + frames.take_rest()
            pending = await self._recv(loop, sock)

    def on_data(self, data: bytes) -> None:
        count, first, last, body = self.scan.feed(data)
        if count:
            self.check.feed_span(count, first, last, body)
            self.last_rx_ns = time.time_ns()

    def lost(self, reason: str) -> None:
        self.closed = True
        if not self.stopping and self.error is None:
            self.error = reason

    def stop(self) -> None:
        self.stopping = True
        if self.sock is not None and not self.closed:
            self.closed = True
            self.sock.close()


class Pump:
    """Reads every counting subscriber that has data, once per tick."""

    def __init__(self, tick_s: float = 0.05) -> None:
        self.tick_s = tick_s
        self._poll = select.epoll()
        self._by_fd: dict[int, Counter] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, counter: Counter) -> None:
        assert counter.sock is not None
        fd = counter.sock.fileno()
        self._by_fd[fd] = counter
        self._poll.register(fd, select.EPOLLIN)
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def _drop(self, fd: int, counter: Counter, reason: str) -> None:
        self._by_fd.pop(fd, None)
        if not counter.closed:
            self._poll.unregister(fd)
        counter.lost(reason)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            ready = self._poll.poll(0, len(self._by_fd) + 1)
            for fd, _ in ready:
                counter = self._by_fd.get(fd)
                if counter is None or counter.sock is None:
                    continue
                if counter.closed:
                    self._by_fd.pop(fd, None)
                    continue
                try:
                    data = counter.sock.recv(READ_BYTES)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    self._drop(fd, counter, f"closed by server ({exc})")
                    continue
                if not data:
                    self._drop(fd, counter, "closed by server (EOF)")
                    continue
                counter.on_data(data)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._poll.close()


async def open_all(
    counters: list[Counter],
    pump: Pump,
    dialect: Dialect,
    transport: Transport,
    port: int,
    *,
    concurrency: int = 200,
    timeout_s: float = 30.0,
) -> list[str]:
    """Subscribe every counter and hand it to the pump; returns the failures."""
    gate = asyncio.Semaphore(concurrency)
    failures: list[str] = []

    async def one(counter: Counter) -> None:
        async with gate:
            try:
                async with asyncio.timeout(timeout_s):
                    await counter.open(dialect, transport, port)
            except (OSError, TimeoutError, ConnectionError, wsframe.HandshakeError) as exc:
                failures.append(f"{counter.room}: {type(exc).__name__}: {exc}")
                counter.stop()
                return
            pump.add(counter)

    await asyncio.gather(*(one(c) for c in counters))
    return failures
