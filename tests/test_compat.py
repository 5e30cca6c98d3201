"""The tutorial dialect over real sockets: each tutorial client's exact requests.

The long-polling page (GET /subscribe, POST /publish with a text/plain body),
the terminal client's HTTP and WebSocket requests (GET/POST /messages; the real
Node.js client runs in test_compat_node.py) and the SSE tutorial's EventSource
and POST /message?id=U, all as views of the lobby room.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import pytest
from aiohappyeyeballs import AddrInfoType

from hubbub.compat.lobby import TutorialLobby
from hubbub.principal import ANONYMOUS
from hubbub.protocol.messages import Publish
from hubbub.server import Server
from tests.conftest import StartServer
from tests.wire import TIMEOUT, SSEReader, poll, publish, wait_for_waiters

SSE = {"Accept": "text/event-stream"}
# What the long-polling page's XMLHttpRequest sends with a string body.
PAGE_POST = {"Content-Type": "text/plain;charset=UTF-8"}


# aiohttp's client answers pings only while a test awaits receive(); tests that
# hold a socket without reading it run with heartbeats that never come.
QUIET = 30.0


def lobby_of(server: Server) -> TutorialLobby:
    return server.app.lobby


async def until(condition: Callable[[], bool]) -> None:
    """Until ``condition()`` holds on the server (bounded)."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.005)


async def seed(server: Server, count: int, room: str = "lobby") -> None:
    """Publish ``count`` messages (texts "1".."count") in one group commit, in order."""
    futures = [
        server.node.submit(ANONYMOUS, Publish(room, "seed", str(i))) for i in range(1, count + 1)
    ]
    await asyncio.gather(*futures)


async def get_subscribe(http: aiohttp.ClientSession, server: Server) -> tuple[int, str, str]:
    async with http.get(f"{server.url}/subscribe") as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def post(
    http: aiohttp.ClientSession, url: str, body: bytes, **headers: str
) -> tuple[int, Any]:
    """POST raw bytes; the answer's status and its body (JSON when it is JSON)."""
    async with http.post(url, data=body, headers=headers) as response:
        text = await response.text()
        if response.content_type == "application/json":
            return response.status, orjson.loads(text)
        return response.status, text


async def listed(http: aiohttp.ClientSession, server: Server) -> list[dict[str, Any]]:
    """GET /messages as the terminal client's axios.get does."""
    async with http.get(f"{server.url}/messages") as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        answer: list[dict[str, Any]] = await response.json()
        return answer


# The long-polling page: GET /subscribe, POST /publish


async def test_subscribe_is_answered_with_the_next_message_text(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """A held /subscribe gets the next lobby message's text, from any transport."""
    await publish(http, server.url, "lobby", "before")
    held = asyncio.create_task(get_subscribe(http, server))
    await wait_for_waiters(server, 1)
    await publish(http, server.url, "lobby", "héllo\nthere", user="carol")
    status, content_type, text = await asyncio.wait_for(held, TIMEOUT)
    assert (status, content_type, text) == (200, "text/plain; charset=utf-8", "héllo\nthere")


async def test_subscribe_ignores_other_rooms(server: Server, http: aiohttp.ClientSession) -> None:
    """Only lobby messages answer /subscribe."""
    held = asyncio.create_task(get_subscribe(http, server))
    await wait_for_waiters(server, 1)
    await publish(http, server.url, "elsewhere", "not for the lobby")
    await publish(http, server.url, "lobby", "for the lobby")
    assert (await asyncio.wait_for(held, TIMEOUT))[2] == "for the lobby"


async def test_page_publish_reaches_subscribers_and_the_lobby(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """POST /publish with the page's text/plain JSON answers ok and is a lobby message."""
    held = [asyncio.create_task(get_subscribe(http, server)) for _ in range(2)]
    await wait_for_waiters(server, 2)
    status, body = await post(http, f"{server.url}/publish", b'{"message":"hi all"}', **PAGE_POST)
    assert (status, body) == (200, "ok")
    assert [answer[2] for answer in await asyncio.gather(*held)] == ["hi all", "hi all"]
    [message] = (await poll(http, server.url, "lobby"))["messages"]
    assert (message["user"], message["text"]) == ("anonymous", "hi all")


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/publish", b'{"message": "unterminated', 400, "invalid_json"),
        ("/publish", b"\xff\xfe", 400, "invalid_json"),
        ("/publish", b'["a list"]', 400, "invalid_json"),
        ("/publish", b'{"message": "   "}', 400, "invalid_message"),
        ("/publish", b'{"text": "wrong field"}', 400, "invalid_message"),
        ("/publish", b'{"message": "' + b"x" * 200 + b'"}', 413, "body_too_large"),
        ("/messages", b"{", 400, "invalid_json"),
        ("/messages", b'{"id": 1, "text": ""}', 400, "invalid_message"),
        ("/messages", b'{"id": true, "text": "t"}', 400, "invalid_message"),
        ("/messages", b'{"id": 1, "text": "' + b"x" * 200 + b'"}', 413, "body_too_large"),
    ],
)
async def test_publish_refusals(
    start_server: StartServer,
    http: aiohttp.ClientSession,
    path: str,
    body: bytes,
    status: int,
    code: str,
) -> None:
    """Invalid JSON is 400, a body over max_body is 413, and nothing is stored."""
    server = await start_server(max_body=128)
    answer = await post(http, f"{server.url}{path}", body, **PAGE_POST)
    assert (answer[0], answer[1]["error"]["code"]) == (status, code)
    assert (await poll(http, server.url, "lobby"))["last_id"] == 0


