"""The hub's per-room sequencer: only last_id + 1 is applied; holes are filled from the store."""

from __future__ import annotations

import asyncio

from hubbub.broker import MemoryBroker
from hubbub.hub import Hub, Room
from hubbub.protocol.encoding import EncodedMessage
from hubbub.protocol.messages import Publish
from hubbub.stats import Stats
from hubbub.store import MemoryStore, Stamped


async def store_with(count: int) -> MemoryStore:
    store = MemoryStore()
    await store.append([Stamped(Publish("r", "u", f"m{i}"), 1) for i in range(count)])
    return store


async def loaded(store: MemoryStore, upto: int) -> tuple[Hub, Room]:
    """A hub whose room ``r`` was loaded when the store held ``upto`` messages."""
    hub = Hub(store, MemoryBroker(), Stats(), retain=None, room_idle=30.0)
    hub.start(asyncio.get_running_loop())
    room = await hub.acquire("r")
    assert room.bounds.last_id == upto
    return hub, room


async def encoded(store: MemoryStore, ids: list[int]) -> list[EncodedMessage]:
    rows = {m.id: m for m in await store.read_after("r", 0, 1000)}
    return [EncodedMessage(rows[i], store.epoch) for i in ids]


async def until_applied(room: Room, last_id: int) -> None:
    async with asyncio.timeout(5):
        while room.bounds.last_id != last_id or room.filling:
            await asyncio.sleep(0)


async def test_repeats_are_dropped_and_order_kept() -> None:
    """Ids at or below last_id are ignored; the next one is applied."""
    store = await store_with(0)
    hub, room = await loaded(store, 0)
    await store.append([Stamped(Publish("r", "u", f"m{i}"), 1) for i in range(3)])
    messages = await encoded(store, [1, 2, 1, 2, 3])
    hub.apply("r", store.epoch, messages)
    assert [m.id for m in room.recent] == [1, 2, 3]


async def test_a_hole_is_filled_from_the_store_before_later_messages() -> None:
    """Messages 4 and 5 arrive without 2 and 3: the sequencer reads 2 and 3, then applies."""
    store = await store_with(1)
    hub, room = await loaded(store, 1)
    await store.append([Stamped(Publish("r", "u", f"m{i}"), 1) for i in range(4)])
    hub.apply("r", store.epoch, await encoded(store, [4, 5]))
    assert room.filling  # waiting on the store, not jumping
    assert room.bounds.last_id == 1
    await until_applied(room, 5)
    assert [m.id for m in room.recent] == [2, 3, 4, 5]


async def test_messages_arriving_during_a_fill_wait_their_turn() -> None:
    """Out-of-order arrivals while a hole is filled are applied once, in order."""
    store = await store_with(0)
    hub, room = await loaded(store, 0)
    await store.append([Stamped(Publish("r", "u", f"m{i}"), 1) for i in range(6)])
    hub.apply("r", store.epoch, await encoded(store, [3]))
    hub.apply("r", store.epoch, await encoded(store, [6, 5]))
    hub.apply("r", store.epoch, await encoded(store, [4, 3]))
    await until_applied(room, 6)
    assert [m.id for m in room.recent] == [1, 2, 3, 4, 5, 6]


async def test_another_epoch_ends_the_room_when_the_store_agrees() -> None:
    """A message of a new epoch, confirmed by the store: the room is let go and reloaded."""
    store = await store_with(2)
    hub, room = await loaded(store, 2)
    store.epoch = "restarted"  # the log started over under the hub
    late = await encoded(store, [1])
    hub.apply("r", "restarted", late)
    async with asyncio.timeout(5):
        while not room.stale:
            await asyncio.sleep(0)
    fresh = await hub.acquire("r")
    assert fresh is not room and fresh.bounds.epoch == "restarted"


async def test_a_late_message_of_an_old_epoch_changes_nothing() -> None:
    """The store still has the room's epoch: the odd message is ignored."""
    store = await store_with(2)
    hub, room = await loaded(store, 2)
    hub.apply("r", "some-old-epoch", await encoded(store, [1]))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not room.stale and hub.rooms["r"] is room


async def test_idle_rooms_are_forgotten_and_loaded_again() -> None:
    """A room nobody uses is evicted after room_idle; the next use loads it again."""
    store = await store_with(3)
    hub, room = await loaded(store, 3)
    hub.release(room)
    hub.evict_idle(room.last_used + 29)
    assert hub.rooms.get("r") is room
    hub.evict_idle(room.last_used + 31)
    assert "r" not in hub.rooms
    again = await hub.acquire("r")
    assert again.bounds.last_id == 3
