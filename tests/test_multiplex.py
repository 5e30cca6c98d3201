"""GET /ws: one WebSocket, many rooms, each subscription with its own cursor and epoch."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest

from hubbub.server import Server
from tests.conftest import StartServer
from tests.rawws import frame, open_raw, read_frame
from tests.tokens import SECRET, make_token
from tests.wire import poll, publish, wait_live, ws_json

TEXT, PING = 0x1, 0x9


async def send(ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> None:
    await ws.send_str(orjson.dumps(frame).decode())


async def frames_until(
    ws: aiohttp.ClientWebSocketResponse, count: int, *, ready: bool = True
) -> list[dict[str, Any]]:
    """The next ``count`` frames (presence and typing skipped)."""
    return [await ws_json(ws, ready=ready) for _ in range(count)]


async def test_each_room_has_its_own_cursor(server: Server, http: aiohttp.ClientSession) -> None:
    """Two subscriptions resume from their own cursors; every frame names its room."""
    for text in ("a1", "a2", "a3"):
        await publish(http, server.url, "a", text)
    for text in ("b1", "b2"):
        await publish(http, server.url, "b", text)
    async with http.ws_connect(f"{server.url}/ws") as ws:
        await send(ws, {"type": "subscribe", "room": "a", "since": 1})
        got = await frames_until(ws, 3)
        assert [(f["type"], f["room"]) for f in got] == [("ready", "a")] + [("message", "a")] * 2
        assert got[0]["since"] == 1 and [f["message"]["id"] for f in got[1:]] == [2, 3]
        await send(ws, {"type": "subscribe", "room": "b", "since": 0})
        got = await frames_until(ws, 3)
        assert [f["room"] for f in got] == ["b"] * 3
        assert [f["message"]["text"] for f in got[1:]] == ["b1", "b2"]
        await wait_live(server, "b", 1)
        await publish(http, server.url, "b", "b3")
        await publish(http, server.url, "a", "a4")
        live = await frames_until(ws, 2)
        assert [(f["room"], f["message"]["text"]) for f in live] == [("b", "b3"), ("a", "a4")]


async def test_subscriptions_resume_across_a_restart(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Cursors and epochs kept per room: after a restart each room resumes without a gap."""
    server = await start_server()
    await publish(http, server.url, "a", "a1")
    await publish(http, server.url, "b", "b1")
    cursors: dict[str, tuple[int, str]] = {}
    async with http.ws_connect(f"{server.url}/ws") as ws:
        for room in ("a", "b"):
            await send(ws, {"type": "subscribe", "room": room, "since": 0})
            ready, message = await frames_until(ws, 2)
            cursors[room] = (message["message"]["id"], ready["epoch"])
        await server.stop()
        closing = await ws.receive(timeout=10)
        while closing.type is aiohttp.WSMsgType.TEXT:  # presence frames before the close
            closing = await ws.receive(timeout=10)
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1001
    again = await start_server(port=server.port)
    await publish(http, again.url, "a", "a2")
    await publish(http, again.url, "b", "b2")
    await publish(http, again.url, "b", "b3")
    async with http.ws_connect(f"{again.url}/ws") as ws:
        for room, (since, epoch) in cursors.items():
            await send(ws, {"type": "subscribe", "room": room, "since": since, "epoch": epoch})
        got = await frames_until(ws, 5)
    assert all(f["type"] != "gap" for f in got)
    texts = [(f["room"], f["message"]["text"]) for f in got if f["type"] == "message"]
    assert texts == [("a", "a2"), ("b", "b2"), ("b", "b3")]