async def test_chunked_body_over_the_limit_is_413(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """A chunked body with no Content-Length is cut off at max_body too."""
    server = await start_server(max_body=128)

    async def chunks() -> Any:
        for _ in range(100):
            yield b"x" * 64

    async with http.post(f"{server.url}/publish", data=chunks()) as response:
        assert response.status == 413


async def test_vanished_subscriber_is_forgotten(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """A page that goes away while held leaves nothing behind on the server."""
    held = asyncio.create_task(get_subscribe(http, server))
    await wait_for_waiters(server, 1)
    held.cancel()
    await wait_for_waiters(server, 0)
    assert not lobby_of(server).held


# The terminal client: GET /messages, POST /messages, WebSocket on /messages


async def test_messages_lists_the_newest_1000_oldest_first(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """GET /messages is a JSON array of the newest 1,000 as {id, text, username}."""
    assert await listed(http, server) == []
    await seed(server, 1003)
    messages = await listed(http, server)
    assert len(messages) == 1000
    assert messages[0] == {"id": "m4", "text": "4", "username": "seed"}
    assert messages[-1] == {"id": "m1003", "text": "1003", "username": "seed"}


async def test_post_messages_and_repeated_id(server: Server, http: aiohttp.ClientSession) -> None:
    """201 with the object; the same id again is 200 with the original, nothing stored."""
    url = f"{server.url}/messages"
    body = {"id": 4711, "text": "hello", "username": "alice"}
    assert await post(http, url, orjson.dumps(body)) == (
        201,
        {"id": "4711", "text": "hello", "username": "alice"},
    )
    again = {"id": 4711, "text": "changed", "username": "alice"}
    assert await post(http, url, orjson.dumps(again), **{"Content-Type": "application/json"}) == (
        200,
        {"id": "4711", "text": "hello", "username": "alice"},
    )
    answer = await poll(http, server.url, "lobby")
    assert answer["last_id"] == 1
    assert answer["messages"][0]["client_id"] == "4711"
    await publish(http, server.url, "lobby", "from the page", user="carol")
    assert [m["id"] for m in await listed(http, server)] == ["4711", "m2"]


async def test_websocket_streams_each_new_lobby_message(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Upgrade on /messages: one {id, text, username} frame per new message, any source."""
    server = await start_server(heartbeat=QUIET)
    await publish(http, server.url, "lobby", "history is not replayed")
    async with http.ws_connect(f"{server.url}/messages") as ws:
        await until(lambda: len(lobby_of(server).sockets) == 1)
        await publish(http, server.url, "lobby", "from the API", user="carol")
        await publish(http, server.url, "elsewhere", "not for the lobby")
        body = orjson.dumps({"id": 9, "text": "from a terminal", "username": "bob"})
        await post(http, f"{server.url}/messages", body)
        frames = [orjson.loads((await ws.receive(timeout=TIMEOUT)).data) for _ in range(2)]
        assert frames == [
            {"id": "m2", "text": "from the API", "username": "carol"},
            {"id": "9", "text": "from a terminal", "username": "bob"},
        ]
    await until(lambda: not lobby_of(server).sockets)


async def test_websocket_burst_arrives_in_order(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Messages committed together reach every socket, each once, in id order."""
    server = await start_server(heartbeat=QUIET)
    url = f"{server.url}/messages"
    async with http.ws_connect(url) as first, http.ws_connect(url) as second:
        await until(lambda: len(lobby_of(server).sockets) == 2)
        await seed(server, 50)
        for ws in (first, second):
            frames = [orjson.loads((await ws.receive(timeout=TIMEOUT)).data) for _ in range(50)]
            assert [frame["id"] for frame in frames] == [f"m{i}" for i in range(1, 51)]


async def test_websocket_peer_that_never_answers_pings_is_dropped(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """The server pings every heartbeat and closes a socket whose pong does not come."""
    async with http.ws_connect(f"{server.url}/messages", autoping=False) as ws:
        ping = await ws.receive(timeout=TIMEOUT)
        assert ping.type is aiohttp.WSMsgType.PING
        closed = await ws.receive(timeout=TIMEOUT)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await until(lambda: not lobby_of(server).sockets)


# The SSE tutorial: EventSource on /messages?id=U, POST /message?id=U


async def next_list(stream: SSEReader) -> list[dict[str, str]]:
    event = await stream.next_event()
    assert event.event == "message" and event.id is None
    answer: list[dict[str, str]] = event.json()
    return answer


async def test_event_source_list_and_own_messages(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """The list at connect and after each message; a client is not sent its own."""
    await publish(http, server.url, "lobby", "earlier", user="carol")
    async with (
        http.get(f"{server.url}/messages?id=u1", headers=SSE) as mine,
        http.get(f"{server.url}/messages", headers=SSE) as other,
    ):
        assert mine.headers["Content-Type"] == "text/event-stream"
        u1, watcher = SSEReader(mine), SSEReader(other)
        earlier = {"user_id": "carol", "message": "earlier"}
        assert await next_list(u1) == [earlier]
        assert await next_list(watcher) == [earlier]
        status, body = await post(
            http,
            f"{server.url}/message?id=u1",
            b'{"message": "Hi"}',
            **{"Content-Type": "application/json"},
        )
        assert (status, body["status"]) == (200, 200)
        own = {"user_id": "u1", "message": "Hi"}
        assert await next_list(watcher) == [earlier, own]
        await publish(http, server.url, "lobby", "reply", user="u2")
        reply = {"user_id": "u2", "message": "reply"}
        # u1's next event is the one for u2's reply: none was sent for its own message.
        assert await next_list(u1) == [earlier, own, reply]
        assert await next_list(watcher) == [earlier, own, reply]


@pytest.mark.parametrize(
    ("query", "body", "status"),
    [
        ("", b'{"message": "Hi"}', 400),
        ("?id=", b'{"message": "Hi"}', 400),
        ("?id=%ff", b'{"message": "Hi"}', 400),  # not UTF-8: never stored as U+FFFD
        ("?id=%00", b'{"message": "Hi"}', 400),
        ("?id=u1", b'{"message": ""}', 400),
        ("?id=u1", b"{oops", 400),
        ("?id=u1", b'{"message": "' + b"x" * 200 + b'"}', 413),
    ],
)
async def test_post_message_status_is_the_http_status(
    start_server: StartServer, http: aiohttp.ClientSession, query: str, body: bytes, status: int
) -> None:
    """Refusals answer {"status": N, ...} with HTTP status N, and store nothing."""
    server = await start_server(max_body=128)
    answer = await post(http, f"{server.url}/message{query}", body)
    assert answer[0] == status
    assert answer[1]["status"] == status
    assert await listed(http, server) == []


@pytest.mark.parametrize("query", ["?id=%ff", "?id=%00", "?id=a%0Ab"])
async def test_messages_refuses_an_id_that_is_no_user_name(
    server: Server, http: aiohttp.ClientSession, query: str
) -> None:
    """GET /messages?id=U names the list's owner: bad UTF-8 or a control character is 400,
    on the list and on the SSE list, as ?user= is on the protocol's routes."""
    for headers in ({}, SSE):
        async with http.get(f"{server.url}/messages{query}", headers=headers) as response:
            assert response.status == 400, (query, headers)
            assert (await response.json())["error"]["code"] == "invalid_parameter"


async def test_event_source_heartbeat(server: Server, http: aiohttp.ClientSession) -> None:
    """An idle list stream gets ': ping' comments every heartbeat (0.2 s in tests)."""
    async with http.get(f"{server.url}/messages", headers=SSE) as response:
        stream = SSEReader(response)
        assert await next_list(stream) == []
        assert (await stream.next()).comment == "ping"


async def test_vanished_streams_are_forgotten(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """EventSource and WebSocket clients that go away are unregistered."""
    server = await start_server(heartbeat=QUIET)
    async with (
        http.get(f"{server.url}/messages", headers=SSE) as response,
        http.ws_connect(f"{server.url}/messages"),
    ):
        await next_list(SSEReader(response))
        await until(lambda: len(lobby_of(server).sockets) == 1)
        assert len(lobby_of(server).lists) == 1
    await until(lambda: not lobby_of(server).lists and not lobby_of(server).sockets)
    await publish(http, server.url, "lobby", "nobody listens")


# Slow consumers


def small_receive_buffer(addr: AddrInfoType) -> socket.socket:
    """A client socket whose kernel buffer cannot hide a stalled reader."""
    family, kind, proto, _, _ = addr
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


@asynccontextmanager
async def stalled_client() -> AsyncIterator[aiohttp.ClientSession]:
    """A session whose streams, left unread, stop reading after aiohttp's ~64 KiB."""
    connector = aiohttp.TCPConnector(socket_factory=small_receive_buffer)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def test_stalled_websocket_is_dropped_and_others_get_everything(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """A socket that stops reading is closed past the outbox limit; a reading one is not."""
    server = await start_server(
        store="memory", max_text=100_000, max_body=1_000_000, heartbeat=QUIET
    )
    url = f"{server.url}/messages"
    async with (
        stalled_client() as stalled,
        stalled.ws_connect(url),
        http.ws_connect(url) as reader,
    ):
        await until(lambda: len(lobby_of(server).sockets) == 2)
        # 8 MB, more than the kernel buffers plus the 1 MiB outbox limit; in
        # four-byte characters, so that validating them stays quick.
        texts = [chr(0x1F600 + i) * 100_000 for i in range(20)]

        async def receive_all() -> list[str]:
            return [orjson.loads((await reader.receive(TIMEOUT)).data)["text"] for _ in texts]

        receiving = asyncio.create_task(receive_all())
        for text in texts:  # one at a time, as the terminal clients send them
            status, _ = await post(http, url, orjson.dumps({"text": text}))
            assert status == 201
        assert await asyncio.wait_for(receiving, 30) == texts
        await until(lambda: len(lobby_of(server).sockets) == 1)
        assert server.node.stats.slow_consumers_dropped == 1


async def test_stalled_event_source_is_dropped(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """A list stream that cannot write for two heartbeats is dropped."""
    server = await start_server(max_text=50_000, heartbeat=0.3)
    async with (
        stalled_client() as stalled,
        stalled.get(f"{server.url}/messages", headers=SSE),
    ):
        await until(lambda: len(lobby_of(server).lists) == 1)
        texts = [str(i % 10) * 40_000 for i in range(150)]  # a 6 MB list
        await asyncio.gather(
            *(server.node.submit(ANONYMOUS, Publish("lobby", "a", t)) for t in texts)
        )
        await until(lambda: not lobby_of(server).lists)
        assert server.node.stats.slow_consumers_dropped == 1


# All of it: one room, shutdown, settings


async def test_lobby_is_configurable(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """--lobby NAME: the dialect's routes are views of that room."""
    server = await start_server(lobby="hall")
    await post(http, f"{server.url}/publish", b'{"message": "to the hall"}')
    await publish(http, server.url, "lobby", "not the hall")
    await publish(http, server.url, "hall", "also the hall")
    assert [m["text"] for m in await listed(http, server)] == ["to the hall", "also the hall"]
    assert (await poll(http, server.url, "hall"))["last_id"] == 2


async def test_retention_applies_to_the_list(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """With retain=3, GET /messages shows only what the room keeps."""
    server = await start_server(retain=3)
    await seed(server, 5)
    assert [m["id"] for m in await listed(http, server)] == ["m3", "m4", "m5"]


async def test_list_survives_a_restart(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """The list is loaded from the store at start-up."""
    server = await start_server()
    await seed(server, 3)
    await server.stop()
    again = await start_server(port=server.port)
    assert [m["text"] for m in await listed(http, again)] == ["1", "2", "3"]


async def test_shutdown_closes_every_view(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """/subscribe is closed without an answer, the list stream ends, sockets get 1001."""
    server = await start_server(heartbeat=QUIET)
    loop = asyncio.get_running_loop()
    # A raw socket: client libraries retry a GET whose connection closed unanswered.
    with socket.socket() as held:
        held.setblocking(False)
        await loop.sock_connect(held, ("127.0.0.1", server.port))
        await loop.sock_sendall(held, b"GET /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await wait_for_waiters(server, 1)
        async with (
            http.get(f"{server.url}/messages", headers=SSE) as response,
            http.ws_connect(f"{server.url}/messages") as ws,
        ):
            stream = SSEReader(response)
            await next_list(stream)
            await until(lambda: len(lobby_of(server).sockets) == 1)
            stopping = asyncio.create_task(server.stop())
            async with asyncio.timeout(TIMEOUT):
                assert await loop.sock_recv(held, 1024) == b""  # closed, not a byte of answer
            with pytest.raises(EOFError):
                await stream.next()
            closed = await ws.receive(timeout=TIMEOUT)
            assert closed.type is aiohttp.WSMsgType.CLOSE
            assert closed.data == aiohttp.WSCloseCode.GOING_AWAY
            await asyncio.wait_for(stopping, TIMEOUT)


async def test_lobby_reads_are_open_to_every_origin_without_tokens(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """The SSE tutorial's page, served from its own origin, reads the lobby (the list and
    its SSE) with no --allow-origin; its writes still follow the origin rule; a server
    with tokens keeps --allow-origin for reads too."""
    server = await start_server()
    page = {"Origin": "http://localhost:3001"}
    for headers in (page, {**page, **SSE}):
        async with http.get(f"{server.url}/messages?id=u1", headers=headers) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == "*"
    plain = {**page, "Content-Type": "text/plain"}
    async with http.post(
        f"{server.url}/message?id=u1", data=b'{"message": "hi"}', headers=plain
    ) as response:
        assert response.status == 403
        assert "Access-Control-Allow-Origin" not in response.headers
    guarded = await start_server(auth_secret="s" * 32, open_lobby=True, store="memory")
    async with http.get(f"{guarded.url}/messages", headers=page) as response:
        assert response.status == 200
        assert "Access-Control-Allow-Origin" not in response.headers


async def test_cors_follows_allow_origin(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """The dialect's preflight and answers (errors too) admit only --allow-origin's pages."""
    server = await start_server(allow_origin="http://localhost:3001")
    headers = {
        "Origin": "http://localhost:3001",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    async with http.options(f"{server.url}/message?id=u1", headers=headers) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3001"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert response.headers["Access-Control-Allow-Headers"] == "content-type"
    evil = {**headers, "Origin": "https://evil.example"}
    async with http.options(f"{server.url}/message?id=u1", headers=evil) as response:
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Allow-Methods" not in response.headers
    origin = {"Origin": "http://localhost:3001"}
    async with http.post(f"{server.url}/publish", data=b"{", headers=origin) as response:
        assert response.status == 400
        assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3001"
    async with http.post(f"{server.url}/publish", data=b"{") as response:
        assert "Access-Control-Allow-Origin" not in response.headers
