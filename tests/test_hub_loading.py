"""Rooms that load in the same loop iteration read their bounds in one store read
(issue 19: a reconnect storm subscribes thousands of rooms at once)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hubbub.broker.memory import MemoryBroker
from hubbub.hub.hub import Hub
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
    names = [f"p{i}" for i in range(200)] + ["g1"]
    rooms = await asyncio.gather(*(hub.acquire(name) for name in names))
    assert [room.name for room in rooms] == names
    assert store.reads == [names]
    assert rooms[-1].bounds.last_id == 1
    # A room loaded later is a read of its own; one already loaded is no read at all.
    await hub.acquire("later")
    await hub.acquire("g1")
    assert store.reads[1:] == [["later"]]
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
