"""The room URL's WebSocket (front/websocket.py): the answers, frames and closes, including
what the rest of the suite does not send (frames in the handshake's packet, a poll
pipelined before an upgrade), and its place under the caps. The front takes every
WebSocket upgrade, on any connection (after other routes' answers too); the refusals
are the answers aiohttp's handshake gave, kept byte for byte."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import orjson
import pytest

from hubbub.server import Server
from tests.conftest import StartServer
from tests.rawws import KEY, close_code, frame, open_raw, read_frame
from tests.tokens import SECRET

TEXT, BINARY, CLOSE, PING = 0x1, 0x2, 0x8, 0x9
ACCEPT = base64.b64encode(
    hashlib.sha1(KEY.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
)
UPGRADE = (
    "GET /rooms/r/messages{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
    "Sec-WebSocket-Version: {version}\r\n\r\n"
)
GOOD = f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n"


def upgrade(query: str = "", headers: str = GOOD, version: str = "13") -> bytes:
    return UPGRADE.format(query=query, headers=headers, version=version).encode()


async def exchange(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    return reader, writer


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """Status and headers (lower-cased names) of one answer."""
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status_line, *lines = raw.decode("latin-1").split("\r\n")[:-2]
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


async def frames_until(reader: asyncio.StreamReader, wanted: int) -> list[tuple[int, bytes]]:
    """Server frames up to the first of opcode ``wanted``, included."""
    seen: list[tuple[int, bytes]] = []
    while not seen or seen[-1][0] != wanted:
        seen.append(await read_frame(reader))
    return seen


async def test_which_path_answers(start_server: StartServer) -> None:
    """The 101 comes from hubbub (its Server header tells), with the key's accept value
    and the upgrade headers."""
    server = await start_server()
    _, _, head = await open_raw(server.port)
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    lines = head.lower()
    assert b"\r\nupgrade: websocket\r\n" in lines and b"\r\nconnection: upgrade\r\n" in lines
    assert b"\r\nsec-websocket-accept: " + ACCEPT.lower() + b"\r\n" in lines
    assert b"Server: hubbub\r\n" in head


async def test_frames_in_the_handshake_packet_are_read(start_server: StartServer) -> None:
    """A publish and a ping sent in the same write as the handshake: pong, then the ack."""
    server = await start_server()
    publish = b'{"type":"publish","user":"u","text":"early","client_id":"c1"}'
    reader, writer = await exchange(
        server.port, upgrade() + frame(TEXT, publish) + frame(PING, b"hi")
    )
    status, _ = await read_head(reader)
    assert status == 101
    frames = await frames_until(reader, PING + 1)  # the pong
    assert frames[-1] == (0xA, b"hi")
    texts = [orjson.loads(payload) for _, payload in frames[:-1]]
    while not any(t["type"] == "ack" for t in texts):
        _, payload = await read_frame(reader)
        texts.append(orjson.loads(payload))
    ack = next(t for t in texts if t["type"] == "ack")
    assert (ack["client_id"], ack["message"]["id"]) == ("c1", 1)
    writer.close()


async def test_poll_pipelined_before_an_upgrade(start_server: StartServer) -> None:
    """A poll and an upgrade in one write: the poll's 200, then the 101 and the stream."""
    server = await start_server()
    poll = b"GET /rooms/r/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    reader, writer = await exchange(server.port, poll + upgrade())
    status, headers = await read_head(reader)
    assert status == 200
    body = orjson.loads(await reader.readexactly(int(headers["content-length"])))
    assert body["messages"] == []
    status, _ = await read_head(reader)
    assert status == 101
    opcode, payload = await read_frame(reader)
    assert (opcode, orjson.loads(payload)["type"]) == (TEXT, "ready")
    writer.close()


@pytest.mark.parametrize("first", ["/rooms/r/messages", "/rooms", "/rooms/r/presence"])
async def test_upgrade_after_another_answer_on_the_connection(
    start_server: StartServer, first: str
) -> None:
    """Every route is served by the same connection, so an upgrade pipelined after any
    other request on it is taken once that request is answered (issue 18)."""
    server = await start_server()
    poll = f"GET {first} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    reader, writer = await exchange(server.port, poll + upgrade())
    status, headers = await read_head(reader)
    assert status == 200
    await reader.readexactly(int(headers["content-length"]))
    status, _ = await read_head(reader)
    assert status == 101
    opcode, payload = await read_frame(reader)
    assert (opcode, orjson.loads(payload)["type"]) == (TEXT, "ready")
    writer.close()


