"""hubbub backup and hubbub restore: the documented procedure ends in a new epoch, told as a gap."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp

from tests.process import serve
from tests.wire import SSEReader, poll, publish


async def hubbub(*args: str) -> tuple[int, str]:
    """Run the hubbub command; its exit status and everything it printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hubbub",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(30):
        out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_restore_is_told_to_every_client_as_a_reset(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """Back up at 5, read to 10, restore, refill past 10: an EventSource cursor gets a gap."""
    db, saved = str(tmp_path / "live.db"), str(tmp_path / "saved.db")
    async with serve("--port", "0", "--db", db) as server:
        for i in range(5):
            await publish(http, server.url, "r", f"before {i}")
        assert (await hubbub("backup", saved, "--db", db))[0] == 0
        for i in range(5):
            await publish(http, server.url, "r", f"lost {i}")
        old = (await poll(http, server.url, "r"))["epoch"]
        code, said = await hubbub("restore", saved, "--db", db)
        assert code == 1 and "in use" in said  # never under a running server
    code, said = await hubbub("restore", saved, "--db", db)
    assert code == 0, said
    async with serve("--port", "0", "--db", db) as server:
        for i in range(10):
            await publish(http, server.url, "r", f"after {i}")
        answer = await poll(http, server.url, "r", since=0, limit=1000)
        assert answer["epoch"] != old and answer["last_id"] == 15
        headers = {"Accept": "text/event-stream", "Last-Event-ID": f"{old}:10"}
        async with http.get(f"{server.url}/rooms/r/messages", headers=headers) as response:
            stream = SSEReader(response)
            gap = await stream.next_event()
            assert (gap.event, gap.json()["epoch"]) == ("gap", answer["epoch"])
            texts = [(await stream.next_event()).json()["text"] for _ in range(15)]
    assert texts == [f"before {i}" for i in range(5)] + [f"after {i}" for i in range(10)]


async def test_backup_refuses_to_overwrite_and_restore_needs_a_file(tmp_path: Path) -> None:
    """Each refusal is one line and a non-zero exit status."""
    db = tmp_path / "x.db"
    existing = tmp_path / "exists.db"
    existing.write_bytes(b"")
    code, said = await hubbub("backup", str(existing), "--db", str(db))
    assert code == 2 and said.count("\n") == 1  # a bad path is a usage mistake: 2
    code, said = await hubbub("restore", str(tmp_path / "missing.db"), "--db", str(db))
    assert code == 2 and "no backup file" in said and said.count("\n") == 1


async def test_a_failed_restore_leaves_nothing_behind(tmp_path: Path) -> None:
    """A backup that is not SQLite: one line, status 2, and no empty database or lock
    left where there was none."""
    db = tmp_path / "hubbub.db"
    words = tmp_path / "notes.txt"
    words.write_text("not a database, just some words that fill the header page\n" * 20)
    code, said = await hubbub("restore", str(words), "--db", str(db))
    assert code == 2 and said.count("\n") == 1, said
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
