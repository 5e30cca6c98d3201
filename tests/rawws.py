"""A raw WebSocket client for tests that must send what no library sends (unmasked frames)."""

from __future__ import annotations

import asyncio
import os
import struct

from tests.rawhttp import request

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True) -> bytes:
    """One client frame; ``masked=False`` breaks RFC 6455 on purpose."""
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    bit = 0x80 if masked else 0
    if size < 126:
        head += bytes([bit | size])
    elif size < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", size)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def upgrade_request(target: str) -> bytes:
    """A WebSocket upgrade request for ``target``, to send with other requests."""
    return request(
        "GET",
        target,
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
    )


async def open_raw(
    port: int, path: str = "/rooms/r/messages", extra: str = "", version: str | None = "13"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """Handshake by hand; returns the streams and the answer's head."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n"
            + (f"Sec-WebSocket-Version: {version}\r\n" if version is not None else "")
            + f"{extra}\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    return reader, writer, head


async def next_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked server frame: (opcode, payload)."""
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", await reader.readexactly(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", await reader.readexactly(8))[0]
    return first & 0x0F, await reader.readexactly(size)


async def read_frame(reader: asyncio.StreamReader, timeout: float = 10) -> tuple[int, bytes]:
    """The next server frame, within ``timeout``."""
    async with asyncio.timeout(timeout):
        return await next_frame(reader)


async def close_code(reader: asyncio.StreamReader, timeout: float = 10) -> int:
    """Read server frames until a close frame; its code."""
    async with asyncio.timeout(timeout):
        while True:
            opcode, payload = await next_frame(reader)
            if opcode == 0x8:
                return int.from_bytes(payload[:2], "big")
