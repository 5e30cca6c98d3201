"""The embedded default store: SQLite in WAL mode, kept off the event loop.

One writer thread owns the write connection and commits whole batches in one
transaction (group commit: the node hands over everything that queued up while
the previous transaction was running). A reader thread with its own connection
serves range reads; WAL lets it read while the writer commits.

``synchronous=FULL`` makes a commit survive power loss, not only a killed
process: a ``201`` promises the message is durable.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from hubbub.errors import StoreError
from hubbub.protocol.cursors import Bounds
from hubbub.protocol.messages import Message
from hubbub.store.base import Appended, Stamped, bounds_after

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    name    TEXT PRIMARY KEY,
    last_id INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    room      TEXT NOT NULL,
    id        INTEGER NOT NULL,
    user      TEXT NOT NULL,
    text      TEXT NOT NULL,
    ts        INTEGER NOT NULL,
    client_id TEXT,
    PRIMARY KEY (room, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS messages_client_id
    ON messages (room, client_id) WHERE client_id IS NOT NULL;
"""

_COLUMNS = "id, room, user, text, ts, client_id"


def _connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    return conn


def _row_message(row: tuple[int, str, str, str, int, str | None]) -> Message:
    return Message(*row)


class SQLiteStore:
    """Rooms as rows of one table, keyed by ``(room, id)``."""

    def __init__(self, path: str, retain: int | None = None, *, busy_timeout: float = 5.0) -> None:
        self._path = path
        # How long a write waits for another process's lock before it is refused (503).
        self._busy_timeout = busy_timeout
        self._retain = retain
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="hubbub-sqlite-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="hubbub-sqlite-reader")
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        # The writer's view of each room's newest id; changed only after COMMIT.
        self._last_ids: dict[str, int] = {}

    async def _run(self, pool: ThreadPoolExecutor, func: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, func)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc
        except RuntimeError as exc:  # the executor is shut down: the store is closed
            raise StoreError("sqlite: store is closed") from exc

    async def open(self) -> dict[str, Bounds]:
        def open_sync() -> dict[str, Bounds]:
            self._write_conn = _connect(self._path, self._busy_timeout)
            self._write_conn.executescript(SCHEMA)
            self._read_conn = _connect(self._path, self._busy_timeout)
            rows = self._write_conn.execute("SELECT name, last_id FROM rooms").fetchall()
            self._last_ids = {name: last_id for name, last_id in rows}
            return {name: bounds_after(last, self._retain) for name, last in rows if last}

        return await self._run(self._writer, open_sync)

    async def close(self) -> None:
        def close_sync(conn: sqlite3.Connection | None) -> Callable[[], None]:
            def run() -> None:
                if conn is not None:
                    conn.close()

            return run

        await self._run(self._writer, close_sync(self._write_conn))
        await self._run(self._reader, close_sync(self._read_conn))
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)

    async def append(self, batch: Sequence[Stamped]) -> list[Appended]:
        return await self._run(self._writer, lambda: self._append_sync(batch))

    def _append_sync(self, batch: Sequence[Stamped]) -> list[Appended]:
        conn = self._write_conn
        if conn is None:
            raise StoreError("store is not open")
        last_ids = dict(self._last_ids)  # working copy: discarded on rollback
        touched: set[str] = set()
        results: list[Appended] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for item in batch:
                pub = item.publish
                if pub.client_id is not None:
                    row = conn.execute(
                        f"SELECT {_COLUMNS} FROM messages WHERE room = ? AND client_id = ?",
                        (pub.room, pub.client_id),
                    ).fetchone()
                    if row is not None:
                        results.append(Appended(_row_message(row), created=False))
                        continue
                new_id = last_ids.get(pub.room, 0) + 1
                last_ids[pub.room] = new_id
                touched.add(pub.room)
                message = Message(new_id, pub.room, pub.user, pub.text, item.ts, pub.client_id)
                conn.execute(
                    f"INSERT INTO messages ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    (new_id, pub.room, pub.user, pub.text, item.ts, pub.client_id),
                )
                results.append(Appended(message, created=True))
            for room in touched:
                conn.execute(
                    "INSERT INTO rooms (name, last_id) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id",
                    (room, last_ids[room]),
                )
                if self._retain is not None:
                    first_id = bounds_after(last_ids[room], self._retain).first_id
                    conn.execute("DELETE FROM messages WHERE room = ? AND id < ?", (room, first_id))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._last_ids = last_ids
        return results

    async def read_after(self, room: str, since: int, limit: int) -> list[Message]:
        def read() -> list[Message]:
            assert self._read_conn is not None
            rows = self._read_conn.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE room = ? AND id > ? ORDER BY id LIMIT ?",
                (room, since, limit),
            ).fetchall()
            return [_row_message(row) for row in rows]

        return await self._run(self._reader, read)

    async def read_before(self, room: str, before: int, limit: int) -> list[Message]:
        def read() -> list[Message]:
            assert self._read_conn is not None
            rows = self._read_conn.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE room = ? AND id < ?"
                " ORDER BY id DESC LIMIT ?",
                (room, before, limit),
            ).fetchall()
            return [_row_message(row) for row in reversed(rows)]

        return await self._run(self._reader, read)

    async def ping(self) -> bool:
        def check() -> bool:
            assert self._read_conn is not None
            self._read_conn.execute("SELECT 1").fetchone()
            return True

        try:
            return await self._run(self._reader, check)
        except StoreError:
            return False
