"""Adversarial tests of hubbub's HTTP/1.1 connection (``http/``) on real sockets:
pipelines that mix every kind of route, HEAD, HTTP/1.0, ``Connection: close``
mid-pipeline, ``Expect`` behind a held request, takeovers behind other requests,
back-pressure, clients that vanish, shutdown. Framing (bodies, heads) is in
``test_http_stack_framing.py``."""

from __future__ import annotations

import asyncio
import re

import orjson
import pytest

from hubbub.http.writing import READ_AHEAD
from hubbub.server import Server
from tests.conftest import StartServer
from tests.rawhttp import RawClient, poll, publish, request
from tests.rawstack import (
    BODY,
    PUBLISH_HEAD,
    front_connections,
    head_only,
    still_usable,
    texts,
    until,
)
from tests.rawws import frame, read_frame, upgrade_request
from tests.tokens import SECRET, make_token
from tests.wire import wait_for_waiters


@pytest.fixture
async def lean_server(start_server: StartServer) -> Server:
    # A long idle deadline: an answer that waited for it would time the test out.
    return await start_server(idle_timeout=60.0)


# Pipelines of every kind of route


async def test_a_pipeline_of_every_route_kind_is_answered_in_order(lean_server: Server) -> None:
    """One write holding a list of rooms, presence, typing, a publish, polls (a long
    poll the publish before it answers at once), health, a 404, a 405 and a preflight:
    every answer in request order, and the connection still serves."""
    client = await RawClient.open(lean_server.port)
    typing = orjson.dumps({"user": "a"})
    client.send(
        request("GET", "/rooms"),
        request("GET", "/rooms/r/presence"),
        request("POST", "/rooms/r/typing", "Content-Type: application/json", body=typing),
        publish("r", "one"),
        poll("r", "since=0"),
        poll("r", "since=0&wait=5"),
        request("GET", "/healthz"),
        request("GET", "/no/such/thing"),
        request("DELETE", "/rooms/r/messages"),
        request(
            "OPTIONS",
            "/rooms/r/messages",
            "Origin: http://example.com",
            "Access-Control-Request-Method: POST",
        ),
        publish("r", "two"),
        poll("r", "since=1"),
    )
    answers = await client.answers(12)
    statuses = [a.status for a in answers]
    assert statuses[:4] == [200, 200, answers[2].status, 201], statuses
    assert answers[2].status in (202, 204), answers[2]
    assert texts(answers[4]) == ["one"] and texts(answers[5]) == ["one"]
    assert statuses[6:9] == [200, 404, 405]
    assert "POST" in answers[8].headers["allow"]
    assert answers[9].status in (200, 204, 403), answers[9]
    assert statuses[10] == 201 and texts(answers[11]) == ["two"]
    await still_usable(client)
    client.close()


# HEAD


@pytest.mark.parametrize(
    "target",
    ["/rooms", "/rooms/r/messages?since=0", "/rooms/r/presence", "/healthz", "/", "/admin"],
)
async def test_head_is_the_get_without_its_body(lean_server: Server, target: str) -> None:
    """HEAD: the GET's status and Content-Length, no body bytes (the next answer follows
    at once on the same connection)."""
    client = await RawClient.open(lean_server.port)
    client.send(request("GET", target))
    got = await client.answer()
    client.send(request("HEAD", target), request("GET", "/healthz"))
    status, headers = await head_only(client)
    assert status == got.status
    assert headers.get("content-length") == got.headers.get("content-length")
    assert headers.get("content-type") == got.headers.get("content-type")
    assert (await client.answer()).status == 200  # the next answer, right after the head
    client.close()


async def test_head_answers_carry_no_body_bytes(lean_server: Server) -> None:
    """The bytes after HEAD's answer are the next answer's status line."""
    client = await RawClient.open(lean_server.port)
    client.send(request("HEAD", "/rooms"), request("GET", "/healthz"))
    async with asyncio.timeout(5):
        top = await client.reader.readuntil(b"\r\n\r\n")
        assert top.startswith(b"HTTP/1.1 200")
        assert int(top.lower().split(b"content-length: ")[1].split(b"\r\n")[0]) > 0
        following = await client.reader.readuntil(b"\r\n")
    assert following.startswith(b"HTTP/1.1 200"), following
    client.close()


