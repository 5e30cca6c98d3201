"""The SQLite writer's memory of rooms' newest ids and epochs (store/sqlite_append.py):
what it keeps, and that ids stay gapless and epochs right whatever it forgot or missed."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hubbub.errors import StoreError
from hubbub.protocol.messages import Publish
from hubbub.store import SQLiteStore, Stamped
from hubbub.store.sqlite_append import KNOWN_ROOMS, KnownRooms


def stamped(room: str, text: str) -> Stamped:
    return Stamped(Publish(room, "alice", text), ts=1)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(str(tmp_path / "known.db"))
    await opened.open()
    yield opened
    await opened.close()


def known_of(store: SQLiteStore) -> KnownRooms:
    known = store._appender.known_rooms
    assert known is not None
    return known


def test_the_room_written_longest_ago_goes_first() -> None:
    known = KnownRooms(limit=2)
    known.keep("a", (1, "e"))
    known.keep("b", (1, "e"))
    known.keep("a", (2, "e"))  # written again: now the newest
    known.keep("c", (1, "e"))
    assert known.get("b") is None
    assert known.get("a") == (2, "e") and known.get("c") == (1, "e")
    assert len(known) == 2
    known.forget("a")
    known.forget("a")  # a room not known is no error
    assert known.get("a") is None and len(known) == 1


def test_it_holds_at_most_its_default_limit() -> None:
    known = KnownRooms()
    for number in range(KNOWN_ROOMS + 1):
        known.keep(f"r{number}", (1, "e"))
    assert len(known) == KNOWN_ROOMS
    assert known.get("r0") is None and known.get(f"r{KNOWN_ROOMS}") == (1, "e")


async def test_appends_remember_the_rooms_they_wrote(store: SQLiteStore) -> None:
    await store.append([stamped("a", "1"), stamped("b", "1"), stamped("a", "2")])
    epoch = (await store.bounds("a")).epoch
    assert known_of(store).get("a") == (2, epoch)
    assert known_of(store).get("b") == (1, epoch)


async def test_a_room_forgotten_is_read_from_the_file_again(store: SQLiteStore) -> None:
    store._appender.known_rooms = KnownRooms(limit=1)
    for text in ("1", "2", "3"):
        results = await store.append([stamped("a", text), stamped("b", text)])
        # The batch's rooms evict each other: every batch reads at least one of them.
        assert [item.message.id for item in results] == [int(text), int(text)]


async def test_a_cleared_room_starts_again_in_its_new_epoch(store: SQLiteStore) -> None:
    await store.append([stamped("a", "1"), stamped("a", "2")])
    epoch = await store.clear("a")
    assert known_of(store).get("a") is None
    appended = await store.append([stamped("a", "after")])
    assert appended[0].message.id == 1 and appended[0].epoch == epoch


async def test_a_failed_transaction_leaves_it_as_the_file_is(
    store: SQLiteStore, tmp_path: Path
) -> None:
    await store.append([stamped("a", "1")])
    other = sqlite3.connect(str(tmp_path / "known.db"))
    other.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.text = 'boom'"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    other.commit()
    with pytest.raises(StoreError):
        await store.append([stamped("a", "2"), stamped("a", "boom")])
    assert known_of(store).get("a") == (1, (await store.bounds("a")).epoch)
    other.execute("DROP TRIGGER refuse")
    other.commit()
    other.close()
    appended = await store.append([stamped("a", "2")])
    assert appended[0].message.id == 2


async def test_stores_sharing_a_file_keep_nothing(tmp_path: Path) -> None:
    shared = SQLiteStore(str(tmp_path / "shared.db"), shared=True)
    await shared.open()
    try:
        assert shared._appender.known_rooms is None
        await shared.append([stamped("a", "1")])
    finally:
        await shared.close()
