"""The SQLite store's search index: an FTS5 table kept in the append's transaction.

``search`` holds one row per plain message that is not deleted: its current text, and its
room and user as single tokens in ``keys`` (``protocol/search.py: index_keys``), so a room
scope or ``from:`` is part of the MATCH and FTS5 intersects it with the words. The row's
``rowid`` is the message's ``seq`` (kept in ``messages.seq`` too): a counter across rooms in
commit order, so ``ORDER BY rowid DESC`` is newest first and a page stops after ``limit``
hits without ranking every match. An edit rewrites the row's text, a delete removes the
row, retention removes the rows of the messages it drops: all in the same transaction as
the append, so a message acknowledged is searchable and a crash leaves index and log equal.

New rows wait in ``search_pending`` (written in the append's transaction, so as durable as
their messages) and go into the FTS5 table ``INDEX_EVERY`` at a time, and before a search
that finds rows waiting (:func:`index_pending_now`): FTS5 writes a segment and its
structure at each commit that changes it, about 100 us of a small commit's 300 (issue
19), and a commit of a busy server holds a few messages. A search therefore always sees
every message committed before it began.

A database from before search is indexed in the background (:class:`Backfill`): newest
first, in chunks that are transactions of their own on the writer thread, so publishes go
on between them. Old messages take the ``seq`` values below those of every new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from hubbub.errors import InvalidQuery
from hubbub.protocol.corrections import Latest
from hubbub.protocol.messages import DELETE, EDIT, Message
from hubbub.protocol.search import Query, fts_match, index_keys
from hubbub.store.base import Found, SearchScope

# columnsize=0: no per-row column sizes, which only ranking (bm25) reads; hits are newest first.
CREATE = (
    "CREATE VIRTUAL TABLE search USING fts5(text, keys, room UNINDEXED, id UNINDEXED,"
    " columnsize = 0, tokenize = 'unicode61 remove_diacritics 2')"
)
_INDEX = "INSERT INTO search (rowid, text, keys, room, id) VALUES (?, ?, ?, ?, ?)"
PENDING = (
    "CREATE TABLE IF NOT EXISTS search_pending (seq INTEGER PRIMARY KEY, text TEXT NOT NULL,"
    " keys TEXT NOT NULL, room TEXT NOT NULL, id INTEGER NOT NULL)"
)
_PEND = "INSERT INTO search_pending (seq, text, keys, room, id) VALUES (?, ?, ?, ?, ?)"
# Pending rows an append's transaction moves into the index (a search moves any number):
# about 4.5 us of CPU each, so a commit that moves them takes about 1 ms longer.
INDEX_EVERY = 200

CHUNK = 2000  # messages the background indexing takes per transaction


def _meta(conn: sqlite3.Connection, key: str) -> int | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else int(row[0])


def _set_meta(conn: sqlite3.Connection, key: str, value: int) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, str(value)),
    )


def ensure_search_schema(conn: sqlite3.Connection) -> None:
    """Inside ``ensure_schema``'s transaction (which adds ``messages.seq``): the FTS5 table.

    A file that had messages before the table existed keeps ``seq`` 1 to N for them (the
    background indexing hands them out), new messages count from N + 1."""
    conn.execute(PENDING)  # a file from before it has none pending
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'search'").fetchone():
        return
    conn.execute(CREATE)
    old = conn.execute("SELECT COUNT(*) FROM messages WHERE kind IS NULL").fetchone()[0]
    _set_meta(conn, "search_seq", old)
    if old:
        _set_meta(conn, "search_backfill", old)


def drop_search_schema(conn: sqlite3.Connection) -> None:
    """Inside ``ensure_schema``'s transaction, for a store opened without the index: drop
    it, or it would miss what is published meanwhile; the next start with the index
    rebuilds it from the messages in the background."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'search'").fetchone():
        return
    conn.execute("DROP TABLE search")
    conn.execute("DROP TABLE IF EXISTS search_pending")
    conn.execute("UPDATE messages SET seq = NULL WHERE seq IS NOT NULL")
    conn.execute("DELETE FROM meta WHERE key IN ('search_seq', 'search_backfill')")


class Known:
    """What the writer knows of the index between its transactions, when no other process
    writes the file (two statements fewer a commit, issue 19): the last ``seq`` handed
    out, and the oldest pending row's (None: none, or not known: read it). ``oldest`` may
    be older than the truth (a search or a delete moved rows meanwhile): the rows then
    move into the index sooner, never later. Forgotten (``reset``) when a transaction
    fails."""

    __slots__ = ("oldest", "seq")

    def __init__(self) -> None:
        self.seq: int | None = None
        self.oldest: int | None = None

    def reset(self) -> None:
        self.seq = self.oldest = None


