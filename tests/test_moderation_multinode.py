"""Moderation across two nodes on one real Redis: a mute, a delete, a disconnect and a clear
made on one node hold on the other, whether the logs are in Redis or in a shared SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from hubbub.moderation.redis import RedisNotices
from hubbub.protocol.moderation import Mute
from hubbub.server import Server
from tests.conftest import StartServer
from tests.moderation_wire import (
    ALICE,
    BOB,
    CAROL,
    MIA,
    ROOT,
    call,
    close_of,
    event_of,
    frame_of,
    read,
    send,
)
from tests.process import serve
from tests.redis_server import RedisServer, needs_redis
from tests.tokens import SECRET
from tests.wire import SSEReader

pytestmark = needs_redis


@pytest.fixture(params=["redis", "sqlite"])
async def pair(
    request: pytest.FixtureRequest, start_server: StartServer, redis: RedisServer
) -> tuple[Server, Server]:
    """Two nodes with tokens on, sharing the logs in Redis or in one SQLite file."""
    first = await start_server(auth_secret=SECRET, store=request.param, redis=(redis.url,))
    second = await start_server(auth_secret=SECRET, store=request.param, redis=(redis.url,))
    return first, second


@contextlib.asynccontextmanager
async def socket(
    http: aiohttp.ClientSession, server: Server, token: str
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    url = f"{server.url}/rooms/general/messages"
    async with http.ws_connect(url, params={"token": token, "since": "0"}) as ws:
        await frame_of(ws, "presence")
        yield ws


async def test_moderation_on_one_node_holds_on_the_other(
    pair: tuple[Server, Server], http: aiohttp.ClientSession
) -> None:
    """mia mutes bob on node A: B's streams are told and B refuses bob until A lifts it;
    mia's delete on A reaches B's subscribers and B's ?view=latest; root's disconnect on A
    closes bob's sockets on B; B's audit lists what was done on A; root's clear on A resets
    B's streams."""
    a, b = pair
    async with (
        socket(http, a, CAROL) as watcher_a,
        socket(http, b, CAROL) as watcher_b,
        socket(http, b, BOB) as bob_b,
        http.ws_connect(f"{b.url}/ws", params={"token": BOB}) as bob_multi,
    ):
        status, stored, _ = await call(
            http, "POST", f"{a.url}/rooms/general/messages", ALICE, {"text": "spam"}
        )
        assert status == 201
        # The mute, made on A, reaches B before B's streams are told of it.
        status, _, _ = await call(
            http, "POST", f"{a.url}/rooms/general/mutes", MIA, {"user": "bob", "seconds": 600}
        )
        assert status == 201
        assert (await frame_of(watcher_b, "mute"))["user"] == "bob"
        status, refused, _ = await call(
            http, "POST", f"{b.url}/rooms/general/messages", BOB, {"text": "x"}
        )
        assert (status, refused["error"]["code"]) == (403, "muted")
        await send(bob_b, {"type": "publish", "text": "x", "client_id": "b1"})
        assert (await frame_of(bob_b, "error"))["code"] == "muted"
        status, listed, _ = await call(http, "GET", f"{b.url}/rooms/general/mutes", MIA)
        assert [m["user"] for m in listed["mutes"]] == ["bob"]

        # A moderator's delete on A: told on B, applied by B's latest view.
        status, _, _ = await call(
            http,
            "POST",
            f"{a.url}/rooms/general/messages",
            MIA,
            {"type": "delete", "target": stored["id"]},
        )
        assert status == 201
        deleted = (await frame_of(watcher_b, "message"))["message"]
        while deleted.get("kind") != "delete":
            deleted = (await frame_of(watcher_b, "message"))["message"]
        assert (deleted["user"], deleted["target"]) == ("mia", stored["id"])
        latest = await read(http, b.url, "general", CAROL, since=0, view="latest")
        assert latest["messages"][0]["deleted"] is True

        # Lifted on B: A's streams are told, and A takes bob's publish again.
        status, _, _ = await call(http, "DELETE", f"{b.url}/rooms/general/mutes/bob", MIA)
        assert status == 204
        assert (await frame_of(watcher_a, "unmute"))["user"] == "bob"
        status, _, _ = await call(
            http, "POST", f"{a.url}/rooms/general/messages", BOB, {"text": "sorry"}
        )
        assert status == 201

        # Disconnected on A: every socket of bob's on B closes with 4403.
        status, answer, _ = await call(http, "POST", f"{a.url}/admin/users/bob/disconnect", ROOT)
        assert (status, answer["closed_here"]) == (200, 0)
        assert await close_of(bob_b) == (4403, "disconnected by an admin")
        assert await close_of(bob_multi) == (4403, "disconnected by an admin")

        # Cleared on A: B's streams end as at any reset.
        status, cleared, _ = await call(http, "POST", f"{a.url}/admin/rooms/general/clear", ROOT)
        assert status == 200
        assert await close_of(watcher_b) == (1012, "reconnect: reset")
        answer = await read(http, b.url, "general", CAROL, since=0)
        assert (answer["epoch"], answer["messages"]) == (cleared["epoch"], [])

    status, audit, _ = await call(http, "GET", f"{b.url}/admin/audit", ROOT)
    assert status == 200
    assert [(e["action"], e["actor"]) for e in audit["entries"]] == [
        ("clear", "root"),
        ("disconnect", "root"),
        ("unmute", "mia"),
        ("delete", "mia"),
        ("mute", "mia"),
    ]


