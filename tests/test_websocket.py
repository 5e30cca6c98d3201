"""WebSocket on GET /rooms/{room}/messages: frames, publishing, limits, liveness."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from hubbub.server import Server
from tests.conftest import StartServer
from tests.wire import poll, publish, wait_live, ws_json


def ws_url(server: Server, room: str, query: str = "") -> str:
    return f"{server.url}/rooms/{room}/messages{query}"


async def test_messages_from_cursor_then_live(server: Server, http: aiohttp.ClientSession) -> None:
    """since=N replays ids > N in order, then live messages follow."""
    for text in ("a", "b", "c"):
        await publish(http, server.url, "r", text)
    async with http.ws_connect(ws_url(server, "r", "?since=1")) as ws:
        assert [(await ws_json(ws))["message"]["id"] for _ in range(2)] == [2, 3]
        await publish(http, server.url, "r", "d")
        frame = await ws_json(ws)
        assert frame["type"] == "message" and frame["message"]["text"] == "d"


async def test_publish_ack_and_broadcast(server: Server, http: aiohttp.ClientSession) -> None:
    """A publish frame is stored, broadcast as message and acked with its client_id."""
    async with (
        http.ws_connect(ws_url(server, "r")) as alice,
        http.ws_connect(ws_url(server, "r")) as bob,
    ):
        await wait_live(server, "r", 2)
        await alice.send_str(
            orjson.dumps(
                {"type": "publish", "user": "alice", "text": "hi", "client_id": "c9"}
            ).decode()
        )
        frames = [await ws_json(alice), await ws_json(alice)]
        by_type = {frame["type"]: frame for frame in frames}
        assert by_type["ack"]["client_id"] == "c9"
        assert by_type["ack"]["message"] == by_type["message"]["message"]
        assert (await ws_json(bob))["message"]["text"] == "hi"
        # The same client_id again: acked with the original, nothing new broadcast.
        await alice.send_str('{"type":"publish","user":"alice","text":"other","client_id":"c9"}')
        again = await ws_json(alice)
        assert again["type"] == "ack" and again["message"]["id"] == 1
        await alice.send_str('{"type":"publish","user":"alice","text":"plain"}')
        frames = [await ws_json(alice), await ws_json(alice)]
        ack = next(frame for frame in frames if frame["type"] == "ack")
        assert "client_id" not in ack and ack["message"]["id"] == 2
    assert (await poll(http, server.url, "r"))["last_id"] == 2


async def test_refused_frames_keep_the_connection(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """Bad frames get error frames with the HTTP codes; the socket stays usable."""
    async with http.ws_connect(ws_url(server, "r")) as ws:
        await ws.send_str("not json")
        assert (await ws_json(ws))["code"] == "invalid_json"
        await ws.send_str('{"type":"dance","client_id":"k"}')
        error = await ws_json(ws)
        assert (error["type"], error["code"], error["client_id"]) == (
            "error",
            "invalid_message",
            "k",
        )
        await ws.send_str('{"type":"publish","user":"a","text":"  ","client_id":"k2"}')
        error = await ws_json(ws)
        assert (error["code"], error["client_id"]) == ("invalid_message", "k2")
        assert "text" in error["message"]
        await ws.send_str('{"type":"publish","user":"a","text":"fine"}')
        frames = {(await ws_json(ws))["type"], (await ws_json(ws))["type"]}
        assert frames == {"message", "ack"}
    assert (await poll(http, server.url, "r"))["last_id"] == 1


async def test_frame_over_max_body_closes_1009(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """A message larger than max_body closes the connection with 1009."""
    server = await start_server(max_body=1000)
    async with http.ws_connect(ws_url(server, "r")) as ws:
        await ws.send_str("x" * 1001)
        msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1009


async def test_binary_frame_closes_1003(server: Server, http: aiohttp.ClientSession) -> None:
    """Binary messages are refused with close code 1003."""
    async with http.ws_connect(ws_url(server, "r")) as ws:
        await ws.send_bytes(b"\x00\x01")
        msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1003


async def test_bad_cursor_is_400_before_upgrade(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """since must be valid before the handshake: a plain 400 JSON answer."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(ws_url(server, "r", "?since=x"))
    assert refused.value.status == 400


async def test_gap_frame_then_messages(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """A cursor older than what is kept gets a gap frame, then messages from first_id."""
    server = await start_server(retain=2)
    for i in range(5):
        await publish(http, server.url, "r", f"m{i}")
    async with http.ws_connect(ws_url(server, "r", "?since=0")) as ws:
        gap = await ws_json(ws)
        epoch = gap["epoch"]
        assert gap == {"type": "gap", "room": "r", "first_id": 4, "last_id": 5, "epoch": epoch}
        ready = await ws_json(ws, ready=True)
        assert ready == {
            "type": "ready",
            "room": "r",
            "epoch": epoch,
            "since": 3,
            "first_id": 4,
            "last_id": 5,
        }
        assert [(await ws_json(ws))["message"]["id"] for _ in range(2)] == [4, 5]


async def test_server_pings_and_answers_pings(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """The server pings every heartbeat and pongs a client's ping."""
    # A heartbeat long enough that a client held up on a loaded machine is not cut as
    # silent (after two) before it answers: at 0.2 s that failed once at load 8.
    server = await start_server(heartbeat=1.0)
    async with http.ws_connect(ws_url(server, "r"), autoping=False) as ws:
        assert (await ws_json(ws, ready=True))["type"] == "ready"
        assert (await ws_json(ws, ephemeral=True))["type"] == "presence"
        msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.PING
        await ws.pong(msg.data)
        await ws.ping(b"are you there")
        while True:
            msg = await ws.receive(timeout=5)
            if msg.type is aiohttp.WSMsgType.PONG:
                assert msg.data == b"are you there"
                break


async def test_silent_peer_is_dropped(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """A peer that never answers pings is dropped after two heartbeats."""
    server = await start_server(heartbeat=0.2)
    async with http.ws_connect(ws_url(server, "r"), autoping=False) as ws:
        await wait_live(server, "r", 1)
        assert (await ws_json(ws, ready=True))["type"] == "ready"
        assert (await ws_json(ws, ephemeral=True))["type"] == "presence"
        async with asyncio.timeout(5):
            while True:
                msg = await ws.receive()
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
                assert msg.type is aiohttp.WSMsgType.PING  # never answered
        await wait_live(server, "r", 0)
