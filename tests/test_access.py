"""Access control end to end: tokens on every transport, against real servers."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from typing import Any

import aiohttp
import orjson
import pytest
from multidict import CIMultiDictProxy
from redis.asyncio import Redis

from hubbub.principal import ANONYMOUS
from hubbub.protocol.messages import Publish
from hubbub.server import Server
from tests.conftest import StartServer
from tests.redis_server import RedisServer
from tests.tokens import OTHER_SECRET, SECRET, bearer, make_token
from tests.wire import SSEReader, publish, wait_for_waiters, wait_live, ws_json

TRANSPORTS = ["poll", "longpoll", "sse", "ws", "publish"]
CHALLENGE = 'Bearer realm="hubbub"'
INVALID = 'Bearer realm="hubbub", error="invalid_token"'


@pytest.fixture
async def guarded(start_server: StartServer) -> Server:
    """A server with access control on (HS256 secret)."""
    return await start_server(auth_secret=SECRET)


def upgrade_headers() -> dict[str, str]:
    key = base64.b64encode(os.urandom(16)).decode()
    return {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
    }


async def attempt(
    http: aiohttp.ClientSession, base: str, transport: str, room: str, token: str | None
) -> tuple[int, CIMultiDictProxy[str], Any]:
    """One request of ``transport`` to ``room``: status, headers and JSON body.

    Streams carry the token in ``?token=`` (as a browser's EventSource and
    WebSocket must), the rest in ``Authorization``.
    """
    url = f"{base}/rooms/{room}/messages"
    params: dict[str, str] = {}
    headers: dict[str, str] = {}
    if token is not None and transport in ("sse", "ws"):
        params["token"] = token
    elif token is not None:
        headers.update(bearer(token))
    if transport == "publish":
        request = http.post(url, json={"text": "hi"}, headers=headers)
    else:
        if transport == "longpoll":
            params.update(since="0", wait="0.1")
        elif transport == "sse":
            headers["Accept"] = "text/event-stream"
        elif transport == "ws":
            headers.update(upgrade_headers())
        request = http.get(url, params=params, headers=headers)
    async with request as response:
        if response.status in (101, 200, 201):
            return response.status, response.headers, None
        return response.status, response.headers, orjson.loads(await response.read())


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_no_token_is_401_with_a_challenge(
    guarded: Server, http: aiohttp.ClientSession, transport: str
) -> None:
    """Without a token every transport answers 401 and WWW-Authenticate: Bearer."""
    status, headers, body = await attempt(http, guarded.url, transport, "r", None)
    assert status == 401
    assert headers["WWW-Authenticate"] == CHALLENGE
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["message"].startswith("a token is required")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (make_token(secret=OTHER_SECRET), "token signature does not verify"),
        (make_token(ttl=-5), "token expired"),
        ("not.a.token", "token is malformed"),
    ],
    ids=["bad-signature", "expired", "malformed"],
)
async def test_refused_token_is_401_invalid_token(
    guarded: Server, http: aiohttp.ClientSession, transport: str, token: str, reason: str
) -> None:
    """A badly signed, expired or malformed token: 401 with error="invalid_token"."""
    status, headers, body = await attempt(http, guarded.url, transport, "r", token)
    assert status == 401
    assert headers["WWW-Authenticate"] == INVALID
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["message"].startswith(reason)
    assert token not in body["error"]["message"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_room_not_allowed_is_403(
    guarded: Server, http: aiohttp.ClientSession, transport: str
) -> None:
    """A valid token that does not name the room: 403 forbidden on every transport."""
    token = make_token(read=["team-*"], write=["team-red"])
    status, _, body = await attempt(http, guarded.url, transport, "lobby", token)
    assert status == 403
    assert body["error"]["code"] == "forbidden"
    status, _, _ = await attempt(http, guarded.url, transport, "team-red", token)
    assert status in (101, 200, 201)


async def test_read_only_token_cannot_publish(guarded: Server, http: aiohttp.ClientSession) -> None:
    """Read access is not write access: the room is readable, a publish is 403."""
    token = make_token(read=["*"])
    assert (await attempt(http, guarded.url, "poll", "r", token))[0] == 200
    status, _, body = await attempt(http, guarded.url, "publish", "r", token)
    assert (status, body["error"]["code"]) == (403, "forbidden")


async def test_user_is_stamped_from_sub(guarded: Server, http: aiohttp.ClientSession) -> None:
    """A publish without user is stored as the token's sub; the same user is accepted."""
    headers = bearer(make_token("alice"))
    url = f"{guarded.url}/rooms/r/messages"
    async with http.post(url, json={"text": "one"}, headers=headers) as response:
        assert response.status == 201
        assert (await response.json())["user"] == "alice"
    async with http.post(url, json={"user": " alice ", "text": "two"}, headers=headers) as response:
        assert response.status == 201
        assert (await response.json())["user"] == "alice"
    async with http.get(url, headers=headers) as response:
        users = [m["user"] for m in (await response.json())["messages"]]
    assert users == ["alice", "alice"]


