"""The SQLite store's file: one server per file unless shared, ids in the transaction, restore."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from hubbub.errors import StoreError
from hubbub.protocol.messages import Publish
from hubbub.store import SQLiteStore, Stamped
from hubbub.store.sqlite_files import restore


def stamped(room: str, text: str, client_id: str | None = None) -> Stamped:
    return Stamped(Publish(room, "alice", text, client_id), ts=1)


async def test_a_second_store_on_the_file_is_refused_naming_the_holder(tmp_path: Path) -> None:
    """Without sharing, a second opener gets one clear error with the holder's pid."""
    path = str(tmp_path / "one.db")
    first = SQLiteStore(path)
    await first.open()
    second = SQLiteStore(path)
    try:
        with pytest.raises(StoreError) as refused:
            await second.open()
        assert path in str(refused.value) and str(os.getpid()) in str(refused.value)
    finally:
        await first.close()
    await second.open()  # free again once the first let go
    await second.close()


async def test_shared_stores_take_ids_inside_the_transaction(tmp_path: Path) -> None:
    """Two shared stores on one file interleave appends: ids stay gapless, none reused."""
    path = str(tmp_path / "shared.db")
    a, b = SQLiteStore(path, shared=True), SQLiteStore(path, shared=True)
    await a.open()
    await b.open()
    try:
        batches = [
            (a if i % 2 else b).append([stamped("r", f"{i}-{j}") for j in range(3)])
            for i in range(20)
        ]
        results = await asyncio.gather(*batches)
        ids = sorted(item.message.id for batch in results for item in batch)
        assert ids == list(range(1, 61))
        again = await b.append([stamped("r", "x", "c1")])
        assert (await a.append([stamped("r", "y", "c1")]))[0].created is False
        assert again[0].message.id == 61
        assert (await a.bounds("r")).last_id == (await b.bounds("r")).last_id == 61
    finally:
        await a.close()
        await b.close()


async def test_exclusive_and_shared_exclude_each_other(tmp_path: Path) -> None:
    """A server of its own cannot start beside servers sharing the file, nor the reverse."""
    path = str(tmp_path / "mixed.db")
    shared = SQLiteStore(path, shared=True)
    await shared.open()
    try:
        with pytest.raises(StoreError):
            await SQLiteStore(path).open()
    finally:
        await shared.close()


async def test_restore_starts_a_new_epoch_and_refuses_a_running_server(tmp_path: Path) -> None:
    """hubbub restore copies the backup in and changes every room's epoch."""
    path, backup = str(tmp_path / "live.db"), str(tmp_path / "backup.db")
    store = SQLiteStore(path)
    await store.open()
    await store.append([stamped("r", "1"), stamped("r", "2")])
    old = (await store.bounds("r")).epoch
    source = sqlite3.connect(path)
    target = sqlite3.connect(backup)
    source.backup(target)
    source.close()
    target.close()
    await store.append([stamped("r", "3")])
    with pytest.raises(StoreError):
        restore(backup, path)  # the server still holds the file
    await store.close()
    fresh = restore(backup, path)
    reopened = SQLiteStore(path)
    await reopened.open()
    try:
        bounds = await reopened.bounds("r")
        assert (bounds.last_id, bounds.epoch) == (2, fresh) and fresh != old
        assert (await reopened.bounds("never-used")).epoch == fresh
    finally:
        await reopened.close()


async def test_ping_is_false_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    """/healthz must not say ok while writes cannot start."""
    path = str(tmp_path / "busy.db")
    store = SQLiteStore(path, busy_timeout=0.05)
    await store.open()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        assert await store.ping() is False
        holder.execute("ROLLBACK")
        assert await store.ping() is True
    finally:
        holder.close()
        await store.close()


