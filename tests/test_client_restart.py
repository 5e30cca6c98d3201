"""The client across a real crash: ``hubbub serve`` killed with SIGKILL, then restarted."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path

from hubbub.client import Connected, Disconnected
from tests.test_client import EVERY, TIMEOUT, Follower, follow, quick_client

LISTENING = re.compile(rb"hubbub listening on (http://\S+)")


@asynccontextmanager
async def serve(db: Path, port: int = 0) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """``python -m hubbub serve`` in a child process; yields it and its URL once listening."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hubbub", "serve", "--port", str(port), "--db", str(db),
        "--heartbeat", "0.2",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        async with asyncio.timeout(TIMEOUT):
            while not (match := LISTENING.search(await process.stderr.readline())):
                assert process.returncode is None, "the server exited"
        yield process, match.group(1).decode()
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def every(followers: list[Follower], predicate: Callable[[Follower], bool]) -> None:
    """Until ``predicate`` holds for every follower (each wait bounded)."""
    for follower in followers:
        await follower.until(partial(predicate, follower))


async def test_every_transport_survives_sigkill(tmp_path: Path) -> None:
    """Followers on all transports see every message once across a kill -9 and restart."""
    db = tmp_path / "hubbub.db"
    async with AsyncExitStack() as stack:
        process, url = await stack.enter_async_context(serve(db))
        client = await stack.enter_async_context(quick_client(url))
        followers: list[Follower] = [
            await stack.enter_async_context(follow(client, "r", 0, transport))
            for transport in EVERY
        ]
        for follower in followers:
            await follower.connected()
        await client.publish("r", "a", "one")
        await client.publish("r", "a", "two")
        await every(followers, lambda f: len(f.ids) == 2)

        process.send_signal(signal.SIGKILL)
        await process.wait()
        await every(followers, lambda f: f.count(Disconnected) >= 1)

        port = int(url.rsplit(":", 1)[1])
        await stack.enter_async_context(serve(db, port))
        await client.publish("r", "a", "three", retry_for=TIMEOUT)
        await client.publish("r", "a", "four")
        await every(followers, lambda f: len(f.ids) == 4)
        for follower in followers:
            assert follower.ids == [1, 2, 3, 4]
            assert not follower.gaps
            assert follower.count(Connected) >= 2
