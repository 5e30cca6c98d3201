"""Moderation end to end on one server: moderators' deletes, mutes on every transport, an
admin's disconnect and clear, the audit, and what a moderator of one room may not do."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from hubbub.client import Client, Connected, Disconnected
from hubbub.client.events import Status, TransportName
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
from tests.tokens import SECRET
from tests.wire import SSEReader, wait_for_waiters, wait_live


@pytest.fixture
async def guarded(start_server: StartServer) -> Server:
    """A server with tokens on."""
    return await start_server(auth_secret=SECRET)


async def say(
    http: aiohttp.ClientSession, server: Server, room: str, token: str, text: str
) -> dict[str, Any]:
    status, body, _ = await call(
        http, "POST", f"{server.url}/rooms/{room}/messages", token, {"text": text}
    )
    assert status == 201, body
    stored: dict[str, Any] = body
    return stored


@contextlib.asynccontextmanager
async def room_socket(
    http: aiohttp.ClientSession, server: Server, room: str, token: str
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    url = f"{server.url}/rooms/{room}/messages"
    async with http.ws_connect(url, params={"token": token, "since": "0"}) as ws:
        await frame_of(ws, "presence")  # live
        yield ws


@contextlib.asynccontextmanager
async def multiplexed(
    http: aiohttp.ClientSession, server: Server, token: str, *rooms: str
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with http.ws_connect(f"{server.url}/ws", params={"token": token}) as ws:
        for room in rooms:
            await send(ws, {"type": "subscribe", "room": room, "since": 0})
            await frame_of(ws, "presence")
        yield ws


@contextlib.asynccontextmanager
async def event_stream(
    http: aiohttp.ClientSession, server: Server, room: str, token: str
) -> AsyncIterator[SSEReader]:
    url = f"{server.url}/rooms/{room}/messages"
    headers = {"Accept": "text/event-stream"}
    async with http.get(url, params={"token": token, "since": "0"}, headers=headers) as response:
        assert response.status == 200
        reader = SSEReader(response)
        await event_of(reader, "presence")
        yield reader


async def test_a_moderators_delete_is_told_to_every_subscriber(
    guarded: Server, http: aiohttp.ClientSession
) -> None:
    """mia (mod of general) deletes alice's message over HTTP and over a WebSocket: each
    delete is a log entry under mia's name, told on every transport, applied by
    ?view=latest, and recorded in the audit; mia still may not edit it."""
    first = await say(http, guarded, "general", ALICE, "spam")
    second = await say(http, guarded, "general", ALICE, "more spam")
    async with (
        room_socket(http, guarded, "general", CAROL) as ws,
        multiplexed(http, guarded, CAROL, "general") as multi,
        event_stream(http, guarded, "general", CAROL) as sse,
        room_socket(http, guarded, "general", MIA) as mod_ws,
    ):
        status, deleted, _ = await call(
            http,
            "POST",
            f"{guarded.url}/rooms/general/messages",
            MIA,
            {"type": "delete", "target": first["id"]},
        )
        assert status == 201, deleted
        assert (deleted["user"], deleted["kind"], deleted["target"]) == ("mia", "delete", 1)
        await send(mod_ws, {"type": "delete", "target": second["id"], "client_id": "d2"})
        ack = await frame_of(mod_ws, "ack")
        assert (ack["client_id"], ack["message"]["user"]) == ("d2", "mia")
        for _ in range(2):
            told = [
                (await frame_of(ws, "message"))["message"],
                (await frame_of(multi, "message"))["message"],
                (await event_of(sse, "message")).json(),
            ]
            assert all(m == told[0] for m in told)
            assert (told[0]["kind"], told[0]["user"]) == ("delete", "mia")
        status, refused, _ = await call(
            http,
            "POST",
            f"{guarded.url}/rooms/general/messages",
            MIA,
            {"type": "edit", "target": first["id"], "text": "edited by a mod"},
        )
        assert (status, refused["error"]["code"]) == (403, "forbidden")
    latest = await read(http, guarded.url, "general", ALICE, since=0, view="latest")
    shown = {m["id"]: m for m in latest["messages"]}
    assert shown[1]["deleted"] and shown[2]["deleted"] and shown[1]["text"] == ""
    status, audit, _ = await call(http, "GET", f"{guarded.url}/admin/audit", ROOT)
    assert status == 200
    deletes = [e for e in audit["entries"] if e["action"] == "delete"]
    assert [(e["actor"], e["user"], e["room"], e["detail"]["target"]) for e in deletes] == [
        ("mia", "alice", "general", 2),
        ("mia", "alice", "general", 1),
    ]


async def test_a_moderator_of_general_can_do_nothing_in_secret(
    guarded: Server, http: aiohttp.ClientSession
) -> None:
    """In a room mia does not moderate every moderation is 403; without a token, 401."""
    target = await say(http, guarded, "secret", ALICE, "mine")
    base = f"{guarded.url}/rooms/secret"
    attempts: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", f"{base}/messages", {"type": "delete", "target": target["id"]}),
        ("POST", f"{base}/mutes", {"user": "alice", "seconds": 60}),
        ("GET", f"{base}/mutes", None),
        ("DELETE", f"{base}/mutes/alice", None),
        ("POST", f"{guarded.url}/admin/users/alice/disconnect", None),
        ("POST", f"{guarded.url}/admin/rooms/secret/clear", None),
        ("GET", f"{guarded.url}/admin/audit", None),
        ("GET", f"{guarded.url}/admin/mutes", None),
    ]
    for method, url, body in attempts:
        status, answer, _ = await call(http, method, url, MIA, body)
        assert (status, answer["error"]["code"]) == (403, "forbidden"), (method, url)
        status, answer, response = await call(http, method, url, None, body)
        assert (status, answer["error"]["code"]) == (401, "unauthorized"), (method, url)
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="hubbub"'
    async with room_socket(http, guarded, "secret", MIA) as ws:
        await send(ws, {"type": "delete", "target": target["id"], "client_id": "x"})
        refused = await frame_of(ws, "error")
        assert (refused["code"], refused["client_id"]) == ("forbidden", "x")
    log = await read(http, guarded.url, "secret", ALICE, since=0)
    assert [m["text"] for m in log["messages"]] == ["mine"]
    status, audit, _ = await call(http, "GET", f"{guarded.url}/admin/audit", ROOT)
    assert (status, audit["entries"]) == (200, [])


async def test_a_muted_user_is_refused_everywhere_until_the_mute_ends(
    guarded: Server, http: aiohttp.ClientSession
) -> None:
    """While muted in general, bob's publishes, edits and typing are 403 muted (with the time
    left) over HTTP, the room WebSocket and GET /ws; his deletes and other rooms are not.
    Every stream is told the mute, and told again when it ends by itself."""
    own = await say(http, guarded, "general", BOB, "before")
    async with (
        room_socket(http, guarded, "general", CAROL) as watcher,
        room_socket(http, guarded, "general", BOB) as ws,
        multiplexed(http, guarded, BOB, "general") as multi,
    ):
        status, answer, _ = await call(
            http,
            "POST",
            f"{guarded.url}/rooms/general/mutes",
            MIA,
            {"user": "bob", "seconds": 4, "reason": "spam"},
        )
        assert status == 201, answer
        mute = answer["mute"]
        assert (mute["user"], mute["room"], mute["reason"], mute["by"]) == (
            "bob",
            "general",
            "spam",
            "mia",
        )
        told = await frame_of(watcher, "mute")
        assert (told["room"], told["user"], told["reason"]) == ("general", "bob", "spam")
        assert 1 <= told["seconds_left"] <= 4

        messages = f"{guarded.url}/rooms/general/messages"
        for body in ({"text": "spam"}, {"type": "edit", "target": own["id"], "text": "x"}):
            status, refused, response = await call(http, "POST", messages, BOB, body)
            assert (status, refused["error"]["code"]) == (403, "muted")
            assert "more seconds" in refused["error"]["message"]
            assert 1 <= int(response.headers["Retry-After"]) <= 4
        status, refused, _ = await call(
            http, "POST", f"{guarded.url}/rooms/general/typing", BOB, {"user": "bob"}
        )
        assert (status, refused["error"]["code"]) == (403, "muted")
        await send(ws, {"type": "publish", "text": "spam", "client_id": "w1"})
        await send(ws, {"type": "typing"})
        assert (await frame_of(ws, "error"))["code"] == "muted"
        assert (await frame_of(ws, "error"))["code"] == "muted"
        await send(multi, {"type": "publish", "room": "general", "text": "spam"})
        await send(multi, {"type": "typing", "room": "general"})
        for _ in range(2):
            refused = await frame_of(multi, "error")
            assert (refused["code"], refused["room"]) == ("muted", "general")
        # Not muted elsewhere, and free to take back what he said.
        await say(http, guarded, "random", BOB, "elsewhere")
        status, _, _ = await call(http, "POST", messages, BOB, {"type": "delete", "target": 1})
        assert status == 201
        status, listed, _ = await call(http, "GET", f"{guarded.url}/rooms/general/mutes", MIA)
        assert [m["user"] for m in listed["mutes"]] == ["bob"]
        status, every, _ = await call(http, "GET", f"{guarded.url}/admin/mutes", ROOT)
        assert [(m["room"], m["user"]) for m in every["mutes"]] == [("general", "bob")]
        status, _, _ = await call(http, "GET", f"{guarded.url}/admin/mutes", MIA)
        assert status == 403

        ended = await frame_of(watcher, "unmute")
        assert (ended["user"], ended["ended"]) == ("bob", True)
        await say(http, guarded, "general", BOB, "after")
        await send(ws, {"type": "publish", "text": "after too", "client_id": "w2"})
        assert (await frame_of(ws, "ack"))["client_id"] == "w2"
    status, listed, _ = await call(http, "GET", f"{guarded.url}/rooms/general/mutes", MIA)
    assert listed["mutes"] == []


async def test_a_lifted_mute_is_told_and_publishing_works_again(
    guarded: Server, http: aiohttp.ClientSession
) -> None:
    """DELETE /rooms/{room}/mutes/{user} lifts it at once (204, then 404), told as unmute."""
    base = f"{guarded.url}/rooms/general"
    async with room_socket(http, guarded, "general", CAROL) as watcher:
        status, _, _ = await call(
            http, "POST", f"{base}/mutes", MIA, {"user": "bob", "seconds": 600}
        )
        assert status == 201
        await frame_of(watcher, "mute")
        status, refused, _ = await call(http, "POST", f"{base}/messages", BOB, {"text": "x"})
        assert (status, refused["error"]["code"]) == (403, "muted")
        status, _, _ = await call(http, "DELETE", f"{base}/mutes/bob", MIA)
        assert status == 204
        lifted = await frame_of(watcher, "unmute")
        assert (lifted["user"], lifted["ended"]) == ("bob", False)
        await say(http, guarded, "general", BOB, "free again")
        status, missing, _ = await call(http, "DELETE", f"{base}/mutes/bob", MIA)
        assert (status, missing["error"]["code"]) == (404, "not_found")
    for body, field in (
        ({"seconds": 5}, "user is required"),
        ({"user": "bob", "seconds": 0}, "seconds must be"),
        ({"user": "bob", "seconds": "5"}, "seconds must be"),
        ({"user": "bob", "seconds": 5, "reason": 7}, "reason must be"),
    ):
        status, refused, _ = await call(http, "POST", f"{base}/mutes", MIA, body)
        assert (status, refused["error"]["code"]) == (400, "invalid_message")
        assert field in refused["error"]["message"]
    status, audit, _ = await call(http, "GET", f"{guarded.url}/admin/audit", ROOT)
    assert [(e["action"], e["actor"], e["user"]) for e in audit["entries"]] == [
        ("unmute", "mia", "bob"),
        ("mute", "mia", "bob"),
    ]
    assert audit["entries"][1]["detail"] == {"seconds": 600, "reason": ""}


async def test_disconnect_closes_every_connection_of_the_user(
    guarded: Server, http: aiohttp.ClientSession
) -> None:
    """An admin's disconnect of bob closes his room WebSocket and his GET /ws sockets (with
    and without a room) with 4403, ends his SSE stream with a 30 s retry and his long poll
    with 403 disconnected; carol's connections stay open."""
    url = f"{guarded.url}/rooms/general/messages"
    async with (
        room_socket(http, guarded, "general", BOB) as ws,
        multiplexed(http, guarded, BOB, "general") as multi,
        multiplexed(http, guarded, BOB) as bare,
        event_stream(http, guarded, "general", BOB) as sse,
        room_socket(http, guarded, "general", CAROL) as carol,
    ):
        held = asyncio.ensure_future(call(http, "GET", f"{url}?since=0&wait=30", BOB))
        await wait_live(guarded, "general", 4)
        await wait_for_waiters(guarded, 1)
        # Each connection once: a GET /ws socket is held for all its rooms.
        assert guarded.node.moderation.connections.count("bob") == 5
        status, answer, _ = await call(
            http, "POST", f"{guarded.url}/admin/users/bob/disconnect", ROOT
        )
        assert (status, answer) == (200, {"user": "bob", "closed_here": 5})
        for socket in (ws, multi, bare):
            assert await close_of(socket) == (4403, "disconnected by an admin")
        told = await event_of(sse, "disconnected")
        assert (told.retry, told.json()["code"]) == (30000, "disconnected")
        with pytest.raises(EOFError):
            await sse.next()
        status, refused, response = await held
        assert (status, refused["error"]["code"]) == (403, "disconnected")
        assert response.headers["Retry-After"] == "30"
        await say(http, guarded, "general", ALICE, "still here")
        assert (await frame_of(carol, "message"))["message"]["text"] == "still here"
    status, audit, _ = await call(http, "GET", f"{guarded.url}/admin/audit", ROOT)
    [entry] = audit["entries"]
    assert (entry["action"], entry["actor"], entry["user"]) == ("disconnect", "root", "bob")


