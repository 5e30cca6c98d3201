"""Presence and typing on WebSocket, SSE and long poll: ephemeral events, grace, limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from hubbub.server import Server
from tests.conftest import StartServer
from tests.wire import SSEReader, poll, publish, wait_for_waiters, wait_live, ws_json

SSE_HEADERS = {"Accept": "text/event-stream"}


def url(server: Server, query: str = "") -> str:
    return f"{server.url}/rooms/r/messages{query}"


async def presence(http: aiohttp.ClientSession, server: Server) -> dict[str, Any]:
    async with http.get(f"{server.url}/rooms/r/presence") as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


@asynccontextmanager
async def sse(http: aiohttp.ClientSession, server: Server, query: str) -> AsyncIterator[SSEReader]:
    async with http.get(url(server, query), headers=SSE_HEADERS) as response:
        assert response.status == 200
        yield SSEReader(response)


async def next_presence(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    frame: dict[str, Any] = await ws_json(ws, ephemeral=True)
    assert frame["type"] == "presence", frame
    return frame


async def test_joins_are_told_on_websocket_and_sse(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """Each stream opens with everyone present; later joins arrive as presence events."""
    async with http.ws_connect(url(server, "?user=alice")) as alice:
        first = await next_presence(alice)
        assert (first["room"], first["joined"], first["left"]) == ("r", ["alice"], [])
        async with sse(http, server, "?user=bob") as bob:
            ready = await bob.next_event(ready=True)
            assert ready.event == "ready"
            opening = await bob.next_event(ephemeral=True)
            assert opening.event == "presence" and opening.id is None  # no cursor moves
            assert opening.json() == {"room": "r", "joined": ["alice", "bob"], "left": []}
            assert (await next_presence(alice))["joined"] == ["bob"]
            async with http.ws_connect(url(server)):  # anonymous: counted, not listed
                await wait_live(server, "r", 3)
                assert await presence(http, server) == {
                    "users": [
                        {"user": "alice", "connections": 1},
                        {"user": "bob", "connections": 1},
                    ],
                    "anonymous": 1,
                }


async def test_two_tabs_join_once_and_leave_with_the_last(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """A second tab is no join; closing one of two is no leave; the last one is, after grace."""
    server = await start_server(presence_grace=0.2)
    async with http.ws_connect(url(server, "?user=bob")) as bob:
        await next_presence(bob)
        tab1 = await http.ws_connect(url(server, "?user=alice"))
        assert (await next_presence(bob))["joined"] == ["alice"]
        tab2 = await http.ws_connect(url(server, "?user=alice"))
        await wait_live(server, "r", 3)
        users = (await presence(http, server))["users"]
        assert {"user": "alice", "connections": 2} in users
        await tab1.close()
        await wait_live(server, "r", 2)
        await publish(http, server.url, "r", "after one tab closed")
        assert (await ws_json(bob, ephemeral=True))["type"] == "message"  # no leave before it
        await tab2.close()
        assert await next_presence(bob) == {
            "type": "presence",
            "room": "r",
            "joined": [],
            "left": ["alice"],
        }
        assert [u["user"] for u in (await presence(http, server))["users"]] == ["bob"]


async def test_a_reload_is_not_a_leave(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Closing and reopening within the grace tells nobody anything."""
    server = await start_server(presence_grace=2.0)
    async with http.ws_connect(url(server, "?user=bob")) as bob:
        await next_presence(bob)
        async with http.ws_connect(url(server, "?user=alice")):
            assert (await next_presence(bob))["joined"] == ["alice"]
        await wait_live(server, "r", 1)
        async with http.ws_connect(url(server, "?user=alice")) as reloaded:
            assert (await next_presence(reloaded))["joined"] == ["alice", "bob"]
            # Outlast the grace the first tab started: its leave must never come.
            await asyncio.sleep(2.3)
            await publish(http, server.url, "r", "still here")
            assert (await ws_json(bob, ephemeral=True))["type"] == "message"


async def test_a_vanished_client_leaves_after_the_grace(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """A connection cut without a goodbye is a leave once the grace has passed."""
    server = await start_server(presence_grace=0.1)
    async with http.ws_connect(url(server, "?user=bob")) as bob:
        await next_presence(bob)
        response = await http.get(url(server, "?user=carol"), headers=SSE_HEADERS)
        assert (await next_presence(bob))["joined"] == ["carol"]
        assert response.connection is not None and response.connection.transport is not None
        response.connection.transport.abort()  # gone: no close of any kind
        response.close()
        assert (await next_presence(bob))["left"] == ["carol"]


async def test_a_held_long_poll_is_present(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """A long poll with ?user= is present while held."""
    server = await start_server(presence_grace=0.1)
    held = asyncio.ensure_future(poll(http, server.url, "r", wait=10, user="dave"))
    await wait_for_waiters(server, 1)
    assert (await presence(http, server))["users"] == [{"user": "dave", "connections": 1}]
    await publish(http, server.url, "r", "wake up")
    await held


async def test_typing_on_websocket_and_http(server: Server, http: aiohttp.ClientSession) -> None:
    """A typing frame or POST reaches the room's streams, at most once a second per user."""
    async with (
        http.ws_connect(url(server, "?user=alice")) as alice,
        sse(http, server, "?user=bob") as bob,
    ):
        await wait_live(server, "r", 2)
        await alice.send_str(orjson.dumps({"type": "typing"}).decode())
        await alice.send_str(orjson.dumps({"type": "typing"}).decode())  # within the second
        event = await bob.next_event(ephemeral=True)
        while event.event == "presence":
            event = await bob.next_event(ephemeral=True)
        assert (event.event, event.id, event.json()) == (
            "typing",
            None,
            {"room": "r", "user": "alice"},
        )
        async with http.post(f"{server.url}/rooms/r/typing", json={"user": "carol"}) as response:
            assert response.status == 204
        await publish(http, server.url, "r", "hello")
        carol = await bob.next_event(ephemeral=True)
        assert (carol.event, carol.json()["user"]) == ("typing", "carol")
        assert (await bob.next_event(ephemeral=True)).event == "message"  # alice's 2nd dropped
        kinds: list[tuple[str, str | None]] = []
        while not kinds or kinds[-1][0] != "message":
            frame = await ws_json(alice, ephemeral=True)
            if frame["type"] != "presence":
                kinds.append((frame["type"], frame.get("user")))
        # The sender's own streams get it too (clients ignore their own name).
        assert kinds == [("typing", "alice"), ("typing", "carol"), ("message", None)]


async def test_a_bad_presence_name_is_refused(server: Server, http: aiohttp.ClientSession) -> None:
    """?user= follows the user rules: a blank name is 400 before any stream opens."""
    async with http.get(url(server, "?user=%20"), headers=SSE_HEADERS) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "invalid_parameter"
    async with http.post(f"{server.url}/rooms/r/typing", json={}) as response:
        assert response.status == 400
