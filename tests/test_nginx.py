"""hubbub behind a real nginx configured from the shipped files (``deploy/nginx``).

Every transport, ``GET /ws`` and the Origin check through the proxy; a body over either
limit answered with hubbub's JSON error; ``/metrics`` closed to the public; tokens kept out
of nginx's logs; a node answering ``503`` taken out of rotation; a restart behind the proxy
with every WebSocket told ``1001`` and nothing lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from hubbub.server import Server
from tests.conftest import StartServer
from tests.nginx import Nginx, check_config, needs_nginx, running_nginx
from tests.wire import SSEReader, poll, publish, wait_for_waiters, wait_live, ws_json

pytestmark = needs_nginx

EVENTS = {"Accept": "text/event-stream"}


@pytest.fixture
async def tls() -> AsyncIterator[aiohttp.ClientSession]:
    """A client of the proxy (its certificate is self-signed: not checked here)."""
    timeout = aiohttp.ClientTimeout(total=20)
    connector = aiohttp.TCPConnector(ssl=False)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        yield session


@pytest.fixture
async def proxied(start_server: StartServer, tmp_path: Path) -> AsyncIterator[tuple[Server, Nginx]]:
    """One hubbub process behind nginx with the shipped one-process site."""
    server = await start_server()
    async with running_nginx(tmp_path / "nginx", "hubbub.conf", [server.port]) as nginx:
        yield server, nginx


def ids(answer: dict[str, object]) -> list[int]:
    messages = answer["messages"]
    assert isinstance(messages, list)
    return [m["id"] for m in messages]


@pytest.mark.parametrize("site", ["hubbub.conf", "hubbub-nodes.conf"])
@pytest.mark.parametrize("limits", [False, True], ids=["plain", "limits"])
def test_the_shipped_sites_load(tmp_path: Path, site: str, limits: bool) -> None:
    """``nginx -t`` takes each site as shipped, with and without the limits snippet."""
    assert "test is successful" in check_config(tmp_path, site, limits=limits)


async def test_every_transport_and_the_origin_check_through_nginx(
    proxied: tuple[Server, Nginx], tls: aiohttp.ClientSession
) -> None:
    """Long poll, SSE, a room WebSocket and ``GET /ws`` each get a publish made through the
    proxy, and a short poll reads it; the WebSockets carry the page's own Origin, which
    passes only if the proxy sends ``Host`` with its port."""
    server, nginx = proxied
    page = {"Origin": nginx.url}
    async with tls.get(f"{nginx.url}/rooms/r/messages?since=0", headers=EVENTS) as events:
        assert events.status == 200 and events.headers["Content-Type"] == "text/event-stream"
        sse = SSEReader(events)
        room = await tls.ws_connect(f"{nginx.ws_url}/rooms/r/messages?since=0", headers=page)
        multi = await tls.ws_connect(f"{nginx.ws_url}/ws", headers=page)
        await multi.send_json({"type": "subscribe", "room": "r", "since": 0})
        await wait_live(server, "r", 3)
        waiting = asyncio.create_task(poll(tls, nginx.url, "r", since=0, wait=30))
        await wait_for_waiters(server, 1)
        sent = await publish(tls, nginx.url, "r", "through the proxy")
        assert sent["id"] == 1
        assert ids(await asyncio.wait_for(waiting, 10)) == [1]
        assert (await sse.next_event()).json()["text"] == "through the proxy"
        assert (await ws_json(room))["message"]["text"] == "through the proxy"
        frame = await ws_json(multi)
        assert (frame["type"], frame["room"], frame["message"]["id"]) == ("message", "r", 1)
        assert ids(await poll(tls, nginx.url, "r", since=0)) == [1]
        await room.close()
        await multi.close()
    # Another page's origin is still refused through the proxy.
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await tls.ws_connect(
            f"{nginx.ws_url}/rooms/r/messages", headers={"Origin": "https://elsewhere.example"}
        )
    assert refused.value.status == 403


async def test_bodies_over_either_limit_get_hubbubs_json_413(
    proxied: tuple[Server, Nginx], tls: aiohttp.ClientSession
) -> None:
    """Over hubbub's --max-body (64 KiB): hubbub's own answer; over nginx's (1m): the same
    code in the same JSON shape, from the shipped error page, never nginx's HTML."""
    _, nginx = proxied
    for size in (100_000, 2_000_000):
        body = b'{"user": "a", "text": "' + b"x" * size + b'"}'
        headers = {"Content-Type": "application/json"}
        async with tls.post(f"{nginx.url}/rooms/r/messages", data=body, headers=headers) as got:
            assert got.status == 413, size
            assert got.headers["Content-Type"].startswith("application/json"), size
            assert (await got.json())["error"]["code"] == "body_too_large", size