class Indexer:
    """The index's side of one append transaction, on the writer thread.

    New rows wait in ``_rows`` and go into ``search_pending`` with one ``executemany`` (a
    call per row was a tenth of the index's cost); a correction or trim first writes them,
    as it may touch one. A row is corrected or removed in both tables (it is in one).
    ``known``: kept between transactions (:class:`Known`); None: everything read from the
    file (servers sharing it).
    """

    __slots__ = ("_conn", "_keys", "_known", "_rows", "seq")

    def __init__(self, conn: sqlite3.Connection, known: Known | None = None) -> None:
        self._conn = conn
        self._known = known
        if known is not None and known.seq is not None:
            self.seq = known.seq
        else:
            self.seq = _meta(conn, "search_seq") or 0
        # A batch is mostly a few rooms and users: each pair's keys are made once per batch.
        self._keys: dict[tuple[str, str], str] = {}
        self._rows: list[tuple[int, str, str, str, int]] = []

    def add(self, message: Message, seq: int) -> None:
        """A plain message just stored with ``seq``."""
        pair = (message.room, message.user)
        keys = self._keys.get(pair)
        if keys is None:
            keys = self._keys[pair] = index_keys(message.room, message.user)
        self._rows.append((seq, message.text, keys, message.room, message.id))
        self.seq = seq

    def _write(self) -> None:
        if self._rows:
            self._conn.executemany(_PEND, self._rows)
            self._rows.clear()

    def correct(self, message: Message) -> None:
        """An edit rewrites its target's row, a delete removes it (a row already gone,
        its message deleted, stays gone: a delete is final)."""
        self._write()
        row = self._conn.execute(
            "SELECT seq FROM messages WHERE room = ? AND id = ?", (message.room, message.target)
        ).fetchone()
        if row is None or row[0] is None:  # not indexed yet: the backfill reads it as it is
            return
        if message.kind == DELETE:
            self._conn.execute("DELETE FROM search WHERE rowid = ?", (row[0],))
            self._conn.execute("DELETE FROM search_pending WHERE seq = ?", (row[0],))
        elif message.kind == EDIT:
            self._conn.execute("UPDATE search SET text = ? WHERE rowid = ?", (message.text, row[0]))
            self._conn.execute(
                "UPDATE search_pending SET text = ? WHERE seq = ?", (message.text, row[0])
            )

    def trim(self, room: str, first_id: int) -> None:
        """Before retention deletes the room's ids below ``first_id``: their rows."""
        self._write()
        rows = self._conn.execute(
            "SELECT seq FROM messages WHERE room = ? AND id < ? AND seq IS NOT NULL",
            (room, first_id),
        ).fetchall()
        _forget(self._conn, rows)

    def finish(self, started: int) -> None:
        """Last in the transaction: the counter, and the pending rows into the index once
        ``INDEX_EVERY`` wait. What it learnt is kept in ``known`` (reset by the caller if
        the COMMIT fails)."""
        self._write()
        known = self._known
        if self.seq != started:
            _set_meta(self._conn, "search_seq", self.seq)
            # The oldest pending row (seqs are handed out in order; corrections leave gaps).
            if known is None or known.oldest is None:
                oldest = self._conn.execute("SELECT min(seq) FROM search_pending").fetchone()[0]
            else:
                oldest = known.oldest
            if oldest is not None and self.seq - oldest + 1 >= INDEX_EVERY:
                index_pending(self._conn)
                oldest = None
            if known is not None:
                known.oldest = oldest
        if known is not None:
            known.seq = self.seq


def index_pending(conn: sqlite3.Connection) -> None:
    """Inside a write transaction: every pending row into the index."""
    conn.execute(
        "INSERT INTO search (rowid, text, keys, room, id)"
        " SELECT seq, text, keys, room, id FROM search_pending ORDER BY seq"
    )
    conn.execute("DELETE FROM search_pending")


