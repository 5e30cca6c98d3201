"""One batch of publishes in one write transaction of the SQLite store, on its writer
thread: ids from the room's newest row, the rows, retention, the search index's part, and
the ``max_rooms`` cap checked inside the write lock.

A room's newest id is ``max(id)`` of its rows in ``messages`` (one seek in the primary
key), not a number kept in ``rooms``: rewriting the room's row at every message was a
second page in the WAL per message (issue 19). ``rooms`` holds a row per room that has
held messages: its own epoch (set by ``clear``) and ``last_id``, which says only whether
the room holds messages now (0 after ``clear``, else the id its first message took or, in
a file from before, its newest id); it is written when a room gets its first message and
when it is cleared. Retention always keeps a room's newest message, so ``max(id)`` never
goes back.

When no other process appends to the file, the writer also keeps what it knows of the
rooms it wrote lately (:class:`KnownRooms`): their newest id and epoch, so a batch reads
from the file only the rooms it has not met (that read was a sixth of the writer's time in
the chat shape, issue 19)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from hubbub.errors import StoreError
from hubbub.protocol.messages import MESSAGE, Message
from hubbub.store.base import Appended, Stamped, bounds_after, refused_append
from hubbub.store.sqlite_search import Indexer, Known

COLUMNS = "id, room, user, text, ts, client_id, kind, target"
# A room's newest id, for a query over ``rooms`` (``rooms.name`` in scope).
NEWEST_ID = "(SELECT max(id) FROM messages WHERE messages.room = rooms.name)"
# Rooms per SELECT ... IN (...): under SQLite's limit on bound variables.
ROOMS_PER_QUERY = 500
# Rooms whose state the writer keeps (KnownRooms): about 150 bytes each.
KNOWN_ROOMS = 100_000

Row = tuple[int, str, str, str, int, str | None, str | None, int | None]

_INSERT = (
    f"INSERT INTO messages ({COLUMNS}, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (room, client_id) WHERE client_id IS NOT NULL DO NOTHING"
)


def count_rooms(conn: sqlite3.Connection) -> int:
    # A scan of the rooms table (a few milliseconds per 100,000 rooms), hence kept once counted.
    row = conn.execute("SELECT COUNT(*) FROM rooms WHERE last_id > 0").fetchone()
    return int(row[0])


def row_message(row: Row) -> Message:
    # kind is NULL for a plain message (and for every row of a file from before corrections).
    return Message(*row[:6], kind=row[6] or MESSAGE, target=row[7])


RoomState = tuple[int, str]  # a room's newest id (0: it holds none) and epoch


class KnownRooms:
    """The state of the rooms the writer wrote lately, between its transactions,
    when no other process writes the file: the writer is then the only one to change a
    room's newest id (an append) or epoch (a clear). At most ``limit`` rooms; the one
    written longest ago goes first. Told only what a committed transaction wrote: one
    that fails leaves it as it was, like the file."""

    __slots__ = ("_limit", "_rooms")

    def __init__(self, limit: int = KNOWN_ROOMS) -> None:
        self._limit = limit
        self._rooms: dict[str, RoomState] = {}

    def __len__(self) -> int:
        return len(self._rooms)

    def get(self, room: str) -> RoomState | None:
        return self._rooms.get(room)

    def keep(self, room: str, state: RoomState) -> None:
        rooms = self._rooms
        # Taken out first, so the dict's order is the order of the last writes.
        if rooms.pop(room, None) is None and len(rooms) >= self._limit:
            del rooms[next(iter(rooms))]
        rooms[room] = state

    def forget(self, room: str) -> None:
        self._rooms.pop(room, None)


class SQLiteAppender:
    """Appends batches on the write connection it is handed (the writer thread's)."""

    __slots__ = (
        "_index_known",
        "_max_rooms",
        "_retain",
        "_search",
        "_shared",
        "generation",
        "known_rooms",
        "room_count",
    )

    def __init__(
        self, *, search: bool, retain: int | None, max_rooms: int | None, shared: bool
    ) -> None:
        self._search = search
        self._retain = retain
        self._max_rooms = max_rooms
        self._shared = shared
        # The database's epoch, for rooms without one of their own (set once it is open).
        self.generation = ""
        # Rooms holding messages, known to the writer thread; None: count it again (at open,
        # after a rollback, and always when other processes share the file and may have
        # added rooms).
        self.room_count: int | None = None
        # The index's counter and oldest pending row between transactions: only when no
        # other process appends to the file.
        self._index_known = None if shared else Known()
        # Rooms' newest ids and epochs between transactions: only when no other process
        # appends to the file (or clears a room in it).
        self.known_rooms = None if shared else KnownRooms()

    def append(self, conn: sqlite3.Connection, batch: Sequence[Stamped]) -> list[Appended]:
        # Rows go in with one executemany, counting on no client_id being used already (a
        # retry is rare); when one was, the batch is done again row by row, which finds it.
        # Corrections always go row by row: the index reads the row each one corrects.
        if all(item.publish.kind == MESSAGE for item in batch):
            results = self._transaction(conn, batch, each=False)
            if results is not None:
                return results
        results = self._transaction(conn, batch, each=True)
        assert results is not None
        return results

    def _transaction(
        self, conn: sqlite3.Connection, batch: Sequence[Stamped], *, each: bool
    ) -> list[Appended] | None:
        """One transaction appending ``batch``. ``each``: a statement per row, which
        finds a ``client_id`` used already; else one for all of them, and None (rolled
        back) when one was used already."""
        # Per room touched: (last_id, epoch), read inside the transaction.
        touched: set[str] = set()
        new_rooms: set[str] = set()
        results: list[Appended] = []
        rows: list[tuple[object, ...]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            rooms = self._room_states(conn, {item.publish.room for item in batch})
            index = Indexer(conn, self._index_known) if self._search else None
            started = 0 if index is None else index.seq
            for item in batch:
                pub = item.publish
                state = rooms[pub.room]
                last_id, epoch = state
                if not last_id and pub.room not in new_rooms:
                    # The cap is checked here, inside the write lock: no other batch or process
                    # can create a room between this count and this batch's COMMIT.
                    if self._at_room_cap(conn, len(new_rooms)):
                        results.append(refused_append(item, epoch))
                        continue
                    new_rooms.add(pub.room)
                new_id = last_id + 1
                kind = None if pub.kind == MESSAGE else pub.kind
                # Plain messages take the next seq (their place in the search index).
                seq = None if index is None or kind is not None else index.seq + 1
                values = (
                    new_id,
                    pub.room,
                    pub.user,
                    pub.text,
                    item.ts,
                    pub.client_id,
                    kind,
                    pub.target,
                    seq,
                )
                if not each:
                    rows.append(values)
                # One statement: a client_id already used in the room inserts nothing
                # (a lookup before every insert was a third of the writer's time).
                elif conn.execute(_INSERT, values).rowcount == 0:
                    found = conn.execute(
                        f"SELECT {COLUMNS} FROM messages WHERE room = ? AND client_id = ?",
                        (pub.room, pub.client_id),
                    ).fetchone()
                    if found is None:
                        raise StoreError(f"room {pub.room}: id {new_id} is taken")
                    results.append(Appended(row_message(found), False, epoch))
                    continue
                rooms[pub.room] = (new_id, epoch)
                touched.add(pub.room)
                message = item.message(new_id)
                if index is not None:
                    if seq is not None:
                        index.add(message, seq)
                    else:
                        index.correct(message)
                results.append(Appended(message, True, epoch))
            if rows and conn.executemany(_INSERT, rows).rowcount != len(rows):
                conn.execute("ROLLBACK")  # a client_id used already: row by row instead
                return None
            if new_rooms:  # the others' rows stay as they are: their ids are their rows'
                conn.executemany(
                    "INSERT INTO rooms (name, last_id) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id",
                    [(room, rooms[room][0]) for room in new_rooms],
                )
            if self._retain is not None:
                for room in touched:
                    first_id = bounds_after(rooms[room][0], self._retain, "").first_id
                    if index is not None:
                        index.trim(room, first_id)
                    conn.execute("DELETE FROM messages WHERE room = ? AND id < ?", (room, first_id))
            if index is not None:
                index.finish(started)
            conn.execute("COMMIT")
        except BaseException:
            self.room_count = None
            if self._index_known is not None:
                self._index_known.reset()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if self.room_count is not None:
            self.room_count += len(new_rooms)
        if self.known_rooms is not None:
            for room in touched:
                self.known_rooms.keep(room, rooms[room])
        return results

    def cleared(self, room: str) -> None:
        """``room`` was cleared (its newest id and epoch changed, and it may no longer
        count as holding messages): what is kept of it is read again."""
        self.room_count = None
        if self.known_rooms is not None:
            self.known_rooms.forget(room)

    def _room_states(self, conn: sqlite3.Connection, names: set[str]) -> dict[str, RoomState]:
        """``(last_id, epoch)`` of each of ``names``: from :class:`KnownRooms` when the
        writer knows it, else read, in one statement per 500 rooms (a statement per room
        was a tenth of a small batch's time). A room without a row in ``rooms`` never held
        messages."""
        found: dict[str, RoomState] = {}
        unknown: list[str] = []
        known = self.known_rooms
        for name in names:
            state = None if known is None else known.get(name)
            if state is None:
                unknown.append(name)
                state = (0, self.generation)
            found[name] = state
        for start in range(0, len(unknown), ROOMS_PER_QUERY):
            part = unknown[start : start + ROOMS_PER_QUERY]
            marks = ",".join("?" * len(part))
            for name, last_id, epoch in conn.execute(
                f"SELECT name, {NEWEST_ID}, epoch FROM rooms WHERE name IN ({marks})", part
            ):
                found[name] = (last_id or 0, epoch or self.generation)
        return found

    def _at_room_cap(self, conn: sqlite3.Connection, created: int) -> bool:
        """Whether one more new room would pass ``max_rooms``, ``created`` new ones in this
        transaction so far. Counts the table once, then keeps the count (unless shared)."""
        if self._max_rooms is None:
            return False
        if self.room_count is None or self._shared:
            self.room_count = count_rooms(conn)
        return self.room_count + created >= self._max_rooms
