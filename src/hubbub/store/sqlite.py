"""The embedded default store: SQLite in WAL mode, kept off the event loop.

One writer thread owns the write connection and commits whole batches in one
transaction (group commit: the node hands over everything that queued up while
the previous transaction was running). A reader thread with its own connection
serves range reads; WAL lets it read while the writer commits.

``synchronous=FULL`` (the default) makes a commit survive power loss, not only
a killed process: a ``201`` promises the message is durable. ``normal`` keeps
every commit across a crash of the process but may lose the last ones to a
power cut or a kernel crash; the operator chooses it knowingly.

Ids are taken inside the write transaction from the room's newest row (``max(id)``),
never from a cache, so several processes may append to one file (``shared``, with a broker
carrying messages between them). Without ``shared`` the store takes an exclusive
lock on ``FILE.lock`` and a second server on the same file refuses to start,
naming the process that holds it.

Every room's epoch is ``rooms.epoch`` or, when that is NULL, the database's
generation (``meta``), which ``hubbub restore`` changes: a restored backup is a
new epoch for every room, so clients are told a reset instead of being served a
refilled log as if it were the one they had read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from hubbub.errors import Indexing, SearchUnavailable, StoreError
from hubbub.protocol.cursors import Bounds
from hubbub.protocol.messages import Message
from hubbub.protocol.search import Query
from hubbub.protocol.tokens import ABOVE_NAMES
from hubbub.runtime import as_batch_thread
from hubbub.store import sqlite_search
from hubbub.store.base import (
    Appended,
    Found,
    SearchScope,
    Stamped,
    bounds_after,
)
from hubbub.store.epochs import new_epoch
from hubbub.store.sqlite_append import (
    COLUMNS,
    NEWEST_ID,
    ROOMS_PER_QUERY,
    SQLiteAppender,
    count_rooms,
    row_message,
)
from hubbub.store.sqlite_checkpoints import Checkpoints, finish_checkpoint, stop_checkpointing
from hubbub.store.sqlite_files import FileLock, connect, ensure_schema

log = logging.getLogger(__name__)

T = TypeVar("T")


# Below this much free space where the file is, /healthz says the store takes no writes:
# a batch of commits needs about this much WAL (2,000 messages of a few hundred bytes).
MIN_FREE_BYTES = 1024 * 1024


def free_bytes(path: str) -> int:
    """Space an unprivileged writer may still use on the filesystem holding ``path``."""
    found = os.statvfs(os.path.dirname(os.path.abspath(path)))
    return found.f_bavail * found.f_frsize


def _index_chunk(chunk: list[tuple[int, str, int]], conn: sqlite3.Connection) -> None:
    sqlite_search.index_chunk(conn, chunk)


class SQLiteStore:
    """Rooms as rows of one table, keyed by ``(room, id)``."""

    durable = True

    def __init__(
        self,
        path: str,
        retain: int | None = None,
        *,
        busy_timeout: float = 5.0,
        shared: bool = False,
        synchronous: str = "full",
        max_rooms: int | None = None,
        search: bool = True,
    ) -> None:
        if retain is not None and retain < 1:  # a room's newest row is its last id: kept
            raise ValueError("retain must be at least 1")
        self._path = path
        # The FTS5 index (sqlite_search.py); False: none, and searches answer 501.
        self._search = search
        # The background indexing of a file from before search, while it runs.
        self._backfill: asyncio.Task[None] | None = None
        self._search_ready = True
        self._backfill_progress = (0, 0)  # messages indexed, of how many
        self._shared = shared
        self._synchronous = synchronous
        # How long a write waits for another process's lock before it is refused (503).
        self._busy_timeout = busy_timeout
        self._retain = retain
        # The write transaction of a batch (sqlite_append.py), on the writer thread.
        self._appender = SQLiteAppender(
            search=search, retain=retain, max_rooms=max_rooms, shared=shared
        )
        self._lock = FileLock(path, shared=shared)
        self._writer = ThreadPoolExecutor(
            1, thread_name_prefix="hubbub-sqlite-writer", initializer=as_batch_thread
        )
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="hubbub-sqlite-reader")
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        # The WAL's checkpoints, off the commits (sqlite_checkpoints.py); None when shared.
        self._checkpoints: Checkpoints | None = None
        self._generation = ""
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _run(self, pool: ThreadPoolExecutor, func: Callable[[], T]) -> T:
        try:
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            return await loop.run_in_executor(pool, func)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc
        except RuntimeError as exc:  # the executor is shut down: the store is closed
            raise StoreError("sqlite: store is closed") from exc

    async def open(self) -> None:
        def open_sync() -> bool:
            """Opens the file; True when it holds messages from before search."""
            self._lock.acquire()
            try:
                self._write_conn = connect(self._path, self._busy_timeout, self._synchronous)
                self._generation = ensure_schema(self._write_conn, new_epoch(), search=self._search)
                self._appender.generation = self._generation
                self._read_conn = connect(self._path, self._busy_timeout, self._synchronous)
                if not self._shared:
                    stop_checkpointing(self._write_conn)
                    self._checkpoints = Checkpoints(
                        self._path, self._busy_timeout, self._synchronous
                    )
                    self._checkpoints.start()
            except BaseException:
                self._lock.release()
                raise
            return self._search and sqlite_search.backfill_left(self._write_conn) is not None

        if await self._run(self._writer, open_sync):
            self._search_ready = False
            self._backfill = asyncio.get_running_loop().create_task(
                self._index_old_messages(), name="hubbub-search-backfill"
            )

    async def close(self) -> None:
        if self._backfill is not None:
            self._backfill.cancel()
            await asyncio.gather(self._backfill, return_exceptions=True)

        def close_sync(conn: sqlite3.Connection | None) -> Callable[[], None]:
            def run() -> None:
                if conn is not None:
                    conn.close()

            return run

        if self._search and self._write_conn is not None:
            # Not needed by this version (a search indexes what waits) but by an older one.
            with contextlib.suppress(StoreError):
                await self._on_writer(sqlite_search.index_pending_now)
        if self._checkpoints is not None:
            await self._run(self._writer, self._checkpoints.stop)
        await self._run(self._writer, close_sync(self._write_conn))
        await self._run(self._reader, close_sync(self._read_conn))
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)
        self._lock.release()

    async def append(self, batch: Sequence[Stamped]) -> list[Appended]:
        return await self._run(self._writer, lambda: self._append_sync(batch))

    def _append_sync(self, batch: Sequence[Stamped]) -> list[Appended]:
        conn = self._write_conn
        if conn is None:
            raise StoreError("store is not open")
        results = self._appender.append(conn, batch)
        if self._checkpoints is not None and self._checkpoints.take_request():
            finish_checkpoint(conn)  # committed already: a failure here is only logged
        return results

    async def bounds(self, room: str) -> Bounds:
        def read() -> Bounds:
            assert self._read_conn is not None
            # One row always: NULLs for a room that never held messages.
            last_id, epoch = self._read_conn.execute(
                "SELECT (SELECT max(id) FROM messages WHERE room = ?1),"
                " (SELECT epoch FROM rooms WHERE name = ?1)",
                (room,),
            ).fetchone()
            return bounds_after(last_id or 0, self._retain, epoch or self._generation)

        return await self._run(self._reader, read)

    async def bounds_many(self, rooms: Sequence[str]) -> dict[str, Bounds]:
        names = list(dict.fromkeys(rooms))

        def read() -> dict[str, Bounds]:
            assert self._read_conn is not None
            found: dict[str, tuple[int, str]] = {}
            for start in range(0, len(names), ROOMS_PER_QUERY):
                part = names[start : start + ROOMS_PER_QUERY]
                marks = ",".join("?" * len(part))
                rows = self._read_conn.execute(
                    f"SELECT name, {NEWEST_ID}, epoch FROM rooms WHERE name IN ({marks})", part
                ).fetchall()
                found.update((row[0], (row[1] or 0, row[2])) for row in rows)
            return {
                name: bounds_after(found[name][0], self._retain, found[name][1] or self._generation)
                if name in found
                else bounds_after(0, self._retain, self._generation)
                for name in names
            }

        return await self._run(self._reader, read)

    async def _select(self, where: str, params: tuple[object, ...]) -> list[Message]:
        """The messages ``SELECT ... FROM messages WHERE <where>`` finds, on the reader."""

        def read() -> list[Message]:
            assert self._read_conn is not None
            rows = self._read_conn.execute(
                f"SELECT {COLUMNS} FROM messages WHERE {where}", params
            ).fetchall()
            return [row_message(row) for row in rows]

        return await self._run(self._reader, read)

    async def read_after(self, room: str, since: int, limit: int) -> list[Message]:
        return await self._select("room = ? AND id > ? ORDER BY id LIMIT ?", (room, since, limit))

    async def read_before(self, room: str, before: int, limit: int) -> list[Message]:
        newest_first = await self._select(
            "room = ? AND id < ? ORDER BY id DESC LIMIT ?", (room, before, limit)
        )
        return newest_first[::-1]

    async def corrections(self, room: str, first: int, last: int) -> list[Message]:
        return await self._select(
            "room = ? AND target BETWEEN ? AND ? ORDER BY id", (room, first, last)
        )

    async def list_rooms(
        self, after: str | None, limit: int, until: str | None = None
    ) -> list[tuple[str, int]]:
        def read() -> list[tuple[str, int]]:
            assert self._read_conn is not None
            rows = self._read_conn.execute(
                f"SELECT name, {NEWEST_ID} FROM rooms WHERE name > ? AND name <= ?"
                " AND last_id > 0 ORDER BY name LIMIT ?",
                ("" if after is None else after, ABOVE_NAMES if until is None else until, limit),
            ).fetchall()
            return [(name, last_id) for name, last_id in rows]

        return await self._run(self._reader, read)

    async def count_rooms(self) -> int:
        known = self._appender.room_count
        if known is not None and not self._shared:
            return known

        def read() -> int:
            assert self._read_conn is not None
            return count_rooms(self._read_conn)

        return await self._run(self._reader, read)

    async def clear(self, room: str) -> str:
        epoch = new_epoch()

        def clear_sync() -> None:
            conn = self._write_conn
            if conn is None:
                raise StoreError("store is not open")
            conn.execute("BEGIN IMMEDIATE")
            try:
                if self._search:  # the index forgets the room's messages with them
                    sqlite_search.forget_room(conn, room)
                conn.execute("DELETE FROM messages WHERE room = ?", (room,))
                # The row stays, with no messages and its own new epoch: without a row the
                # room's epoch would fall back to the database's, perhaps the old one.
                conn.execute(
                    "INSERT INTO rooms (name, last_id, epoch) VALUES (?, 0, ?)"
                    " ON CONFLICT (name) DO UPDATE SET last_id = 0, epoch = excluded.epoch",
                    (room, epoch),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._appender.cleared(room)

        await self._run(self._writer, clear_sync)
        return epoch

    async def ping(self) -> bool:
        """Whether a write could be taken now: the write lock can be taken (and is let
        go), and the file's filesystem has room for a commit. A full disk lets the lock
        be taken and every commit fail; a probe commit would not tell either, as it
        rewrites WAL space a failed commit left allocated."""

        def check() -> bool:
            conn = self._write_conn
            assert conn is not None
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return free_bytes(self._path) >= MIN_FREE_BYTES

        try:
            return await self._run(self._writer, check)
        except (StoreError, OSError):  # OSError: the file's directory is gone
            return False

    # Search (sqlite_search.py)

    async def search(self, query: Query, scope: SearchScope) -> list[Found]:
        if not self._search:
            raise SearchUnavailable("this server keeps no search index")
        if not self._search_ready:
            done, total = self._backfill_progress
            raise Indexing(f"the search index is being built: {done} of {total} messages")

        def read(whole: bool) -> list[Found] | None:
            assert self._read_conn is not None
            return sqlite_search.search(self._read_conn, query, scope, whole=whole)

        found = await self._run(self._reader, partial(read, True))
        if found is None:  # rows wait for the index: in first, so every acknowledged is found
            await self._on_writer(sqlite_search.index_pending_now)
            found = await self._run(self._reader, partial(read, False))
        assert found is not None
        return found

    async def indexed(self) -> None:
        """Return once the messages from before search are indexed (at once if none were)."""
        if self._backfill is not None:
            await asyncio.shield(self._backfill)

    async def _index_old_messages(self) -> None:
        """Index what the file held before search, newest first, a chunk per write
        transaction; the todo is sorted once on a connection of its own."""
        pool = ThreadPoolExecutor(1, thread_name_prefix="hubbub-sqlite-indexer")
        conn = await self._run(pool, lambda: connect(self._path, self._busy_timeout))
        try:
            total = await self._run(pool, lambda: sqlite_search.make_todo(conn))
            log.info("search: indexing %d messages stored before search existed", total)
            started, done, after, logged = time.monotonic(), 0, 0, 0.0
            self._backfill_progress = (0, total)
            while chunk := await self._run(pool, partial(sqlite_search.todo_chunk, conn, after)):
                await self._on_writer(partial(_index_chunk, chunk))
                after, done = chunk[-1][0], done + len(chunk)
                self._backfill_progress = (done, total)
                if time.monotonic() - logged >= 5 or done == total:
                    logged = time.monotonic()
                    log.info("search: indexed %d of %d messages", done, total)
            await self._on_writer(sqlite_search.finish_backfill)
            self._search_ready = True
            log.info("search: index ready (%.1f s)", time.monotonic() - started)
        except StoreError as exc:  # searches answer 503 until a restart indexes the rest
            log.error("search: indexing stopped: %s", exc)
        finally:
            await self._run(pool, conn.close)
            pool.shutdown(wait=False)

    async def _on_writer(self, func: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            assert self._write_conn is not None
            return func(self._write_conn)

        return await self._run(self._writer, run)
