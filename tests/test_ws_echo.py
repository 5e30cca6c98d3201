"""The conformance echo route: off unless asked, and the room sockets' handshake and limits."""

from __future__ import annotations

import aiohttp
import pytest

from hubbub.front.sockets import ECHO_PATH
from tests.conftest import StartServer
from tests.wire import TIMEOUT


async def test_echo_route_is_off_by_default(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Without ws_echo the path does not exist."""
    server = await start_server()
    async with http.get(server.url + ECHO_PATH) as response:
        assert response.status == 404


async def test_echo_shares_origin_check_and_size_limit(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """An unlisted origin is refused before the upgrade; text and binary come back as sent,
    a message of exactly max_body included; one byte more closes 1009."""
    server = await start_server(ws_echo=True, max_body=1000, allow_origin="https://good.example")
    url = server.url + ECHO_PATH
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(url, headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403
    async with http.ws_connect(url) as ws:
        await ws.send_str("é" * 500)  # 1000 bytes of UTF-8
        assert await ws.receive_str(timeout=TIMEOUT) == "é" * 500
        await ws.send_bytes(b"\x00\xff")
        assert await ws.receive_bytes(timeout=TIMEOUT) == b"\x00\xff"
        await ws.send_bytes(b"x" * 1001)
        closed = await ws.receive(timeout=TIMEOUT)
        assert closed.type is aiohttp.WSMsgType.CLOSE
        assert closed.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
