"""Rooms that load in the same loop iteration read their bounds in one store read
(issue 19: a reconnect storm subscribes thousands of rooms at once)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hubbub.broker.memory import MemoryBroker
from hubbub.hub.hub import BOUNDS_BATCH, BOUNDS_GAP, Hub
from hubbub.hub.room import Room
from hubbub.protocol.cursors import Bounds
from hubbub.protocol.messages import Publish
from hubbub.stats import Stats
from hubbub.store import MemoryStore, Stamped
from hubbub.store.base import Store


class CountingStore(MemoryStore):
    """A real memory store that counts how it is read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[list[str]] = []

    async def bounds(self, room: str) -> Bounds:
        self.reads.append([room])
        return await super().bounds(room)

    async def bounds_many(self, rooms: Sequence[str]) -> dict[str, Bounds]:
        self.reads.append(list(rooms))
        return {room: await MemoryStore.bounds(self, room) for room in rooms}


def hub_on(store: Store) -> Hub:
    hub = Hub(store, MemoryBroker(), Stats(), shared=False, retain=None, room_idle=60.0)
    hub.start(asyncio.get_running_loop())
    return hub


async def test_rooms_loading_together_take_one_read() -> None:
    store = CountingStore()
    await store.append([Stamped(Publish("g1", "alice", "hi", None), ts=1)])
    hub = hub_on(store)
    names = [f"p{i}" for i in range(BOUNDS_BATCH - 1)] + ["g1"]
    rooms = await asyncio.gather(*(hub.acquire(name) for name in names))
    assert [room.name for room in rooms] == names
    assert store.reads == [names]
    assert rooms[-1].bounds.last_id == 1
    # A room loaded later is a read of its own; one already loaded is no read at all.
    await hub.acquire("later")
    await hub.acquire("g1")
    assert store.reads[1:] == [["later"]]
    await hub.close()


async def test_a_storm_of_rooms_is_read_a_batch_at_a_time() -> None:
    """Each read's end wakes its rooms' streams in one go: no read holds more than
    BOUNDS_BATCH rooms, so that run of callbacks stays short; none is left out."""
    store = CountingStore()
    hub = hub_on(store)
    names = [f"p{i}" for i in range(2 * BOUNDS_BATCH + 10)]
    rooms = await asyncio.gather(*(hub.acquire(name) for name in names))
    assert [room.name for room in rooms] == names
    assert store.reads == [
        names[:BOUNDS_BATCH],
        names[BOUNDS_BATCH : 2 * BOUNDS_BATCH],
        names[2 * BOUNDS_BATCH :],
    ]
    await hub.close()


async def test_a_failed_read_fails_every_room_of_it() -> None:
    class FailingStore(CountingStore):
        async def bounds_many(self, rooms: Sequence[str]) -> dict[str, Bounds]:
            raise OSError("disk gone")

    hub = hub_on(FailingStore())
    results = await asyncio.gather(hub.acquire("a"), hub.acquire("b"), return_exceptions=True)
    assert [type(result) for result in results] == [OSError, OSError]
    assert hub.rooms == {}
    await hub.close()


async def test_rooms_asked_for_during_a_read_are_read_together_after_it() -> None:
    class SlowStore(CountingStore):
        """Its first read waits until let go: rooms keep being asked for meanwhile."""

        def __init__(self) -> None:
            super().__init__()
            self.reading = asyncio.Event()
            self.let_go = asyncio.Event()

        async def bounds_many(self, rooms: Sequence[str]) -> dict[str, Bounds]:
            self.reading.set()
            if len(self.reads) == 0:
                await self.let_go.wait()
            return await super().bounds_many(rooms)

    store = SlowStore()
    hub = hub_on(store)
    first = asyncio.ensure_future(hub.acquire("a"))
    await asyncio.wait_for(store.reading.wait(), 5)
    later: list[asyncio.Future[Room]] = []
    for name in ("b", "c", "d"):  # each in a loop iteration of its own
        later.append(asyncio.ensure_future(hub.acquire(name)))
        await asyncio.sleep(0)
    assert store.reads == []  # the first read is still in flight
    store.let_go.set()
    rooms = await asyncio.wait_for(asyncio.gather(first, *later), 5)
    assert [room.name for room in rooms] == ["a", "b", "c", "d"]
    assert store.reads == [["a"], ["b", "c", "d"]]
    await hub.acquire("e")  # reads went idle: the next room is read at once
    assert store.reads[2:] == [["e"]]
    await hub.close()


