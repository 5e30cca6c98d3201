"""Resuming from a cursor on every transport: nothing lost, nothing twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from hubbub.server import Server
from tests.conftest import StartServer
from tests.wire import SSEReader, poll, publish, ws_json

# Reads ids > cursor (of an epoch, if given) until ``count`` messages came;
# returns (gap seen, ids).
Reader = Callable[..., Awaitable[tuple[object, list[int]]]]


async def read_ws(
    http: aiohttp.ClientSession, server: Server, cursor: int, count: int, epoch: str = ""
) -> tuple[object, list[int]]:
    gap: object = None
    got: list[int] = []
    query = f"since={cursor}" + (f"&epoch={epoch}" if epoch else "")
    async with http.ws_connect(f"{server.url}/rooms/r/messages?{query}") as ws:
        while len(got) < count:
            frame = await ws_json(ws)
            if frame["type"] == "gap":
                gap = (frame["first_id"], frame["last_id"])
            else:
                got.append(frame["message"]["id"])
    return gap, got


async def read_sse(
    http: aiohttp.ClientSession, server: Server, cursor: int, count: int, epoch: str = ""
) -> tuple[object, list[int]]:
    gap: object = None
    got: list[int] = []
    last_event_id = f"{epoch}:{cursor}" if epoch else str(cursor)
    headers = {"Accept": "text/event-stream", "Last-Event-ID": last_event_id}
    async with http.get(f"{server.url}/rooms/r/messages", headers=headers) as response:
        stream = SSEReader(response)
        while len(got) < count:
            event = await stream.next_event()
            if event.event == "gap":
                gap = (event.json()["first_id"], event.json()["last_id"])
            else:
                got.append(event.position or 0)
    return gap, got


def poller(wait: float | None) -> Reader:
    async def read(
        http: aiohttp.ClientSession, server: Server, cursor: int, count: int, epoch: str = ""
    ) -> tuple[object, list[int]]:
        gap: object = None
        got: list[int] = []
        while len(got) < count:
            params: dict[str, object] = {"since": cursor, "limit": 7}
            if epoch:
                params["epoch"] = epoch
            if wait is not None:
                params["wait"] = wait
            answer = await poll(http, server.url, "r", **params)
            reset = bool(epoch) and answer["epoch"] != epoch and cursor > 0
            if reset or cursor + 1 < answer["first_id"] or cursor > answer["last_id"]:
                gap = (answer["first_id"], answer["last_id"])
                cursor = answer["first_id"] - 1
            epoch = answer["epoch"]
            got.extend(m["id"] for m in answer["messages"])
            if answer["messages"]:
                cursor = answer["messages"][-1]["id"]
        return gap, got

    return read


TRANSPORTS: dict[str, Reader] = {
    "websocket": read_ws,
    "sse": read_sse,
    "longpoll": poller(5),
    "poll": poller(None),
}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_reconnect_receives_exactly_the_missed(
    server: Server, http: aiohttp.ClientSession, transport: str
) -> None:
    """Read 10, go away, miss 50, come back with the cursor: exactly ids 11..60."""
    read = TRANSPORTS[transport]
    for i in range(10):
        await publish(http, server.url, "r", f"m{i}")
    gap, first = await read(http, server, 0, 10)
    assert (gap, first) == (None, list(range(1, 11)))
    for i in range(50):
        await publish(http, server.url, "r", f"missed {i}")
    gap, rest = await read(http, server, first[-1], 50)
    assert (gap, rest) == (None, list(range(11, 61)))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_cursor_older_than_retained_is_a_gap(
    start_server: StartServer, http: aiohttp.ClientSession, transport: str
) -> None:
    """With retain=20, a cursor at 5 after 60 messages is told first_id=41, last_id=60."""
    server = await start_server(retain=20)
    for i in range(60):
        await publish(http, server.url, "r", f"m{i}")
    gap, got = await TRANSPORTS[transport](http, server, 5, 20)
    assert gap == (41, 60)
    assert got == list(range(41, 61))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_resume_across_a_restart(
    start_server: StartServer, http: aiohttp.ClientSession, transport: str
) -> None:
    """Ids and history survive a restart on the same database; the cursor still works."""
    server = await start_server()
    for i in range(5):
        await publish(http, server.url, "r", f"m{i}")
    await server.stop()
    again = await start_server(port=server.port)
    for i in range(5):
        await publish(http, again.url, "r", f"after {i}")
    assert await TRANSPORTS[transport](http, again, 3, 7) == (None, list(range(4, 11)))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_memory_store_restart_is_a_gap(
    start_server: StartServer, http: aiohttp.ClientSession, transport: str
) -> None:
    """A memory store forgets everything: an old cursor is beyond last_id, told as a gap."""
    server = await start_server(store="memory")
    for i in range(8):
        await publish(http, server.url, "r", f"m{i}")
    await server.stop()
    again = await start_server(store="memory", port=server.port)
    for i in range(2):
        await publish(http, again.url, "r", f"new {i}")
    assert await TRANSPORTS[transport](http, again, 8, 2) == ((1, 2), [1, 2])


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_memory_store_restart_is_told_even_when_ids_caught_up(
    start_server: StartServer, http: aiohttp.ClientSession, transport: str
) -> None:
    """Cursor 10 of the old epoch, restart, 20 new messages: a gap, then all 20 of the new log."""
    server = await start_server(store="memory")
    for i in range(10):
        await publish(http, server.url, "r", f"m{i}")
    epoch = (await poll(http, server.url, "r"))["epoch"]
    await server.stop()
    again = await start_server(store="memory", port=server.port)
    for i in range(20):
        await publish(http, again.url, "r", f"new {i}")
    assert (await poll(http, again.url, "r"))["epoch"] != epoch
    gap, got = await TRANSPORTS[transport](http, again, 10, 20, epoch)
    assert (gap, got) == ((1, 20), list(range(1, 21)))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_cursor_of_the_current_epoch_resumes_without_a_gap(
    server: Server, http: aiohttp.ClientSession, transport: str
) -> None:
    """A cursor carrying the room's own epoch resumes exactly, across a restart of a database."""
    for i in range(5):
        await publish(http, server.url, "r", f"m{i}")
    epoch = (await poll(http, server.url, "r"))["epoch"]
    assert await TRANSPORTS[transport](http, server, 2, 3, epoch) == (None, [3, 4, 5])