def index_pending_now(conn: sqlite3.Connection) -> None:
    """On the writer, before a search: every row pending (of every process sharing the
    file) into the index, in a transaction of its own. Run after the search was asked
    for, so every message acknowledged before it is found."""
    if conn.execute("SELECT 1 FROM search_pending LIMIT 1").fetchone() is None:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        index_pending(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _forget(conn: sqlite3.Connection, seqs: list[tuple[int]]) -> None:
    """The rows of ``seqs`` leave the index, or the rows waiting for it."""
    conn.executemany("DELETE FROM search WHERE rowid = ?", seqs)
    conn.executemany("DELETE FROM search_pending WHERE seq = ?", seqs)


def forget_room(conn: sqlite3.Connection, room: str) -> None:
    """Inside the transaction that clears ``room``: its rows leave the index."""
    rows = conn.execute(
        "SELECT seq FROM messages WHERE room = ? AND seq IS NOT NULL", (room,)
    ).fetchall()
    _forget(conn, rows)


# Searching, on the reader thread


def _seq_below(conn: sqlite3.Connection, room: str, before: int) -> int:
    """The ``seq`` of the room's first message with id >= ``before`` (or just after its
    newest one): hits below it are the page's."""
    row = conn.execute(
        "SELECT seq FROM messages WHERE room = ? AND id >= ? AND seq IS NOT NULL"
        " ORDER BY id LIMIT 1",
        (room, before),
    ).fetchone()
    if row is not None:
        return int(row[0])
    row = conn.execute(
        "SELECT seq FROM messages WHERE room = ? AND id < ? AND seq IS NOT NULL"
        " ORDER BY id DESC LIMIT 1",
        (room, before),
    ).fetchone()
    return 0 if row is None else int(row[0]) + 1


# The hits, newest first, joined to their messages and their newest edit's time in one
# statement (a query per hit was half the time of a search with few hits). The edit is
# found through the corrections' index: left to itself the planner walked the room.
_HITS = """
SELECT m.id, m.room, m.user, m.ts, m.client_id, hit.text,
       (SELECT e.ts FROM messages e INDEXED BY messages_target
          WHERE e.room = m.room AND e.target = m.id AND e.target IS NOT NULL
          AND e.kind = 'edit' ORDER BY e.id DESC LIMIT 1)
FROM (SELECT rowid, room, id, text FROM search WHERE search MATCH ?{where}
      ORDER BY rowid DESC LIMIT ?) AS hit
JOIN messages m ON m.room = hit.room AND m.id = hit.id
ORDER BY hit.rowid DESC
"""


def search(
    conn: sqlite3.Connection, query: Query, scope: SearchScope, *, whole: bool = True
) -> list[Found] | None:
    """The newest ``scope.limit`` hits, read in one snapshot. ``whole``: None if that
    snapshot has rows waiting for the index (:func:`index_pending_now` first, then
    search again with ``whole=False``: what waits then came after the search began)."""
    match = fts_match(query, scope.rooms)
    conn.execute("BEGIN")
    try:
        if whole and conn.execute("SELECT 1 FROM search_pending LIMIT 1").fetchone():
            return None
        params: list[object] = [match]
        where = ""
        if scope.before is not None:
            where = " AND rowid < ?"
            params.append(_seq_below(conn, *scope.before))
        params.append(scope.limit)
        try:
            rows = conn.execute(_HITS.format(where=where), params).fetchall()
        except sqlite3.OperationalError as exc:  # quoting makes this unreachable; still a 400
            if "fts5" not in str(exc):
                raise
            raise InvalidQuery("the index cannot take this query") from exc
    finally:
        conn.execute("COMMIT")
    # Only plain messages are indexed: the original text is not needed, the hit's is.
    return [
        Found(Message(id_, room, user, text, ts, client_id), text, edited)
        for id_, room, user, ts, client_id, text, edited in rows
    ]


# Indexing a database from before search


def backfill_left(conn: sqlite3.Connection) -> int | None:
    """None when every message is indexed; else the ``seq`` the next one takes."""
    return _meta(conn, "search_backfill")


def make_todo(conn: sqlite3.Connection) -> int:
    """On the indexing connection: the messages to index, newest first, in a temporary
    table (one sort, read in a snapshot; the writer is never held). Returns how many."""
    conn.execute("DROP TABLE IF EXISTS temp.search_todo")
    conn.execute(
        "CREATE TEMP TABLE search_todo AS SELECT room, id FROM messages"
        " WHERE seq IS NULL AND kind IS NULL ORDER BY ts DESC, room, id DESC"
    )
    return int(conn.execute("SELECT COUNT(*) FROM temp.search_todo").fetchone()[0])


def todo_chunk(conn: sqlite3.Connection, after: int) -> list[tuple[int, str, int]]:
    """The next ``CHUNK`` of the todo after its row ``after``: ``(row, room, id)``."""
    rows = conn.execute(
        "SELECT rowid, room, id FROM temp.search_todo WHERE rowid > ? ORDER BY rowid LIMIT ?",
        (after, CHUNK),
    ).fetchall()
    return [(int(r), str(room), int(i)) for r, room, i in rows]


# Through the corrections' index (left to itself the planner walks the whole room).
_CORRECTIONS = (
    "SELECT kind, text, ts FROM messages INDEXED BY messages_target"
    " WHERE room = ? AND target = ? AND target IS NOT NULL ORDER BY id"
)


def index_chunk(conn: sqlite3.Connection, chunk: Iterable[tuple[int, str, int]]) -> None:
    """On the writer, one transaction: give each message its ``seq`` and index its
    current text (what its edits and deletes left)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        seq = backfill_left(conn)
        if seq is None:  # another server sharing the file finished it
            conn.execute("COMMIT")
            return
        for _, room, id_ in chunk:
            row = conn.execute(
                "SELECT user, text, seq FROM messages WHERE room = ? AND id = ?", (room, id_)
            ).fetchone()
            if row is None or row[2] is not None or seq < 1:
                continue  # dropped by retention, or indexed already
            user, text, _ = row
            state = Latest()
            for kind, correction, ts in conn.execute(_CORRECTIONS, (room, id_)):
                state.apply(Message(0, room, user, correction, ts, None, kind))
            conn.execute("UPDATE messages SET seq = ? WHERE room = ? AND id = ?", (seq, room, id_))
            if not state.deleted:
                current = text if state.text is None else state.text
                conn.execute(_INDEX, (seq, current, index_keys(room, user), room, id_))
            seq -= 1
        _set_meta(conn, "search_backfill", seq)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def finish_backfill(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM meta WHERE key = 'search_backfill'")
