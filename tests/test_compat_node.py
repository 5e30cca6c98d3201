"""The tutorial's real Node.js terminal client (axios + ws) against a real server.

tests/compat_node/client.js is the polling-and-streaming tutorial's client as
written, but for the server address and the poll interval. These tests are
skipped, saying why, where ``node`` or that folder's node_modules is missing
(``scripts/test.sh`` runs ``npm install`` there when Node is present).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from hubbub.server import Server
from tests.conftest import StartServer
from tests.wire import TIMEOUT, poll, publish

CLIENT_DIR = Path(__file__).parent / "compat_node"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not on this machine"),
    pytest.mark.skipif(
        not all((CLIENT_DIR / "node_modules" / name).is_dir() for name in ("ws", "axios")),
        reason="tests/compat_node/node_modules is missing: run npm install there",
    ),
]


class TerminalClient:
    """One running client: what it prints, and a keyboard to type lines into it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def shown(self) -> str:
        """The next line the client prints, within the tests' timeout."""
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT)
        if not line:
            assert self.process.stderr is not None
            error = await self.process.stderr.read()
            raise AssertionError(f"the client exited: {error.decode(errors='replace')}")
        return line.decode().rstrip("\n")

    async def type(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode() + b"\n")
        await self.process.stdin.drain()


@asynccontextmanager
async def terminal_client(server: Server, mode: str, name: str) -> AsyncIterator[TerminalClient]:
    """Run ``MODE=mode NAME=name node client.js`` against ``server``."""
    assert NODE is not None
    env = {**os.environ, "HUBBUB_URL": server.url, "MODE": mode, "NAME": name, "POLL_MS": "50"}
    process = await asyncio.create_subprocess_exec(
        NODE,
        "client.js",
        cwd=CLIENT_DIR,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield TerminalClient(process)
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), TIMEOUT)


async def until_stored(http: aiohttp.ClientSession, server: Server, last_id: int) -> None:
    """Until the lobby holds ``last_id`` messages (the client's POST is not awaited)."""
    async with asyncio.timeout(TIMEOUT):
        while (await poll(http, server.url, "lobby"))["last_id"] < last_id:
            await asyncio.sleep(0.01)


async def test_poll_mode(start_server: StartServer, http: aiohttp.ClientSession) -> None:
    """GET /messages every interval shows others' messages once, and never its own."""
    server = await start_server()
    await publish(http, server.url, "lobby", "already there", user="carol")
    async with terminal_client(server, "poll", "alice") as client:
        assert await client.shown() == "> carol: already there"
        async with http.post(f"{server.url}/publish", data='{"message": "from a page"}') as r:
            assert r.status == 200
        assert await client.shown() == "> anonymous: from a page"
        await client.type("hello from alice")
        await until_stored(http, server, 3)
        [own] = (await poll(http, server.url, "lobby", since=2))["messages"]
        assert (own["user"], own["text"], own["client_id"].isdigit()) == (
            "alice",
            "hello from alice",
            True,
        )
        await publish(http, server.url, "lobby", "marker", user="carol")
        # The poll that returned alice's own message showed nothing for it.
        assert await client.shown() == "> carol: marker"


async def test_stream_mode(start_server: StartServer, http: aiohttp.ClientSession) -> None:
    """A WebSocket on /messages shows each new message; its own are de-duplicated."""
    # A loaded machine may keep the client's process from answering a test-speed
    # ping in time; liveness is tested in test_compat.py.
    server = await start_server(heartbeat=30)
    async with terminal_client(server, "stream", "bob") as client:
        async with asyncio.timeout(TIMEOUT):
            while not server.app.lobby.sockets:
                await asyncio.sleep(0.01)
        await publish(http, server.url, "lobby", "welcome, bob", user="carol")
        assert await client.shown() == "> carol: welcome, bob"
        await client.type("thanks!")
        await until_stored(http, server, 2)
        await publish(http, server.url, "lobby", "marker", user="carol")
        assert await client.shown() == "> carol: marker"
        answer = await poll(http, server.url, "lobby")
        assert [(m["user"], m["text"]) for m in answer["messages"]] == [
            ("carol", "welcome, bob"),
            ("bob", "thanks!"),
            ("carol", "marker"),
        ]