async def test_metrics_are_closed_through_the_proxy(
    proxied: tuple[Server, Nginx], tls: aiohttp.ClientSession
) -> None:
    """``/metrics`` answers 403 (JSON) through nginx, and still on hubbub's own port."""
    server, nginx = proxied
    async with tls.get(f"{nginx.url}/metrics") as closed:
        assert closed.status == 403
        assert (await closed.json())["error"]["code"] == "forbidden"
    async with tls.get(f"{nginx.url}/healthz") as health:
        assert health.status == 200
    async with tls.get(f"{server.url}/metrics") as scraped:
        assert scraped.status == 200 and "hubbub_messages_published_total" in await scraped.text()


async def test_moderation_is_closed_through_the_proxy(
    proxied: tuple[Server, Nginx], tls: aiohttp.ClientSession
) -> None:
    """Without tokens hubbub lets only its own machine moderate, and the proxy is on it: a
    request forwarded by the shipped site is refused (403, JSON), the room not cleared."""
    _, nginx = proxied
    await publish(tls, nginx.url, "r", "kept")
    mute = {"user": "bob", "seconds": 60}
    for method, path, body in [
        ("POST", "/admin/rooms/r/clear", None),
        ("GET", "/admin/audit", None),
        ("POST", "/rooms/r/mutes", mute),
    ]:
        async with tls.request(method, f"{nginx.url}{path}", json=body) as refused:
            assert refused.status == 403, path
            assert (await refused.json())["error"]["code"] == "forbidden", path
    assert ids(await poll(tls, nginx.url, "r", since=0)) == [1]  # not cleared


async def test_a_token_never_reaches_nginxs_logs(
    start_server: StartServer, tmp_path: Path, tls: aiohttp.ClientSession
) -> None:
    """An upstream failure with ``?token=`` is recorded (502, in the access log) without
    the token, in any of nginx's logs."""
    server = await start_server()
    port = server.port
    await server.stop()  # nothing listens: every request is an upstream failure
    secret = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"
    async with running_nginx(tmp_path / "nginx", "hubbub.conf", [port]) as nginx:
        url = f"{nginx.url}/rooms/r/messages?since=0&token={secret}"
        async with tls.get(url) as failed:
            assert failed.status == 502
    logs = {path.name: path.read_text() for path in (tmp_path / "nginx" / "logs").iterdir()}
    assert '"GET /rooms/r/messages" 502' in logs["hubbub.access.log"], logs
    assert all(secret not in text for text in logs.values()), logs


async def test_a_node_answering_503_is_taken_out_of_rotation(
    start_server: StartServer, tmp_path: Path, tls: aiohttp.ClientSession
) -> None:
    """Two nodes behind the shipped several-nodes site; one at its connection cap answers
    every new connection ``503``: nginx retries those requests on the other node and then
    stops sending it any, so no client sees the 503."""
    healthy = await start_server()
    full = await start_server(max_connections=1, db=str(tmp_path / "full.db"))
    async with aiohttp.ClientSession() as direct:
        held = await direct.ws_connect(f"{full.url}/rooms/r/messages")  # the one it admits
        async with direct.get(f"{full.url}/healthz") as refused:
            assert refused.status == 503  # what nginx meets there
        sites = tmp_path / "nginx"
        async with running_nginx(sites, "hubbub-nodes.conf", [full.port, healthy.port]) as nginx:
            for _ in range(8):
                async with tls.get(f"{nginx.url}/rooms/r/messages") as answer:
                    assert answer.status == 200, await answer.text()
        refusals = full.node.stats.connections_refused["max_connections"]
        assert 1 <= refusals <= 2, refusals  # tried, marked failed, then left alone
        await held.close()


