"""Memory per idle WebSocket and the WebSocket publish rate of one ``hubbub serve`` process.

    .venv/bin/python -m bench.ws_idle --sockets 10000            # the lean path
    .venv/bin/python -m bench.ws_idle --sockets 10000 --no-lean-http

Idle: the server's RSS (``/proc/PID/status``) is read after a warm-up of 200 sockets,
then after ``--sockets`` more have each received their ``ready`` and ``presence``
frames; the delta over the count is the cost of one idle socket (its stream, its
protocol objects, its transport; not the kernel's buffers). The heartbeat is set long
enough that no ping falls in the measurement.

Publish: ``--publishers`` sockets each keep ``--window`` publish frames in flight for
``--seconds``; the rate is acknowledgements per second. The client is one Python
process: its own cost bounds what it can show on a small machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import sys
import time

import uvloop

from bench.wsframe import encode

WARM_UP = 200
HANDSHAKE = (
    "GET /rooms/{room}/messages HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Socket(asyncio.Protocol):
    """A WebSocket client that counts what it is sent (frames are text, small, unmasked)."""

    def __init__(self, room: str, live: asyncio.Event | None) -> None:
        self.room = room
        self.live = live
        self.buffer = b""
        self.upgraded = False
        self.frames = 0
        self.acks = 0
        self.transport: asyncio.Transport | None = None
        self.acked = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        assert self.transport is not None
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(HANDSHAKE.format(room=self.room, key=key).encode())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            assert self.buffer.startswith(b"HTTP/1.1 101"), self.buffer[:200]
            self.upgraded = True
            self.buffer = self.buffer[end + 4 :]
        while len(self.buffer) >= 2:
            size = self.buffer[1] & 0x7F
            head = 2 + (2 if size == 126 else 8 if size == 127 else 0)
            if len(self.buffer) < head:
                return
            if size >= 126:
                size = int.from_bytes(self.buffer[2:head], "big")
            if len(self.buffer) < head + size:
                return
            payload = self.buffer[head : head + size]
            self.buffer = self.buffer[head + size :]
            self.frames += 1
            if payload.startswith(b'{"type":"ack"'):
                self.acks += 1
                self.acked.set()
            if self.frames == 2 and self.live is not None:
                self.live.set()  # ready, then presence: live


async def connect(port: int, room: str) -> Socket:
    loop = asyncio.get_running_loop()
    live = asyncio.Event()
    _, protocol = await loop.create_connection(
        lambda: Socket(room, live), "127.0.0.1", port, family=socket.AF_INET
    )
    await asyncio.wait_for(live.wait(), 60)
    return protocol


async def open_many(port: int, count: int, rooms: int, start: int) -> list[Socket]:
    sockets: list[Socket] = []
    for first in range(0, count, 500):  # in batches: the listen backlog is bounded
        batch = range(start + first, start + min(first + 500, count))
        sockets += await asyncio.gather(*(connect(port, f"r{i % rooms}") for i in batch))
    return sockets


async def publish_rate(port: int, publishers: int, window: int, seconds: float) -> float:
    sockets = await open_many(port, publishers, publishers, 10**6)
    frame = encode(b'{"type":"publish","user":"bench","text":"hello, world"}')
    deadline = time.monotonic() + seconds

    async def drive(sock: Socket) -> None:
        assert sock.transport is not None
        sent = 0
        while time.monotonic() < deadline:
            while sent - sock.acks < window:
                sock.transport.write(frame)
                sent += 1
            sock.acked.clear()
            await asyncio.wait_for(sock.acked.wait(), 30)

    started = time.monotonic()
    before = sum(sock.acks for sock in sockets)
    await asyncio.gather(*(drive(sock) for sock in sockets))
    return (sum(sock.acks for sock in sockets) - before) / (time.monotonic() - started)


async def main(args: argparse.Namespace) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "hubbub", "serve", "--port", str(port), "--store", "memory"]
    cap = str(args.sockets + 5000)  # every socket comes from this one address
    command += ["--heartbeat", "3600", "--max-connections", cap, "--max-connections-per-ip", cap]
    if args.no_lean_http:
        command.append("--no-lean-http")
    server = await asyncio.create_subprocess_exec(*command, stderr=asyncio.subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                (await asyncio.open_connection("127.0.0.1", port))[1].close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        path = "aiohttp (--no-lean-http)" if args.no_lean_http else "lean"
        held = await open_many(port, WARM_UP, args.rooms, 0)
        await asyncio.sleep(1)
        before = rss_kib(server.pid)
        held += await open_many(port, args.sockets, args.rooms, WARM_UP)
        await asyncio.sleep(2)
        after = rss_kib(server.pid)
        per_socket = (after - before) * 1024 / args.sockets
        print(
            f"{path}: {args.sockets} idle WebSockets in {args.rooms} rooms: RSS "
            f"{before / 1024:.1f} -> {after / 1024:.1f} MiB, {per_socket:,.0f} bytes per socket"
        )
        for sock in held:
            assert sock.transport is not None
            sock.transport.close()
        if args.publishers:
            rate = await publish_rate(port, args.publishers, args.window, args.seconds)
            print(
                f"{path}: {args.publishers} sockets x {args.window} in flight: "
                f"{rate:,.0f} publishes acknowledged per second"
            )
    finally:
        server.terminate()
        await server.wait()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--no-lean-http", action="store_true")
    parser.add_argument("--publishers", type=int, default=0, help="0: no publish run")
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    return parser.parse_args()


if __name__ == "__main__":
    uvloop.run(main(parse()))