async def test_unsubscribe_stops_the_room_at_once(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """After the unsubscribed frame nothing of the room arrives; subscribing again works."""
    async with http.ws_connect(f"{server.url}/ws") as ws:
        await send(ws, {"type": "subscribe", "room": "a"})
        await send(ws, {"type": "subscribe", "room": "b"})
        assert [f["type"] for f in await frames_until(ws, 2)] == ["ready", "ready"]
        await wait_live(server, "b", 1)
        await send(ws, {"type": "unsubscribe", "room": "a"})
        assert await ws_json(ws) == {"type": "unsubscribed", "room": "a", "reason": "unsubscribed"}
        await publish(http, server.url, "a", "not for you")
        await publish(http, server.url, "b", "for you")
        frame = await ws_json(ws)
        assert (frame["room"], frame["message"]["text"]) == ("b", "for you")
        await send(ws, {"type": "subscribe", "room": "a", "since": 0})
        ready, message = await frames_until(ws, 2)
        assert (ready["room"], message["message"]["text"]) == ("a", "not for you")


async def test_publish_typing_and_errors_name_their_room(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Publishes need a room and are acked with it; refusals name the room; a cap holds."""
    server = await start_server(max_subscriptions=1)
    async with http.ws_connect(f"{server.url}/ws?user=alice") as ws:
        await send(ws, {"type": "subscribe", "room": "a"})
        assert (await ws_json(ws, ready=True))["type"] == "ready"
        presence = await ws_json(ws, ephemeral=True)
        assert presence == {"type": "presence", "room": "a", "joined": ["alice"], "left": []}
        await send(ws, {"type": "subscribe", "room": "b"})
        capped = await ws_json(ws)
        assert (capped["type"], capped["room"], capped["code"]) == ("error", "b", "invalid_message")
        frame = {"type": "publish", "room": "a", "user": "alice", "text": "hi", "client_id": "c1"}
        await send(ws, frame)
        message, ack = await frames_until(ws, 2)
        assert message["room"] == "a" and message["message"]["text"] == "hi"
        assert (ack["type"], ack["room"], ack["client_id"]) == ("ack", "a", "c1")
        await send(ws, {"type": "publish", "user": "alice", "text": "where?"})
        assert (await ws_json(ws))["code"] == "invalid_room"
        await send(ws, {"type": "publish", "room": "a", "user": "alice", "text": " "})
        blank = await ws_json(ws)
        assert (blank["code"], blank["room"]) == ("invalid_message", "a")
        await send(ws, {"type": "typing", "room": "a"})
        typing = await ws_json(ws, ephemeral=True)
        assert typing == {"type": "typing", "room": "a", "user": "alice"}
    assert (await poll(http, server.url, "a"))["last_id"] == 1


async def test_plain_get_of_ws_is_refused(server: Server, http: aiohttp.ClientSession) -> None:
    """GET /ws without an upgrade is a 400."""
    async with http.get(f"{server.url}/ws") as response:
        assert response.status == 400


async def ack_of(ws: aiohttp.ClientWebSocketResponse, client_id: str) -> dict[str, Any]:
    """The ack for ``client_id`` (frames of the room before it skipped)."""
    while True:
        frame: dict[str, Any] = await ws_json(ws, ready=True)
        if frame.get("client_id") == client_id:
            assert frame["type"] == "ack", frame
            return frame


async def test_token_sub_is_stamped_on_publish_edit_and_delete(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Under access control, frames without ``user`` are the token's ``sub``'s, as on the
    room URL; naming another user is refused."""
    server = await start_server(auth_secret=SECRET)
    async with http.ws_connect(f"{server.url}/ws", params={"token": make_token("alice")}) as ws:
        await send(ws, {"type": "publish", "room": "r", "text": "hi", "client_id": "p"})
        published = (await ack_of(ws, "p"))["message"]
        assert (published["user"], published["text"]) == ("alice", "hi")
        target = published["id"]
        await send(
            ws, {"type": "edit", "room": "r", "target": target, "text": "hey", "client_id": "e"}
        )
        edited = (await ack_of(ws, "e"))["message"]
        assert (edited["user"], edited["kind"], edited["target"]) == ("alice", "edit", target)
        await send(ws, {"type": "delete", "room": "r", "target": target, "client_id": "d"})
        deleted = (await ack_of(ws, "d"))["message"]
        assert (deleted["user"], deleted["kind"]) == ("alice", "delete")
        await send(
            ws, {"type": "publish", "room": "r", "user": "bob", "text": "x", "client_id": "b"}
        )
        refused = await ws_json(ws, ready=True)
        assert (refused["type"], refused["code"], refused["room"]) == ("error", "forbidden", "r")
    assert server.node.stats.published == 3


@pytest.mark.parametrize("subscribed", [True, False], ids=["subscribed", "idle"])
async def test_expiring_token_closes_with_4401(
    start_server: StartServer, http: aiohttp.ClientSession, subscribed: bool
) -> None:
    """At exp the socket closes with 4401 "token expired", as the room URL's does, whether
    or not it is subscribed to anything; nothing follows the close frame."""
    server = await start_server(auth_secret=SECRET)
    token = make_token(ttl=1.5)
    async with http.ws_connect(f"{server.url}/ws", params={"token": token}) as ws:
        if subscribed:
            await send(ws, {"type": "subscribe", "room": "r", "since": 0})
            assert (await ws_json(ws, ready=True))["type"] == "ready"
        msg = await ws.receive(timeout=10)
        while msg.type is aiohttp.WSMsgType.TEXT:  # presence frames before the close
            msg = await ws.receive(timeout=10)
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert (msg.data, msg.extra) == (4401, "token expired")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{server.url}/ws", params={"token": token})
    assert refused.value.status == 401


async def test_frames_cut_by_reads_are_joined(server: Server) -> None:
    """A publisher's frames cut anywhere by its writes (so by the server's reads): each is
    read whole once the rest arrives, before and after the WebSocket library takes the
    socket over (a ping after a cut frame hands it the cut frame's start too)."""
    reader, writer, head = await open_raw(server.port, "/ws")
    assert head.startswith(b"HTTP/1.1 101")

    def publish_frame(n: int) -> bytes:
        body = {"type": "publish", "room": "cut", "user": "al", "text": f"m{n} " + "x" * 200}
        return frame(TEXT, orjson.dumps(body))

    async def ack() -> int:
        opcode, payload = await read_frame(reader)
        assert opcode == TEXT
        answer = orjson.loads(payload)
        assert answer["type"] == "ack"
        return int(answer["message"]["id"])

    one, two, three, four = (publish_frame(n) for n in range(1, 5))
    pieces = [
        one + two[:1],  # cut after the first byte
        two[1:3],  # ... inside the 16-bit length
        two[3:] + three[:100],  # ... inside the payload
        three[100:] + four[:50],
        four[50:] + frame(PING, b"hi"),  # the library takes the rest, the ping with it
    ]
    acks = []
    for n, piece in enumerate(pieces):
        writer.write(piece)
        await writer.drain()
        if n in (0, 2, 3):  # each piece read alone: the next is sent after this ack
            acks.append(await ack())
    assert await read_frame(reader) == (0xA, b"hi")  # answered at once, the ack on commit
    acks.append(await ack())
    assert acks == [1, 2, 3, 4]
    writer.close()