REFUSALS = {
    "no key": upgrade(headers="Upgrade: websocket\r\nConnection: Upgrade\r\n"),
    "key not base64": upgrade(headers=GOOD.replace(KEY, "not*base64")),
    "key of 15 bytes": upgrade(headers=GOOD.replace(KEY, base64.b64encode(b"x" * 15).decode())),
    "no Connection": upgrade(headers=GOOD.replace("Connection: Upgrade\r\n", "")),
    "Connection: keep-alive": upgrade(headers=GOOD.replace("Upgrade\r\nSec", "keep-alive\r\nSec")),
    "version 8": upgrade(version="8"),
    "other origin": upgrade(headers=GOOD + "Origin: https://evil.example\r\n"),
    "bad cursor": upgrade(query="?since=x"),
    "bad user": upgrade(query="?user=" + "u" * 200),
    "bad room": upgrade().replace(b"/rooms/r/", b"/rooms/" + b"r" * 300 + b"/"),
}


async def refusal(port: int, request: bytes) -> tuple[int, bytes, str | None]:
    reader, writer = await exchange(port, request)
    status, headers = await read_head(reader)
    body = await reader.readexactly(int(headers["content-length"]))
    writer.close()
    return status, body, headers.get("sec-websocket-version")


# What aiohttp's handshake answered each (recorded before its WebSocket was removed).
AIOHTTP_ANSWERS = {
    "no key": (400, "invalid_request", "websocket handshake: Handshake error: None"),
    "key not base64": (
        400,
        "invalid_request",
        "websocket handshake: Handshake error: 'not*base64'",
    ),
    "key of 15 bytes": (
        400,
        "invalid_request",
        "websocket handshake: Handshake error: 'eHh4eHh4eHh4eHh4eHh4'",
    ),
    "no Connection": (
        400,
        "invalid_request",
        "websocket handshake: No CONNECTION upgrade hdr: None",
    ),
    "Connection: keep-alive": (
        400,
        "invalid_request",
        "websocket handshake: No CONNECTION upgrade hdr: keep-alive",
    ),
    "version 8": (426, "upgrade_required", "only WebSocket version 13 is spoken here"),
    "other origin": (
        403,
        "forbidden",
        "pages of 'https://evil.example' may not use this server (see --allow-origin)",
    ),
    "bad cursor": (
        400,
        "invalid_parameter",
        "since must be a whole number from 0 to 9223372036854775807",
    ),
    "bad user": (400, "invalid_parameter", "user must be at most 64 characters"),
    "bad room": (
        400,
        "invalid_room",
        "room names are 1 to 64 characters of A-Z a-z 0-9 _ . - and do not start with '.'",
    ),
}
AIOHTTP_REJECTED = {
    "invalid_request": 5,
    "upgrade_required": 1,
    "forbidden": 1,
    "invalid_parameter": 2,
    "invalid_room": 1,
}
TOKEN_ANSWERS = [
    "a token is required: send Authorization: Bearer TOKEN or ?token=",
    "token is malformed: not a signed JWT with well-formed claims",
    "token is malformed: not a signed JWT with well-formed claims",
]


def error_of(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}})


async def test_refused_handshakes_are_answered_as_aiohttp_did(start_server: StartServer) -> None:
    """Every malformed or refused handshake gets the status, JSON body and headers that
    aiohttp's handshake gave it (``Sec-WebSocket-Version: 13`` with a 426), and is counted
    the same."""
    server = await start_server(store="memory")
    for name, request in REFUSALS.items():
        status, code, message = AIOHTTP_ANSWERS[name]
        version = "13" if status == 426 else None
        assert await refusal(server.port, request) == (status, error_of(code, message), version)
    assert server.node.stats.rejected == AIOHTTP_REJECTED