async def closed_with(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """The close code the server sent, skipping frames still on their way."""
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type is aiohttp.WSMsgType.CLOSE:
            return ws.close_code
        assert msg.type is aiohttp.WSMsgType.TEXT, msg


async def test_a_restart_behind_nginx_says_1001_answers_polls_and_loses_nothing(
    start_server: StartServer, tmp_path: Path, tls: aiohttp.ClientSession
) -> None:
    """A stop with a room WebSocket, ``GET /ws``, SSE and a long poll open through nginx:
    each WebSocket gets ``1001`` through the proxy, the long poll is answered, the stop takes
    under 3 s; after the restart every client resumes from its cursor and gets exactly the
    messages it had not read, a publish refused meanwhile included (retried, same client_id)."""
    server = await start_server()
    async with running_nginx(tmp_path / "nginx", "hubbub.conf", [server.port]) as nginx:
        page = {"Origin": nginx.url}
        for n in range(1, 4):
            await publish(tls, nginx.url, "r", f"m{n}")
        room = await tls.ws_connect(f"{nginx.ws_url}/rooms/r/messages?since=0", headers=page)
        multi = await tls.ws_connect(f"{nginx.ws_url}/ws", headers=page)
        idle = await tls.ws_connect(f"{nginx.ws_url}/ws", headers=page)  # no subscription
        await multi.send_json({"type": "subscribe", "room": "r", "since": 0})
        events = await tls.get(f"{nginx.url}/rooms/r/messages?since=0", headers=EVENTS)
        sse = SSEReader(events)
        for _ in range(3):
            await ws_json(room)
            await ws_json(multi)
            last = await sse.next_event()
        epoch = last.epoch
        await wait_live(server, "r", 3)
        waiting = asyncio.create_task(poll(tls, nginx.url, "r", since=3, wait=30))
        await wait_for_waiters(server, 1)

        loop = asyncio.get_running_loop()
        started = loop.time()
        stopping = asyncio.create_task(server.stop())
        assert await closed_with(room) == 1001
        assert await closed_with(multi) == 1001
        assert await closed_with(idle) == 1001
        assert ids(await asyncio.wait_for(waiting, 10)) == []
        with pytest.raises(EOFError):
            await sse.next_event()
        events.close()
        await asyncio.wait_for(stopping, 10)
        assert loop.time() - started < 3.0

        body = {"user": "alice", "text": "m4", "client_id": "c-4"}
        async with tls.post(f"{nginx.url}/rooms/r/messages", json=body) as refused:
            assert refused.status == 502  # nothing behind the proxy: the client keeps it
        restarted = await start_server(port=server.port)
        async with tls.post(f"{nginx.url}/rooms/r/messages", json=body) as stored:
            assert stored.status == 201
        await publish(tls, nginx.url, "r", "m5")

        room = await tls.ws_connect(f"{nginx.ws_url}/rooms/r/messages?since=3", headers=page)
        multi = await tls.ws_connect(f"{nginx.ws_url}/ws", headers=page)
        await multi.send_json({"type": "subscribe", "room": "r", "since": 3, "epoch": epoch})
        resumed = {**EVENTS, "Last-Event-ID": f"{epoch}:3"}
        async with tls.get(f"{nginx.url}/rooms/r/messages", headers=resumed) as events:
            sse = SSEReader(events)
            assert [(await sse.next_event()).json()["text"] for _ in range(2)] == ["m4", "m5"]
        assert [(await ws_json(room))["message"]["text"] for _ in range(2)] == ["m4", "m5"]
        assert [(await ws_json(multi))["message"]["text"] for _ in range(2)] == ["m4", "m5"]
        assert ids(await poll(tls, nginx.url, "r", since=0)) == [1, 2, 3, 4, 5]
        assert restarted.node.stats.published == 2
        await room.close()
        await multi.close()


async def test_the_limits_snippet_refuses_in_hubbubs_shapes(
    start_server: StartServer, tmp_path: Path, tls: aiohttp.ClientSession
) -> None:
    """With the optional limits on, a burst of publishes from one address past 5/s (10 at
    once) gets 429 rate_limited with Retry-After, in JSON; polls are not limited."""
    server = await start_server()
    sites = tmp_path / "nginx"
    async with running_nginx(sites, "hubbub.conf", [server.port], limits=True) as nginx:
        statuses = []
        for n in range(16):
            body = {"user": "a", "text": f"m{n}"}
            async with tls.post(f"{nginx.url}/rooms/r/messages", json=body) as answer:
                statuses.append(answer.status)
                if answer.status == 429:
                    assert answer.headers["Retry-After"] == "1"
                    assert (await answer.json())["error"]["code"] == "rate_limited"
        assert statuses[:10] == [201] * 10 and 429 in statuses[10:], statuses
        for _ in range(16):
            async with tls.get(f"{nginx.url}/rooms/r/messages") as answer:
                assert answer.status == 200
