"""WAL checkpoints on a thread of their own, so that no commit waits for one.

With SQLite's automatic checkpoint, the commit that takes the WAL past 1,000 pages copies
them into the database and syncs it before it returns, and every publish queued behind
it waits. In the chat shape (issue 19) each message dirties a page of its own room, so
that was about 5 commits a second out of 300, each 14 ms at the median (8 ms of CPU) and
up to 139 ms, and the 12 longest commits of a run were all checkpoints.

Here the writer's connection never checkpoints by itself (``wal_autocheckpoint=0``); a
thread with a connection of its own runs a ``PASSIVE`` checkpoint every ``INTERVAL``: it
copies what the WAL holds while commits go on. It never catches up with a writer that
keeps appending, though, and the WAL starts over from its beginning only after a
checkpoint that copied every frame. So once the WAL has passed ``RESTART_FRAMES`` the
thread asks the writer to run one more ``PASSIVE`` checkpoint itself after its next
commit (:meth:`Checkpoints.take_request`): nothing is appended meanwhile, the thread has
already copied nearly everything, and the next commit writes the WAL from its start.

Only for a store that has its file to itself: processes sharing a file keep SQLite's
automatic checkpoints (each would need the others' writers to finish).
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from hubbub.runtime import as_batch_thread
from hubbub.store.sqlite_files import connect

log = logging.getLogger(__name__)

# Seconds between the thread's checkpoints: at 5,000 messages a second, about 1,200
# frames each, what SQLite's automatic checkpoint copied at a time.
INTERVAL = 0.1
# Frames in the WAL past which the writer is asked to finish a checkpoint (16 MB of 4 KB
# pages): the file's size while the server is busy.
RESTART_FRAMES = 4000


def stop_checkpointing(conn: sqlite3.Connection) -> None:
    """The writer's connection: commits no longer checkpoint (the thread does)."""
    conn.execute("PRAGMA wal_autocheckpoint=0")


def checkpoint(conn: sqlite3.Connection) -> int | None:
    """A ``PASSIVE`` checkpoint on ``conn``: the frames the WAL holds, or None when it
    failed (a full disk), which is logged, never raised: on the thread the next round
    tries again, and on the writer it runs after a commit, whose publishes are stored
    whatever happens here."""
    try:
        _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error as exc:
        log.warning("sqlite: checkpoint failed: %s", exc)
        return None
    return int(frames)


def finish_checkpoint(conn: sqlite3.Connection) -> None:
    """On the writer, between its transactions: copy the frames the thread left, so that
    the next commit writes the WAL from its beginning."""
    checkpoint(conn)


class Checkpoints:
    """The checkpoint thread of one store's file."""

    def __init__(
        self,
        path: str,
        busy_timeout: float,
        synchronous: str,
        *,
        interval: float = INTERVAL,
        restart_frames: int = RESTART_FRAMES,
    ) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous
        self._interval = interval
        self._restart_frames = restart_frames
        self._stopping = threading.Event()
        self._requested = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0  # checkpoints the thread made

    def start(self) -> None:
        conn = connect(self._path, self._busy_timeout, self._synchronous)
        self._thread = threading.Thread(
            target=self._run, args=(conn,), name="hubbub-sqlite-checkpoints", daemon=True
        )
        self._thread.start()

    def take_request(self) -> bool:
        """Whether the writer should finish a checkpoint now (asked once per request)."""
        if not self._requested.is_set():
            return False
        self._requested.clear()
        return True

    def stop(self) -> None:
        """Stop the thread and wait for it (a checkpoint in progress finishes first)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self, conn: sqlite3.Connection) -> None:
        as_batch_thread()
        try:
            while not self._stopping.wait(self._interval):
                frames = checkpoint(conn)
                if frames is None:
                    continue
                self.runs += 1
                if frames >= self._restart_frames:
                    self._requested.set()
        finally:
            conn.close()
