"""The server as a process: durability across kill -9, clean shutdown, settings."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp

from tests.process import serve
from tests.wire import SSEReader, poll, publish


async def test_kill_9_right_after_201_loses_nothing(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """A message answered 201 survives kill -9, and ids continue without reuse."""
    db = str(tmp_path / "durable.db")
    async with serve("--port", "0", "--db", db) as server:
        for i in range(20):
            last = await publish(http, server.url, "r", f"m{i}")
        server.process.send_signal(signal.SIGKILL)
        await server.process.wait()
    assert last["id"] == 20
    async with serve("--port", "0", "--db", db) as again:
        kept = await poll(http, again.url, "r", since=0)
        assert [m["id"] for m in kept["messages"]] == list(range(1, 21))
        assert kept["messages"][-1] == last
        assert (await publish(http, again.url, "r", "next"))["id"] == 21


async def test_sigterm_answers_polls_and_closes_streams(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """On SIGTERM, waiting long polls get an empty answer, streams end, exit status 0."""
    async with serve("--port", "0", "--db", str(tmp_path / "s.db")) as server:
        await publish(http, server.url, "r", "one")
        url = f"{server.url}/rooms/r/messages"
        waiting = asyncio.create_task(poll(http, server.url, "r", since=1, wait=60))
        async with (
            http.get(url, headers={"Accept": "text/event-stream"}) as sse,
            http.ws_connect(url) as ws,
        ):
            stream = SSEReader(sse)
            assert (await stream.next()).retry == 3000
            await wait_for_metric(http, server.url, 'hubbub_connections{transport="longpoll"} 1')
            server.process.send_signal(signal.SIGTERM)
            answer = await asyncio.wait_for(waiting, 10)
            assert answer["messages"] == [] and answer["last_id"] == 1
            assert (await ws.receive(timeout=10)).json()["type"] == "ready"
            closing = await ws.receive(timeout=10)
            if closing.type is aiohttp.WSMsgType.TEXT:  # went live first: who is here
                assert closing.json()["type"] == "presence"
                closing = await ws.receive(timeout=10)
            assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1001
            async with asyncio.timeout(10):
                while True:
                    try:
                        await stream.next()
                    except EOFError:
                        break
        assert await asyncio.wait_for(server.process.wait(), 10) == 0
        await server.read_log_until(b"hubbub stopped")


async def test_settings_from_environment(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """HUBBUB_<NAME> variables configure the server; the log names the store."""
    env = {"HUBBUB_MAX_TEXT": "5", "HUBBUB_STORE": "memory", "HUBBUB_PORT": "0"}
    async with serve(env=env) as server:
        assert any(b"store: memory" in line for line in server.log)
        async with http.post(
            f"{server.url}/rooms/r/messages", json={"user": "a", "text": "too long"}
        ) as resp:
            assert resp.status == 400


async def test_flags_beat_environment(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """A flag given on the command line wins over the environment."""
    env = {"HUBBUB_MAX_TEXT": "5", "HUBBUB_STORE": "memory"}
    async with serve("--port", "0", "--max-text", "50", env=env) as server:
        assert (await publish(http, server.url, "r", "longer than five"))["id"] == 1


async def test_bad_environment_value_is_refused() -> None:
    """An invalid HUBBUB_ value stops the command with a clear message."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "hubbub", "serve"),
        env={**os.environ, "HUBBUB_PORT": "eighty"},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 2 and b"HUBBUB_PORT" in err


async def wait_for_metric(http: aiohttp.ClientSession, base: str, line: str) -> None:
    """Until /metrics shows ``line`` (bounded): e.g. that a long poll is held."""
    async with asyncio.timeout(10):
        while True:
            async with http.get(f"{base}/metrics") as resp:
                if line in (await resp.text()).splitlines():
                    return
            await asyncio.sleep(0.01)


async def test_every_log_line_starts_with_its_time_in_utc(tmp_path: Path) -> None:
    """``2026-12-07T09:44:53.125Z hubbub listening on ...``: start, stop, each stamped."""
    async with serve("--port", "0", "--db", str(tmp_path / "t.db")) as running:
        running.process.send_signal(signal.SIGTERM)
        await running.read_log_until(b"hubbub stopped")
    stamp = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z hubbub ")
    lines = [line for line in running.log if line.strip()]
    assert len(lines) >= 3 and all(stamp.match(line) for line in lines), lines