async def test_a_load_holds_no_task_and_a_failed_one_leaves_the_broker() -> None:
    """With a broker that subscribes at once (one node), a room's load is a future its
    bounds' read completes, not a task; a failed read leaves the broker again, and the
    next load (once the store reads) subscribes and loads afresh."""

    class OnceFailingStore(CountingStore):
        async def bounds_many(self, rooms: Sequence[str]) -> dict[str, Bounds]:
            if not self.reads:
                self.reads.append(list(rooms))
                raise OSError("disk gone")
            return await super().bounds_many(rooms)

    bus_broker = MemoryBroker()
    hub = Hub(OnceFailingStore(), bus_broker, Stats(), shared=False, retain=None, room_idle=60)
    hub.start(asyncio.get_running_loop())
    before = asyncio.all_tasks()
    loading = hub.load("a")
    assert not isinstance(loading, asyncio.Task) and asyncio.all_tasks() == before
    assert bus_broker._bus.rooms == {"a": 1}  # subscribed before the bounds are read
    done, _ = await asyncio.wait([loading], timeout=5)
    assert done and isinstance(loading.exception(), OSError)
    assert hub.rooms == {}
    for _ in range(100):  # the unsubscribe runs in a task of its own
        if not bus_broker._bus.rooms:
            break
        await asyncio.sleep(0)
    assert bus_broker._bus.rooms == {}
    room = await asyncio.wait_for(hub.acquire("a"), 5)
    assert hub.loaded("a") is room and bus_broker._bus.rooms == {"a": 1}
    await hub.close()


class GateStore(CountingStore):
    """Each read is counted when it starts and ends only once the gate is open."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def bounds_many(self, rooms: Sequence[str]) -> dict[str, Bounds]:
        self.reads.append(list(rooms))
        await self.gate.wait()
        return {room: await MemoryStore.bounds(self, room) for room in rooms}


async def read_started(store: CountingStore, reads: int) -> None:
    for _ in range(100):
        if len(store.reads) >= reads:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"no read {reads} in 100 loop iterations: {store.reads}")


async def test_while_rooms_keep_coming_the_next_read_waits_to_hold_more() -> None:
    """A read's end with rooms waiting starts the next one BOUNDS_GAP later, holding
    those asked for in between too (a read costs about the same for 3 rooms or 12); a
    room asked for while reads are idle is read in the next loop iteration."""
    store = GateStore()
    hub = hub_on(store)
    loop = asyncio.get_running_loop()
    first = hub.load("a")
    await read_started(store, 1)  # idle: read at once
    second = hub.load("b")  # asked for during the read of "a"
    store.gate.set()
    await asyncio.wait_for(asyncio.shield(first), 5)
    ended = loop.time()
    third = hub.load("c")  # after that read's end: read with "b"
    await asyncio.wait_for(asyncio.gather(second, third), 5)
    assert store.reads == [["a"], ["b", "c"]]
    assert loop.time() - ended >= BOUNDS_GAP - 0.001  # (the loop's clock: whole ms)
    await asyncio.wait_for(hub.acquire("d"), 5)  # idle again: at once
    assert store.reads[2:] == [["d"]]
    await hub.close()


async def test_a_close_between_reads_cancels_the_rooms_waiting() -> None:
    store = GateStore()
    hub = hub_on(store)
    first = hub.load("a")
    await read_started(store, 1)
    second = hub.load("b")
    store.gate.set()
    await asyncio.wait_for(asyncio.shield(first), 5)  # "b" now waits for the gap
    await hub.close()
    await asyncio.wait([second], timeout=5)
    assert second.cancelled() and store.reads == [["a"]]
