"""The SQLite store's search index: a file from before search, and crashes."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from hubbub.errors import Indexing
from hubbub.protocol.messages import DELETE, EDIT, Publish
from hubbub.protocol.search import parse_query
from hubbub.store import SQLiteStore, Stamped, sqlite_search
from hubbub.store.base import SearchScope
from hubbub.store.sqlite_files import connect, ensure_schema
from tests.process import serve


def old_file(path: Path, messages: int, rooms: int = 10) -> None:
    """A database as hubbub wrote it before search: no index, no seq; every tenth
    message says "needle", message 1 of room r0 was edited, message 2 deleted."""
    conn = connect(str(path), 5.0)
    ensure_schema(conn, "gen0", search=False)
    rows: list[tuple[str, int, str, str, int, str | None, int | None]] = []
    for n in range(messages):
        room, id_ = f"r{n % rooms}", n // rooms + 1
        text = f"message {n} needle" if n % 10 == 0 else f"message {n} hay"
        rows.append((room, id_, "old", text, 1000 + n, None, None))
    last = messages // rooms
    rows.append(("r0", last + 1, "old", "edited needle", 9_000_000, EDIT, 1))
    rows.append(("r0", last + 2, "old", "", 9_000_001, DELETE, 2))
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO messages (room, id, user, text, ts, kind, target)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO rooms (name, last_id) VALUES (?, ?)",
        [(f"r{r}", last + (2 if r == 0 else 0)) for r in range(rooms)],
    )
    conn.execute("COMMIT")
    conn.close()


async def test_an_old_file_is_indexed_in_the_background(tmp_path: Path) -> None:
    """Searches answer Indexing until the old messages are indexed, publishes go on
    meanwhile, and then old and new are found newest first, as their edits left them."""
    path = tmp_path / "old.db"
    old_file(path, 5000)
    store = SQLiteStore(str(path))
    await store.open()
    try:
        with pytest.raises(Indexing) as waiting:
            await store.search(parse_query("needle"), SearchScope(None, 5))
        assert waiting.value.status == 503
        new = await store.append([Stamped(Publish("r1", "new", "fresh needle"), ts=10**7)])
        assert new[0].message.id == 501
        await store.indexed()
        hits = await store.search(parse_query("needle"), SearchScope(None, 1000))
        assert (hits[0].message.room, hits[0].message.id) == ("r1", 501)
        old = [h.message.ts for h in hits[1:]]
        assert old == sorted(old, reverse=True) and len(old) == 499  # message 2 of r0: deleted
        assert ("r0", 1) in {(h.message.room, h.message.id) for h in hits}
        assert await store.search(parse_query('"message 0"'), SearchScope(None, 5)) == []
        edited = await store.search(parse_query("edited"), SearchScope(None, 5))
        assert [(h.message.id, h.text, h.edited_ts) for h in edited] == [
            (1, "edited needle", 9_000_000)
        ]
    finally:
        await store.close()
    reopened = SQLiteStore(str(path))
    await reopened.open()
    try:  # indexed once: a restart searches at once
        assert len(await reopened.search(parse_query("fresh"), SearchScope(None, 5))) == 1
    finally:
        await reopened.close()


async def test_serving_while_an_old_file_is_indexed(tmp_path: Path) -> None:
    """``hubbub serve`` on a file from before search: reads and publishes work at once,
    searches answer 503 indexing with Retry-After, the log tells the progress."""
    path = tmp_path / "old.db"
    old_file(path, 100_000, rooms=100)
    async with serve("--port", "0", "--db", str(path)) as server, aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/search", params={"q": "needle"}) as response:
            assert response.status == 503
            assert response.headers["Retry-After"] == "5"
            assert (await response.json())["error"]["code"] == "indexing"
        body = {"user": "alice", "text": "needle while indexing"}
        async with http.post(f"{server.url}/rooms/r5/messages", json=body) as response:
            assert response.status == 201
        async with http.get(f"{server.url}/rooms/r5/messages?limit=1") as response:
            assert (await response.json())["messages"][0]["text"] == "needle while indexing"
        await server.read_log_until(b"search: indexed", timeout=60)
        await server.read_log_until(b"search: index ready", timeout=120)
        async with http.get(
            f"{server.url}/search", params={"q": "needle", "limit": "2"}
        ) as response:
            assert response.status == 200
            hits = (await response.json())["hits"]
            assert hits[0]["text"] == "needle while indexing"


async def test_kill_9_right_after_201_leaves_the_message_searchable(tmp_path: Path) -> None:
    """A message answered 201 is in the index after kill -9: index and log are one commit."""
    path = tmp_path / "crash.db"
    async with serve("--port", "0", "--db", str(path)) as server, aiohttp.ClientSession() as http:
        for n in range(20):
            body = {"user": "alice", "text": f"unsinkable {n}"}
            async with http.post(f"{server.url}/rooms/r/messages", json=body) as response:
                assert response.status == 201
        server.process.send_signal(signal.SIGKILL)
        await server.process.wait()
    store = SQLiteStore(str(path))
    await store.open()
    try:
        hits = await store.search(parse_query("unsinkable"), SearchScope(("r",), 100))
        assert [h.message.id for h in hits] == list(range(20, 0, -1))
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("INSERT INTO search (search) VALUES ('integrity-check')").rowcount == 1
    conn.close()


async def test_an_index_turned_off_and_on_is_rebuilt(tmp_path: Path) -> None:
    """Off drops the index (publishes skip it); on again indexes every message anew,
    the corrections made meanwhile included."""
    path = str(tmp_path / "toggle.db")
    store = SQLiteStore(path)
    await store.open()
    await store.append([Stamped(Publish("r", "al", "first words"), ts=1)])
    await store.close()
    off = SQLiteStore(path, search=False)
    await off.open()
    await off.append([Stamped(Publish("r", "al", "second words"), ts=2)])
    await off.append([Stamped(Publish("r", "al", "first edited", None, EDIT, 1), ts=3)])
    await off.close()
    on = SQLiteStore(path)
    await on.open()
    try:
        await on.indexed()
        hits = await on.search(parse_query("words"), SearchScope(None, 10))
        assert [h.message.id for h in hits] == [2]
        edited = await on.search(parse_query("edited"), SearchScope(None, 10))
        assert [(h.message.id, h.edited_ts) for h in edited] == [(1, 3)]
    finally:
        await on.close()


async def test_a_used_client_id_in_a_batch_leaves_ids_and_index_exact(tmp_path: Path) -> None:
    """A batch is written with one statement unless a client_id in it is used already;
    then it is written row by row: the new messages take gapless ids and each is indexed
    once, the repeat is neither stored nor indexed again."""
    path = str(tmp_path / "repeat.db")
    store = SQLiteStore(path)
    await store.open()
    try:
        await store.append([Stamped(Publish("r", "al", "first needle", "c1"), ts=1)])
        batch = [
            Stamped(Publish("r", "al", "second needle"), ts=2),
            Stamped(Publish("r", "al", "first needle again", "c1"), ts=3),
            Stamped(Publish("q", "al", "third needle", "c2"), ts=4),
            Stamped(Publish("r", "al", "fourth needle"), ts=5),
        ]
        results = await store.append(batch)
        assert [(r.message.room, r.message.id, r.created) for r in results] == [
            ("r", 2, True),
            ("r", 1, False),
            ("q", 1, True),
            ("r", 3, True),
        ]
        assert results[1].message.text == "first needle"
        hits = await store.search(parse_query("needle"), SearchScope(None, 10))
        assert [h.text for h in hits] == [
            "fourth needle",
            "third needle",
            "second needle",
            "first needle",
        ]
        assert (await store.bounds("r")).last_id == 3
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("INSERT INTO search (search) VALUES ('integrity-check')").rowcount == 1
    conn.close()


async def test_the_index_takes_waiting_rows_in_batches(tmp_path: Path) -> None:
    """Rows wait in search_pending until INDEX_EVERY of them (then an append moves them)
    or a search (which moves every one): each message is found once either way."""
    path = str(tmp_path / "batches.db")
    store = SQLiteStore(path)
    await store.open()
    every = sqlite_search.INDEX_EVERY
    try:
        for start in range(0, every + 100, 100):
            await store.append(
                [
                    Stamped(Publish("r", "al", f"needle {n}"), ts=n)
                    for n in range(start, start + 100)
                ]
            )
        conn = sqlite3.connect(path)
        waiting = conn.execute("SELECT count(*) FROM search_pending").fetchone()[0]
        indexed = conn.execute("SELECT count(*) FROM search").fetchone()[0]
        assert (waiting, indexed) == (100, every)
        hits = await store.search(parse_query("needle"), SearchScope(("r",), 100))
        assert [h.message.id for h in hits] == list(range(every + 100, every, -1))
        assert conn.execute("SELECT count(*) FROM search_pending").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM search").fetchone()[0] == every + 100
        conn.close()
    finally:
        await store.close()


def index_counts(path: str) -> tuple[int, int, int, int]:
    """(the meta counter, the newest seq, distinct seqs, rows indexed or waiting)."""
    conn = sqlite3.connect(path)
    try:
        counter = int(conn.execute("SELECT value FROM meta WHERE key = 'search_seq'").fetchone()[0])
        newest, distinct = conn.execute(
            "SELECT max(seq), count(DISTINCT seq) FROM messages"
        ).fetchone()
        rows = conn.execute(
            "SELECT (SELECT count(*) FROM search) + (SELECT count(*) FROM search_pending)"
        ).fetchone()[0]
        return counter, newest, distinct, rows
    finally:
        conn.close()


async def test_the_index_counter_kept_between_commits_stays_exact(tmp_path: Path) -> None:
    """A server of its own keeps the index's counter and oldest waiting row between
    commits (a search moving the rows meanwhile leaves it an older one: rows move sooner);
    servers sharing the file read both each time. Either way every message has its own
    seq, the file's counter is the newest, and each is found once."""
    path = str(tmp_path / "kept.db")
    store = SQLiteStore(path)
    await store.open()
    try:
        await store.append([Stamped(Publish("r", "al", f"needle {n}"), ts=n) for n in range(150)])
        assert len(await store.search(parse_query("needle"), SearchScope(("r",), 150))) == 150
        for start in range(150, 300, 50):
            await store.append(
                [Stamped(Publish("r", "al", f"needle {n}"), ts=n) for n in range(start, start + 50)]
            )
        assert index_counts(path) == (300, 300, 300, 300)
        conn = sqlite3.connect(path)
        assert conn.execute("SELECT count(*) FROM search_pending").fetchone()[0] < 200
        conn.close()
        hits = await store.search(parse_query("needle"), SearchScope(("r",), 1000))
        assert [h.message.id for h in hits] == list(range(300, 0, -1))
    finally:
        await store.close()
    first, second = SQLiteStore(path, shared=True), SQLiteStore(path, shared=True)
    await first.open()
    await second.open()
    try:
        for turn in range(6):
            store = first if turn % 2 == 0 else second
            await store.append(
                [Stamped(Publish("q", "al", f"needle {turn} {n}"), ts=n) for n in range(40)]
            )
        assert index_counts(path) == (540, 540, 540, 540)
        hits = await second.search(parse_query("needle"), SearchScope(("q",), 1000))
        assert [h.message.id for h in hits] == list(range(240, 0, -1))
    finally:
        await first.close()
        await second.close()
