"""The SQLite store's writer and checkpoint threads run as batch work (``SCHED_BATCH``), so
their wake-ups do not preempt the event loop's thread; the loop's thread and the reader
keep the normal policy (runtime.as_batch_thread)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hubbub.protocol.messages import Publish
from hubbub.runtime import as_batch_thread
from hubbub.store import SQLiteStore, Stamped

pytestmark = pytest.mark.skipif(
    not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux's; elsewhere nothing is set"
)


def policies() -> dict[str, int]:
    """Each live thread's scheduling policy, by the thread's name."""
    found = {}
    for thread in threading.enumerate():
        if thread.native_id is not None:
            found[thread.name] = os.sched_getscheduler(thread.native_id)
    return found


def named(prefix: str) -> list[int]:
    return [policy for name, policy in policies().items() if name.startswith(prefix)]


async def test_the_writer_and_checkpoint_threads_are_batch_work(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "own.db"))
    await store.open()
    try:
        await store.append([Stamped(Publish("r", "alice", "hi"), ts=1)])
        await store.bounds("r")  # the reader thread exists from here on
        assert named("hubbub-sqlite-writer") == [os.SCHED_BATCH]
        assert named("hubbub-sqlite-checkpoints") == [os.SCHED_BATCH]
        # Reads answer connecting users: they stay as they were, as does the loop's thread.
        assert named("hubbub-sqlite-reader") == [os.SCHED_OTHER]
        assert os.sched_getscheduler(0) == os.SCHED_OTHER
    finally:
        await store.close()


def test_as_batch_thread_marks_only_the_calling_thread() -> None:
    seen: list[int] = []

    def run() -> None:
        as_batch_thread()
        seen.append(os.sched_getscheduler(0))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    assert seen == [os.SCHED_BATCH]
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
