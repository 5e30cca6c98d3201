"""Origins: pages of other origins are refused on WebSocket upgrades and dialect posts."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from hubbub.protocol.hosts import host_known, known_hosts
from hubbub.transports.origins import same_origin
from tests.conftest import StartServer
from tests.wire import TIMEOUT, poll, publish

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


def test_known_hosts_are_addresses_localhost_and_the_listed_names() -> None:
    known = known_hosts("0.0.0.0", ("chat.example",), "https://app.example:8443,*")
    for host in (
        "127.0.0.1:8000",
        "[::1]:8000",
        "10.0.0.7",
        "localhost:8000",
        "LOCALHOST.",
        "app.localhost:8000",
        "chat.example",
        "app.example:8000",
        None,
    ):
        assert host_known(host, known), host
    for host in ("rebind.evil:8000", "127.0.0.1.rebind.evil", "localhost.evil", "example"):
        assert not host_known(host, known), host


async def _status(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        async with asyncio.timeout(TIMEOUT):
            return (await reader.readuntil(b"\r\n")).split()[1]
    finally:
        writer.close()


async def test_a_tokenless_server_refuses_hosts_it_is_not_known_by(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """DNS rebinding: a page on rebind.evil (resolving to 127.0.0.1) is of the server's own
    origin for the browser; its requests name rebind.evil as Host and get 421, on every
    route and both paths (a WebSocket from that page before the upgrade)."""
    server = await start_server(public_host=("chat.example",))
    await publish(http, server.url, "r", "secret")
    evil = f"rebind.evil:{server.port}"
    origin = f"http://{evil}"
    requests = [
        b"GET /rooms/r/messages?since=0 HTTP/1.1\r\nHost: %s\r\n\r\n",  # lean poll
        b"GET /rooms HTTP/1.1\r\nHost: %s\r\n\r\n",  # aiohttp's
        b"GET /rooms/r/messages HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n",
        b"POST /rooms/r/messages HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
        b'Content-Length: 25\r\n\r\n{"user":"a","text":"pwn"}',
        b"GET /messages HTTP/1.1\r\nHost: %s\r\n\r\n",  # the tutorial dialect
    ]
    for request in requests:
        assert await _status(server.port, request % evil.encode()) == b"421", request
    async with http.get(f"{server.url}/rooms", headers={"Host": evil, "Origin": origin}) as resp:
        assert resp.status == 421
        assert (await resp.json())["error"]["code"] == "unknown_host"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(
            f"{server.url}/rooms/r/messages", headers={"Host": evil, "Origin": origin}
        )
    assert refused.value.status == 421
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}", "chat.example"):
        poll_request = b"GET /rooms/r/messages?since=0 HTTP/1.1\r\nHost: %s\r\n\r\n"
        assert await _status(server.port, poll_request % host.encode()) == b"200", host
    assert len((await poll(http, server.url, "r", since=0))["messages"]) == 1


async def test_an_absolute_target_is_checked_by_its_own_host(start_server: StartServer) -> None:
    """An absolute-form target's authority replaces the Host header (RFC 9112 section
    3.2.2): it is served when its host is known, refused with 421 when not, whatever
    the header says."""
    server = await start_server()
    known, evil = f"127.0.0.1:{server.port}", "rebind.evil"
    target = b"GET http://%s/rooms/r/messages?since=0 HTTP/1.1\r\nHost: %s\r\n\r\n"
    assert await _status(server.port, target % (known.encode(), evil.encode())) == b"200"
    assert await _status(server.port, target % (evil.encode(), known.encode())) == b"421"


async def test_with_tokens_every_host_is_answered(start_server: StartServer) -> None:
    """With access control on, a rebound page has no token: no host is refused for it."""
    server = await start_server(auth_secret="s" * 32)
    request = b"GET /rooms/r/messages HTTP/1.1\r\nHost: rebind.evil\r\n\r\n"
    assert await _status(server.port, request) == b"401"
