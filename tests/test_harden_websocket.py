"""WebSocket strictness: masks, close codes, fragments and versions as RFC 6455 asks."""

from __future__ import annotations

import pytest

from hubbub.server import Server
from tests.conftest import StartServer
from tests.rawws import close_code, frame, open_raw

TEXT, CONT, CLOSE = 0x1, 0x0, 0x8


async def test_unmasked_client_frame_closes_1002(server: Server) -> None:
    """A client frame without a mask fails the connection with 1002."""
    reader, writer, head = await open_raw(server.port)
    assert head.startswith(b"HTTP/1.1 101")
    writer.write(frame(TEXT, b'{"type":"publish","user":"u","text":"x"}', masked=False))
    assert await close_code(reader) == 1002
    writer.close()


@pytest.mark.parametrize("code", [1006, 1005, 1015, 999, 5000, 65535])
async def test_invalid_close_codes_close_1002(server: Server, code: int) -> None:
    """Close codes a peer may not send are answered with 1002."""
    reader, writer, _ = await open_raw(server.port)
    writer.write(frame(CLOSE, code.to_bytes(2, "big")))
    assert await close_code(reader) == 1002
    writer.close()


@pytest.mark.parametrize("code", [1000, 1001, 3000, 4999])
async def test_valid_close_codes_close_normally(server: Server, code: int) -> None:
    """A valid close code is answered with a close echoing it (RFC 6455 section 5.5.1)."""
    reader, writer, _ = await open_raw(server.port)
    writer.write(frame(CLOSE, code.to_bytes(2, "big")))
    assert await close_code(reader) == code
    writer.close()


async def test_too_many_fragments_close_1008(start_server: StartServer) -> None:
    """A message cut into more than max_fragments frames closes with 1008."""
    server = await start_server(max_fragments=4)
    reader, writer, _ = await open_raw(server.port)
    writer.write(frame(TEXT, b"{", fin=False))
    for _ in range(5):
        writer.write(frame(CONT, b" ", fin=False))
    assert await close_code(reader) == 1008
    writer.close()


async def test_fragments_within_the_cap_make_a_message(start_server: StartServer) -> None:
    """Four fragments under a cap of four are one publish, acknowledged."""
    server = await start_server(max_fragments=4)
    reader, writer, _ = await open_raw(server.port)
    body = b'{"type":"publish","user":"u","text":"joined"}'
    writer.write(frame(TEXT, body[:10], fin=False))
    writer.write(frame(CONT, body[10:20], fin=False))
    writer.write(frame(CONT, body[20:30], fin=False))
    writer.write(frame(CONT, body[30:]))
    seen = b""
    while b'"ack"' not in seen:
        seen += await reader.read(4096)
    assert b"joined" in seen
    writer.close()


@pytest.mark.parametrize("version", ["8", "12", "14", "", None])
async def test_other_versions_get_426(server: Server, version: str | None) -> None:
    """A handshake of a version other than 13 (or none) is refused with 426 and JSON."""
    reader, writer, head = await open_raw(server.port, version=version)
    assert head.startswith(b"HTTP/1.1 426"), head
    assert b"Sec-WebSocket-Version: 13" in head
    assert b'"upgrade_required"' in await reader.read(4096)
    writer.close()