async def test_an_event_stream_on_the_other_node_is_ended_by_a_disconnect(
    pair: tuple[Server, Server], http: aiohttp.ClientSession
) -> None:
    """bob's SSE stream on B gets `disconnected` (retry 30 s) and ends when A disconnects him."""
    a, b = pair
    url = f"{b.url}/rooms/general/messages"
    headers = {"Accept": "text/event-stream"}
    async with http.get(url, params={"token": BOB, "since": "0"}, headers=headers) as response:
        reader = SSEReader(response)
        await event_of(reader, "presence")
        status, _, _ = await call(http, "POST", f"{a.url}/admin/users/bob/disconnect", ROOT)
        assert status == 200
        told = await event_of(reader, "disconnected")
        assert told.retry == 30000
        with pytest.raises(EOFError):
            await reader.next()


async def test_two_serve_processes_share_mutes_and_disconnects(
    redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    """Two `hubbub serve` processes on one Redis: a mute made through one is refused by the
    other once its streams are told; a disconnect through one closes the user's socket on
    the other; the audit read from either lists both."""
    args = ("--port", "0", "--store", "redis", "--redis", redis.url)
    env = {"HUBBUB_AUTH_SECRET": SECRET}
    async with serve(*args, env=env) as a, serve(*args, env=env) as b:
        url = f"{b.url}/rooms/general/messages"
        async with (
            http.ws_connect(url, params={"token": CAROL, "since": "0"}) as watcher,
            http.ws_connect(url, params={"token": BOB, "since": "0"}) as bob,
        ):
            await frame_of(watcher, "presence")
            await frame_of(bob, "presence")
            status, _, _ = await call(
                http, "POST", f"{a.url}/rooms/general/mutes", MIA, {"user": "bob", "seconds": 600}
            )
            assert status == 201
            assert (await frame_of(watcher, "mute"))["user"] == "bob"
            status, refused, _ = await call(http, "POST", url, BOB, {"text": "x"})
            assert (status, refused["error"]["code"]) == (403, "muted")
            status, _, _ = await call(http, "POST", f"{a.url}/admin/users/bob/disconnect", ROOT)
            assert status == 200
            assert await close_of(bob) == (4403, "disconnected by an admin")
        status, audit, _ = await call(http, "GET", f"{b.url}/admin/audit", ROOT)
        assert [e["action"] for e in audit["entries"]] == ["disconnect", "mute"]


async def test_a_node_that_lost_its_notices_reads_the_mutes_again(
    pair: tuple[Server, Server], redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    """Notices missed while a node's Redis subscriber was cut are made up for: once it is
    back, the node reads every mute from the store."""
    a, b = pair
    moderation = b.node.moderation
    notices = moderation._notices
    assert isinstance(notices, RedisNotices)
    # A mute that reaches the store but whose notice B never hears.
    now = time.time()
    await a.node.moderation._store.put_mute(Mute("general", "bob", now + 600), now)
    status, _, _ = await call(
        http, "POST", f"{b.url}/rooms/general/messages", BOB, {"text": "not yet refused"}
    )
    assert status == 201
    await redis.command("CLIENT", "KILL", "TYPE", "pubsub")
    async with asyncio.timeout(10):
        while notices.connected.is_set():
            await asyncio.sleep(0.01)
        await notices.connected.wait()
        while moderation._reloading is None:
            await asyncio.sleep(0.01)
        await moderation._reloading
    status, refused, _ = await call(
        http, "POST", f"{b.url}/rooms/general/messages", BOB, {"text": "refused now"}
    )
    assert (status, refused["error"]["code"]) == (403, "muted")
