"""Server-Sent Events on GET /rooms/{room}/messages with Accept: text/event-stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from hubbub.server import Server
from tests.conftest import StartServer
from tests.wire import SSEReader, poll, publish, wait_live

SSE = {"Accept": "text/event-stream"}


@asynccontextmanager
async def sse(
    http: aiohttp.ClientSession, server: Server, room: str, query: str = "", **headers: str
) -> AsyncIterator[SSEReader]:
    url = f"{server.url}/rooms/{room}/messages{query}"
    async with http.get(url, headers={**SSE, **headers}) as response:
        assert response.status == 200, await response.text()
        yield SSEReader(response)


async def test_stream_headers_and_framing(server: Server, http: aiohttp.ClientSession) -> None:
    """retry with the ready event, then id/event/data per message, with the protocol's headers."""
    await publish(http, server.url, "r", "one")
    epoch = (await poll(http, server.url, "r"))["epoch"]
    async with sse(http, server, "r", "?since=0") as stream:
        headers = stream.response.headers
        assert headers["Content-Type"] == "text/event-stream"
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Accel-Buffering"] == "no"
        ready = await stream.next()
        assert (ready.retry, ready.event, ready.id) == (3000, "ready", f"{epoch}:0")
        assert ready.json() == {
            "room": "r",
            "epoch": epoch,
            "since": 0,
            "first_id": 1,
            "last_id": 1,
        }
        first = await stream.next_event()
        assert (first.id, first.event, first.json()["text"]) == (f"{epoch}:1", "message", "one")
        await publish(http, server.url, "r", "two\nlines")
        second = await stream.next_event()
        assert (second.position, second.json()["text"]) == (2, "two\nlines")


async def test_no_cursor_starts_with_the_next_message(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """Without since or Last-Event-ID, history is not replayed."""
    await publish(http, server.url, "r", "old")
    async with sse(http, server, "r") as stream:
        assert (await stream.next()).json()["since"] == 1  # ready
        await wait_live(server, "r", 1)
        await publish(http, server.url, "r", "new")
        assert (await stream.next_event()).json()["text"] == "new"


async def test_last_event_id_wins_over_since(server: Server, http: aiohttp.ClientSession) -> None:
    """A reconnecting EventSource's Last-Event-ID beats the URL's since."""
    for text in ("a", "b", "c"):
        await publish(http, server.url, "r", text)
    async with sse(http, server, "r", "?since=0", **{"Last-Event-ID": "2"}) as stream:
        assert (await stream.next_event()).position == 3


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("?since=-1", {}),
        ("", {"Last-Event-ID": "x"}),
        ("", {"Last-Event-ID": "bad epoch!:3"}),
        ("", {"Last-Event-ID": "e:" + "9" * 5000}),
        ("?since=" + "9" * 5000, {}),
        ("?since=1&epoch=no%20spaces", {}),
    ],
)
async def test_bad_cursor_is_400(
    server: Server, http: aiohttp.ClientSession, query: str, headers: dict[str, str]
) -> None:
    """A cursor that is not a whole number >= 0 is refused before the stream starts."""
    async with http.get(
        f"{server.url}/rooms/r/messages{query}", headers={**SSE, **headers}
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "invalid_parameter"


async def test_heartbeat_comment_when_idle(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """An idle stream gets ': ping' comments every heartbeat."""
    server = await start_server(heartbeat=0.2)
    async with sse(http, server, "r") as stream:
        await stream.next()  # retry and ready
        assert (await stream.next()).event == "presence"
        ping = await stream.next(timeout=5)
        assert ping.comment == "ping"


async def test_gap_for_a_cursor_older_than_retained(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """With retain=3, since=1 gets a gap event moving the cursor to 3, then ids from first_id."""
    server = await start_server(retain=3)
    for i in range(6):
        await publish(http, server.url, "r", f"m{i}")
    async with sse(http, server, "r", "?since=1") as stream:
        gap = await stream.next_event()
        epoch = gap.json()["epoch"]
        assert (gap.event, gap.id, gap.json()) == (
            "gap",
            f"{epoch}:3",
            {"room": "r", "first_id": 4, "last_id": 6, "epoch": epoch},
        )
        assert [(await stream.next_event()).position for _ in range(3)] == [4, 5, 6]


async def test_gap_for_a_cursor_beyond_last_id(server: Server, http: aiohttp.ClientSession) -> None:
    """A cursor past the newest id (room reset) is a gap, then the room from its start."""
    await publish(http, server.url, "r", "only")
    async with sse(http, server, "r", "?since=40") as stream:
        gap = await stream.next_event()
        assert (gap.event, gap.json()["first_id"], gap.json()["last_id"]) == ("gap", 1, 1)
        assert (await stream.next_event()).position == 1


async def test_limit_before_and_wait_are_ignored(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """Stream requests ignore poll-only parameters."""
    for text in ("a", "b", "c"):
        await publish(http, server.url, "r", text)
    async with sse(http, server, "r", "?since=0&limit=1&wait=abc&before=zz") as stream:
        assert [(await stream.next_event()).position for _ in range(3)] == [1, 2, 3]


async def test_long_history_catch_up(server: Server, http: aiohttp.ClientSession) -> None:
    """A stream from 0 over 600 messages (more than the cache) is complete and in order."""
    url = f"{server.url}/rooms/r/messages"
    for i in range(600):
        async with http.post(url, json={"user": "a", "text": f"m{i}"}) as resp:
            assert resp.status == 201
    async with sse(http, server, "r", "?since=0") as stream:
        got = [(await stream.next_event()).position for _ in range(600)]
    assert got == list(range(1, 601))
