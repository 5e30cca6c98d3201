"""Memory per idle WebSocket, fan-out cost and publish rate of one ``hubbub serve`` process.

    .venv/bin/python -m bench.ws_idle --sockets 10000            # the memory store
    .venv/bin/python -m bench.ws_idle --sockets 10000 --store sqlite  # the default server
    .venv/bin/python -m bench.ws_idle --sockets 5000 --multiplex 2 --fanout 200
                                            # GET /ws, 2 rooms a socket; 200 messages a room

``--multiplex N``: each socket is a ``GET /ws`` subscribed to N rooms (its own and the
next ones) instead of one room URL socket; the publishers use the same route.

Fan-out (``--fanout M``): after the idle figure, one publisher socket per room sends M
messages (one at a time, each after its ack) and every subscriber counts what it gets;
the server's CPU time (``/proc/PID/stat``) over the run divided by the deliveries is its
cost per delivery. One client process counts everything, so deliveries per second are
the client's bound as much as the server's; the CPU per delivery is the server's alone.

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
import tempfile
import time

import uvloop

from bench.wsframe import encode

WARM_UP = 200
HANDSHAKE = (
    "GET /rooms/{room}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
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

    def __init__(self, room: str, live: asyncio.Event | None, rooms: tuple[str, ...] = ()) -> None:
        self.room = room
        self.rooms = rooms  # GET /ws: the rooms it subscribes to (else the room URL)
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
        if self.rooms:
            handshake = HANDSHAKE.replace("/rooms/{room}/messages", "/ws").format(key=key)
            subscribe = b'{"type":"subscribe","room":"%s"}'
            frames = b"".join(encode(subscribe % room.encode()) for room in self.rooms)
            self.transport.write(handshake.encode() + frames)
        else:
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
            if self.frames == 2 * max(1, len(self.rooms)) and self.live is not None:
                self.live.set()  # ready, then presence (of each room): live


async def connect(port: int, room: str, rooms: tuple[str, ...] = ()) -> Socket:
    loop = asyncio.get_running_loop()
    live = asyncio.Event()
    _, protocol = await loop.create_connection(
        lambda: Socket(room, live, rooms), "127.0.0.1", port, family=socket.AF_INET
    )
    await asyncio.wait_for(live.wait(), 60)
    return protocol


async def open_many(
    port: int, count: int, rooms: int, start: int, multiplex: int = 0
) -> list[Socket]:
    sockets: list[Socket] = []
    for first in range(0, count, 500):  # in batches: the listen backlog is bounded
        batch = range(start + first, start + min(first + 500, count))
        sockets += await asyncio.gather(
            *(connect(port, f"r{i % rooms}", subscribed(i, rooms, multiplex)) for i in batch)
        )
    return sockets


async def open_many_rooms(port: int, users: int) -> None:
    """``users`` GET /ws sockets, user ``i`` on ``p<i>`` and ``g<i // 10>`` (the chat
    shape's rooms), in batches; prints ``ready`` once all are live, then holds them until
    killed (bench/tracked.py)."""
    sockets: list[Socket] = []
    for first in range(0, users, 500):
        batch = range(first, min(first + 500, users))
        sockets += await asyncio.gather(
            *(connect(port, f"p{i}", (f"p{i}", f"g{i // 10}")) for i in batch)
        )
    print("ready", flush=True)
    await asyncio.Event().wait()


def subscribed(i: int, rooms: int, multiplex: int) -> tuple[str, ...]:
    """The rooms of GET /ws socket ``i`` (none: a room URL socket)."""
    return tuple(f"r{(i + k) % rooms}" for k in range(multiplex))


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def fanout(
    port: int, pid: int, held: list[Socket], rooms: int, messages: int, multiplex: int
) -> tuple[float, float]:
    """Deliveries per second and server CPU microseconds per delivery."""
    publishers = [
        await connect(port, f"r{room}", (f"r{room}",) if multiplex else ()) for room in range(rooms)
    ]
    listeners: dict[str, int] = {}
    for sock in [*held, *publishers]:
        for room in sock.rooms or (sock.room,):
            listeners[room] = listeners.get(room, 0) + 1
    expected = messages * sum(listeners.values())
    counted = [*held, *publishers]
    before_frames = sum(sock.frames for sock in counted)
    before_cpu = cpu_seconds(pid)
    started = time.monotonic()

    async def drive(sock: Socket) -> None:
        assert sock.transport is not None
        room = b',"room":"%s"' % sock.room.encode() if multiplex else b""
        for n in range(messages):
            sock.acked.clear()
            body = b'{"type":"publish","user":"bench","text":"m%d"%s}' % (n, room)
            sock.transport.write(encode(body))
            await asyncio.wait_for(sock.acked.wait(), 30)

    await asyncio.gather(*(drive(sock) for sock in publishers))
    wanted = expected + messages * rooms  # every delivery, and each publisher's acks
    async with asyncio.timeout(60):
        # The client's own counters, read every 10 ms (bounded by the timeout).
        while sum(sock.frames for sock in counted) - before_frames < wanted:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(pid) - before_cpu
    return expected / elapsed, cpu / expected * 1e6


async def publish_rate(
    port: int, publishers: int, window: int, seconds: float, multiplex: int = 0
) -> float:
    sockets = await open_many(port, publishers, publishers, 10**6, min(multiplex, 1))
    body = b'{"type":"publish","user":"bench","text":"hello, world"%s}'
    frames = {
        sock.room: encode(body % (b',"room":"%s"' % sock.room.encode() if multiplex else b""))
        for sock in sockets
    }
    deadline = time.monotonic() + seconds

    async def drive(sock: Socket) -> None:
        assert sock.transport is not None
        sent = 0
        while time.monotonic() < deadline:
            while sent - sock.acks < window:
                sock.transport.write(frames[sock.room])
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
    command = [sys.executable, "-m", "hubbub", "serve", "--port", str(port), "--store", args.store]
    scratch = tempfile.TemporaryDirectory(prefix="hubbub-ws-idle-")
    command += ["--db", os.path.join(scratch.name, "hubbub.db")]
    cap = str(args.sockets + 5000)  # every socket comes from this one address
    command += ["--heartbeat", "3600", "--max-connections", cap, "--max-connections-per-ip", cap]
    server = await asyncio.create_subprocess_exec(*command, stderr=asyncio.subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                (await asyncio.open_connection("127.0.0.1", port))[1].close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        path = "one socket per room"
        if args.multiplex:
            path += f", GET /ws x{args.multiplex} rooms"
        held = await open_many(port, WARM_UP, args.rooms, 0, args.multiplex)
        await asyncio.sleep(1)
        before = rss_kib(server.pid)
        held += await open_many(port, args.sockets, args.rooms, WARM_UP, args.multiplex)
        await asyncio.sleep(2)
        after = rss_kib(server.pid)
        per_socket = (after - before) * 1024 / args.sockets
        print(
            f"{path}: {args.sockets} idle WebSockets in {args.rooms} rooms: RSS "
            f"{before / 1024:.1f} -> {after / 1024:.1f} MiB, {per_socket:,.0f} bytes per socket"
        )
        if args.fanout:
            rate, cpu = await fanout(
                port, server.pid, held, args.rooms, args.fanout, args.multiplex
            )
            print(
                f"{path}: fan-out of {args.fanout} messages a room: {rate:,.0f} deliveries/s, "
                f"server CPU {cpu:.2f} us per delivery"
            )
        for sock in held:
            assert sock.transport is not None
            sock.transport.close()
        if args.publishers:
            rate = await publish_rate(
                port, args.publishers, args.window, args.seconds, args.multiplex
            )
            print(
                f"{path}: {args.publishers} sockets x {args.window} in flight: "
                f"{rate:,.0f} publishes acknowledged per second"
            )
    finally:
        server.terminate()
        await server.wait()
        scratch.cleanup()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--multiplex", type=int, default=0, help="GET /ws, N rooms a socket")
    parser.add_argument("--fanout", type=int, default=0, help="messages a room; 0: none")
    parser.add_argument("--store", choices=["memory", "sqlite"], default="memory")
    parser.add_argument("--publishers", type=int, default=0, help="0: no publish run")
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    return parser.parse_args()


if __name__ == "__main__":
    uvloop.run(main(parse()))
