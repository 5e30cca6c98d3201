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
        self.rooms: dict[str, set[MemoryBroker]] = {}


class MemoryBroker:
    """A node's seat on a :class:`MemoryBus` (its own bus when none is given)."""

    def __init__(self, bus: MemoryBus | None = None) -> None:
        self._bus = bus if bus is not None else MemoryBus()
        self._deliver: Deliver | None = None
        self._rooms: set[str] = set()

    async def start(self, deliver: Deliver, on_resync: Resync) -> None:
        self._deliver = deliver

    async def close(self) -> None:
        for room in tuple(self._rooms):
            await self.unsubscribe(room)
        self._deliver = None

    async def subscribe(self, room: str) -> None:
        self._rooms.add(room)
        self._bus.rooms.setdefault(room, set()).add(self)

    async def unsubscribe(self, room: str) -> None:
        self._rooms.discard(room)
        listeners = self._bus.rooms.get(room)
        if listeners is not None:
            listeners.discard(self)
            if not listeners:
                del self._bus.rooms[room]

    def publish(self, room: str, epoch: str, messages: Sequence[Message]) -> None:
        listeners = self._bus.rooms.get(room)
        if not listeners:
            return
        for broker in tuple(listeners):
            if broker is not self and broker._deliver is not None:
                broker._deliver(room, epoch, messages)

    def healthy(self) -> bool:
        return True