async def test_head_of_an_event_stream_is_no_stream(lean_server: Server) -> None:
    """HEAD of the room URL asking for SSE gets a head and no body; the connection
    serves the next request."""
    client = await RawClient.open(lean_server.port)
    client.send(
        request("HEAD", "/rooms/r/messages", "Accept: text/event-stream"),
        request("GET", "/healthz"),
    )
    async with asyncio.timeout(5):
        top = await client.reader.readuntil(b"\r\n\r\n")
        assert top.startswith(b"HTTP/1.1 200"), top
        following = await client.reader.readuntil(b"\r\n")
    assert following.startswith(b"HTTP/1.1 200"), following
    client.close()


# HTTP/1.0 and Connection: close


async def test_http10_closes_unless_kept_alive(lean_server: Server) -> None:
    client = await RawClient.open(lean_server.port)
    client.send(b"GET /healthz HTTP/1.0\r\n\r\n", request("GET", "/healthz"))
    answer = await client.answer()
    assert answer.status == 200
    assert await client.rest() == b""  # closed: the second request was not served
    client.close()

    client = await RawClient.open(lean_server.port)
    client.send(
        b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"POST /rooms/r/messages HTTP/1.0\r\nConnection: keep-alive\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY),
        b"GET /rooms/r/messages?since=0 HTTP/1.0\r\n\r\n",
    )
    health, published, read = await client.answers(3)
    assert (health.status, published.status) == (200, 201)
    assert texts(read) == ["hello"]
    # A 1.0 client keeps its connection only if told (RFC 9112 appendix C.2.2).
    assert health.headers.get("connection") == "keep-alive"
    assert published.headers.get("connection") == "keep-alive"
    assert read.headers.get("connection") == "close"
    assert await client.rest() == b""
    client.close()


async def test_nothing_after_connection_close_is_answered(lean_server: Server) -> None:
    client = await RawClient.open(lean_server.port)
    client.send(
        publish("r", "one"),
        request("GET", "/rooms", "Connection: close"),
        publish("r", "never"),
        request("GET", "/healthz"),
    )
    published, rooms = await client.answers(2)
    assert published.status == 201
    assert rooms.status == 200 and rooms.headers.get("connection") == "close"
    assert await client.rest() == b""
    assert lean_server.node.stats.published == 1
    client.close()


# Expect: 100-continue behind other requests


async def test_100_continue_waits_for_a_held_long_poll_before_it(lean_server: Server) -> None:
    """A publish with ``Expect: 100-continue`` pipelined after a held long poll: its
    ``100 Continue`` comes after the poll's answer (docs/protocol.md: "as soon as the
    answers before it are out"), never in the middle of the answers owed."""
    client = await RawClient.open(lean_server.port)
    head = PUBLISH_HEAD + f"Content-Length: {len(BODY)}\r\nExpect: 100-continue\r\n\r\n"
    client.send(poll("r", "since=0&wait=10"), head.encode())
    await wait_for_waiters(lean_server, 1)
    other = await RawClient.open(lean_server.port)
    other.send(publish("r", "wake"))
    assert (await other.answer()).status == 201
    first = await client.answer()
    assert first.status == 200, f"answered {first.status} before the long poll's answer"
    assert texts(first) == ["wake"]
    assert (await client.answer()).status == 100
    client.send(BODY)
    assert (await client.answer()).status == 201
    client.close()
    other.close()


# Clients that vanish


async def test_a_vanished_client_mid_pipeline_leaves_nothing(lean_server: Server) -> None:
    """Publishes, a held long poll and more requests behind it; the client resets:
    the waiter is released and the connection forgotten."""
    client = await RawClient.open(lean_server.port)
    client.send(
        publish("r", "one"),
        poll("r", "since=1&wait=30"),
        request("GET", "/rooms"),
        publish("r", "two"),
    )
    assert (await client.answer()).status == 201
    await wait_for_waiters(lean_server, 1)
    client.writer.transport.abort()
    await wait_for_waiters(lean_server, 0)
    await until(lambda: not front_connections(lean_server))
    assert lean_server.node.stats.published == 1  # what waited behind the poll was not taken


async def test_a_vanished_admin_stream_reader_leaves_nothing(lean_server: Server) -> None:
    client = await RawClient.open(lean_server.port)
    client.send(request("GET", "/admin/stream"))
    async with asyncio.timeout(5):
        top = await client.reader.readuntil(b"\r\n\r\n")
        assert top.startswith(b"HTTP/1.1 200"), top
        await client.reader.readuntil(b"event: history")
    client.writer.transport.abort()
    await until(lambda: not front_connections(lean_server))
    assert lean_server.front is not None and not lean_server.front.connections


