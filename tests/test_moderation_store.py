"""One contract, every moderation store: mutes that end, lifting, the audit's ids and pages.

The pure mute table the node checks publishes against is pinned in
tests/protocol/test_moderation.py.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hubbub.moderation import MemoryModeration, ModerationStore, SQLiteModeration
from hubbub.moderation.redis import MUTES_KEY, MUTES_UNTIL_KEY, RedisModeration
from hubbub.protocol.moderation import AuditEntry, Mute
from hubbub.redis_layout import connect
from tests.redis_server import needs_redis, running_redis

NOW = 1_900_000_000.0


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=needs_redis)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ModerationStore]:
    async with contextlib.AsyncExitStack() as stack:
        made: ModerationStore
        if request.param == "memory":
            made = MemoryModeration()
        elif request.param == "sqlite":
            made = SQLiteModeration(str(tmp_path / "moderation.db"))
        else:
            redis = await stack.enter_async_context(running_redis(tmp_path / "redis"))
            made = RedisModeration(redis.url)
        await made.open()
        yield made
        await made.close()


async def test_mutes_are_kept_replaced_lifted_and_end(store: ModerationStore) -> None:
    """A mute is listed until it ends; muting again replaces it; lifting says if it was there."""
    await store.put_mute(Mute("general", "bob", NOW + 60, "spam", "mia", NOW), NOW)
    await store.put_mute(Mute("general", "eve", NOW + 5, "", "mia", NOW), NOW)
    await store.put_mute(Mute("random", "bob", NOW + 30, "", "root", NOW), NOW)
    assert sorted((m.room, m.user) for m in await store.mutes(NOW)) == [
        ("general", "bob"),
        ("general", "eve"),
        ("random", "bob"),
    ]
    assert sorted((m.room, m.user) for m in await store.mutes(NOW + 10)) == [
        ("general", "bob"),
        ("random", "bob"),
    ]
    await store.put_mute(Mute("general", "bob", NOW + 600, "again", "root", NOW + 1), NOW + 1)
    [bob] = [m for m in await store.mutes(NOW + 1) if (m.room, m.user) == ("general", "bob")]
    assert bob == Mute("general", "bob", NOW + 600, "again", "root", NOW + 1)
    assert await store.lift_mute("general", "bob")
    assert not await store.lift_mute("general", "bob")
    assert [(m.room, m.user) for m in await store.mutes(NOW + 10)] == [("random", "bob")]


async def test_audit_ids_increase_and_pages_go_back(store: ModerationStore) -> None:
    """Entries get increasing ids; a page is newest first, ``before`` pages further back."""
    ids = []
    for user in ("a", "b", "c"):
        entry = AuditEntry("root", "disconnect", NOW, None, user, {"closed_here": 1})
        ids.append(await store.record(entry))
    assert ids == sorted(ids) and len(set(ids)) == 3
    newest = await store.audit(None, 2)
    assert [(e.user, e.id) for e in newest] == [("c", ids[2]), ("b", ids[1])]
    assert newest[0].detail == {"closed_here": 1} and newest[0].at == NOW
    assert [e.user for e in await store.audit(ids[1], 10)] == ["a"]
    assert await store.audit(ids[0], 10) == []


@needs_redis
async def test_redis_forgets_mutes_by_itself(tmp_path: Path) -> None:
    """Both mute keys expire when the last mute ends, so Redis keeps nothing stale."""
    async with running_redis(tmp_path / "redis") as redis:
        store = RedisModeration(redis.url)
        client = connect(redis.url)
        try:
            now = time.time()
            await store.put_mute(Mute("general", "bob", now + 60, "", "mia", now), now)
            await store.put_mute(Mute("general", "eve", now + 20, "", "mia", now), now)
            for key in (MUTES_KEY, MUTES_UNTIL_KEY):
                assert 55_000 < await client.pttl(key) <= 60_000
        finally:
            await client.aclose()
            await store.close()