async def test_token_refusals_are_answered_as_aiohttp_did(start_server: StartServer) -> None:
    """Without a token, or with a bad one (header or ?token=): aiohttp's 401."""
    server = await start_server(auth_secret=SECRET, store="memory")
    requests = (
        upgrade(),
        upgrade(query="?token=nonsense"),
        upgrade(headers=GOOD + "Authorization: Bearer nonsense\r\n"),
    )
    for request, message in zip(requests, TOKEN_ANSWERS, strict=True):
        answer = await refusal(server.port, request)
        assert answer == (401, error_of("unauthorized", message), None)


async def test_upgrade_headers_with_an_allowed_origin(start_server: StartServer) -> None:
    """An allowed page gets the CORS lines; offered subprotocols and extensions get none."""
    server = await start_server(allow_origin="https://good.example")
    offer = "Sec-WebSocket-Protocol: chat, v2\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"
    reader, writer = await exchange(
        server.port, upgrade(headers=GOOD + "Origin: https://good.example\r\n" + offer)
    )
    status, headers = await read_head(reader)
    assert status == 101
    assert headers["access-control-allow-origin"] == "https://good.example"
    assert headers["vary"] == "Origin"
    assert "sec-websocket-protocol" not in headers
    assert "sec-websocket-extensions" not in headers
    writer.close()


async def test_binary_closes_1003_and_waits_for_the_close(start_server: StartServer) -> None:
    """A binary message: close 1003 "binary frames"; text after it is not answered; the
    client's close ends the connection."""
    server = await start_server()
    reader, writer, _ = await open_raw(server.port)
    writer.write(frame(BINARY, b"\x00\x01"))
    frames = await frames_until(reader, CLOSE)
    assert frames[-1] == (CLOSE, (1003).to_bytes(2, "big") + b"binary frames")
    writer.write(frame(TEXT, b'{"type":"publish","user":"u","text":"late"}'))
    writer.write(frame(CLOSE, (1000).to_bytes(2, "big")))
    async with asyncio.timeout(10):
        assert await reader.read() == b""  # closed, with nothing after the close frame
    assert server.node.stats.published == 0


async def test_closed_sockets_give_their_place_back(start_server: StartServer) -> None:
    """Under a cap of one connection per address, a lean socket holds the place until it
    closes: another is refused 503 meanwhile, admitted after."""
    server = await start_server(max_connections_per_ip=1)
    reader, writer, head = await open_raw(server.port)
    assert head.startswith(b"HTTP/1.1 101")
    assert server.node.stats.connections_open == 1
    status, _, _ = await refusal(server.port, upgrade())
    assert status == 503
    writer.write(frame(CLOSE, (1000).to_bytes(2, "big")))
    assert await close_code(reader) == 1000
    async with asyncio.timeout(10):
        assert await reader.read() == b""
        while server.node.stats.connections_open or server.node.stats.streams["ws"]:
            await asyncio.sleep(0.01)
    _, writer, head = await open_raw(server.port)
    assert head.startswith(b"HTTP/1.1 101")
    writer.close()


async def test_shutdown_closes_with_1001(start_server: StartServer) -> None:
    """Stopping the server closes a live socket with 1001 "server shutting down"."""
    server: Server = await start_server()
    reader, writer, _ = await open_raw(server.port)
    await frames_until(reader, TEXT)  # ready
    stopping = asyncio.create_task(server.stop())
    frames = await frames_until(reader, CLOSE)
    assert frames[-1] == (CLOSE, (1001).to_bytes(2, "big") + b"server shutting down")
    await asyncio.wait_for(stopping, 10)
    writer.close()


async def test_conformance_echo_path(start_server: StartServer) -> None:
    """/ws-echo (what Autobahn tests) is served by the front, and
    echoes text and binary messages and pings alike."""
    server = await start_server(ws_echo=True)
    reader, writer, head = await open_raw(server.port, path="/ws-echo")
    assert head.startswith(b"HTTP/1.1 101")
    assert b"Server: hubbub\r\n" in head
    writer.write(frame(TEXT, "héllo".encode()) + frame(BINARY, b"\x00\xff") + frame(PING, b"p"))
    assert [await read_frame(reader) for _ in range(3)] == [
        (TEXT, "héllo".encode()),
        (BINARY, b"\x00\xff"),
        (0xA, b"p"),
    ]
    writer.write(frame(CLOSE, (1000).to_bytes(2, "big")))
    assert await close_code(reader) == 1000
    writer.close()
