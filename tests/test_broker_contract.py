"""One contract, every broker: what a node may rely on when rooms span nodes."""

from __future__ import annotations

from collections.abc import Sequence

from hubbub.broker import MemoryBroker, MemoryBus
from hubbub.protocol.messages import Message

Received = list[tuple[str, str, list[int]]]


def recorder(into: Received) -> tuple[object, object]:
    def deliver(room: str, epoch: str, messages: Sequence[Message]) -> None:
        into.append((room, epoch, [m.id for m in messages]))

    def resync() -> None:
        return None

    return deliver, resync


async def two_brokers() -> tuple[MemoryBroker, MemoryBroker, Received, Received]:
    bus = MemoryBus()
    a, b = MemoryBroker(bus), MemoryBroker(bus)
    got_a: Received = []
    got_b: Received = []
    for broker, into in ((a, got_a), (b, got_b)):
        deliver, resync = recorder(into)
        await broker.start(deliver, resync)  # type: ignore[arg-type]
    return a, b, got_a, got_b


def message(id_: int, room: str = "r") -> Message:
    return Message(id_, room, "u", "t", 0)


async def test_delivered_to_other_nodes_subscribed_to_the_room() -> None:
    """A publish reaches every other subscribed node, not the publisher itself."""
    a, b, got_a, got_b = await two_brokers()
    await a.subscribe("r")
    await b.subscribe("r")
    a.publish("r", "e", [message(1), message(2)])
    assert got_b == [("r", "e", [1, 2])]
    assert got_a == []
    await a.close()
    await b.close()


async def test_only_subscribed_rooms_are_delivered() -> None:
    """A node gets nothing for rooms it did not subscribe to, or has unsubscribed from."""
    a, b, _, got_b = await two_brokers()
    await b.subscribe("r")
    a.publish("other", "e", [message(1, "other")])
    await b.unsubscribe("r")
    a.publish("r", "e", [message(1)])
    assert got_b == []
    assert a.healthy() and b.healthy()
    await a.close()
    await b.close()
