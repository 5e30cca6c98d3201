"""A WebSocket's ``ack`` follows the ``message`` it acknowledges on that socket, even when
the socket's subscription to the room is still catching up (protocol.md: "the message
arrives as a message frame to every subscriber of the room, this socket included, and
this socket then gets its ack"). Before, the ack was written at the commit while the
message came later with the catch-up: half the tries below got the ack first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import orjson
import pytest

from hubbub.server import Server
from tests.conftest import StartServer

HISTORY = 1000  # several catch-up pages: a publish commits while they are read
TRIES = 12


async def fill(http: aiohttp.ClientSession, server: Server, room: str) -> None:
    """``HISTORY`` messages in ``room``, pipelined on one socket, all acked."""
    async with http.ws_connect(f"{server.url}/rooms/{room}/messages?since=0") as ws:
        for i in range(HISTORY):
            await ws.send_str(
                orjson.dumps({"type": "publish", "user": "a", "text": f"old {i}"}).decode()
            )
        acked = 0
        while acked < HISTORY:
            frame = orjson.loads((await ws.receive(timeout=20)).data)
            acked += frame["type"] == "ack"


async def frames_until_ack(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, object]]:
    frames = []
    while True:
        frame = orjson.loads((await ws.receive(timeout=20)).data)
        frames.append(frame)
        if frame["type"] == "ack":
            return frames


def text_of(frame: dict[str, object]) -> object:
    message = frame.get("message")
    return message.get("text") if isinstance(message, dict) else None


Opener = Callable[[aiohttp.ClientSession, Server, int], Awaitable[list[dict[str, object]]]]


async def on_room_url(
    http: aiohttp.ClientSession, server: Server, n: int
) -> list[dict[str, object]]:
    async with http.ws_connect(f"{server.url}/rooms/r/messages?since=0") as ws:
        publish = {"type": "publish", "user": "b", "text": f"new {n}", "client_id": f"c{n}"}
        await ws.send_str(orjson.dumps(publish).decode())
        return await frames_until_ack(ws)


async def on_multiplex(
    http: aiohttp.ClientSession, server: Server, n: int
) -> list[dict[str, object]]:
    async with http.ws_connect(f"{server.url}/ws?user=b") as ws:
        subscribe = {"type": "subscribe", "room": "r", "since": 0}
        publish = {
            "type": "publish",
            "room": "r",
            "user": "b",
            "text": f"new {n}",
            "client_id": f"c{n}",
        }
        await ws.send_str(orjson.dumps(subscribe).decode())
        await ws.send_str(orjson.dumps(publish).decode())
        return await frames_until_ack(ws)


@pytest.mark.parametrize("open_socket", [on_room_url, on_multiplex], ids=["room-url", "ws"])
async def test_the_ack_follows_its_message_during_a_catch_up(
    start_server: StartServer, open_socket: Opener
) -> None:
    server = await start_server()
    async with aiohttp.ClientSession() as http:
        await fill(http, server, "r")
        for n in range(TRIES):
            frames = await open_socket(http, server, n)
            texts = [text_of(frame) for frame in frames if frame["type"] == "message"]
            assert f"new {n}" in texts, f"try {n}: the ack came before its message"
            # The history before it, in order, and nothing twice.
            assert texts[:HISTORY] == [f"old {i}" for i in range(HISTORY)]
            assert texts.count(f"new {n}") == 1
            ack = frames[-1]
            assert ack["client_id"] == f"c{n}"


async def test_an_unsubscribe_before_the_catch_up_ends_still_gets_the_ack(
    start_server: StartServer,
) -> None:
    """The ack held for a subscription's catch-up is sent when it ends without reaching
    the message (unsubscribed), not lost."""
    server = await start_server()
    async with aiohttp.ClientSession() as http:
        await fill(http, server, "r")
        async with http.ws_connect(f"{server.url}/ws?user=b") as ws:
            frames = [
                {"type": "subscribe", "room": "r", "since": 0},
                {"type": "publish", "room": "r", "user": "b", "text": "new", "client_id": "c"},
                {"type": "unsubscribe", "room": "r"},
            ]
            for frame in frames:
                await ws.send_str(orjson.dumps(frame).decode())
            seen: list[dict[str, object]] = []
            while not any(f["type"] == "unsubscribed" for f in seen) or not any(
                f["type"] == "ack" for f in seen
            ):
                seen.append(orjson.loads((await ws.receive(timeout=20)).data))
            assert [f["client_id"] for f in seen if f["type"] == "ack"] == ["c"]