async def test_a_database_from_before_epochs_is_upgraded(tmp_path: Path) -> None:
    """A file whose rooms table has no epoch column opens, keeps its rows, and gets an epoch."""
    path = str(tmp_path / "old.db")
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE rooms (name TEXT PRIMARY KEY, last_id INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE messages (room TEXT NOT NULL, id INTEGER NOT NULL, user TEXT NOT NULL,
            text TEXT NOT NULL, ts INTEGER NOT NULL, client_id TEXT,
            PRIMARY KEY (room, id)) WITHOUT ROWID;
        INSERT INTO rooms VALUES ('r', 1);
        INSERT INTO messages VALUES ('r', 1, 'a', 'old', 1, NULL);
        """
    )
    conn.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        bounds = await store.bounds("r")
        assert bounds.last_id == 1 and bounds.epoch
        assert (await store.append([stamped("r", "new")]))[0].message.id == 2
    finally:
        await store.close()


async def test_synchronous_mode_is_the_one_asked_for(tmp_path: Path) -> None:
    """FULL by default; NORMAL only when asked (2 = FULL, 1 = NORMAL in PRAGMA synchronous)."""
    for mode, expected in (("full", 2), ("normal", 1)):
        store = SQLiteStore(str(tmp_path / f"{mode}.db"), synchronous=mode)
        await store.open()
        try:
            conn = store._write_conn
            assert conn is not None
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == expected
        finally:
            await store.close()


async def test_a_file_that_kept_last_ids_in_rooms_reads_and_appends_right(tmp_path: Path) -> None:
    """A file written before issue 19, whose ``rooms.last_id`` was each room's newest id
    (now taken from the room's rows): its bounds, pages of rooms and next ids are the same,
    a room retention trimmed and a cleared room included."""
    path = str(tmp_path / "kept.db")
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE rooms (name TEXT PRIMARY KEY, last_id INTEGER NOT NULL, epoch TEXT)
            WITHOUT ROWID;
        CREATE TABLE messages (room TEXT NOT NULL, id INTEGER NOT NULL, user TEXT NOT NULL,
            text TEXT NOT NULL, ts INTEGER NOT NULL, client_id TEXT, kind TEXT, target INTEGER,
            seq INTEGER, PRIMARY KEY (room, id)) WITHOUT ROWID;
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        INSERT INTO meta VALUES ('generation', 'g-old');
        INSERT INTO rooms VALUES ('a', 3, NULL), ('trimmed', 5, NULL), ('cleared', 0, 'e-clr');
        INSERT INTO messages (room, id, user, text, ts) VALUES
            ('a', 1, 'u', 'one', 1), ('a', 2, 'u', 'two', 1), ('a', 3, 'u', 'three', 1),
            ('trimmed', 4, 'u', 'four', 1), ('trimmed', 5, 'u', 'five', 1);
        """
    )
    conn.close()
    store = SQLiteStore(path, retain=2)
    await store.open()
    try:
        assert await store.list_rooms(None, 10) == [("a", 3), ("trimmed", 5)]
        assert await store.count_rooms() == 2
        bounds = await store.bounds_many(["a", "trimmed", "cleared", "new"])
        assert [(b.first_id, b.last_id, b.epoch) for b in bounds.values()] == [
            (2, 3, "g-old"),
            (4, 5, "g-old"),
            (0, 0, "e-clr"),
            (0, 0, "g-old"),
        ]
        assert bounds == {room: await store.bounds(room) for room in bounds}
        appended = await store.append([stamped(room, "next") for room in bounds])
        assert [(a.message.id, a.epoch) for a in appended] == [
            (4, "g-old"),
            (6, "g-old"),
            (1, "e-clr"),
            (1, "g-old"),
        ]
        assert await store.list_rooms(None, 10) == [
            ("a", 4),
            ("cleared", 1),
            ("new", 1),
            ("trimmed", 6),
        ]
        assert await store.count_rooms() == 4
        assert [m.id for m in await store.read_after("a", 0, 10)] == [3, 4]
    finally:
        await store.close()
