"""One contract, every broker: what a node may rely on when rooms span nodes.

Run against the in-process bus and against Redis pub/sub (the Redis broker that publishes
itself, as it does for the SQLite store; with the Redis store the append script publishes).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hubbub.broker import Broker, MemoryBroker, MemoryBus
from hubbub.broker.redis import RedisBroker
from hubbub.protocol.messages import Message
from tests.redis_server import needs_redis, running_redis

WAIT = 10.0


@dataclass
class Receiver:
    """One node's broker and what it delivered, in order."""

    broker: Broker
    received: list[tuple[str, str, list[int]]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def deliver(self, room: str, epoch: str, messages: Sequence[Message]) -> None:
        self.received.append((room, epoch, [m.id for m in messages]))
        self.arrived.set()

    async def until(self, room: str) -> list[tuple[str, str, list[int]]]:
        """Everything delivered up to and including the first delivery of ``room``."""
        async with asyncio.timeout(WAIT):
            while not any(got[0] == room for got in self.received):
                self.arrived.clear()
                await self.arrived.wait()
        return self.received


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
async def nodes(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Receiver, Receiver]]:
    """Two nodes' brokers on one bus (one MemoryBus, or one redis-server)."""
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "memory":
            bus = MemoryBus()
            pair = Receiver(MemoryBroker(bus)), Receiver(MemoryBroker(bus))
        else:
            url = (await stack.enter_async_context(running_redis(tmp_path / "redis"))).url
            pair = (
                Receiver(RedisBroker([url], store_publishes=False)),
                Receiver(RedisBroker([url], store_publishes=False)),
            )
        for node in pair:
            await node.broker.start(node.deliver, lambda: None)
            stack.push_async_callback(node.broker.close)
        yield pair


def message(id_: int, room: str = "r") -> Message:
    return Message(id_, room, "u", "t", 0)


async def test_delivered_to_other_nodes_subscribed_to_the_room(
    nodes: tuple[Receiver, Receiver],
) -> None:
    """A publish reaches every other subscribed node whole and in order, with its epoch."""
    a, b = nodes
    await a.broker.subscribe("r")
    await b.broker.subscribe("r")
    a.broker.publish("r", "e", [message(1), message(2)])
    a.broker.publish("r", "e", [message(3)])
    await b.broker.subscribe("end")
    a.broker.publish("end", "e", [message(1, "end")])
    assert await b.until("end") == [("r", "e", [1, 2]), ("r", "e", [3]), ("end", "e", [1])]
    # The publisher may hear its own messages (Redis does) or not (the bus): never others.
    assert a.received in ([], [("r", "e", [1, 2]), ("r", "e", [3])])


async def test_only_subscribed_rooms_are_delivered(nodes: tuple[Receiver, Receiver]) -> None:
    """A node gets nothing for rooms it did not subscribe to, or has unsubscribed from."""
    a, b = nodes
    await b.broker.subscribe("r")
    a.broker.publish("other", "e", [message(1, "other")])
    await b.broker.unsubscribe("r")
    a.broker.publish("r", "e", [message(1)])
    # Published after the others on the same path: had they been delivered, they came first.
    await b.broker.subscribe("end")
    a.broker.publish("end", "e", [message(1, "end")])
    assert await b.until("end") == [("end", "e", [1])]
    assert a.broker.healthy() and b.broker.healthy()
