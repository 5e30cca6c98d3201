"""How a stream opens (issue 19): one whose room is loaded and whose catch-up is in the
room's cache goes live in the step that asks for it; one whose room is loading waits
with a callback; neither holds a task. Anything else (a store read) still catches up in
a task, and every path delivers every message once, in order."""

from __future__ import annotations

import asyncio
import socket

import orjson

from hubbub.broker import MemoryBroker
from hubbub.hub import RECENT_CACHE, FlushScheduler, Hub, Outbox, Stream
from hubbub.presence.memory import MemoryPresence
from hubbub.principal import ANONYMOUS
from hubbub.protocol.cursors import Cursor
from hubbub.protocol.encoding import WS, EncodedMessage
from hubbub.protocol.messages import Message, Publish
from hubbub.reads import Reads
from hubbub.stats import Stats
from hubbub.store import MemoryStore, Stamped
from hubbub.streams import Streams
from tests.test_fanout import socket_pair


class Opened:
    """A hub, streams and presence over a memory store, as a node wires them."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.stats = Stats()
        self.hub = Hub(self.store, MemoryBroker(), self.stats, retain=None, room_idle=30.0)
        self.hub.start(asyncio.get_running_loop())
        self.presence = MemoryPresence(grace=5.0)
        self.presence.start(lambda room, joined, left: None)
        reads = Reads(self.hub, self.store, self.stats)
        self.streams = Streams(self.hub, reads, self.stats, self.presence)
        self.ended: list[str] = []

    @property
    def scheduler(self) -> FlushScheduler:
        assert self.hub.scheduler is not None
        return self.hub.scheduler

    async def publish(self, room: str, count: int) -> None:
        stamped = [Stamped(Publish(room, "u", f"m{i}", None), ts=i) for i in range(count)]
        appended = await self.store.append(stamped)
        epoch = (await self.store.bounds(room)).epoch
        self.hub.apply(room, epoch, [EncodedMessage(a.message, epoch) for a in appended])

    def finished(self, stream: Stream, reason: str) -> None:
        self.ended.append(reason)

    def start(self, transport: asyncio.Transport, room: str, cursor: Cursor | None) -> Stream:
        outbox = Outbox(transport, self.scheduler, limit=1 << 20, on_overflow=lambda: None)
        stream = Stream(room, WS, outbox, ANONYMOUS, 0.0)

        async def drain() -> None:
            return None

        self.streams.start(stream, cursor, drain, self.finished)
        return stream


async def frames_from(sock: socket.socket, count: int) -> list[dict[str, object]]:
    """The first ``count`` text frames the server wrote to ``sock`` (unmasked, short)."""
    loop = asyncio.get_running_loop()
    data = b""
    frames: list[dict[str, object]] = []
    async with asyncio.timeout(5):
        while len(frames) < count:
            data += await loop.sock_recv(sock, 65536)
            while len(data) >= 2:
                size = data[1] & 0x7F
                head = 2
                if size == 126:
                    size, head = int.from_bytes(data[2:4]), 4
                if len(data) < head + size:
                    break
                frames.append(orjson.loads(data[head : head + size]))
                data = data[head + size :]
    return frames


def tasks_now() -> set[asyncio.Task[object]]:
    return asyncio.all_tasks()


async def test_a_loaded_room_with_a_cached_catch_up_is_live_in_the_same_step() -> None:
    opened = Opened()
    await opened.hub.acquire("r")  # loaded (and kept: pinned by this test)
    await opened.publish("r", 3)  # in the room's cache
    room = opened.hub.loaded("r")
    assert room is not None
    async with socket_pair() as (transport, sock):
        before = tasks_now()
        stream = opened.start(transport, "r", Cursor(since=1, epoch=room.bounds.epoch))
        # No await in between: live, no task made for it.
        assert stream in room.streams[WS]
        assert tasks_now() == before
        frames = await frames_from(sock, 4)
        assert [f["type"] for f in frames] == ["ready", "message", "message", "presence"]
        assert [f["message"]["id"] for f in frames[1:3]] == [2, 3]  # type: ignore[index]
        await opened.publish("r", 1)  # live from here
        (live,) = await frames_from(sock, 1)
        assert live["message"]["id"] == 4  # type: ignore[index]
        stream.end("gone")
        await asyncio.sleep(0)
        assert opened.ended == ["gone"] and stream not in room.streams[WS]


async def test_streams_waiting_for_their_room_hold_no_task_and_all_go_live() -> None:
    opened = Opened()
    await opened.publish("r", 2)
    async with socket_pair() as (t1, s1), socket_pair() as (t2, s2):
        before = tasks_now()
        first = opened.start(t1, "r", None)
        second = opened.start(t2, "r", Cursor(since=0, epoch=None))
        # One load of the room, and no task for it (the memory broker subscribes at
        # once: the load is a future its bounds' read completes); none per stream.
        loading = opened.hub.load("r")
        assert not isinstance(loading, asyncio.Task)
        assert tasks_now() == before
        await asyncio.wait_for(asyncio.shield(loading), 5)
        await asyncio.sleep(0)
        room = opened.hub.loaded("r")
        assert room is not None and {first, second} <= room.streams[WS]
        one = await frames_from(s1, 2)
        two = await frames_from(s2, 4)
        assert [f["type"] for f in one] == ["ready", "presence"]
        assert [f["type"] for f in two] == ["ready", "message", "message", "presence"]


async def test_a_catch_up_past_the_cache_is_read_from_the_store_in_a_task() -> None:
    opened = Opened()
    total = 2 * RECENT_CACHE
    await opened.hub.acquire("r")
    await opened.publish("r", total)
    room = opened.hub.loaded("r")
    assert room is not None and room.recent[0].id > 1  # the oldest are not cached
    async with socket_pair() as (transport, sock):
        stream = opened.start(transport, "r", Cursor(since=0, epoch=room.bounds.epoch))
        assert stream not in room.streams.get(WS, set())  # not live yet: reading the store
        frames = await frames_from(sock, 1 + total + 1)
        ids = [f["message"]["id"] for f in frames if f["type"] == "message"]  # type: ignore[index]
        assert ids == list(range(1, total + 1))
        assert stream in room.streams[WS]


async def test_a_stream_ended_while_its_room_loads_is_finished_with_its_reason() -> None:
    opened = Opened()
    async with socket_pair() as (transport, _sock):
        stream = opened.start(transport, "r", None)
        stream.end("unsubscribed")
        await asyncio.wait_for(asyncio.shield(opened.hub.load("r")), 5)
        for _ in range(3):
            await asyncio.sleep(0)
        assert opened.ended == ["unsubscribed"]
        room = opened.hub.loaded("r")
        assert room is not None and not room.streams.get(WS) and room.pins == 0


async def test_opening_frames_precede_the_room_s_frames_of_the_same_step() -> None:
    """Two rooms opened on one connection, then a message in each, all in one step: each
    room's ready and presence come before its message (the opening frames are flushed
    before the rooms, the connection's both together)."""
    opened = Opened()
    for name in ("a", "b"):
        await opened.hub.acquire(name)
    async with socket_pair() as (transport, sock):
        outbox = Outbox(transport, opened.scheduler, limit=1 << 20, on_overflow=lambda: None)

        async def drain() -> None:
            return None

        for name in ("a", "b"):
            stream = Stream(name, WS, outbox, ANONYMOUS, 0.0)
            opened.streams.start(stream, None, drain, opened.finished)
        for name in ("a", "b"):  # committed in the same step: fanned out, not yet written
            room = opened.hub.loaded(name)
            assert room is not None
            epoch = room.bounds.epoch
            opened.hub.apply(name, epoch, [EncodedMessage(Message(1, name, "u", "hi", 0), epoch)])
        frames = await frames_from(sock, 6)
        assert [(f["type"], f.get("room")) for f in frames if f["type"] != "message"] == [
            ("ready", "a"),
            ("presence", "a"),
            ("ready", "b"),
            ("presence", "b"),
        ]
        assert [f["type"] for f in frames][4:] == ["message", "message"]


