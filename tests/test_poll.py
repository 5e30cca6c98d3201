"""Short poll and long poll on GET /rooms/{room}/messages."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from hubbub.server import Server
from tests.conftest import StartServer
from tests.wire import poll, publish, wait_for_waiters


async def fill(http: aiohttp.ClientSession, server: Server, room: str, count: int) -> None:
    for i in range(1, count + 1):
        await publish(http, server.url, room, f"m{i}")


def ids(answer: dict[str, object]) -> list[int]:
    return [m["id"] for m in answer["messages"]]  # type: ignore[attr-defined]


async def test_short_poll_modes(server: Server, http: aiohttp.ClientSession) -> None:
    """since, before, limit and the newest page, with first_id/last_id."""
    await fill(http, server, "r", 12)
    assert ids(await poll(http, server.url, "r", since=9)) == [10, 11, 12]
    assert ids(await poll(http, server.url, "r", since=0, limit=3)) == [1, 2, 3]
    assert ids(await poll(http, server.url, "r", limit=3)) == [10, 11, 12]
    assert ids(await poll(http, server.url, "r", before=5, limit=2)) == [3, 4]
    assert ids(await poll(http, server.url, "r", before=2)) == [1]
    answer = await poll(http, server.url, "r", since=12)
    assert (answer["messages"], answer["first_id"], answer["last_id"]) == ([], 1, 12)


async def test_empty_room_reads_nothing(server: Server, http: aiohttp.ClientSession) -> None:
    """An empty room is not an error: no messages, first_id and last_id 0."""
    answer = await poll(http, server.url, "nobody")
    assert answer == {"messages": [], "first_id": 0, "last_id": 0, "epoch": answer["epoch"]}
    async with http.get(f"{server.url}/rooms") as resp:
        assert await resp.json() == {"rooms": [], "next": None}


async def test_rooms_list(server: Server, http: aiohttp.ClientSession) -> None:
    """GET /rooms lists rooms holding messages with their last_id."""
    await fill(http, server, "b", 2)
    await fill(http, server, "a", 1)
    async with http.get(f"{server.url}/rooms") as resp:
        assert await resp.json() == {
            "rooms": [{"name": "a", "last_id": 1}, {"name": "b", "last_id": 2}],
            "next": None,
        }
    async with http.get(f"{server.url}/rooms?limit=1") as resp:
        assert await resp.json() == {"rooms": [{"name": "a", "last_id": 1}], "next": "a"}
    async with http.get(f"{server.url}/rooms?limit=1&after=a") as resp:
        assert await resp.json() == {"rooms": [{"name": "b", "last_id": 2}], "next": None}


async def test_short_poll_headers(server: Server, http: aiohttp.ClientSession) -> None:
    """Reads are JSON and never cached."""
    async with http.get(f"{server.url}/rooms/r/messages") as resp:
        assert resp.headers["Cache-Control"] == "no-store"
        assert resp.content_type == "application/json"


@pytest.mark.parametrize(
    "query",
    [
        "since=-1",
        "since=abc",
        "limit=0",
        "limit=1001",
        "before=0",
        "since=1&before=3",
        "before=3&wait=1",
        "wait=0",
        "wait=61",
        "wait=soon",
    ],
)
async def test_bad_parameters(server: Server, http: aiohttp.ClientSession, query: str) -> None:
    """Out-of-range or conflicting parameters are 400 invalid_parameter."""
    async with http.get(f"{server.url}/rooms/r/messages?{query}") as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "invalid_parameter"


async def test_bad_room_on_read(server: Server, http: aiohttp.ClientSession) -> None:
    """A bad room name is 400 invalid_room on reads too."""
    async with http.get(f"{server.url}/rooms/.x/messages") as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "invalid_room"


async def test_long_poll_answers_at_once_when_behind(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """With messages after the cursor, a long poll is a short poll."""
    await fill(http, server, "r", 3)
    answer = await asyncio.wait_for(poll(http, server.url, "r", since=1, wait=30), 5)
    assert ids(answer) == [2, 3]


async def test_long_poll_holds_until_a_message(server: Server, http: aiohttp.ClientSession) -> None:
    """A waiting poll is answered by the next publish, with exactly that message."""
    await fill(http, server, "r", 2)
    waiting = asyncio.create_task(poll(http, server.url, "r", since=2, wait=30))
    await wait_for_waiters(server, 1)
    await publish(http, server.url, "r", "news")
    answer = await asyncio.wait_for(waiting, 5)
    assert [m["text"] for m in answer["messages"]] == ["news"]
    assert answer["last_id"] == 3


async def test_long_poll_without_since_waits_for_the_next(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """No since: wait for the next message published after the request arrived."""
    await fill(http, server, "r", 5)
    waiting = asyncio.create_task(poll(http, server.url, "r", wait=30))
    await wait_for_waiters(server, 1)
    await publish(http, server.url, "r", "six")
    assert ids(await asyncio.wait_for(waiting, 5)) == [6]


async def test_long_poll_times_out_empty(server: Server, http: aiohttp.ClientSession) -> None:
    """After wait seconds with nothing new, 200 with an empty list."""
    await fill(http, server, "r", 1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    answer = await poll(http, server.url, "r", since=1, wait=0.3)
    assert answer == {"messages": [], "first_id": 1, "last_id": 1, "epoch": answer["epoch"]}
    # It was held, not answered at once (uvloop's timers have 1 ms granularity).
    assert loop.time() - started >= 0.25
    assert server.node.stats.waiting == 0


async def test_long_poll_beyond_last_id_answers_at_once(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """A cursor past the newest id (a reset room) is answered now, never waited on."""
    await fill(http, server, "r", 2)
    answer = await asyncio.wait_for(poll(http, server.url, "r", since=50, wait=30), 5)
    assert (ids(answer), answer["last_id"]) == ([1, 2], 2)


async def test_vanished_long_poll_is_forgotten(server: Server) -> None:
    """A client that goes away while waiting leaves no waiter behind."""
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /rooms/r/messages?since=0&wait=60 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    await wait_for_waiters(server, 1)
    writer.close()
    await writer.wait_closed()
    await wait_for_waiters(server, 0)
    room = server.node.hub.rooms.get("r")  # nothing refers to the poll any more
    assert room is None or (not room.waiters and room.pins == 0)


async def test_many_pollers_share_one_publish(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """50 waiting pollers all get the same message once."""
    server = await start_server()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as many:
        tasks = [
            asyncio.create_task(poll(many, server.url, "r", since=0, wait=30)) for _ in range(50)
        ]
        await wait_for_waiters(server, 50)
        await publish(http, server.url, "r", "all")
        answers = await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert all(ids(answer) == [1] for answer in answers)
