"""``python -m bench.publish_cpu``: the event loop's Python per published message.

A ``GET /ws`` publisher's frames go through the whole path in this process, on a node
with the memory store: the lean frame reader, ``validate_publish``, the access and mute
checks, the committer's queue, the commit (``--batch`` messages each), the fan-out to
the room's ``--members`` subscribers (one group room of ``--rooms`` per message), the
flush, and the ack. The sockets are not real: every transport's ``write``,
``is_closing`` and ``get_write_buffer_size`` are C builtins, so what is measured is the
Python around the sends (bench.chat measures the sends, a kernel's cost Nchan pays too).
The memory store's append runs here on the loop; with SQLite it is the writer thread's.

Reported per batch size: the loop's CPU time a message (``time.process_time``, the best
of ``--rounds``: what the code costs when nothing else takes the core) and, from one
round under cProfile, the calls a message (every function, C builtins included, and the
Python functions alone): a count that does not move with the machine's load.

    .venv/bin/python -m bench.publish_cpu --batch 1,10,40
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import random
import time
from typing import cast

import orjson
import uvloop

from bench import wsframe
from hubbub.front.multiplex import MultiplexSocket
from hubbub.http.context import ServerContext
from hubbub.http.guard import ConnectionGuard
from hubbub.hub import Outbox, Stream
from hubbub.node import Node
from hubbub.protocol.encoding import WS_MULTI
from hubbub.runtime import CollectorPolicy, tune_gc
from hubbub.settings import Settings

TEXT = "x" * 64  # bench.chat's text size


class Sink:
    """A transport that sends nothing: its methods are C builtins (no Python frame)."""

    __slots__ = ("get_write_buffer_size", "is_closing", "write")

    def __init__(self) -> None:
        self.is_closing = bool  # bool() is False
        self.get_write_buffer_size = int  # int() is 0
        self.write = len


class PublisherSink(Sink):
    """The publisher's transport: counts the acks written to it."""

    __slots__ = ("acked", "all_acked", "expected")

    def __init__(self) -> None:
        super().__init__()
        self.acked = 0
        self.expected = 0
        self.all_acked = asyncio.Event()
        self.write = self._count  # type: ignore[assignment]

    def expect(self, count: int) -> asyncio.Event:
        self.expected = self.acked + count
        self.all_acked.clear()
        return self.all_acked

    def _count(self, data: bytes) -> int:
        self.acked += data.count(b'"type":"ack"')
        if self.acked >= self.expected:
            self.all_acked.set()
        return len(data)

    def is_reading(self) -> bool:
        return True


class PublishPath:
    """A started node, rooms with subscribers on sinks, one GET /ws publisher."""

    def __init__(
        self,
        node: Node,
        socket: MultiplexSocket,
        sink: PublisherSink,
        rooms: int,
        collector: CollectorPolicy,
    ) -> None:
        self.node = node
        self.collector = collector
        self.socket = socket
        self.sink = sink
        self.rooms = rooms
        self.rng = random.Random(1)

    def frames(self, count: int) -> bytes:
        """``count`` masked publish frames to random rooms, as one read."""
        return b"".join(
            wsframe.encode(
                orjson.dumps(
                    {
                        "type": "publish",
                        "room": f"g{self.rng.randrange(self.rooms)}",
                        "user": "publisher",
                        "text": TEXT,
                    }
                )
            )
            for _ in range(count)
        )

    def reads(self, messages: int, batch: int) -> list[bytes]:
        return [self.frames(batch) for _ in range(max(1, messages // batch))]

    async def publish(self, reads: list[bytes], batch: int) -> float:
        """Loop CPU seconds a message for ``reads`` of ``batch`` frames each, each read
        committed, fanned out, flushed and acked before the next (one commit a read)."""
        sink = self.sink
        started = time.process_time()
        for read in reads:
            acked = sink.expect(batch)
            self.socket.data_received(read)
            async with asyncio.timeout(10.0):  # no task per read, as wait_for makes
                await acked.wait()
        return (time.process_time() - started) / (len(reads) * batch)


async def build(rooms: int, members: int) -> PublishPath:
    settings = Settings(port=0, store="memory", heartbeat=600.0)
    node = Node(settings)
    await node.start()
    loop = asyncio.get_running_loop()
    principal = node.principal(None, "127.0.0.1")
    for index in range(rooms):
        room = await node.hub.acquire(f"g{index}")
        for _ in range(members):
            outbox = Outbox(
                cast(asyncio.Transport, Sink()),
                node.scheduler,
                limit=settings.outbox_limit,
                on_overflow=lambda: None,
            )
            room.join(Stream(room.name, WS_MULTI, outbox, principal, loop.time()))
    ctx = ServerContext(settings, node.stats, ConnectionGuard(node.stats, 10, None, 1024), loop)
    sink = PublisherSink()
    transport = cast(asyncio.Transport, sink)
    socket = MultiplexSocket(ctx, node, transport, "127.0.0.1", principal, "publisher")
    socket.begin(b"")
    # As the server runs (commands/running.py): the collector tuned, survivors frozen.
    tune_gc()
    collector = CollectorPolicy(loop)
    collector.start()
    return PublishPath(node, socket, sink, rooms, collector)


def calls_per_message(profile: cProfile.Profile, messages: int) -> tuple[float, float]:
    """(every call, Python functions only) a message, from a profile of ``messages``."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    every = sum(entry[1] for entry in stats.values())
    python = sum(entry[1] for (path, _, _), entry in stats.items() if not path.startswith("~"))
    return every / messages, python / messages


async def run(args: argparse.Namespace) -> None:
    path = await build(args.rooms, args.members)
    try:
        await measure(path, args)
    finally:
        path.collector.stop()
        path.socket.connection_lost(None)
        await path.node.stop()


async def measure(path: PublishPath, args: argparse.Namespace) -> None:
    for batch in (int(size) for size in args.batch.split(",")):
        await path.publish(path.reads(args.messages // 2, batch), batch)  # warm: rooms' caches
        spent = []
        for _ in range(args.rounds):
            spent.append(await path.publish(path.reads(args.messages, batch), batch))
        spent.sort()
        reads = path.reads(args.messages, batch)
        profile = cProfile.Profile()
        profile.enable()
        await path.publish(reads, batch)
        profile.disable()
        every, python = calls_per_message(profile, args.messages // batch * batch)
        print(
            f"{batch:5d} a commit: {spent[0] * 1e6:6.2f} us a message (median"
            f" {spent[len(spent) // 2] * 1e6:.2f}), {every:6.1f} calls a message"
            f" ({python:.1f} Python)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.publish_cpu",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--batch", default="1,10,40", help="messages a commit, comma-separated")
    parser.add_argument("--messages", type=int, default=4000, help="measured per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--members", type=int, default=9, help="subscribers a room")
    args = parser.parse_args(argv)
    uvloop.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
