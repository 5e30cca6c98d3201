"""Edits and deletes in every store: kind and target kept, found by target, trimmed."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from hubbub.protocol.messages import Publish
from hubbub.store import MemoryStore, SQLiteStore, Stamped, Store
from hubbub.store.redis import RedisStore
from tests.redis_server import needs_redis, running_redis

StoreFactory = Callable[[int | None], Store]


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=needs_redis)])
async def make(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    async with AsyncExitStack() as stack:
        url = ""
        if request.param == "redis":
            url = (await stack.enter_async_context(running_redis(tmp_path / "redis"))).url

        def factory(retain: int | None = None) -> Store:
            if request.param == "memory":
                return MemoryStore(retain=retain)
            if request.param == "redis":
                return RedisStore([url], retain=retain)
            return SQLiteStore(str(tmp_path / "corrections.db"), retain=retain)

        yield factory


def message(text: str) -> Stamped:
    return Stamped(Publish("r", "alice", text), ts=1)


def edit(target: int, text: str) -> Stamped:
    return Stamped(Publish("r", "alice", text, kind="edit", target=target), ts=2)


def delete(target: int) -> Stamped:
    return Stamped(Publish("r", "alice", "", kind="delete", target=target), ts=3)


async def test_corrections_are_entries_that_keep_kind_and_target(make: StoreFactory) -> None:
    """An edit and a delete take the next ids and read back with their kind and target."""
    store = make(None)
    await store.open()
    try:
        await store.append([message("a"), message("b"), edit(1, "a2"), delete(2), edit(1, "a3")])
        read = await store.read_after("r", 0, 10)
        assert [(m.id, m.kind, m.target, m.text) for m in read] == [
            (1, "message", None, "a"),
            (2, "message", None, "b"),
            (3, "edit", 1, "a2"),
            (4, "delete", 2, ""),
            (5, "edit", 1, "a3"),
        ]
        found = await store.corrections("r", 1, 1)
        assert [(m.id, m.kind, m.target) for m in found] == [(3, "edit", 1), (5, "edit", 1)]
        assert [m.id for m in await store.corrections("r", 1, 2)] == [3, 4, 5]
        assert await store.corrections("r", 3, 10) == []
        assert await store.corrections("nowhere", 1, 10) == []
    finally:
        await store.close()


async def test_retention_drops_corrections_of_messages_it_removed(make: StoreFactory) -> None:
    """With retain=2, the corrections of kept messages are found, and only those."""
    store = make(2)
    await store.open()
    try:
        await store.append([message("a"), message("b"), edit(2, "b2"), message("c")])
        await store.append([edit(4, "c2")])
        assert [m.id for m in await store.corrections("r", 4, 10)] == [5]
    finally:
        await store.close()


async def test_an_sqlite_file_from_before_corrections_is_upgraded(tmp_path: Path) -> None:
    """A database without kind/target columns opens, reads its rows as messages, takes edits."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE rooms (name TEXT PRIMARY KEY, last_id INTEGER NOT NULL, epoch TEXT)
            WITHOUT ROWID;
        CREATE TABLE messages (room TEXT NOT NULL, id INTEGER NOT NULL, user TEXT NOT NULL,
            text TEXT NOT NULL, ts INTEGER NOT NULL, client_id TEXT, PRIMARY KEY (room, id))
            WITHOUT ROWID;
        INSERT INTO rooms VALUES ('r', 1, NULL);
        INSERT INTO messages VALUES ('r', 1, 'alice', 'old', 1, NULL);
        """
    )
    conn.close()
    store = SQLiteStore(str(path))
    await store.open()
    try:
        (old,) = await store.read_after("r", 0, 10)
        assert (old.kind, old.target, old.text) == ("message", None, "old")
        appended = (await store.append([edit(1, "new")]))[0]
        assert (appended.message.id, appended.message.kind) == (2, "edit")
        assert [m.text for m in await store.corrections("r", 1, 1)] == ["new"]
    finally:
        await store.close()
