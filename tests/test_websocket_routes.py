"""The strict WebSocket checks on every WebSocket route: the room URL, ``GET /ws``, the
tutorial dialect's ``GET /messages`` and the conformance echo are one implementation
(front/ws_socket.py), so each check must hold on each, and no frame may follow the
server's close frame on any (RFC 6455 section 5.5.1)."""

from __future__ import annotations

import asyncio
import struct

import pytest

from hubbub.server import Server
from tests.conftest import StartServer
from tests.rawws import frame, open_raw

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_BODY = 1000
MAX_FRAGMENTS = 4
ROUTES = pytest.mark.parametrize(
    "path",
    ["/rooms/r/messages", "/ws", "/messages", "/ws-echo"],
    ids=["room", "multiplex", "dialect", "echo"],
)


@pytest.fixture
async def strict(start_server: StartServer) -> Server:
    return await start_server(
        ws_echo=True, max_body=MAX_BODY, max_fragments=MAX_FRAGMENTS, store="memory"
    )


async def frames_to_eof(reader: asyncio.StreamReader) -> list[tuple[int, bytes]]:
    """Every server frame until the server closes the connection."""
    frames: list[tuple[int, bytes]] = []
    async with asyncio.timeout(10):
        while True:
            head = await reader.read(2)
            if not head:
                return frames
            if len(head) == 1:
                head += await reader.readexactly(1)
            size = head[1] & 0x7F
            if size == 126:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", await reader.readexactly(8))[0]
            frames.append((head[0] & 0x0F, await reader.readexactly(size)))


async def closed_with(server: Server, path: str, data: bytes) -> int:
    """Send ``data`` after the handshake; the close code, checked to be the last frame
    and the only close, and the connection closed after it."""
    reader, writer, head = await open_raw(server.port, path=path)
    assert head.startswith(b"HTTP/1.1 101"), head
    writer.write(data)
    frames = await frames_to_eof(reader)
    writer.close()
    closes = [payload for opcode, payload in frames if opcode == CLOSE]
    assert len(closes) == 1 and frames[-1][0] == CLOSE, frames
    return int.from_bytes(closes[0][:2], "big") if closes[0] else 1005


def with_reserved_bit(data: bytes) -> bytes:
    return bytes([data[0] | 0x40]) + data[1:]


PROTOCOL_ERRORS = {
    "unmasked": frame(TEXT, b"{}", masked=False),
    "reserved bit": with_reserved_bit(frame(TEXT, b"{}")),
    "unknown opcode": frame(0x3, b""),
    "fragmented ping": frame(PING, b"x", fin=False),
    "ping over 125 bytes": frame(PING, b"x" * 126),
    "continuation of nothing": frame(CONT, b"x"),
    "text inside a message": frame(TEXT, b"{", fin=False) + frame(TEXT, b"}"),
    "close code 1005": frame(CLOSE, (1005).to_bytes(2, "big")),
    "close code 999": frame(CLOSE, (999).to_bytes(2, "big")),
    "close code 5000": frame(CLOSE, (5000).to_bytes(2, "big")),
    "close of one byte": frame(CLOSE, b"\x03"),
}


@ROUTES
@pytest.mark.parametrize("case", sorted(PROTOCOL_ERRORS))
async def test_protocol_errors_close_1002(strict: Server, path: str, case: str) -> None:
    assert await closed_with(strict, path, PROTOCOL_ERRORS[case]) == 1002


@ROUTES
async def test_invalid_utf8_closes_1007(strict: Server, path: str) -> None:
    assert await closed_with(strict, path, frame(TEXT, b'{"x": "\xff"}')) == 1007
    fragmented = frame(TEXT, b'{"x": "\xc3', fin=False) + frame(CONT, b'("}')
    assert await closed_with(strict, path, fragmented) == 1007


@ROUTES
async def test_too_many_fragments_close_1008(strict: Server, path: str) -> None:
    data = frame(TEXT, b"{", fin=False) + frame(CONT, b" ", fin=False) * MAX_FRAGMENTS
    assert await closed_with(strict, path, data) == 1008


@ROUTES
async def test_message_over_max_body_closes_1009(strict: Server, path: str) -> None:
    assert await closed_with(strict, path, frame(TEXT, b" " * (MAX_BODY + 1))) == 1009
    split = frame(TEXT, b" " * 600, fin=False) + frame(CONT, b" " * 600)
    assert await closed_with(strict, path, split) == 1009


@ROUTES
@pytest.mark.parametrize("code", [1000, 1001, 3000, 4999])
async def test_close_is_echoed_and_nothing_follows(strict: Server, path: str, code: int) -> None:
    """The client's close is answered with its code, even after a ping in the same write;
    then the connection ends."""
    data = frame(PING, b"p") + frame(CLOSE, code.to_bytes(2, "big")) + frame(PING, b"late")
    assert await closed_with(strict, path, data) == code


@ROUTES
async def test_close_between_fragments_is_answered(strict: Server, path: str) -> None:
    """A close may come between the fragments of a message (RFC 6455 section 5.4)."""
    data = frame(TEXT, b"{", fin=False) + frame(CLOSE, (1000).to_bytes(2, "big"))
    assert await closed_with(strict, path, data) == 1000


@ROUTES
async def test_pings_are_answered_in_order(strict: Server, path: str) -> None:
    reader, writer, _ = await open_raw(strict.port, path=path)
    writer.write(frame(PING, b"one") + frame(PING, b"two"))
    pongs: list[bytes] = []
    async with asyncio.timeout(10):
        while len(pongs) < 2:
            opcode, payload = await read_frame(reader)
            if opcode == PONG:
                pongs.append(payload)
    assert pongs == [b"one", b"two"]
    writer.close()


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", await reader.readexactly(2))[0]
    return first & 0x0F, await reader.readexactly(size)


@ROUTES
async def test_head_with_upgrade_is_not_upgraded(strict: Server, path: str) -> None:
    """``HEAD`` asks for a head, never for a protocol switch."""
    reader, writer = await asyncio.open_connection("127.0.0.1", strict.port)
    writer.write(
        (
            f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert not head.startswith(b"HTTP/1.1 101"), head
    writer.close()