# Takeovers behind other requests


async def test_an_upgrade_pipelined_after_other_requests(lean_server: Server) -> None:
    """A publish, a poll, a list of rooms, then a WebSocket upgrade, all in one write:
    three answers in order, then the ``101`` and the stream (its catch-up holds the
    message published before it; a close frame is answered)."""
    client = await RawClient.open(lean_server.port)
    upgrade = upgrade_request("/rooms/r/messages?since=0")
    client.send(
        publish("r", "before"),
        poll("r", "since=0"),
        request("GET", "/rooms"),
        upgrade,
    )
    published, read, rooms = await client.answers(3)
    assert (published.status, rooms.status) == (201, 200)
    assert texts(read) == ["before"]
    async with asyncio.timeout(5):
        top = await client.reader.readuntil(b"\r\n\r\n")
    assert top.startswith(b"HTTP/1.1 101 "), top
    while True:
        opcode, payload = await read_frame(client.reader, 5)
        assert opcode == 0x1, (opcode, payload)
        event = orjson.loads(payload)
        if event["type"] == "message":
            break
    assert event["message"]["text"] == "before"
    client.send(frame(0x8, (1000).to_bytes(2, "big")))
    while opcode != 0x8:
        opcode, payload = await read_frame(client.reader, 5)
    assert int.from_bytes(payload[:2], "big") == 1000
    assert await client.rest() == b""
    client.close()


async def test_an_sse_stream_between_requests_gives_its_connection_back(
    start_server: StartServer,
) -> None:
    """A publish, an SSE stream whose token expires, then a poll and a publish, all in
    one write: the stream shows the message and ends; what followed is answered."""
    server = await start_server(auth_secret=SECRET, idle_timeout=60.0)
    token = make_token(ttl=1.0, write=["r"], read=["r"])
    auth = f"Authorization: Bearer {make_token(write=['r'], read=['r'])}"
    client = await RawClient.open(server.port)
    client.send(
        publish("r", "before", auth),
        request("GET", f"/rooms/r/messages?since=0&token={token}", "Accept: text/event-stream"),
        poll("r", "since=0", auth),
        publish("r", "after", auth),
    )
    assert (await client.answer()).status == 201
    async with asyncio.timeout(10):
        top = await client.reader.readuntil(b"\r\n\r\n")
        assert top.startswith(b"HTTP/1.1 200"), top
        stream = await client.reader.readuntil(b"\r\n0\r\n\r\n")
    assert b'"text":"before"' in stream and b"event: expired\n" in stream
    read, published = await client.answers(2)
    assert texts(read) == ["before"]
    assert published.status == 201 and published.json()["id"] == 2
    await still_usable(client)
    client.close()


async def test_head_of_a_streamed_answer_keeps_the_connection(lean_server: Server) -> None:
    """HEAD of ``/admin/stream``: the head, no body, and the next request served."""
    client = await RawClient.open(lean_server.port)
    client.send(request("HEAD", "/admin/stream"), request("GET", "/healthz"))
    status, headers = await head_only(client)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert (await client.answer()).status == 200
    client.close()


