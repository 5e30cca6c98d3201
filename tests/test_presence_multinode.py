"""Presence and typing across ``hubbub serve --redis`` processes: the union over nodes, one
join per user however many nodes they are on, typing that crosses nodes, and a killed
node's users leaving within the TTL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from tests.process import ServeProcess, serve
from tests.redis_server import RedisServer, needs_redis
from tests.wire import ws_json

pytestmark = needs_redis

TTL = 1.0  # seconds; nodes refresh every third of it
GRACE = 0.2


@contextlib.asynccontextmanager
async def nodes(redis: RedisServer, count: int) -> AsyncIterator[list[ServeProcess]]:
    """``count`` nodes on one Redis with a short grace and TTL, stopped by pid at the end."""
    args = ("--port", "0", "--store", "redis", "--redis", redis.url)
    timing = ("--presence-grace", str(GRACE), "--presence-ttl", str(TTL))
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(serve(*args, *timing)) for _ in range(count)]


def ws_url(node: ServeProcess, user: str) -> str:
    return f"{node.url}/rooms/r/messages?user={user}"


async def who(http: aiohttp.ClientSession, node: ServeProcess) -> dict[str, int]:
    """``GET /rooms/r/presence`` on ``node``: connections per user. On a connection of
    its own (``Connection: close``): one that aiohttp's routes answered cannot be reused
    for the WebSocket the tests open next (only the front upgrades)."""
    url = f"{node.url}/rooms/r/presence"
    async with http.get(url, headers={"Connection": "close"}) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
    return {u["user"]: u["connections"] for u in body["users"]}


async def until_who(http: aiohttp.ClientSession, node: ServeProcess, want: dict[str, int]) -> None:
    """Until ``node`` answers ``want`` (bounded)."""
    async with asyncio.timeout(10):
        while await who(http, node) != want:
            await asyncio.sleep(0.02)


async def next_ephemeral(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    frame: dict[str, Any] = await ws_json(ws, ephemeral=True)
    return frame


async def until_presence(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next presence event (typing notices skipped)."""
    while True:
        frame = await next_ephemeral(ws)
        if frame["type"] == "presence":
            return frame


async def frames_until_message(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """Every frame up to the next message, which marks everything queued before it."""
    frames: list[dict[str, Any]] = []
    while True:
        frame = await next_ephemeral(ws)
        if frame["type"] == "message":
            return frames
        frames.append(frame)


async def publish(http: aiohttp.ClientSession, node: ServeProcess, text: str) -> None:
    body = {"user": "marker", "text": text}
    async with http.post(f"{node.url}/rooms/r/messages", json=body) as response:
        assert response.status == 201


async def test_presence_is_the_union_and_a_user_joins_once(
    redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    """Users on two nodes are listed by a node with none; a user with tabs on two nodes is
    one join and, once the last tab closed and the grace ended, one leave."""
    async with nodes(redis, 3) as (a, b, c), http.ws_connect(ws_url(c, "carol")) as carol:
        assert (await until_presence(carol))["joined"] == ["carol"]
        alice_a = await http.ws_connect(ws_url(a, "alice"))
        assert (await until_presence(carol))["joined"] == ["alice"]
        await until_who(http, b, {"alice": 1, "carol": 1})  # b has nobody here: read from Redis
        async with http.ws_connect(ws_url(b, "bob")) as bob:
            opening = await until_presence(bob)
            assert opening["joined"] == ["alice", "bob", "carol"]
            assert (await until_presence(carol))["joined"] == ["bob"]
            alice_b = await http.ws_connect(ws_url(b, "alice"))
            want = {"alice": 2, "bob": 1, "carol": 1}
            await until_who(http, c, want)  # c has heard both of alice's nodes
            await until_who(http, a, want)
            await publish(http, c, "after alice's second tab")
            assert await frames_until_message(carol) == []  # no second join
            await alice_a.close()
            await until_who(http, c, {"alice": 1, "bob": 1, "carol": 1})
            await alice_b.close()
            assert await until_presence(carol) == {
                "type": "presence",
                "room": "r",
                "joined": [],
                "left": ["alice"],
            }
            await until_who(http, c, {"bob": 1, "carol": 1})
            await publish(http, c, "after alice left")
            assert await frames_until_message(carol) == []  # one leave, not two
        assert (await until_presence(carol))["left"] == ["bob"]


async def test_typing_crosses_nodes(redis: RedisServer, http: aiohttp.ClientSession) -> None:
    """A typing frame on one node reaches the room's streams on the other, never stored."""
    async with (
        nodes(redis, 2) as (a, b),
        http.ws_connect(ws_url(a, "alice")) as alice,
        http.ws_connect(ws_url(b, "bob")) as bob,
    ):
        await until_who(http, a, {"alice": 1, "bob": 1})
        await until_who(http, b, {"alice": 1, "bob": 1})
        await alice.send_str(orjson.dumps({"type": "typing"}).decode())
        frame = await next_ephemeral(bob)
        while frame["type"] == "presence":
            frame = await next_ephemeral(bob)
        assert frame == {"type": "typing", "room": "r", "user": "alice"}
        async with http.post(f"{b.url}/rooms/r/typing", json={"user": "bob"}) as response:
            assert response.status == 204
        frame = await next_ephemeral(alice)
        while frame["type"] == "presence" or frame.get("user") == "alice":
            frame = await next_ephemeral(alice)
        assert frame == {"type": "typing", "room": "r", "user": "bob"}
        async with http.get(f"{a.url}/rooms/r/messages") as response:
            assert (await response.json())["messages"] == []


async def test_a_killed_nodes_users_leave_within_the_ttl(
    redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    """kill -9 of a node: its users are told left on the other node once its entries expire,
    and no longer listed; nobody else is."""
    async with nodes(redis, 2) as (a, b), http.ws_connect(ws_url(b, "bob")) as bob:
        assert (await until_presence(bob))["joined"] == ["bob"]
        alice = await http.ws_connect(ws_url(a, "alice"))
        assert (await until_presence(bob))["joined"] == ["alice"]
        loop = asyncio.get_running_loop()
        os.kill(a.process.pid, signal.SIGKILL)
        await a.process.wait()
        killed = loop.time()
        async with asyncio.timeout(TTL * 5):
            assert (await until_presence(bob))["left"] == ["alice"]
        # Forgotten within the TTL plus one sweep (a third of it), with room for a busy host.
        assert loop.time() - killed < TTL * 4 / 3 + 1.5
        assert await who(http, b) == {"bob": 1}
        await alice.close()
