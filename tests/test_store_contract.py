"""One contract, every store: ids, idempotency, retention and range reads."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from hubbub.errors import SearchUnavailable
from hubbub.protocol.cursors import EPOCH, Bounds
from hubbub.protocol.messages import DELETE, EDIT, MESSAGE, Publish
from hubbub.protocol.search import parse_query
from hubbub.store import MemoryStore, SQLiteStore, Stamped, Store
from hubbub.store.base import SearchScope
from hubbub.store.epochs import new_epoch
from hubbub.store.redis import RedisStore
from tests.redis_server import needs_redis, running_redis


class StoreFactory(Protocol):
    """Makes a closed store of the backend under test."""

    def __call__(self, retain: int | None, *, max_rooms: int | None = None) -> Store: ...


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=needs_redis)])
async def make(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    async with contextlib.AsyncExitStack() as stack:
        redis_url = ""
        if request.param == "redis":
            redis_url = (await stack.enter_async_context(running_redis(tmp_path / "redis"))).url

        def factory(retain: int | None, *, max_rooms: int | None = None) -> Store:
            if request.param == "memory":
                return MemoryStore(retain=retain, max_rooms=max_rooms)
            if request.param == "redis":
                return RedisStore([redis_url], retain=retain, max_rooms=max_rooms)
            return SQLiteStore(str(tmp_path / "contract.db"), retain=retain, max_rooms=max_rooms)

        yield factory


@pytest.fixture
async def store(make: StoreFactory) -> AsyncIterator[Store]:
    opened = make(None)
    await opened.open()
    yield opened
    await opened.close()


def stamped(room: str, text: str, client_id: str | None = None) -> Stamped:
    return Stamped(Publish(room, "alice", text, client_id), ts=1)


async def test_ids_are_gapless_per_room(store: Store) -> None:
    """Each room counts 1, 2, 3 on its own, also inside one batch."""
    batch = [stamped("a", "1"), stamped("b", "1"), stamped("a", "2"), stamped("a", "3")]
    results = await store.append(batch)
    assert [(r.message.room, r.message.id) for r in results] == [
        ("a", 1),
        ("b", 1),
        ("a", 2),
        ("a", 3),
    ]
    assert all(r.created for r in results)
    assert [m.id for m in await store.read_after("a", 0, 10)] == [1, 2, 3]


async def test_client_id_is_idempotent(store: Store) -> None:
    """A repeated client_id returns the first message and stores nothing new."""
    first = (await store.append([stamped("a", "hi", "c1")]))[0]
    again = await store.append([stamped("a", "changed", "c1"), stamped("a", "x", "c1")])
    assert [r.created for r in again] == [False, False]
    assert again[0].message == first.message
    other_room = (await store.append([stamped("b", "hi", "c1")]))[0]
    assert other_room.created and other_room.message.id == 1
    assert len(await store.read_after("a", 0, 10)) == 1


async def test_a_client_id_twice_in_one_batch_is_stored_once(store: Store) -> None:
    """The second publish of a new client_id in the same batch gets the first's message."""
    results = await store.append(
        [stamped("a", "one", "c1"), stamped("a", "two", "c1"), stamped("a", "three")]
    )
    assert [(r.created, r.message.id, r.message.text) for r in results] == [
        (True, 1, "one"),
        (False, 1, "one"),
        (True, 2, "three"),
    ]
    assert [m.text for m in await store.read_after("a", 0, 10)] == ["one", "three"]


async def test_range_reads(store: Store) -> None:
    """read_after is oldest first from the cursor; read_before is the newest below."""
    await store.append([stamped("a", str(i)) for i in range(1, 11)])
    assert [m.id for m in await store.read_after("a", 7, 100)] == [8, 9, 10]
    assert [m.id for m in await store.read_after("a", 0, 3)] == [1, 2, 3]
    assert [m.id for m in await store.read_before("a", 8, 3)] == [5, 6, 7]
    assert [m.id for m in await store.read_before("a", 3, 10)] == [1, 2]
    assert await store.read_after("empty", 0, 10) == []
    assert await store.read_before("empty", 5, 10) == []


async def test_retention_keeps_newest_n_and_forgets_their_client_ids(make: StoreFactory) -> None:
    """With retain=3 the room keeps exactly the newest 3 ids; ids never restart."""
    store = make(3)
    await store.open()
    try:
        await store.append([stamped("a", str(i), f"c{i}") for i in range(1, 6)])
        assert [m.id for m in await store.read_after("a", 0, 10)] == [3, 4, 5]
        again = (await store.append([stamped("a", "again", "c1")]))[0]
        assert again.created and again.message.id == 6  # c1's message is gone
        kept = (await store.append([stamped("a", "again", "c5")]))[0]
        assert not kept.created and kept.message.id == 5
    finally:
        await store.close()