async def test_clearing_a_room_starts_a_new_epoch_and_tells_every_client(
    guarded: Server, http: aiohttp.ClientSession
) -> None:
    """After an admin clears general, its streams end as at a reset (WebSocket 1012, GET /ws
    unsubscribed reset), a reconnect is told the gap, polls see the new empty log, and the
    next message is id 1 of the new epoch."""
    for text in ("one", "two", "three"):
        await say(http, guarded, "general", ALICE, text)
    old = (await read(http, guarded.url, "general", ALICE))["epoch"]
    async with (
        room_socket(http, guarded, "general", CAROL) as ws,
        multiplexed(http, guarded, CAROL, "general") as multi,
    ):
        status, answer, _ = await call(
            http, "POST", f"{guarded.url}/admin/rooms/general/clear", ROOT
        )
        assert status == 200 and answer["room"] == "general" and answer["epoch"] != old
        epoch = answer["epoch"]
        assert await close_of(ws) == (1012, "reconnect: reset")
        reset = await frame_of(multi, "unsubscribed")
        assert (reset["room"], reset["reason"]) == ("general", "reset")
    answer = await read(http, guarded.url, "general", ALICE, since=3, epoch=old)
    assert (answer["epoch"], answer["messages"], answer["last_id"]) == (epoch, [], 0)
    url = f"{guarded.url}/rooms/general/messages"
    async with http.ws_connect(url, params={"token": CAROL, "since": "3", "epoch": old}) as ws:
        gap = await frame_of(ws, "gap")
        assert gap["epoch"] == epoch
        assert (await say(http, guarded, "general", ALICE, "fresh"))["id"] == 1
        assert (await frame_of(ws, "message"))["message"]["text"] == "fresh"
    status, audit, _ = await call(http, "GET", f"{guarded.url}/admin/audit", ROOT)
    [entry] = audit["entries"]
    assert (entry["action"], entry["room"], entry["detail"]) == (
        "clear",
        "general",
        {"epoch": epoch},
    )