async def test_a_loaded_room_waits_for_its_connection_s_room_that_loads() -> None:
    """A storm's connection subscribes to its personal room (not loaded) and then to its
    group's (loaded): the group's stream waits for the other room, and both go live in
    the same step, so their opening frames leave in one flush (one write, not two)."""
    opened = Opened()
    await opened.hub.acquire("group")
    group = opened.hub.loaded("group")
    assert group is not None
    async with socket_pair() as (transport, sock):
        outbox = Outbox(transport, opened.scheduler, limit=1 << 20, on_overflow=lambda: None)

        async def drain() -> None:
            return None

        streams = [Stream(name, WS, outbox, ANONYMOUS, 0.0) for name in ("personal", "group")]
        for stream in streams:
            opened.streams.start(stream, None, drain, opened.finished)
        assert streams[1] not in group.streams.get(WS, set())  # waits for "personal"
        written = {outbox.sent}  # bytes written so far, seen after each loop step
        for _ in range(20):
            await asyncio.sleep(0)
            written.add(outbox.sent)
        personal = opened.hub.loaded("personal")
        assert personal is not None
        assert streams[0] in personal.streams[WS] and streams[1] in group.streams[WS]
        assert len(written - {0}) == 1  # both rooms' opening frames in one write
        frames = await frames_from(sock, 4)
        assert [(f["type"], f["room"]) for f in frames] == [
            ("ready", "personal"),
            ("presence", "personal"),
            ("ready", "group"),
            ("presence", "group"),
        ]
        assert opened.streams._opening == {}  # nothing kept once loaded


async def test_rooms_loading_in_different_reads_go_live_together() -> None:
    """The group's room was asked for first (another member), so it loads in an earlier
    store read than the connection's personal room: its stream waits for the other."""
    opened = Opened()
    opened.hub.load("group")  # another member's subscription: read first
    async with socket_pair() as (transport, sock):
        outbox = Outbox(transport, opened.scheduler, limit=1 << 20, on_overflow=lambda: None)

        async def drain() -> None:
            return None

        await asyncio.sleep(0)  # the group's read is in flight: the personal room's is next
        streams = [Stream(name, WS, outbox, ANONYMOUS, 0.0) for name in ("personal", "group")]
        for stream in streams:
            opened.streams.start(stream, None, drain, opened.finished)
        written = {outbox.sent}
        for _ in range(20):
            await asyncio.sleep(0)
            written.add(outbox.sent)
        group, personal = opened.hub.loaded("group"), opened.hub.loaded("personal")
        assert group is not None and personal is not None
        assert streams[0] in personal.streams[WS] and streams[1] in group.streams[WS]
        assert len(written - {0}) == 1  # one write for both rooms' opening frames
        frames = await frames_from(sock, 4)
        ready = [str(f["room"]) for f in frames if f["type"] == "ready"]
        assert sorted(ready) == ["group", "personal"]
        assert opened.streams._opening == {}
