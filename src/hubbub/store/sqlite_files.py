"""The SQLite store's file: its schema, its lock, and restoring a backup into it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from pathlib import Path

from hubbub.errors import StoreError
from hubbub.store.epochs import new_epoch
from hubbub.store.sqlite_search import drop_search_schema, ensure_search_schema

# A backup file's permissions (its journal, made by SQLite while it is written, gets
# the same).
BACKUP_MODE = 0o600

# rooms: a row per room that has held messages, with its own epoch (NULL: the database's).
# Its last_id is not the room's newest id (that is max(messages.id), sqlite_append.py) but
# whether it holds messages: 0 once cleared, else positive (the newest id in a file from
# before issue 19, whose servers took ids from it: they must not open a file this one wrote).
SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    name    TEXT PRIMARY KEY,
    last_id INTEGER NOT NULL,
    epoch   TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    room      TEXT NOT NULL,
    id        INTEGER NOT NULL,
    user      TEXT NOT NULL,
    text      TEXT NOT NULL,
    ts        INTEGER NOT NULL,
    client_id TEXT,
    kind      TEXT,
    target    INTEGER,
    PRIMARY KEY (room, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS messages_client_id
    ON messages (room, client_id) WHERE client_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""


SYNCHRONOUS = ("full", "normal")


def connect(path: str, busy_timeout: float, synchronous: str = "full") -> sqlite3.Connection:
    """A connection in WAL mode. ``synchronous``: ``full`` syncs the WAL at every commit
    (a commit survives power loss); ``normal`` syncs it only at checkpoints (a commit
    survives a crash of the process, not of the machine)."""
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS}")
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    _enter_wal(conn, busy_timeout)
    conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    return conn


def _enter_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """``journal_mode=WAL``, retried while the file is locked: a process that read a new
    file in rollback mode while another turned it to WAL is refused at once, without
    SQLite's busy wait (``--workers 2`` on a fresh file failed so, once in nine starts,
    in the benchmark)."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def ensure_schema(conn: sqlite3.Connection, candidate: str, *, search: bool = True) -> str:
    """Create or upgrade the schema; return the database's generation epoch.

    ``candidate`` becomes the generation of a database that has none yet. ``search``: with
    the search index (``sqlite_search.py``).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(rooms)")}
        if "epoch" not in columns:  # a database from before epochs
            conn.execute("ALTER TABLE rooms ADD COLUMN epoch TEXT")
        columns = {row[1] for row in conn.execute("PRAGMA table_info(messages)")}
        if "kind" not in columns:  # a database from before edits and deletes: NULL is a message
            conn.execute("ALTER TABLE messages ADD COLUMN kind TEXT")
            conn.execute("ALTER TABLE messages ADD COLUMN target INTEGER")
        if "seq" not in columns:  # a database from before search: its place in the index
            conn.execute("ALTER TABLE messages ADD COLUMN seq INTEGER")
        # After the columns exist: a file from before them gets the index too.
        conn.execute(
            "CREATE INDEX IF NOT EXISTS messages_target ON messages (room, target)"
            " WHERE target IS NOT NULL"
        )
        if search:
            ensure_search_schema(conn)
        else:
            drop_search_schema(conn)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('generation', ?) ON CONFLICT DO NOTHING",
            (candidate,),
        )
        row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return str(row[0])


class FileLock:
    """``FILE.lock``: exclusive for a server of its own, shared for servers sharing the file.

    Holders write their pids into the lock file, one a line, so a refused server can say
    who holds it: an exclusive holder alone, shared holders each adding theirs (pids no
    longer running dropped as they do), and the refused server names those still running.
    """

    def __init__(self, path: str, *, shared: bool) -> None:
        self.path = f"{path}.lock"
        self._db = path
        self._shared = shared
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open {self.path}: {exc.strerror}") from exc
        mode = fcntl.LOCK_SH if self._shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            holders = _running(_read_pids(fd))
            os.close(fd)
            who = "another process"
            if holders:
                listed = ", ".join(str(pid) for pid in holders)
                who = f"process{'es' if len(holders) > 1 else ''} {listed}"
            raise StoreError(
                f"{self._db} is in use by another hubbub server ({who}); stop it, give this "
                "server its own --db, or run both with --redis to share the file"
            ) from None
        pids = [os.getpid()]
        if self._shared:
            # Another shared holder may be rewriting the list: one at a time (a POSIX
            # record lock, independent of the flock above).
            fcntl.lockf(fd, fcntl.LOCK_EX)
            pids = list(dict.fromkeys([*_running(_read_pids(fd)), *pids]))
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, "".join(f"{pid}\n" for pid in pids).encode(), 0)
        finally:
            if self._shared:
                fcntl.lockf(fd, fcntl.LOCK_UN)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_pids(fd: int) -> list[int]:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 4096, 0).decode(errors="replace")
        return [int(line) for line in text.split() if line.isdigit()]
    return []


def _running(pids: list[int]) -> list[int]:
    """The pids of ``pids`` that name a running process, each once."""
    running = []
    for pid in dict.fromkeys(pids):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass  # running, as another user
        running.append(pid)
    return running


def backup(path: str, out: str) -> None:
    """Copy the database at ``path`` into ``out`` with SQLite's online backup.

    Safe while a server is running: the copy is one consistent snapshot.
    """
    if not Path(path).is_file():
        raise BadFile(f"no database at {path} (give the server's --db)")
    try:
        # Created here, readable by its owner only (the rooms' messages are private, and
        # the umask would leave them world-readable), and never over an existing file.
        os.close(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, BACKUP_MODE))
    except FileExistsError:
        raise BadFile(f"{out} exists already; choose a new file for the backup") from None
    except OSError as exc:
        raise BadFile(f"cannot create {out}: {exc.strerror}") from None
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    target = sqlite3.connect(out)  # an empty file is an empty database to SQLite
    try:
        source.backup(target)
    except sqlite3.Error as exc:
        raise StoreError(f"sqlite: {exc}") from exc
    finally:
        source.close()
        target.close()


class BadFile(StoreError):
    """A file named on the command line that cannot be used as given (exit status 2)."""


def restore(backup: str, path: str) -> str:
    """Copy ``backup`` into ``path`` and start a new epoch for every room; return it.

    Refuses while a server holds the file. Uses SQLite's online backup API, so
    the copy is consistent whatever state the backup's WAL was in.
    """
    if not Path(backup).is_file():
        raise BadFile(f"no backup file at {backup}")
    _check_backup(backup)
    # What a failed restore must not leave behind: the files it would create.
    created = [
        Path(name)
        for name in (path, f"{path}-wal", f"{path}-shm", f"{path}.lock")
        if not Path(name).exists()
    ]
    try:
        return _restore(backup, path)
    except BaseException:
        for made in created:
            made.unlink(missing_ok=True)
        raise


def _check_backup(backup: str) -> None:
    """A file of hubbub's SQLite store, or ``BadFile`` saying what it is not."""
    try:
        source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
        try:
            found = source.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'messages'"
            ).fetchone()[0]
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise BadFile(f"{backup} is not a backup made by hubbub backup ({exc})") from exc
    if not found:
        raise BadFile(f"{backup} is a SQLite database but not a hubbub backup")


def _restore(backup: str, path: str) -> str:
    lock = FileLock(path, shared=False)
    lock.acquire()
    try:
        source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
        target = connect(path, 5.0)
        try:
            source.backup(target)
            generation = ensure_schema(target, new_epoch())
            fresh = new_epoch()
            while fresh == generation:  # pragma: no cover - 64 random bits
                fresh = new_epoch()
            target.execute("BEGIN IMMEDIATE")
            target.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (fresh,))
            target.execute("UPDATE rooms SET epoch = NULL")
            target.execute("COMMIT")
            return fresh
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc
        finally:
            source.close()
            target.close()
    finally:
        lock.release()
