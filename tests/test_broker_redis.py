"""The Redis broker on a real redis-server: delivery between nodes, and dropped connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hubbub import redis_layout as layout
from hubbub.broker.redis import RedisBroker
from hubbub.protocol.messages import Message, Publish
from hubbub.store.base import Stamped
from hubbub.store.redis import RedisStore
from tests.redis_server import RedisServer, needs_redis, running_redis

pytestmark = needs_redis
WAIT = 10.0  # bound on every wait for a delivery or a reconnection


@dataclass
class Node:
    """One node's view of a broker: what it delivered, in order, and its resyncs."""

    broker: RedisBroker
    received: asyncio.Queue[tuple[str, str, list[Message]]] = field(default_factory=asyncio.Queue)
    resyncs: asyncio.Queue[None] = field(default_factory=asyncio.Queue)

    def deliver(self, room: str, epoch: str, messages: Sequence[Message]) -> None:
        self.received.put_nowait((room, epoch, list(messages)))

    async def start(self) -> Node:
        await self.broker.start(self.deliver, lambda: self.resyncs.put_nowait(None))
        return self

    async def next(self) -> tuple[str, str, list[int]]:
        async with asyncio.timeout(WAIT):
            room, epoch, messages = await self.received.get()
        return room, epoch, [m.id for m in messages]


@pytest.fixture
async def store(redis: RedisServer) -> AsyncIterator[RedisStore]:
    opened = RedisStore([redis.url])
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
async def node(redis: RedisServer) -> AsyncIterator[Node]:
    started = await Node(RedisBroker([redis.url], ping_interval=1.0)).start()
    yield started
    await started.broker.close()


async def append(store: RedisStore, room: str, *texts: str) -> list[int]:
    results = await store.append([Stamped(Publish(room, "bob", text), ts=1) for text in texts])
    return [r.message.id for r in results]


async def test_store_publish_reaches_every_subscribed_node(
    redis: RedisServer, store: RedisStore, node: Node
) -> None:
    """The append script's publish arrives at two brokers, whole, in id order, with the epoch."""
    other = await Node(RedisBroker([redis.url])).start()
    await node.broker.subscribe("r")
    await other.broker.subscribe("r")
    await append(store, "r", "a", "b")
    await append(store, "r", "c")
    epoch = (await store.bounds("r")).epoch
    for receiver in (node, other):
        assert await receiver.next() == ("r", epoch, [1, 2])
        assert await receiver.next() == ("r", epoch, [3])
    await other.broker.close()


async def test_broker_publishes_when_the_store_does_not(redis: RedisServer, node: Node) -> None:
    """store_publishes=False: ``publish`` carries the messages itself, byte-identical fields."""
    sender = await Node(RedisBroker([redis.url], store_publishes=False)).start()
    await node.broker.subscribe("r")
    sent = [Message(7, "r", "ann", "hi\n\u00e9", 123, "c7"), Message(8, "r", "ann", "x", 124)]
    sender.broker.publish("r", "E1", sent)
    async with asyncio.timeout(WAIT):
        assert await node.received.get() == ("r", "E1", sent)
    await sender.broker.close()


async def test_subscribes_only_to_the_rooms_asked_for(
    redis: RedisServer, store: RedisStore, node: Node
) -> None:
    """Redis holds the node's subscriptions for asked rooms only; others never reach it."""
    await node.broker.subscribe("wanted")
    channels = await redis.command("PUBSUB", "CHANNELS", "hubbub:{*}:ch")
    assert channels == [layout.channel("wanted").encode()]
    await append(store, "other", "x")
    await append(store, "wanted", "y")  # same connection, so "other" would have come first
    assert (await node.next())[0] == "wanted"
    await node.broker.unsubscribe("wanted")
    async with asyncio.timeout(WAIT):
        while await redis.command("PUBSUB", "CHANNELS", "hubbub:{*}:ch"):
            await asyncio.sleep(0.01)
    assert node.received.empty()


async def test_client_kill_resyncs_and_delivery_resumes(
    redis: RedisServer, store: RedisStore, node: Node
) -> None:
    """CLIENT KILL TYPE pubsub: the broker reconnects, resubscribes, resyncs once, delivers."""
    await node.broker.subscribe("r")
    await append(store, "r", "before")
    assert (await node.next())[2] == [1]
    killed = await redis.command("CLIENT", "KILL", "TYPE", "pubsub")
    assert killed == 1
    async with asyncio.timeout(WAIT):
        await node.resyncs.get()
    assert node.broker.healthy()
    await append(store, "r", "after")
    assert (await node.next())[2] == [2]
    assert node.resyncs.empty()


async def test_redis_restart_reconnects_by_itself(
    redis: RedisServer, store: RedisStore, node: Node
) -> None:
    """Redis down: the broker is unhealthy; Redis back: it resubscribes, resyncs, delivers."""
    await node.broker.subscribe("r")
    await redis.stop(kill=True)
    async with asyncio.timeout(WAIT):
        while node.broker.healthy():
            await asyncio.sleep(0.01)
    await node.broker.subscribe("late")  # asked while down: subscribed on reconnection
    await redis.start()
    async with asyncio.timeout(WAIT):
        await node.resyncs.get()
    assert node.broker.healthy()
    await append(store, "late", "x")
    assert await node.next() == ("late", (await store.bounds("late")).epoch, [1])


async def test_rooms_on_two_shards(tmp_path: Path) -> None:
    """With two URLs each room is heard on the shard its store writes to."""
    async with (
        running_redis(tmp_path / "a") as first,
        running_redis(tmp_path / "b") as second,
    ):
        urls = [first.url, second.url]
        store = RedisStore(urls)
        await store.open()
        node = await Node(RedisBroker(urls)).start()
        rooms = ["r0", "r1", "r2", "r3"]
        assert {layout.shard_of(room, 2) for room in rooms} == {0, 1}
        for room in rooms:
            await node.broker.subscribe(room)
            await append(store, room, "x")
        heard = {(await node.next())[0] for _ in rooms}
        assert heard == set(rooms)
        await node.broker.close()
        await store.close()