async def test_bounds_and_ids_continue_after_reopening(make: StoreFactory) -> None:
    """Reopening a store keeps bounds and epochs (SQLite, Redis); ids continue where they were."""
    store = make(None)
    await store.open()
    await store.append([stamped("a", "1"), stamped("a", "2"), stamped("b", "1")])
    # An epoch is per room (the Redis store gives each room its own).
    epoch_a, epoch_b = (await store.bounds("a")).epoch, (await store.bounds("b")).epoch
    await store.close()
    # A memory store lives in its object: reopening that object is its "restart".
    reopened = store if isinstance(store, MemoryStore) else make(None)
    await reopened.open()
    assert await reopened.bounds("a") == Bounds(1, 2, epoch_a)
    assert await reopened.bounds("b") == Bounds(1, 1, epoch_b)
    assert (await reopened.append([stamped("a", "3")]))[0].message.id == 3
    await reopened.close()


async def test_an_empty_room_has_the_epoch_of_its_first_message(store: Store) -> None:
    """Going from empty to a first message is not a reset: the epoch stays."""
    before = await store.bounds("fresh")
    assert (before.first_id, before.last_id) == (0, 0) and before.epoch
    appended = (await store.append([stamped("fresh", "hi")]))[0]
    assert appended.epoch == before.epoch
    assert await store.bounds("fresh") == Bounds(1, 1, before.epoch)


async def test_bounds_of_many_rooms_agree_with_each_room_alone(store: Store) -> None:
    """``bounds_many`` is ``bounds`` of each room in one read: rooms with messages, empty
    rooms (with the epoch their first message will get), a name twice, over 500 rooms."""
    await store.append([stamped("a", "1"), stamped("a", "2"), stamped("b", "1")])
    names = ["a", "b", "empty", "a", *(f"r{i}" for i in range(600))]
    many = await store.bounds_many(names)
    assert set(many) == set(names)
    for name in ("a", "b", "empty", "r0", "r599"):
        assert many[name] == await store.bounds(name), name
    assert (many["a"].first_id, many["a"].last_id) == (1, 2)
    assert await store.bounds_many([]) == {}


async def test_a_new_memory_store_is_a_new_epoch() -> None:
    """A memory store that restarts starts a new log: its epoch changes."""
    assert (await MemoryStore().bounds("r")).epoch != (await MemoryStore().bounds("r")).epoch


async def test_rooms_are_listed_in_pages(store: Store) -> None:
    """list_rooms: rooms holding messages, names ascending, after a name, at most limit."""
    await store.append([stamped(name, "x") for name in ("c", "a", "b", "b")])
    assert await store.list_rooms(None, 10) == [("a", 1), ("b", 2), ("c", 1)]
    assert await store.list_rooms(None, 2) == [("a", 1), ("b", 2)]
    assert await store.list_rooms("b", 2) == [("c", 1)]
    assert await store.list_rooms("c", 2) == []
    assert await store.list_rooms(None, 10, "b") == [("a", 1), ("b", 2)]  # until: included
    assert await store.list_rooms("a", 10, "b~") == [("b", 2)]


async def test_ping_says_whether_writes_can_start(store: Store) -> None:
    """An open store answers ping with True."""
    assert await store.ping() is True


async def test_count_rooms_counts_rooms_holding_messages(store: Store) -> None:
    """count_rooms: the rooms list_rooms pages, not rooms only looked at."""
    assert await store.count_rooms() == 0
    await store.bounds("looked-at")
    await store.append([stamped(name, "x") for name in ("c", "a", "b", "b")])
    assert await store.count_rooms() == 3
    await store.append([stamped("a", "again"), stamped("d", "x")])
    assert await store.count_rooms() == 4


