"""Origins: pages of other origins are refused on WebSocket upgrades and dialect posts."""

from __future__ import annotations

import aiohttp
import pytest

from hubbub.transports.origins import same_origin
from tests.conftest import StartServer
from tests.wire import TIMEOUT, poll

EVIL = "https://evil.example"
GOOD = "https://good.example"


def test_same_origin_compares_host_and_port() -> None:
    """Host and port decide; a missing port is the scheme's default; the scheme is ignored."""
    assert same_origin("http://localhost:8000", "localhost:8000")
    assert same_origin("https://chat.example", "chat.example")
    assert same_origin("https://chat.example", "CHAT.example:443")
    assert not same_origin("https://chat.example", "chat.example:8000")
    assert not same_origin("http://localhost:8001", "localhost:8000")
    assert not same_origin("null", "localhost:8000")
    assert not same_origin("http://localhost:8000", None)


async def test_websocket_from_another_origin_is_refused_before_the_upgrade(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """A page of an unlisted origin gets 403; listed, same-origin and Origin-less ones get 101."""
    server = await start_server(allow_origin=GOOD)
    url = f"{server.url}/rooms/r/messages"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(url, headers={"Origin": EVIL})
    assert refused.value.status == 403
    for headers in ({"Origin": GOOD}, {"Origin": server.url}, {}):
        async with http.ws_connect(url, headers=headers) as ws:
            await ws.send_json({"type": "publish", "user": "u", "text": "hi"})
            while (await ws.receive_json(timeout=TIMEOUT))["type"] != "ack":
                pass
    answer = await poll(http, server.url, "r", since=0)
    assert len(answer["messages"]) == 3  # nothing from the refused page


async def test_dialect_refuses_cross_site_posts(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """text/plain and form posts from another origin get 403 and store nothing."""
    server = await start_server(allow_origin=GOOD)
    plain = {"Content-Type": "text/plain"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for path, body in (
        ("/message?id=admin", b'{"message": "pwned"}'),
        ("/publish", b'{"message": "pwned"}'),
        ("/messages", b'{"id": "x1", "text": "pwned", "username": "admin"}'),
    ):
        for kind in (plain, form):
            headers = {**kind, "Origin": EVIL}
            async with http.post(server.url + path, data=body, headers=headers) as resp:
                assert resp.status == 403, path
                assert "Access-Control-Allow-Origin" not in resp.headers
    assert (await poll(http, server.url, "lobby", since=0))["messages"] == []
    for origin in (GOOD, server.url, None):
        headers = {**plain, **({"Origin": origin} if origin else {})}
        async with http.post(
            f"{server.url}/message?id=bob", data=b'{"message": "ok"}', headers=headers
        ) as resp:
            assert resp.status == 200
    assert len((await poll(http, server.url, "lobby", since=0))["messages"]) == 3


async def test_dialect_socket_checks_origin(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """The tutorial dialect's WebSocket shares the origin check."""
    server = await start_server()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{server.url}/messages", headers={"Origin": EVIL})
    assert refused.value.status == 403
    async with http.ws_connect(f"{server.url}/messages", headers={"Origin": server.url}):
        pass
