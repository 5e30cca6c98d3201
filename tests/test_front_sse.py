"""SSE on the room URL (front/sse.py), byte for byte
where a client can see it: the response head, refusals, the end of a stream, keep-alive,
and the connection's place under the caps."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from hubbub.http.head import accepts_event_stream
from hubbub.server import Server
from tests.conftest import StartServer
from tests.tokens import SECRET, make_token

TIMEOUT = 10.0
SSE_GET = b"GET /rooms/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n%s\r\n"


def sse_request(target: str, *headers: str) -> bytes:
    extra = "".join(f"{line}\r\n" for line in headers)
    return SSE_GET % (target.encode(), extra.encode())


async def exchange(
    server: Server, data: bytes, until: bytes
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    """Send ``data`` on a new connection; what came back up to and including ``until``."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(data)
    async with asyncio.timeout(TIMEOUT):
        received = await reader.readuntil(until)
    return received, reader, writer


def head_lines(received: bytes) -> list[bytes]:
    """The response head's lines but ``Date`` and ``Server`` (which say when and who)."""
    head = received.partition(b"\r\n\r\n")[0].split(b"\r\n")
    return [line for line in head if not line.startswith((b"Date:", b"Server:"))]


def server_header(received: bytes) -> bytes:
    head = received.partition(b"\r\n\r\n")[0].split(b"\r\n")
    return next(line for line in head if line.startswith(b"Server:"))


async def wait_until_closed(server: Server, streams: int = 0) -> None:
    """Until the server counts no open connection and ``streams`` SSE streams (bounded)."""
    stats = server.node.stats
    async with asyncio.timeout(TIMEOUT):
        while stats.connections_open or stats.streams["sse"] != streams:
            await asyncio.sleep(0.005)


def test_accept_names_event_stream_as_a_whole_type() -> None:
    """Only an Accept part whose type is exactly text/event-stream asks for SSE."""
    assert accepts_event_stream("text/event-stream")
    assert accepts_event_stream("application/json, text/event-stream;q=0.5")
    assert not accepts_event_stream("text/event-streams")
    assert not accepts_event_stream("x-text/event-stream")
    assert not accepts_event_stream(None)


@pytest.mark.parametrize(
    ("allow_origin", "headers"),
    [
        (None, ()),
        ("https://a.example", ("Origin: https://a.example",)),
        ("*", ("Origin: https://b.example", "Connection: close")),
        ("https://a.example", ("Origin: https://other.example", "Last-Event-ID: 0")),
    ],
    ids=["plain", "allowed-origin", "wildcard-close", "other-origin"],
)
async def test_head_and_opening(
    start_server: StartServer, allow_origin: str | None, headers: tuple[str, ...]
) -> None:
    """The head an EventSource needs (chunked, never cached nor buffered by a proxy), the
    CORS lines of an allowed origin, then ``retry:`` and the stream's opening events."""
    server = await start_server(allow_origin=allow_origin, store="memory")
    request = sse_request("r/messages?user=bob", *headers)
    received, _, writer = await exchange(server, request, b"event: presence\ndata: ")
    writer.close()
    lines = head_lines(received)
    assert lines[:4] == [
        b"HTTP/1.1 200 OK",
        b"Content-Type: text/event-stream",
        b"Cache-Control: no-store",
        b"X-Accel-Buffering: no",
    ]
    assert b"Transfer-Encoding: chunked" in lines
    origin = next((h.split(": ")[1] for h in headers if h.startswith("Origin")), None)
    allowed = "*" if allow_origin == "*" else origin if origin == allow_origin else None
    cors = [line for line in lines if line.startswith((b"Access-Control", b"Vary"))]
    expected = [] if allowed is None else [b"Access-Control-Allow-Origin: " + allowed.encode()]
    if allowed not in (None, "*"):
        expected.append(b"Vary: Origin")
    assert cors == expected
    assert (b"Connection: close" in lines) == ("Connection: close" in headers)
    assert server_header(received) == b"Server: hubbub"
    body = received.partition(b"\r\n\r\n")[2]
    assert b"retry: " in body and b"event: ready" in body


REFUSED = [
    ("r/messages", ()),  # no token: 401 before anything else
    (".bad/messages?token={ok}&since=x", ()),  # the room before the cursor
    ("r/messages?token={ok}", ("Last-Event-ID: nope",)),
    ("r/messages?token={ok}&since=x", ()),
    ("r/messages?since=2", ("Authorization: Bearer {ok}", "Last-Event-ID: abc:x")),
    ("r/messages?token={ok}&user=" + "u" * 200, ()),
    ("secret/messages?token={ok}&since=x", ()),  # a bad cursor before the room's access
    ("secret/messages?token={ok}", ()),
    ("r/messages?token={expired}", ()),
]