async def test_max_rooms_refuses_only_new_rooms_past_the_cap(make: StoreFactory) -> None:
    """With max_rooms=2 a publish creating a third room is refused and nothing is stored; the
    rooms that exist, and the rest of the same batch, are served as usual. (Which of two new
    rooms in one batch takes the last place is the store's choice: Redis runs rooms at once.)"""
    store = make(None, max_rooms=2)
    await store.open()
    try:
        batch = [stamped("a", "1"), stamped("b", "1"), stamped("c", "1"), stamped("a", "2")]
        results = await store.append(batch)
        assert [r.refused for r in results].count(True) == 1
        assert not results[0].refused and not results[3].refused
        assert (results[0].message.id, results[3].message.id) == (1, 2)
        loser = next(r for r in results if r.refused)
        assert not loser.created and loser.message.id == 0
        kept = "c" if loser.message.room == "b" else "b"
        later = await store.append([stamped("d", "1"), stamped(kept, "2"), stamped("d", "2")])
        assert [(r.refused, r.message.id) for r in later] == [(True, 0), (False, 2), (True, 0)]
        assert await store.count_rooms() == 2
        assert await store.read_after(loser.message.room, 0, 10) == []
        assert await store.list_rooms(None, 10) == sorted([("a", 2), (kept, 2)])
    finally:
        await store.close()


async def test_max_rooms_holds_across_reopening(make: StoreFactory) -> None:
    """The cap counts the rooms already stored when the store opens (SQLite, Redis)."""
    store = make(None, max_rooms=1)
    await store.open()
    await store.append([stamped("a", "1")])
    await store.close()
    reopened = store if isinstance(store, MemoryStore) else make(None, max_rooms=1)
    await reopened.open()
    try:
        assert [r.refused for r in await reopened.append([stamped("b", "1")])] == [True]
        assert [r.refused for r in await reopened.append([stamped("a", "2")])] == [False]
    finally:
        await reopened.close()


def test_new_epochs_can_be_typed_as_command_line_values() -> None:
    """An epoch never starts with "-" (argparse would take it for an option) and never repeats."""
    epochs = [new_epoch() for _ in range(5000)]
    assert not any(epoch.startswith("-") for epoch in epochs)
    assert all(EPOCH.fullmatch(epoch) for epoch in epochs)
    assert len(set(epochs)) == len(epochs)


async def test_clear_starts_the_log_over_in_a_new_epoch(make: StoreFactory) -> None:
    """clear drops the room's messages, names a new epoch, takes the room out of the list and
    off the room count; the next publish is id 1 of the new epoch; other rooms keep theirs."""
    store = make(None, max_rooms=2)
    await store.open()
    try:
        await store.append([stamped("a", "1"), stamped("a", "2", "c-1"), stamped("b", "x")])
        before = await store.bounds("a")
        epoch = await store.clear("a")
        assert epoch != before.epoch and EPOCH.fullmatch(epoch)
        assert await store.bounds("a") == Bounds(0, 0, epoch)
        assert await store.read_after("a", 0, 10) == []
        assert await store.list_rooms(None, 10) == [("b", 1)]
        assert await store.count_rooms() == 1
        # The room cap counts it again only once it holds a message; client ids are gone too.
        [appended] = await store.append([stamped("a", "again", "c-1")])
        assert (appended.message.id, appended.created, appended.epoch) == (1, True, epoch)
        assert await store.bounds("a") == Bounds(1, 1, epoch)
        assert (await store.bounds("b")).last_id == 1
        [refused] = await store.append([stamped("c", "third room")])
        assert refused.refused
    finally:
        await store.close()


# Search: the memory and SQLite stores answer alike; the Redis store keeps no index.

searching = pytest.mark.parametrize("make", ["memory", "sqlite"], indirect=True)


def said(
    room: str, user: str, text: str, kind: str = MESSAGE, target: int | None = None
) -> Stamped:
    return Stamped(Publish(room, user, text, None, kind, target), ts=1)


async def found(
    store: Store, text: str, rooms: tuple[str, ...] | None = None, **page: Any
) -> list[tuple[str, int]]:
    hits = await store.search(parse_query(text), SearchScope(rooms, page.pop("limit", 20), **page))
    return [(hit.message.room, hit.message.id) for hit in hits]


@searching
async def test_search_finds_each_query_form_newest_first(store: Store) -> None:
    """Words, phrases, prefixes and from:, across rooms, newest first, accents folded."""
    await store.append(
        [
            said("a", "alice", "Deploy on Friday"),
            said("b", "bob", "friday deploy done"),
            said("a", "Zoë", "the café is open"),
            said("b", "alice", "deployment notes"),
        ]
    )
    assert await found(store, "friday deploy") == [("b", 1), ("a", 1)]
    assert await found(store, '"deploy on"') == [("a", 1)]
    assert await found(store, "deploy*") == [("b", 2), ("b", 1), ("a", 1)]
    assert await found(store, "from:alice") == [("b", 2), ("a", 1)]
    assert await found(store, "CAFE from:zoe") == [("a", 2)]
    assert await found(store, "missing") == []