async def test_an_upgrade_header_on_a_plain_route(lean_server: Server) -> None:
    """``Upgrade: h2c`` on a route that does not upgrade is a plain request: answered,
    and the request pipelined after it too."""
    client = await RawClient.open(lean_server.port)
    client.send(
        request("GET", "/healthz", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c"),
        request("GET", "/rooms"),
    )
    health, rooms = await client.answers(2)
    assert (health.status, rooms.status) == (200, 200)
    client.close()


async def test_a_lazy_413_waits_for_a_held_long_poll(lean_server: Server) -> None:
    """A publish declaring a body over ``max_body``, pipelined after a held long poll:
    the poll's answer first, then the ``413``, then the close."""
    client = await RawClient.open(lean_server.port)
    client.send(
        poll("r", "since=0&wait=10"), (PUBLISH_HEAD + "Content-Length: 999999\r\n\r\n").encode()
    )
    await wait_for_waiters(lean_server, 1)
    other = await RawClient.open(lean_server.port)
    other.send(publish("r", "wake"))
    assert (await other.answer()).status == 201
    read, refused = await client.answers(2)
    assert texts(read) == ["wake"]
    assert refused.status == 413 and refused.headers.get("connection") == "close"
    client.writer.write_eof()  # the body never comes: the lingering close ends at once
    assert await client.rest() == b""
    client.close()
    other.close()


# Back-pressure


async def test_a_client_that_does_not_read_is_not_buffered(lean_server: Server) -> None:
    """Megabytes of requests behind a held long poll, from a client that reads nothing:
    the server stops reading with a bounded buffer, and forgets it all when it leaves."""
    client = await RawClient.open(lean_server.port, receive_buffer=4096)
    client.send(poll("r", "since=0&wait=30"))
    await wait_for_waiters(lean_server, 1)
    client.send(request("GET", "/healthz") * 50_000)  # about 2 MB
    await until(lambda: any(not c._reading for c in front_connections(lean_server)))
    (connection,) = front_connections(lean_server)
    assert len(connection._buffer) <= READ_AHEAD + 2**18  # one read past the bound at most
    assert len(connection._pending) == 1
    # Not read, its reset is not seen: it is when the poll's answer cannot be written.
    client.writer.transport.abort()
    other = await RawClient.open(lean_server.port)
    other.send(publish("r", "wake"))
    assert (await other.answer()).status == 201
    other.close()
    await wait_for_waiters(lean_server, 0)
    await until(lambda: not front_connections(lean_server))


async def test_a_vanished_sse_reader_leaves_nothing(lean_server: Server) -> None:
    client = await RawClient.open(lean_server.port)
    client.send(request("GET", "/rooms/r/messages", "Accept: text/event-stream"))
    async with asyncio.timeout(5):
        top = await client.reader.readuntil(b"\r\n\r\n")
    assert top.startswith(b"HTTP/1.1 200"), top
    await until(lambda: lean_server.node.stats.streams["sse"] == 1)
    client.writer.transport.abort()
    await until(lambda: lean_server.node.stats.streams["sse"] == 0)
    await until(lambda: lean_server.node.stats.connections_open == 0)


async def test_a_long_pipeline_to_a_slow_reader_is_answered_whole(
    lean_server: Server,
) -> None:
    """Far more than MAX_PIPELINE requests in one write, to a client with a small
    receive window that reads slowly: every answer whole and in order (the connection
    stops and starts reading and writing many times over)."""
    client = await RawClient.open(lean_server.port, receive_buffer=4096)
    big = "x" * 2000
    client.send(*(publish("r", f"{n}{big}") for n in range(20)))
    assert [a.status for a in await client.answers(20)] == [201] * 20
    batch = []
    for n in range(300):
        if n % 50 == 49:
            batch.append(request("GET", "/rooms/r/presence"))
        elif n % 10 == 9:
            batch.append(publish("r", f"p{n}"))
        else:
            batch.append(poll("r", "since=0&limit=20"))
    client.send(*batch)
    published = 20
    for n in range(300):
        answer = await client.answer()
        if n % 50 == 49:
            assert answer.status == 200, (n, answer.status)
        elif n % 10 == 9:
            published += 1
            assert (answer.status, answer.json()["id"]) == (201, published), n
        else:
            assert answer.status == 200, (n, answer.status)
            assert len(answer.json()["messages"]) == 20, n
    await still_usable(client)
    client.close()


async def test_a_streamed_answer_to_http10_ends_with_the_connection(lean_server: Server) -> None:
    """HTTP/1.0 has no chunks: ``/admin/stream`` is written as is, ``Connection: close``,
    and the client's close leaves nothing behind."""
    client = await RawClient.open(lean_server.port)
    client.send(b"GET /admin/stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    async with asyncio.timeout(5):
        top = await client.reader.readuntil(b"\r\n\r\n")
        first = await client.reader.readuntil(b"\n\n")
    assert top.startswith(b"HTTP/1.1 200") and b"Connection: close" in top, top
    assert b"Transfer-Encoding" not in top
    assert first.startswith(b"event: history\ndata: "), first[:40]
    client.close()
    await until(lambda: not front_connections(lean_server))


# Shutdown


async def test_shutdown_closes_a_connection_with_a_request_waiting_its_turn(
    start_server: StartServer,
) -> None:
    """At shutdown a held long poll is answered; the request pipelined behind it is not
    taken, and the connection closes at once, not at the shutdown deadline."""
    server = await start_server(shutdown_timeout=30.0, idle_timeout=60.0)
    client = await RawClient.open(server.port)
    client.send(poll("r", "since=0&wait=30"), request("GET", "/rooms"))
    await wait_for_waiters(server, 1)
    stopping = asyncio.ensure_future(server.stop())
    try:
        answered = await client.answer()
        assert answered.status in (200, 503), answered
        assert await client.rest(timeout=5) == b""  # closed well before the deadline
        async with asyncio.timeout(5):
            await asyncio.shield(stopping)
    finally:
        client.close()
        await stopping


async def test_shutdown_ends_a_streamed_answer_with_a_request_behind_it(
    start_server: StartServer,
) -> None:
    """``/admin/stream`` with a request pipelined behind it: at shutdown the stream ends
    with its last chunk and the connection closes at once."""
    server = await start_server(shutdown_timeout=30.0, idle_timeout=60.0)
    client = await RawClient.open(server.port)
    client.send(request("GET", "/admin/stream"), request("GET", "/rooms"))
    async with asyncio.timeout(5):
        await client.reader.readuntil(b"event: history")
    stopping = asyncio.ensure_future(server.stop())
    try:
        rest = await client.rest(timeout=5)
        assert rest.endswith(b"\r\n0\r\n\r\n"), rest[-40:]
        async with asyncio.timeout(5):
            await asyncio.shield(stopping)
    finally:
        client.close()
        await stopping


async def test_shutdown_answers_pipelined_publishes_in_flight(start_server: StartServer) -> None:
    """Publishes taken before shutdown are answered (stored), then the connection closes."""
    server = await start_server(shutdown_timeout=30.0, idle_timeout=60.0)
    client = await RawClient.open(server.port)
    client.send(*(publish("r", f"m{n}") for n in range(30)))
    await until(lambda: server.node.stats.published > 0 or bool(front_connections(server)))
    stopping = asyncio.ensure_future(server.stop())
    try:
        received = await client.rest(timeout=5)
        statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", received)]
        assert statuses and set(statuses) <= {201, 503}, statuses
        assert statuses.count(201) == server.node.stats.published
        async with asyncio.timeout(5):
            await asyncio.shield(stopping)
    finally:
        client.close()
        await stopping


@pytest.mark.parametrize(
    "held",
    [
        request("GET", "/subscribe"),
        request("GET", "/messages", "Accept: text/event-stream"),
    ],
    ids=["tutorial long poll", "tutorial event stream"],
)
async def test_a_vanished_tutorial_client_leaves_nothing(lean_server: Server, held: bytes) -> None:
    """The tutorial dialect's held requests, with a request pipelined behind: the
    client resets, and the server forgets the connection and its listener."""
    client = await RawClient.open(lean_server.port)
    client.send(held, request("GET", "/healthz"))
    await until(lambda: bool(front_connections(lean_server)))
    (connection,) = front_connections(lean_server)
    await until(lambda: bool(connection._tasks) or bool(connection._pending))
    client.writer.transport.abort()
    await until(lambda: not front_connections(lean_server))
    await until(lambda: not connection._tasks)  # cancelled, and done
    assert not connection._pending


@pytest.mark.parametrize("warm", [False, True], ids=["cold room", "warm room"])
async def test_a_poll_does_not_see_a_publish_pipelined_after_it(
    start_server: StartServer, warm: bool
) -> None:
    """A short poll and then a publish in one write: the publish may be in flight
    beside the poll, but the poll answers what was there when it was asked (it came
    first), never the message sent after it."""
    server = await start_server(idle_timeout=60.0)
    client = await RawClient.open(server.port)
    client.send(publish("r", "before"))
    assert (await client.answer()).status == 201
    await server.stop()  # a cold room: loaded from the store again by the poll
    server = await start_server(db=server.settings.db, idle_timeout=60.0)
    client = await RawClient.open(server.port)
    if warm:
        client.send(poll("r", "since=0"))
        assert texts(await client.answer()) == ["before"]
    for n in range(5):
        client.send(poll("r", "since=0"), publish("r", f"after{n}"))
        read, published = await client.answers(2)
        assert published.status == 201
        seen = texts(read)
        assert f"after{n}" not in seen, seen
    client.close()