@pytest.mark.parametrize(("target", "headers"), REFUSED)
async def test_refusals_before_the_stream(
    start_server: StartServer, target: str, headers: tuple[str, ...]
) -> None:
    """Each refused stream gets its JSON error before a byte of the stream, a 401 its
    WWW-Authenticate challenge."""
    tokens = {"ok": make_token(read=["r"]), "expired": make_token(ttl=-5)}
    target = target.format(**tokens)
    headers = tuple(line.format(**tokens) for line in headers)
    server = await start_server(auth_secret=SECRET, store="memory")
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(sse_request(target, *headers))
    async with asyncio.timeout(TIMEOUT):
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().partition(b"content-length: ")[2].split(b"\r\n")[0])
        body = await reader.readexactly(length)
    writer.close()
    lines = head.split(b"\r\n")
    challenge = [line for line in lines if line.startswith(b"WWW-Authenticate")]
    assert server.node.stats.rejected[orjson.loads(body)["error"]["code"]] == 1
    assert lines[0] != b"HTTP/1.1 200 OK"
    assert bool(challenge) == lines[0].startswith(b"HTTP/1.1 401")


async def test_a_stream_that_ends_keeps_its_connection(start_server: StartServer) -> None:
    """After `event: expired` and the last chunk, a request pipelined behind the stream
    (and after a GET body, which is skipped) is answered on the same connection."""
    server = await start_server(auth_secret=SECRET)
    token = make_token(ttl=1.0)
    request = sse_request(f"r/messages?token={token}", "Content-Length: 5") + b"hello"
    health = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    received, _, writer = await exchange(server, request + health, b'{"status":"ok"}')
    body = received.partition(b"\r\n\r\n")[2]
    assert b"event: expired\n" in body
    stream, last, after = body.partition(b"\r\n0\r\n\r\n")
    assert last and after.startswith(b"HTTP/1.1 200 OK\r\n")
    assert stream.endswith(b'data: {"code":"unauthorized","message":"token expired"}\n\n')
    writer.close()
    await wait_until_closed(server)


async def test_connection_close_ends_with_the_stream(start_server: StartServer) -> None:
    """A stream asked with Connection: close is closed after its last chunk."""
    server = await start_server(auth_secret=SECRET)
    token = make_token(ttl=1.0)
    request = sse_request(f"r/messages?token={token}", "Connection: close")
    _, reader, writer = await exchange(server, request, b"event: expired\n")
    async with asyncio.timeout(TIMEOUT):
        rest = await reader.read()  # up to the close
    assert rest.endswith(b"\r\n0\r\n\r\n")
    writer.close()
    await wait_until_closed(server)


async def test_shutdown_ends_the_stream_and_closes(start_server: StartServer) -> None:
    """At shutdown a stream sends its last chunk and its connection closes."""
    server = await start_server()
    _, reader, writer = await exchange(server, sse_request("r/messages"), b"presence")
    await server.stop()
    async with asyncio.timeout(TIMEOUT):
        rest = await reader.read()
    assert rest.endswith(b"\r\n0\r\n\r\n")
    writer.close()


async def test_lean_streams_hold_their_place_under_the_caps(start_server: StartServer) -> None:
    """Streams count against max_connections_per_ip until they close, once each."""
    server = await start_server(max_connections_per_ip=2)
    streams = [await exchange(server, sse_request("r/messages"), b"presence") for _ in range(2)]
    refused, _, writer = await exchange(server, sse_request("r/messages"), b"\r\n\r\n")
    assert refused.startswith(b"HTTP/1.1 503 ")
    writer.close()
    assert server.node.stats.streams["sse"] == 2
    streams[0][2].close()
    async with asyncio.timeout(TIMEOUT):
        while server.node.stats.connections_open != 1:
            await asyncio.sleep(0.005)
    streams.append(await exchange(server, sse_request("r/messages"), b"presence"))
    for _, _, stream_writer in streams[1:]:
        stream_writer.close()
    await wait_until_closed(server)


async def test_a_half_closed_client_is_gone(server: Server) -> None:
    """A client that stops sending (FIN) is gone, as on aiohttp's path: the stream detaches."""
    _, reader, writer = await exchange(server, sse_request("r/messages"), b"presence")
    writer.write_eof()
    async with asyncio.timeout(TIMEOUT):
        await reader.read()
    await wait_until_closed(server)
    writer.close()


async def test_pipelined_bytes_do_not_disturb_a_live_stream(server: Server) -> None:
    """What a client sends while its stream runs waits; the stream still gets messages."""
    _, reader, writer = await exchange(server, sse_request("r/messages"), b"presence")
    writer.write(b"GARBAGE\r\n\r\n" + b"x" * 100_000)
    post = b'{"user":"a","text":"hi"}'
    publish = (
        b"POST /rooms/r/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(post), post)
    )
    answer, _, publisher = await exchange(server, publish, b"}")
    assert answer.startswith(b"HTTP/1.1 201 ")
    async with asyncio.timeout(TIMEOUT):
        event = await reader.readuntil(b'"text":"hi"')
    assert b"event: message\n" in event
    writer.close()
    publisher.close()
    await wait_until_closed(server)


async def test_a_stream_behind_a_pipelined_poll(start_server: StartServer) -> None:
    """A stream pipelined after a poll opens once the poll is answered, then stays live."""
    server = await start_server()
    poll = b"GET /rooms/r/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    received, reader, writer = await exchange(server, poll + sse_request("r/messages"), b"presence")
    first = received.partition(b"\r\n\r\n")[0]
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and b"application/json" in first
    # The poll's JSON body, then the stream's head.
    assert b"}HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" in received
    writer.write_eof()  # the stream still reads: a client that leaves is noticed
    async with asyncio.timeout(TIMEOUT):
        await reader.read()
    writer.close()
    await wait_until_closed(server)
