"""Moderation in the SQLite file: two tables beside the messages, so every server sharing the
file sees the same mutes and one audit.

A connection of its own (WAL, like the store's), used from one thread: moderation writes are
rare and small, and must not queue behind, nor hold up, the store's group commits.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import orjson

from hubbub.errors import StoreError
from hubbub.protocol.moderation import AuditEntry, Mute
from hubbub.store.sqlite_files import connect

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS mutes (
    room     TEXT NOT NULL,
    user     TEXT NOT NULL,
    until    REAL NOT NULL,
    reason   TEXT NOT NULL,
    muted_by TEXT NOT NULL,
    at       REAL NOT NULL,
    PRIMARY KEY (room, user)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     REAL NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    room   TEXT,
    user   TEXT,
    detail TEXT NOT NULL
);
"""


class SQLiteModeration:
    def __init__(self, path: str, *, busy_timeout: float = 5.0) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="hubbub-sqlite-moderation")
        self._conn: sqlite3.Connection | None = None

    async def _run(self, func: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            if self._conn is None:
                raise StoreError("sqlite moderation: not open")
            return func(self._conn)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, run)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite moderation: {exc}") from exc
        except RuntimeError as exc:  # the executor is shut down
            raise StoreError("sqlite moderation: closed") from exc

    async def open(self) -> None:
        def open_sync() -> None:
            conn = connect(self._path, self._busy_timeout)
            conn.executescript(SCHEMA)
            self._conn = conn

        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, open_sync)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite moderation: {exc}") from exc

    async def close(self) -> None:
        def close_sync() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._pool, close_sync)
        self._pool.shutdown(wait=True)

    async def put_mute(self, mute: Mute, now: float) -> None:
        def put(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM mutes WHERE until <= ?", (now,))
                conn.execute(
                    "INSERT OR REPLACE INTO mutes (room, user, until, reason, muted_by, at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (mute.room, mute.user, mute.until, mute.reason, mute.by, mute.at),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

        await self._run(put)

    async def lift_mute(self, room: str, user: str) -> bool:
        def lift(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute("DELETE FROM mutes WHERE room = ? AND user = ?", (room, user))
            return cursor.rowcount > 0

        return await self._run(lift)

    async def mutes(self, now: float) -> list[Mute]:
        def read(conn: sqlite3.Connection) -> list[Mute]:
            rows = conn.execute(
                "SELECT room, user, until, reason, muted_by, at FROM mutes WHERE until > ?",
                (now,),
            ).fetchall()
            return [Mute(*row) for row in rows]

        return await self._run(read)

    async def record(self, entry: AuditEntry) -> int:
        def insert(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO audit (at, actor, action, room, user, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    entry.at,
                    entry.actor,
                    entry.action,
                    entry.room,
                    entry.user,
                    orjson.dumps(entry.detail).decode(),
                ),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

        return await self._run(insert)

    async def audit(self, before: int | None, limit: int) -> list[AuditEntry]:
        def read(conn: sqlite3.Connection) -> list[AuditEntry]:
            rows = conn.execute(
                "SELECT id, at, actor, action, room, user, detail FROM audit"
                " WHERE id < ? ORDER BY id DESC LIMIT ?",
                (2**63 - 1 if before is None else before, limit),
            ).fetchall()
            return [
                AuditEntry(actor, action, at, room, user, orjson.loads(detail), id_)
                for id_, at, actor, action, room, user, detail in rows
            ]

        return await self._run(read)
