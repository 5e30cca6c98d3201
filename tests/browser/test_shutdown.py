"""SIGTERM with chat pages, SSE streams, long polls and WebSockets open: a bounded stop.

Not a benchmark: the bound is the promise (docs/deployment.md, "Stopping and rolling
upgrades"), and the test fails past it. Every WebSocket is told ``1001`` and every long
poll is answered before the process exits.
"""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.browser.conftest import OpenChat
from tests.process import serve
from tests.wire import SSEReader

pytestmark = pytest.mark.asyncio(loop_scope="session")

STOP_WITHIN = 3.0
HELD_POLLS = re.compile(r'^hubbub_connections\{transport="longpoll"\} (\d+)$', re.MULTILINE)


async def held_long_polls(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(f"{url}/metrics") as answer:
        found = HELD_POLLS.search(await answer.text())
    assert found is not None
    return int(found.group(1))


async def close_code(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return ws.close_code


async def test_sigterm_with_pages_and_streams_open_stops_within_3_s(
    open_chat: OpenChat, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with serve("--port", "0", "--db", str(tmp_path / "hubbub.db")) as running:
        url = running.url
        for name, transport in [("ann", "ws"), ("bo", "ws"), ("cy", "sse"), ("di", "longpoll")]:
            await open_chat(url, name, transport=transport)
        await open_chat(url, None, wait_live=False)  # a page still asking for a name
        room = await http.ws_connect(f"{url}/rooms/general/messages")
        multi = await http.ws_connect(f"{url}/ws")  # no subscription yet, as such a page
        events = await http.get(
            f"{url}/rooms/general/messages", headers={"Accept": "text/event-stream"}
        )
        sse = SSEReader(events)
        assert (await sse.next_event(ready=True)).event == "ready"
        polls = [
            asyncio.create_task(http.get(f"{url}/rooms/general/messages?wait=30")) for _ in range(2)
        ]
        async with asyncio.timeout(10):  # ours, and the long-polling page's
            while await held_long_polls(http, url) < 3:
                await asyncio.sleep(0.01)

        closes = [asyncio.create_task(close_code(ws)) for ws in (room, multi)]  # reading

        loop = asyncio.get_running_loop()
        started = loop.time()
        running.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await running.process.wait() == 0
        took = loop.time() - started
        assert await asyncio.gather(*closes) == [1001, 1001], f"stopped in {took:.1f} s"
        for answered in await asyncio.gather(*polls):
            assert answered.status == 200
            assert (await answered.json())["messages"] == []
        with pytest.raises(EOFError):
            await sse.next_event()
        events.close()
        assert took <= STOP_WITHIN, f"stopped in {took:.1f} s"
