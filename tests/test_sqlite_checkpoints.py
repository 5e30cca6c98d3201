"""The SQLite store's checkpoints on a thread of their own (store/sqlite_checkpoints.py):
no commit checkpoints, the WAL still starts over while appends go on, the thread ends
with the store."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from hubbub.protocol.messages import Publish
from hubbub.store import SQLiteStore, Stamped
from hubbub.store.sqlite_checkpoints import Checkpoints, finish_checkpoint

THREAD = "hubbub-sqlite-checkpoints"


def batch(count: int, start: int) -> list[Stamped]:
    # A room each, as in the chat shape: every message dirties a page of its own.
    return [Stamped(Publish(f"r{start + n}", "alice", "x" * 64), ts=1) for n in range(count)]


def wal_size(path: str) -> int:
    return os.stat(path + "-wal").st_size


def checkpoint_threads() -> int:
    return sum(thread.name == THREAD for thread in threading.enumerate())


def autocheckpoint(store: SQLiteStore) -> int:
    assert store._write_conn is not None
    return int(store._write_conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


async def test_commits_leave_checkpoints_to_a_thread_that_ends_with_the_store(
    tmp_path: Path,
) -> None:
    before = checkpoint_threads()
    store = SQLiteStore(str(tmp_path / "own.db"))
    await store.open()
    try:
        assert autocheckpoint(store) == 0
        assert checkpoint_threads() == before + 1
    finally:
        await store.close()
    assert checkpoint_threads() == before


async def test_stores_sharing_a_file_keep_sqlites_own_checkpoints(tmp_path: Path) -> None:
    before = checkpoint_threads()
    store = SQLiteStore(str(tmp_path / "shared.db"), shared=True)
    await store.open()
    try:
        assert autocheckpoint(store) == 1000
        assert checkpoint_threads() == before
    finally:
        await store.close()


async def test_the_wal_starts_over_while_appends_go_on(tmp_path: Path) -> None:
    """5,000 rooms' first messages, appended back to back, write about 7 MB of WAL if it
    never starts over (the thread alone never catches up with the writer); with the
    writer finishing what the thread asks, the file stays near the restart point (about
    1 MB), and every message is in the database."""
    path = str(tmp_path / "busy.db")
    store = SQLiteStore(path)
    await store.open()
    assert store._checkpoints is not None
    store._checkpoints.stop()
    store._checkpoints = Checkpoints(path, 5.0, "full", interval=0.005, restart_frames=200)
    store._checkpoints.start()
    try:
        for start in range(0, 5000, 50):
            await store.append(batch(50, start))
        assert store._checkpoints.runs > 5
        assert wal_size(path) < 3.5 * 1024 * 1024
    finally:
        await store.close()
    reopened = sqlite3.connect(path)
    assert reopened.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 5000
    reopened.close()


def test_a_failed_finish_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The writer finishes a checkpoint after a commit: a failure then must not turn the
    committed publishes into refused ones."""
    conn = sqlite3.connect(str(tmp_path / "closed.db"))
    conn.close()
    with caplog.at_level(logging.WARNING, logger="hubbub.store.sqlite_checkpoints"):
        finish_checkpoint(conn)
    assert "checkpoint failed" in caplog.text


def test_a_request_is_taken_once(tmp_path: Path) -> None:
    checkpoints = Checkpoints(str(tmp_path / "x.db"), 5.0, "full")
    assert checkpoints.take_request() is False
    checkpoints._requested.set()
    assert checkpoints.take_request() is True
    assert checkpoints.take_request() is False
