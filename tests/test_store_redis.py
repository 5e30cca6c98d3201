"""The Redis store on a real redis-server: two nodes, one log, and the faults."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hubbub import redis_layout as layout
from hubbub.errors import StoreError
from hubbub.protocol.messages import Publish
from hubbub.store.base import Stamped
from hubbub.store.redis import RedisStore
from tests.redis_server import RedisServer, needs_redis, running_redis

pytestmark = needs_redis


@pytest.fixture
async def store(redis: RedisServer) -> AsyncIterator[RedisStore]:
    opened = RedisStore([redis.url], retain=None)
    await opened.open()
    yield opened
    await opened.close()


def stamped(room: str, text: str, client_id: str | None = None) -> Stamped:
    return Stamped(Publish(room, "alice", text, client_id), ts=1)


async def test_ids_gapless_under_concurrent_appends_from_two_nodes(redis: RedisServer) -> None:
    """Two stores (two nodes) appending to one room at once get ids 1..N, each exactly once."""
    nodes = [RedisStore([redis.url]), RedisStore([redis.url])]
    for node in nodes:
        await node.open()

    async def publish_many(node: RedisStore, name: str) -> list[int]:
        ids = []
        for i in range(50):
            batch = [stamped("r", f"{name}{i}a"), stamped("r", f"{name}{i}b")]
            ids += [a.message.id for a in await node.append(batch)]
        return ids

    first, second = await asyncio.gather(publish_many(nodes[0], "x"), publish_many(nodes[1], "y"))
    assert sorted(first + second) == list(range(1, 201))
    assert first == sorted(first) and second == sorted(second)  # a batch keeps its order
    stored = await nodes[1].read_after("r", 0, 1000)
    assert [m.id for m in stored] == list(range(1, 201))
    assert {m.text for m in stored} == {f"{n}{i}{h}" for n in "xy" for i in range(50) for h in "ab"}
    for node in nodes:
        await node.close()


async def test_client_id_idempotent_across_nodes(redis: RedisServer) -> None:
    """A retry on another node, and a repeat inside one batch, answer with the original."""
    one, two = RedisStore([redis.url]), RedisStore([redis.url])
    await one.open()
    await two.open()
    original = (await one.append([stamped("r", "hello", "c1")]))[0]
    again = await two.append([stamped("r", "changed", "c1"), stamped("r", "new", "c2")])
    assert again[0].message == original.message and not again[0].created
    assert again[1].created and again[1].message.id == 2
    twice = await two.append([stamped("r", "a", "c3"), stamped("r", "b", "c3")])
    assert [t.created for t in twice] == [True, False] and twice[1].message.text == "a"
    assert (await two.bounds("r")).last_id == 3
    await one.close()
    await two.close()


async def test_batch_over_rooms_keeps_order_and_epoch(store: RedisStore) -> None:
    """A batch touching several rooms answers in its own order, each room counting on its own."""
    results = await store.append(
        [stamped("a", "1"), stamped("b", "1"), stamped("a", "2"), stamped("a", "3")]
    )
    assert [(r.message.room, r.message.id) for r in results] == [
        ("a", 1),
        ("b", 1),
        ("a", 2),
        ("a", 3),
    ]
    assert results[0].epoch == (await store.bounds("a")).epoch
    assert [m.text for m in await store.read_before("a", 3, 10)] == ["1", "2"]


async def test_retention_keeps_exactly_the_newest(redis: RedisServer) -> None:
    """retain=3: the log keeps the newest three, and a retired client_id is forgotten with it."""
    store = RedisStore([redis.url], retain=3)
    await store.open()
    await store.append([stamped("r", "m1", "old")])
    await store.append([stamped("r", f"m{i}") for i in range(2, 7)])
    bounds = await store.bounds("r")
    assert (bounds.first_id, bounds.last_id) == (4, 6)
    assert [m.id for m in await store.read_after("r", 0, 10)] == [4, 5, 6]
    retry = (await store.append([stamped("r", "again", "old")]))[0]
    assert retry.created and retry.message.id == 7
    await store.close()


async def test_client_ids_bounded_without_retention(redis: RedisServer) -> None:
    """An unbounded log remembers only the newest ``client_id_window`` client ids."""
    store = RedisStore([redis.url], client_id_window=2)
    await store.open()
    await store.append([stamped("r", t, t) for t in ("c1", "c2", "c3")])
    assert not (await store.append([stamped("r", "x", "c2")]))[0].created
    assert (await store.append([stamped("r", "x", "c1")]))[0].created
    await store.close()


async def test_epoch_exists_before_first_message_and_changes_after_flush(
    redis: RedisServer, store: RedisStore
) -> None:
    """An empty room's epoch is its first message's; FLUSHALL yields a new epoch and ids from 1."""
    empty = await store.bounds("r")
    assert (empty.first_id, empty.last_id) == (0, 0) and len(empty.epoch) == 12
    first = (await store.append([stamped("r", "one", "c1"), stamped("r", "two")]))[0]
    assert first.epoch == empty.epoch
    await redis.command("FLUSHALL")
    reset = await store.bounds("r")
    assert reset.epoch != empty.epoch and reset.last_id == 0
    after = (await store.append([stamped("r", "again", "c1")]))[0]
    assert after.created and after.message.id == 1 and after.epoch == reset.epoch


async def test_lost_meta_drops_the_stale_log(redis: RedisServer, store: RedisStore) -> None:
    """A log whose meta hash is gone belongs to the old epoch: it is not served under the new."""
    await store.append([stamped("r", "old")])
    await redis.command("DEL", layout.meta_key("r"))
    fresh = (await store.append([stamped("r", "new")]))[0]
    assert fresh.message.id == 1
    assert [m.text for m in await store.read_after("r", 0, 10)] == ["new"]


async def test_list_rooms_pages_by_name_over_shards(tmp_path: Path) -> None:
    """Rooms on two shards list as one sequence, names ascending, paged by ``after``."""
    async with (
        running_redis(tmp_path / "a") as first,
        running_redis(tmp_path / "b") as second,
    ):
        store = RedisStore([first.url, second.url])
        await store.open()
        names = [f"room{i:02}" for i in range(12)]
        await store.append([stamped(name, "x") for name in names] + [stamped("room03", "y")])
        await store.bounds("empty-room")  # has an epoch, holds no message: not listed
        shards = {layout.shard_of(name, 2) for name in names}
        assert shards == {0, 1}
        page = await store.list_rooms(None, 5)
        assert page == [(name, 2 if name == "room03" else 1) for name in names[:5]]
        rest = await store.list_rooms(page[-1][0], 100)
        assert [name for name, _ in rest] == names[5:]
        await store.close()


async def test_refuses_redis_without_fsync_unless_accepted(tmp_path: Path) -> None:
    """appendfsync everysec is refused with what to set; require_fsync=False opens, not durable."""
    everysec = ("--appendonly", "yes", "--appendfsync", "everysec")
    async with running_redis(tmp_path / "r", settings=everysec) as server:
        strict = RedisStore([server.url])
        with pytest.raises(StoreError, match="set appendfsync always") as refused:
            await strict.open()
        assert "--redis-weak-durability" in str(refused.value)
        weak = RedisStore([server.url], require_fsync=False)
        await weak.open()
        assert weak.durable is False
        assert (await weak.append([stamped("r", "x")]))[0].message.id == 1
        await weak.close()


async def test_durable_when_redis_fsyncs(store: RedisStore) -> None:
    """appendonly yes and appendfsync always: the store says its writes are durable."""
    assert store.durable is True and await store.ping()


async def test_stopped_redis_is_a_prompt_store_error_then_resumes(
    redis: RedisServer, store: RedisStore
) -> None:
    """With Redis down every call fails within seconds; after its restart ids continue."""
    await store.append([stamped("r", "before")])
    await redis.stop(kill=True)
    started = time.monotonic()
    with pytest.raises(StoreError):
        await store.append([stamped("r", "during")])
    with pytest.raises(StoreError):
        await store.read_after("r", 0, 10)
    assert not await store.ping()
    assert time.monotonic() - started < 5
    await redis.start()
    assert await store.ping()
    after = (await store.append([stamped("r", "after")]))[0]
    assert after.message.id == 2
    assert [m.text for m in await store.read_after("r", 0, 10)] == ["before", "after"]


async def test_unresponsive_redis_times_out(redis: RedisServer) -> None:
    """A Redis that accepts the connection but never answers fails the call in bounded time."""
    store = RedisStore([redis.url], timeout=0.3)
    await store.open()
    assert redis.process is not None
    redis.process.send_signal(signal.SIGSTOP)  # the socket stays open, nothing answers
    try:
        started = time.monotonic()
        with pytest.raises(StoreError):
            await store.append([stamped("r", "x")])
        assert time.monotonic() - started < 3
    finally:
        redis.process.send_signal(signal.SIGCONT)
    await store.close()


async def test_ping_is_false_while_redis_refuses_writes(
    redis: RedisServer, store: RedisStore
) -> None:
    """A Redis that answers but refuses writes (min-replicas-to-write unmet) is not healthy."""
    assert await store.ping()
    await redis.command("CONFIG", "SET", "min-replicas-to-write", "1")
    assert not await store.ping()
    with pytest.raises(StoreError):
        await store.append([stamped("r", "refused")])
    await redis.command("CONFIG", "SET", "min-replicas-to-write", "0")
    assert await store.ping()