async def test_audit_pages_newest_first(guarded: Server, http: aiohttp.ClientSession) -> None:
    """GET /admin/audit: newest first, limit and before page through it; admins only."""
    for user in ("u1", "u2", "u3"):
        status, _, _ = await call(
            http, "POST", f"{guarded.url}/admin/users/{user}/disconnect", ROOT
        )
        assert status == 200
    status, page, _ = await call(http, "GET", f"{guarded.url}/admin/audit?limit=2", ROOT)
    assert [e["user"] for e in page["entries"]] == ["u3", "u2"]
    assert page["next"] == page["entries"][-1]["id"]
    status, rest, _ = await call(
        http, "GET", f"{guarded.url}/admin/audit?limit=2&before={page['next']}", ROOT
    )
    assert ([e["user"] for e in rest["entries"]], rest["next"]) == (["u1"], None)
    entry = rest["entries"][0]
    assert set(entry) == {"id", "at", "actor", "action", "room", "user", "detail"}
    status, refused, _ = await call(http, "GET", f"{guarded.url}/admin/audit?before=x", ROOT)
    assert (status, refused["error"]["code"]) == (400, "invalid_parameter")


async def test_without_tokens_only_loopback_is_admin(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """With access control off, a loopback client may use the mute and admin routes (the
    audit names its address), and a delete of another's message stays the author's alone."""
    base = f"{server.url}/rooms/general"
    status, answer, _ = await call(
        http, "POST", f"{base}/mutes", None, {"user": "bob", "seconds": 60}
    )
    assert status == 201 and answer["mute"]["by"] == "address 127.0.0.1"
    status, refused, _ = await call(
        http, "POST", f"{base}/messages", None, {"user": "bob", "text": "hi"}
    )
    assert (status, refused["error"]["code"]) == (403, "muted")
    status, _, _ = await call(
        http, "POST", f"{base}/messages", None, {"user": "alice", "text": "mine"}
    )
    status, refused, _ = await call(
        http, "POST", f"{base}/messages", None, {"type": "delete", "target": 1, "user": "carl"}
    )
    assert (status, refused["error"]["code"]) == (403, "forbidden")
    status, audit, _ = await call(http, "GET", f"{server.url}/admin/audit", None)
    assert status == 200 and audit["entries"][0]["actor"] == "address 127.0.0.1"


async def test_the_tutorial_dialect_refuses_a_muted_user(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """A mute in the lobby holds on the tutorial dialect's publishes too."""
    mute = {"user": "carl", "seconds": 60}
    status, _, _ = await call(http, "POST", f"{server.url}/rooms/lobby/mutes", None, mute)
    assert status == 201
    body = {"id": "t-1", "text": "hi", "username": "carl"}
    status, refused, _ = await call(http, "POST", f"{server.url}/messages", None, body)
    assert (status, refused["error"]["code"]) == (403, "muted")
    body = {"id": "t-2", "text": "hi", "username": "dora"}
    status, _, _ = await call(http, "POST", f"{server.url}/messages", None, body)
    assert status == 201


@pytest.mark.parametrize("transport", ["ws", "sse", "longpoll"])
async def test_the_python_client_waits_after_a_disconnect(
    start_server: StartServer, http: aiohttp.ClientSession, transport: TransportName
) -> None:
    """The Python client, disconnected by an admin on any transport, waits 30 s (not its
    backoff) before it connects again."""
    server = await start_server(auth_secret=SECRET)
    statuses: asyncio.Queue[Status] = asyncio.Queue()
    async with Client(server.url, token=BOB, long_poll_wait=20) as client:
        subscription = client.subscribe(
            "general", since=0, transport=transport, on_status=statuses.put_nowait
        )
        reading = asyncio.ensure_future(anext(aiter(subscription), None))
        try:
            async with asyncio.timeout(10):
                assert isinstance(await statuses.get(), Connected)
                if transport == "longpoll":
                    await wait_for_waiters(server, 1)
                else:
                    await wait_live(server, "general", 1)
                status, _, _ = await call(
                    http, "POST", f"{server.url}/admin/users/bob/disconnect", ROOT
                )
                assert status == 200
                gone = await statuses.get()
            assert isinstance(gone, Disconnected)
            assert gone.retry_in >= 30, gone
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            await subscription.aclose()


@pytest.mark.parametrize("header", ["X-Forwarded-For", "X-Real-IP", "Forwarded"])
async def test_without_tokens_a_request_through_a_proxy_is_not_this_machine(
    server: Server, http: aiohttp.ClientSession, header: str
) -> None:
    """A proxy on the server's machine makes every client's peer address loopback: a
    request that says it was forwarded is refused by the mute and admin routes, as by the
    operations page."""
    forwarded = {header: "203.0.113.7"}
    mute = {"user": "bob", "seconds": 60}
    for method, path, body in (
        ("POST", "/rooms/general/mutes", mute),
        ("GET", "/rooms/general/mutes", None),
        ("POST", "/admin/users/bob/disconnect", None),
        ("GET", "/admin/audit", None),
        ("GET", "/admin/mutes", None),
    ):
        async with http.request(method, server.url + path, json=body, headers=forwarded) as answer:
            assert answer.status == 403, (method, path)
            assert (await answer.json())["error"]["code"] == "forbidden"
