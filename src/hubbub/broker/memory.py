"""The in-process broker: nodes that share one :class:`MemoryBus` share rooms.

One server uses a bus of its own (nothing to carry, so publishing costs one
dictionary lookup). Tests put several nodes on one bus, with one store, to run
the multi-node rules in one process; the broker contract suite runs against
this and every other broker.
"""

from __future__ import annotations

from collections.abc import Sequence

from hubbub.broker.base import Deliver, Resync
from hubbub.protocol.messages import Message


class MemoryBus:
    """Who listens to which room, across the brokers of one process."""

    def __init__(self) -> None:
        self.brokers: list[MemoryBroker] = []
        # How many of them listen to each room. Counts, not a set of brokers per room:
        # a dict of names and numbers is not tracked by the collector (issue 19: one
        # room loaded per user would otherwise be one more set each).
        self.rooms: dict[str, int] = {}


class MemoryBroker:
    """A node's seat on a :class:`MemoryBus` (its own bus when none is given)."""

    def __init__(self, bus: MemoryBus | None = None) -> None:
        self._bus = bus if bus is not None else MemoryBus()
        self._deliver: Deliver | None = None
        self._rooms: set[str] = set()

    async def start(self, deliver: Deliver, on_resync: Resync) -> None:
        self._deliver = deliver
        if self not in self._bus.brokers:
            self._bus.brokers.append(self)

    async def close(self) -> None:
        for room in tuple(self._rooms):
            await self.unsubscribe(room)
        self._deliver = None
        if self in self._bus.brokers:
            self._bus.brokers.remove(self)

    async def subscribe(self, room: str) -> None:
        self.subscribe_now(room)

    def subscribe_now(self, room: str) -> bool:
        """In memory, a subscription holds from the moment it is made."""
        if room not in self._rooms:
            self._rooms.add(room)
            rooms = self._bus.rooms
            rooms[room] = rooms.get(room, 0) + 1
        return True

    async def unsubscribe(self, room: str) -> None:
        if room in self._rooms:
            self._rooms.discard(room)
            rooms = self._bus.rooms
            left = rooms[room] - 1
            if left:
                rooms[room] = left
            else:
                del rooms[room]

    def publish(self, room: str, epoch: str, messages: Sequence[Message]) -> None:
        listeners = self._bus.rooms.get(room, 0)
        if listeners <= (room in self._rooms):
            return  # nobody, or only this node: one lookup, as one server always is
        for broker in tuple(self._bus.brokers):
            if broker is not self and room in broker._rooms and broker._deliver is not None:
                broker._deliver(room, epoch, messages)

    def healthy(self) -> bool:
        return True
