"""The operations page's busiest rooms, as the recorder finds them among many loaded
rooms (issue 19: 16,500 followed rooms made a pass over them all a 10 ms stall a second;
the most followed are now found in C): rooms with messages first, then the most
followed, long polls' waiters counted."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hubbub.broker import MemoryBroker
from hubbub.hub import Hub, Outbox, Stream
from hubbub.ops import limits
from hubbub.ops.sample import busiest_rooms
from hubbub.presence.memory import MemoryPresence
from hubbub.principal import ANONYMOUS
from hubbub.protocol.encoding import WS
from hubbub.recorder import Recorder
from hubbub.settings import Settings
from hubbub.stats import Stats
from hubbub.store import MemoryStore
from tests.test_fanout import socket_pair


async def test_busiest_rooms_among_many_followed_rooms() -> None:
    store, stats = MemoryStore(), Stats()
    hub = Hub(store, MemoryBroker(), stats, retain=None, room_idle=30.0)
    hub.start(asyncio.get_running_loop())
    presence = MemoryPresence(grace=5.0)
    recorder = Recorder(Settings(store="memory"), stats, hub, presence, store)
    names = [f"p{i}" for i in range(40)] + ["crowd", "polled", "busy", "idle"]
    for name in names:
        await hub.acquire(name)
    assert hub.scheduler is not None
    async with socket_pair() as (transport, _sock):
        outbox = Outbox(transport, hub.scheduler, limit=1 << 20, on_overflow=lambda: None)
        followers = {f"p{i}": 1 for i in range(40)} | {"crowd": 3}
        for name, count in followers.items():
            room = hub.loaded(name)
            assert room is not None
            for _ in range(count):
                room.join(Stream(name, WS, outbox, ANONYMOUS, 0.0))
        polled = hub.loaded("polled")
        assert polled is not None
        loop = asyncio.get_running_loop()
        polled.add_waiter(loop.create_future())
        polled.add_waiter(loop.create_future())
        stats.room_messages.update({"busy": 4, "gone": 1})  # "gone" is not loaded here
        rows = recorder._busiest_rooms(2.0)
    assert [(row.name, row.messages, row.subscribers) for row in rows[:4]] == [
        ("busy", 2.0, 0),
        ("gone", 0.5, 0),
        ("crowd", 0.0, 3),
        ("polled", 0.0, 2),
    ]
    assert len(rows) == 10 and all(row.subscribers == 1 for row in rows[4:])
    assert "idle" not in {row.name for row in rows}
    await hub.close()


async def test_open_files_are_counted_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Listing /proc/self/fd of a server with 15,000 sockets takes tens of milliseconds:
    the loop goes on running while it is counted (it waits here for a loop callback)."""
    store, stats = MemoryStore(), Stats()
    hub = Hub(store, MemoryBroker(), stats, retain=None, room_idle=30.0)
    hub.start(asyncio.get_running_loop())
    recorder = Recorder(Settings(store="memory"), stats, hub, MemoryPresence(grace=5.0), store)
    loop_ran = threading.Event()
    count_files = limits.open_files

    def open_files_once_the_loop_ran() -> int | None:
        assert loop_ran.wait(5.0), "the loop did not run while files were counted"
        return count_files()

    monkeypatch.setattr(limits, "open_files", open_files_once_the_loop_ran)
    reading = asyncio.ensure_future(recorder._read_limits())
    await asyncio.sleep(0)
    asyncio.get_running_loop().call_soon(loop_ran.set)
    found = {limit.name: limit for limit in await asyncio.wait_for(reading, 10.0)}
    assert found["files"].used > 0
    await hub.close()


async def test_busiest_rooms_among_many_rooms_with_messages_are_exact() -> None:
    """With ten or more rooms with messages, only those with at least the tenth most are
    ranked: the rows are those a ranking of every room gives, ties included."""
    store, stats = MemoryStore(), Stats()
    hub = Hub(store, MemoryBroker(), stats, retain=None, room_idle=30.0)
    hub.start(asyncio.get_running_loop())
    recorder = Recorder(Settings(store="memory"), stats, hub, MemoryPresence(grace=5.0), store)
    names = [f"r{i:03}" for i in range(300)]
    for name in names:
        await hub.acquire(name)
    assert hub.scheduler is not None
    async with socket_pair() as (transport, _sock):
        outbox = Outbox(transport, hub.scheduler, limit=1 << 20, on_overflow=lambda: None)
        for i, name in enumerate(names):
            room = hub.loaded(name)
            assert room is not None
            for _ in range(i % 7):  # ties in messages broken by followers, then by name
                room.join(Stream(name, WS, outbox, ANONYMOUS, 0.0))
        counts = {name: 1 + i % 4 for i, name in enumerate(names)}  # 75 rooms tie at 4
        followed = {n: r.live_count for n, r in hub.rooms.items() if r.live_count}
        expected = busiest_rooms(counts, followed, 2.0)
        stats.room_messages.update(counts)
        rows = recorder._busiest_rooms(2.0)
    assert [(r.name, r.messages, r.subscribers) for r in rows] == [
        (r.name, r.messages, r.subscribers) for r in expected
    ]
    assert rows[0].messages == 2.0 and rows[0].subscribers == 6
    await hub.close()