@searching
async def test_search_follows_edits_and_deletes(store: Store) -> None:
    """An edit is found by its new text only; a deleted message never again."""
    await store.append([said("a", "al", "old words"), said("a", "al", "doomed words")])
    await store.append([said("b", "al", "kept waiting"), said("b", "al", "gone waiting")])
    # A search indexes what waits for the index (SQLite): corrected there, and waiting.
    assert await found(store, "words") == [("a", 2), ("a", 1)]
    await store.append([said("b", "al", "changed", EDIT, 1), said("b", "al", "", DELETE, 2)])
    await store.append([said("a", "al", "new text", EDIT, 1), said("a", "al", "", DELETE, 2)])
    assert await found(store, "waiting") == []
    assert await found(store, "changed") == [("b", 1)]
    assert await found(store, "old") == []
    assert await found(store, "doomed") == []
    hits = await store.search(parse_query("new"), SearchScope(None, 20))
    assert [(h.message.id, h.text, h.edited_ts) for h in hits] == [(1, "new text", 1)]
    await store.append([said("a", "al", "doomed again", EDIT, 2)])  # after a delete: nothing
    assert await found(store, "doomed") == []


@searching
async def test_search_scope_and_pages(store: Store) -> None:
    """Only the rooms in scope (names or prefixes); pages continue below a message."""
    await store.append(
        [said(room, "u", f"hit {n}") for n in range(3) for room in ("x", "team-1", "team-2")]
    )
    assert await found(store, "hit", ("x",)) == [("x", 3), ("x", 2), ("x", 1)]
    assert await found(store, "hit", ("team-*",), limit=2) == [("team-2", 3), ("team-1", 3)]
    assert await found(store, "hit", ("x",), before=("x", 3)) == [("x", 2), ("x", 1)]
    assert await found(store, "hit", ("x",), before=("x", 99)) == [("x", 3), ("x", 2), ("x", 1)]
    # Across rooms: after the hit ("team-1", 3), what was committed before it.
    assert await found(store, "hit", None, limit=2, before=("team-1", 3)) == [
        ("x", 3),
        ("team-2", 2),
    ]


@searching
async def test_search_forgets_what_retention_drops(make: StoreFactory) -> None:
    """A message retention removed is not found."""
    store = make(2)
    await store.open()
    try:
        await store.append([said("a", "u", f"word {n}") for n in range(4)])
        assert await found(store, "word") == [("a", 4), ("a", 3)]
        await store.append([said("a", "u", f"word {n}") for n in range(1)])  # 3 was indexed
        assert await found(store, "word") == [("a", 5), ("a", 4)]
    finally:
        await store.close()


@pytest.mark.parametrize("make", [pytest.param("redis", marks=needs_redis)], indirect=True)
async def test_the_redis_store_answers_search_unavailable(store: Store) -> None:
    """The Redis store keeps no search index: 501 search_unavailable, said plainly."""
    with pytest.raises(SearchUnavailable) as refused:
        await store.search(parse_query("x"), SearchScope(None, 20))
    assert refused.value.status == 501


@searching
async def test_search_follows_a_correction_in_the_same_batch(store: Store) -> None:
    """A message and its edit or delete committed together: the index ends as the log."""
    await store.append(
        [
            said("a", "al", "draft one"),
            said("a", "al", "final one", EDIT, 1),
            said("a", "al", "gone soon"),
            said("a", "al", "", DELETE, 3),
        ]
    )
    assert await found(store, "draft") == []
    assert await found(store, "gone") == []
    assert await found(store, "final") == [("a", 1)]


@searching
async def test_search_forgets_a_cleared_room(store: Store) -> None:
    """After a room is cleared its old messages are never found, and its new log is."""
    await store.append([said("a", "u", "secret plans"), said("b", "u", "secret too")])
    assert await found(store, "plans") == [("a", 1)]  # indexed, not waiting
    await store.append([said("a", "u", "secret waiting")])
    await store.clear("a")
    assert await found(store, "secret") == [("b", 1)]
    await store.append([said("a", "u", "fresh secret"), said("a", "u", "other words")])
    hits = await store.search(parse_query("secret"), SearchScope(("a",), 20))
    assert [(h.message.id, h.text) for h in hits] == [(1, "fresh secret")]
    assert await found(store, "waiting") == []  # nothing left of the old log's id 2