async def test_another_user_is_403(guarded: Server, http: aiohttp.ClientSession) -> None:
    """A publish naming another user than the token's sub is refused and not stored."""
    headers = bearer(make_token("alice"))
    url = f"{guarded.url}/rooms/r/messages"
    async with http.post(url, json={"user": "mallory", "text": "x"}, headers=headers) as response:
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "forbidden"
    async with http.get(url, headers=headers) as response:
        assert (await response.json())["messages"] == []


async def test_user_stays_required_without_access_control(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """With access control off, a publish must still name its user."""
    async with http.post(f"{server.url}/rooms/r/messages", json={"text": "x"}) as response:
        assert response.status == 400
        assert (await response.json())["error"]["message"] == "user is required"


async def test_websocket_publish_frames_are_checked(
    guarded: Server, http: aiohttp.ClientSession
) -> None:
    """On an open socket, a publish to a room it may not write, or as another user,
    gets an error frame with its client_id; the socket stays open and works."""
    url = f"{guarded.url}/rooms/r/messages"
    read_only = make_token("alice", read=["r"])
    async with http.ws_connect(url, params={"token": read_only}) as ws:
        await ws.send_json({"type": "publish", "text": "x", "client_id": "c1"})
        frame = await ws_json(ws)
        assert (frame["type"], frame["code"], frame["client_id"]) == ("error", "forbidden", "c1")
    async with http.ws_connect(url, params={"token": make_token("alice")}) as ws:
        await ws.send_json({"type": "publish", "user": "bob", "text": "x", "client_id": "c2"})
        frame = await ws_json(ws)
        assert (frame["type"], frame["code"], frame["client_id"]) == ("error", "forbidden", "c2")
        await ws.send_json({"type": "publish", "text": "mine", "client_id": "c3"})
        frames = [await ws_json(ws), await ws_json(ws)]
        ack = next(f for f in frames if f["type"] == "ack")
        assert (ack["client_id"], ack["message"]["user"]) == ("c3", "alice")


async def test_expiring_token_closes_the_websocket_with_4401(
    guarded: Server, http: aiohttp.ClientSession
) -> None:
    """At exp the server closes the socket with 4401 "token expired"; reconnecting with
    the same token is refused before the upgrade, with a fresh one it resumes."""
    url = f"{guarded.url}/rooms/r/messages"
    token = make_token(ttl=1.5)
    async with http.ws_connect(url, params={"token": token, "since": "0"}) as ws:
        ready = await ws_json(ws, ready=True)
        assert ready["type"] == "ready"
        msg = await ws.receive(timeout=10)
        while msg.type is aiohttp.WSMsgType.TEXT:  # the presence of everyone here
            assert orjson.loads(msg.data)["type"] == "presence"
            msg = await ws.receive(timeout=10)
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert (msg.data, msg.extra) == (4401, "token expired")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(url, params={"token": token})
    assert refused.value.status == 401
    async with http.ws_connect(url, params={"token": make_token(), "since": "0"}) as ws:
        assert (await ws_json(ws, ready=True))["type"] == "ready"


async def test_expiring_token_ends_the_event_stream(
    guarded: Server, http: aiohttp.ClientSession
) -> None:
    """At exp an SSE stream gets `event: expired` (no id line), then its end."""
    url = f"{guarded.url}/rooms/r/messages"
    headers = {"Accept": "text/event-stream"}
    params = {"token": make_token(ttl=1.5), "since": "0"}
    async with http.get(url, params=params, headers=headers) as response:
        assert response.status == 200
        reader = SSEReader(response)
        assert (await reader.next_event(ready=True)).event == "ready"
        expired = await reader.next_event()
        assert (expired.event, expired.id) == ("expired", None)
        assert expired.json() == {"code": "unauthorized", "message": "token expired"}
        with pytest.raises(EOFError):
            await reader.next()


async def test_long_poll_is_answered_at_exp(guarded: Server, http: aiohttp.ClientSession) -> None:
    """A long poll asking to wait 30 s is answered (empty, 200) when its token expires."""
    url = f"{guarded.url}/rooms/r/messages"
    headers = bearer(make_token(ttl=1.5))
    started = time.monotonic()
    async with http.get(url, params={"since": "0", "wait": "30"}, headers=headers) as response:
        assert response.status == 200
        assert (await response.json())["messages"] == []
    assert time.monotonic() - started < 10


async def test_live_stream_with_a_token_gets_messages(
    guarded: Server, http: aiohttp.ClientSession
) -> None:
    """A stream opened with a token is an ordinary stream until its token expires."""
    url = f"{guarded.url}/rooms/r/messages"
    async with http.ws_connect(url, params={"token": make_token("bob", read=["r"])}) as ws:
        await wait_live(guarded, "r", 1)
        async with http.post(url, json={"text": "hi"}, headers=bearer(make_token())) as answer:
            assert answer.status == 201
        frame = await ws_json(ws)
        assert (frame["type"], frame["message"]["user"]) == ("message", "alice")


async def test_rooms_list_shows_only_readable_rooms(start_server: StartServer) -> None:
    """GET /rooms skips rooms the token may not read while paging: pages stay full and
    `next` is the last room of a page, even past hundreds of unreadable rooms."""
    server = await start_server(auth_secret=SECRET, store="memory")
    names = [f"a-{i:03}" for i in range(300)] + ["team-a", "team-b", "x", "team-c"]
    await asyncio.gather(*(server.node.publish(ANONYMOUS, Publish(n, "seed", "t")) for n in names))
    headers = bearer(make_token(read=["team-*", "x"]))
    seen: list[str] = []
    pages: list[tuple[list[str], str | None]] = []
    after: str | None = None
    async with aiohttp.ClientSession() as http:
        while True:
            params = {"limit": "2", **({"after": after} if after else {})}
            async with http.get(f"{server.url}/rooms", params=params, headers=headers) as response:
                body = await response.json()
            page = [room["name"] for room in body["rooms"]]
            pages.append((page, body["next"]))
            seen += page
            after = body["next"]
            if after is None:
                break
    assert pages == [(["team-a", "team-b"], "team-b"), (["team-c", "x"], None)]
    assert seen == ["team-a", "team-b", "team-c", "x"]


async def test_rate_limits_count_per_user(start_server: StartServer) -> None:
    """With a token, the rate limit is the user's: two users at one address each get theirs."""
    server = await start_server(auth_secret=SECRET, rate_limit=0.01, rate_burst=1)
    url = f"{server.url}/rooms/r/messages"
    alice, bob = bearer(make_token("alice")), bearer(make_token("bob"))
    async with aiohttp.ClientSession() as http:
        statuses = []
        for headers in (alice, bob, alice):
            async with http.post(url, json={"text": "x"}, headers=headers) as response:
                statuses.append(response.status)
    assert statuses == [201, 201, 429]


async def test_tokens_never_appear_in_logs(
    guarded: Server, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """Requests carrying tokens (accepted, refused, failing) leave no token in any log."""
    good, expired = make_token(), make_token(ttl=-5)
    caplog.set_level(logging.DEBUG)
    url = f"{guarded.url}/rooms/r/messages"
    for token in (good, expired):
        async with http.get(url, params={"token": token}) as response:
            await response.read()
        async with http.post(url, data=b"{", headers=bearer(token)) as response:
            await response.read()
        async with http.get(f"{guarded.url}/nowhere", params={"token": token}) as response:
            await response.read()
    assert good not in caplog.text and expired not in caplog.text
    assert not [r for r in caplog.records if r.name == "aiohttp.access"]


async def test_held_long_poll_with_token_gets_the_message(
    guarded: Server, http: aiohttp.ClientSession
) -> None:
    """A long poll held for a token is answered by the next message, as without one."""
    url = f"{guarded.url}/rooms/r/messages"
    headers = bearer(make_token())

    async def held() -> Any:
        async with http.get(url, params={"since": "0", "wait": "20"}, headers=headers) as resp:
            return await resp.json()

    task = asyncio.create_task(held())
    await wait_for_waiters(guarded, 1)
    async with http.post(url, json={"text": "now"}, headers=headers) as response:
        assert response.status == 201
    answer = await asyncio.wait_for(task, 10)
    assert [m["text"] for m in answer["messages"]] == ["now"]


async def test_preflight_allows_authorization(start_server: StartServer) -> None:
    """A cross-origin page may send Authorization: the preflight lists it."""
    server = await start_server(auth_secret=SECRET, allow_origin="https://app.example")
    headers = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/rooms/r/messages"
        async with http.options(url, headers=headers) as response:
            allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed


async def test_open_server_ignores_tokens(server: Server, http: aiohttp.ClientSession) -> None:
    """Without access control a token is not checked, and the publish keeps its user."""
    stored = await publish(http, server.url, "r", "hi", user="bob")
    assert stored["user"] == "bob"
    async with http.get(
        f"{server.url}/rooms/r/messages", headers=bearer("not.a.token")
    ) as response:
        assert response.status == 200


async def test_rooms_list_reads_only_the_rooms_a_token_may_read(
    start_server: StartServer, redis: RedisServer
) -> None:
    """GET /rooms for a token that reads few rooms asks the store for those names and
    prefixes only, not for every room to skip them: counted by Redis itself."""
    server = await start_server(auth_secret=SECRET, store="redis", redis=(redis.url,))
    names = [f"a-{i:04}" for i in range(1500)] + ["team-a", "team-b", "x", "team-c"]
    names += [f"y-{i:04}" for i in range(500)]
    for start in range(0, len(names), 50):  # within the Redis client's connection pool
        chunk = names[start : start + 50]
        await asyncio.gather(
            *(server.node.publish(ANONYMOUS, Publish(n, "seed", "t")) for n in chunk)
        )
    counter = Redis.from_url(redis.url)
    try:
        await counter.config_resetstat()
        headers = bearer(make_token(read=["team-*", "x", "zzz"]))
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{server.url}/rooms", headers=headers) as response,
        ):
            body = await response.json()
        stats = await counter.info("commandstats")
    finally:
        await counter.aclose()
    assert [room["name"] for room in body["rooms"]] == ["team-a", "team-b", "team-c", "x"]
    looked_up = stats.get("cmdstat_hget", {}).get("calls", 0)
    assert looked_up <= 4, stats  # the rooms listed, not the 2,004 there are
