"""Adversarial tests of how hubbub's HTTP stack frames requests (``http/``), on real
sockets: requests split byte by byte or anywhere, chunked bodies at their edges and
past ``max_body``, encoded bodies, odd heads, Host lines, escaped paths."""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import pytest

from hubbub.errors import InvalidRequest
from hubbub.http.head import parse_head
from hubbub.server import Server
from tests.conftest import StartServer
from tests.rawhttp import RawClient, poll, publish, request
from tests.rawstack import BODY, PUBLISH_HEAD, gzipped, head_only, texts
from tests.tokens import SECRET


@pytest.fixture
async def lean_server(start_server: StartServer) -> Server:
    # A long idle deadline: an answer that waited for it would time the test out.
    return await start_server(idle_timeout=60.0)


async def test_a_request_split_byte_by_byte(lean_server: Server) -> None:
    """Heads and a chunked body arriving one byte per write are read as if whole."""
    client = await RawClient.open(lean_server.port)
    chunked = (PUBLISH_HEAD + "Transfer-Encoding: chunked\r\n\r\n").encode() + (
        b"3\r\n%s\r\n%X\r\n%s\r\n0\r\n\r\n" % (BODY[:3], len(BODY) - 3, BODY[3:])
    )
    data = chunked + publish("r", "second") + poll("r", "since=0")
    for byte in data:
        client.writer.write(bytes([byte]))
        await client.writer.drain()
    published, second, read = await client.answers(3)
    assert (published.status, second.status) == (201, 201)
    assert texts(read) == ["hello", "second"]
    client.close()


@pytest.mark.parametrize(
    "chunks",
    [
        b"1b\r\n%s\r\n0\r\n\r\n" % BODY,  # lower-case hex
        b"1B\r\n%s\r\n0\r\n\r\n" % BODY,  # upper-case hex
        b"001B\r\n%s\r\n0000\r\n\r\n" % BODY,  # leading zeros
        b"1B;name=value;other\r\n%s\r\n0;last=1\r\n\r\n" % BODY,  # extensions
        b"1B\r\n%s\r\n0\r\nX-One: 1\r\nX-Two: 2\r\n\r\n" % BODY,  # trailers
        b"1\r\n{\r\n1A\r\n%s\r\n0\r\n\r\n" % BODY[1:],  # a one-byte chunk
    ],
    ids=["lower hex", "upper hex", "leading zeros", "extensions", "trailers", "one byte"],
)
async def test_chunked_bodies_at_their_edges(lean_server: Server, chunks: bytes) -> None:
    client = await RawClient.open(lean_server.port)
    client.send((PUBLISH_HEAD + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks)
    client.send(poll("r", "since=0"))
    published, read = await client.answers(2)
    assert published.status == 201, published
    assert texts(read) == ["hello"]
    client.close()


@pytest.mark.parametrize(
    "chunks",
    [
        b"F" * 40 + b"\r\n",  # a size llhttp cannot hold
        b"1B\r\n%sXX\r\n0\r\n\r\n" % BODY,  # data longer than its size
        b"-1\r\n",  # a negative size
    ],
    ids=["huge size line", "overlong data", "negative size"],
)
async def test_broken_chunks_are_400_and_closed(lean_server: Server, chunks: bytes) -> None:
    client = await RawClient.open(lean_server.port)
    client.send((PUBLISH_HEAD + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks)
    answer = await client.answer()
    assert answer.status == 400 and answer.json()["error"]["code"] == "invalid_request"
    assert await client.rest() == b""
    client.close()


async def test_a_chunked_body_over_max_body_is_413(start_server: StartServer) -> None:
    """Chunks adding up past ``max_body`` (each within it) are refused as they arrive."""
    server = await start_server(max_body=1024, idle_timeout=60.0)
    client = await RawClient.open(server.port)
    client.send(
        request("GET", "/healthz"),
        (PUBLISH_HEAD + "Transfer-Encoding: chunked\r\n\r\n").encode(),
        *(b"200\r\n" + b"x" * 512 + b"\r\n" for _ in range(4)),
    )
    health, refused = await client.answers(2)
    assert health.status == 200
    assert refused.status == 413 and refused.headers.get("connection") == "close"
    assert await client.rest() == b""
    assert server.node.stats.published == 0
    client.close()


# Encoded bodies


async def test_encoded_bodies(start_server: StartServer) -> None:
    """gzip and deflate bodies are published; a bomb is 413, a broken one 400, ``br``
    415, and only the bomb and the broken body close the connection."""
    server = await start_server(max_body=4096, idle_timeout=60.0)
    client = await RawClient.open(server.port)

    def encoded(coding: str, body: bytes) -> bytes:
        return (
            PUBLISH_HEAD + f"Content-Encoding: {coding}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    client.send(
        encoded("gzip", gzipped(BODY)),
        encoded("deflate", zlib.compress(BODY)),
        encoded("br", BODY),
    )
    gz, deflated, brotli = await client.answers(3)
    assert (gz.status, deflated.status) == (201, 201)
    assert brotli.status == 415 and brotli.json()["error"]["code"] == "unsupported_media_type"
    client.send(encoded("gzip", gzipped(b'{"user":"a","text":"' + b"x" * 10_000_000 + b'"}')))
    bomb = await client.answer()
    assert bomb.status == 413
    assert await client.rest() == b""
    client.close()

    client = await RawClient.open(server.port)
    client.send(encoded("gzip", gzipped(BODY)[:-8] + b"garbage!"))
    broken = await client.answer()
    assert broken.status == 400 and broken.json()["error"]["code"] == "invalid_request"
    assert await client.rest() == b""
    client.close()


# Heads at their edges


@pytest.mark.parametrize(
    "data",
    [
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\x00b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\r\n\tb\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\rX-B: b\r\n\r\n",
        b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\n\n",
        b"GET /healthz HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"G\x00T /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ],
    ids=["NUL", "obs-fold", "bare CR", "LF only", "HTTP/2.0", "relative target", "NUL method"],
)
async def test_odd_heads_are_400_and_closed(lean_server: Server, data: bytes) -> None:
    client = await RawClient.open(lean_server.port)
    client.send(data)
    answer = await client.answer()
    assert answer.status == 400, answer
    assert await client.rest() == b""
    client.close()


async def test_many_headers_within_the_head_limit(lean_server: Server) -> None:
    client = await RawClient.open(lean_server.port)
    headers = [f"X-H{n}: v" for n in range(700)]  # about 7 kB
    client.send(request("GET", "/healthz", *headers))
    assert (await client.answer()).status == 200
    client.send(request("GET", "/healthz", *(f"X-H{n}: v" for n in range(1000))))
    too_many = await client.answer()
    assert too_many.status == 431
    assert await client.rest() == b""
    client.close()


async def test_options_star_is_400_and_closed(lean_server: Server) -> None:
    """``OPTIONS *`` is not a path (docs/protocol.md: 400, closed)."""
    client = await RawClient.open(lean_server.port)
    client.send(b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert (await client.answer()).status == 400
    assert await client.rest() == b""
    client.close()


BAD_HOSTS = {
    "two Host lines": b"Host: 127.0.0.1\r\nHost: evil.example\r\n",
    "the same Host twice": b"Host: 127.0.0.1\r\nHost: 127.0.0.1\r\n",
    "an empty Host and another": b"Host:\r\nHost: 127.0.0.1\r\n",
    "a space in the Host": b"Host: a b\r\n",
    "a path in the Host": b"Host: 127.0.0.1/x\r\n",
    "userinfo in the Host": b"Host: user@127.0.0.1\r\n",
}


@pytest.mark.parametrize("lines", BAD_HOSTS.values(), ids=BAD_HOSTS.keys())
def test_parse_head_refuses_a_bad_host(lines: bytes) -> None:
    """RFC 9112 section 3.2: more than one Host line, or a Host that is not a host and
    port, is a 400."""
    with pytest.raises(InvalidRequest, match="Host"):
        parse_head(b"GET /healthz HTTP/1.1\r\n" + lines + b"\r\n")


@pytest.mark.parametrize(
    "host", [b"", b"localhost", b"127.0.0.1:8080", b"[::1]:80", b"chat.example.com", b"xn--d1a"]
)
def test_parse_head_takes_a_host(host: bytes) -> None:
    head = parse_head(b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert head.headers.get("host") == host.decode()


@pytest.mark.parametrize("auth", [False, True], ids=["no tokens", "tokens"])
async def test_two_host_lines_are_400_and_closed(start_server: StartServer, auth: bool) -> None:
    """With tokens on there is no Host check of names (421): two Host lines are still a
    400, and the connection closes."""
    server = await start_server(auth_secret=SECRET if auth else None, idle_timeout=60.0)
    client = await RawClient.open(server.port)
    client.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n")
    answer = await client.answer()
    assert answer.status == 400 and answer.json()["error"]["code"] == "invalid_request"
    assert await client.rest() == b""
    client.close()


@pytest.mark.parametrize("framing", ["trailers", "extensions"])
async def test_chunk_framing_past_max_body_is_413(start_server: StartServer, framing: str) -> None:
    """Trailers or chunk extensions adding up past ``max_body`` are refused as they
    arrive: they are held with the body until it ends, so unbounded they would grow the
    connection's buffer until the body's deadline."""
    server = await start_server(max_body=4096, idle_timeout=60.0)
    client = await RawClient.open(server.port)
    pad = b"x" * 1000
    if framing == "trailers":
        chunks = b"%x\r\n%s\r\n0\r\n" % (len(BODY), BODY)
        chunks += b"".join(b"X-Pad-%d: %s\r\n" % (n, pad) for n in range(20)) + b"\r\n"
    else:
        chunks = b"".join(b"1;pad=%s\r\n%s\r\n" % (pad, bytes([c])) for c in BODY) + b"0\r\n\r\n"
    client.send((PUBLISH_HEAD + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks)
    refused = await client.answer()
    assert refused.status == 413, refused
    assert await client.rest() == b""
    assert server.node.stats.published == 0
    client.close()


@pytest.mark.parametrize(
    "target",
    [
        "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/static/%2E%2E%2Fsecret.txt",
        "/..%2Fsecret.txt",
        "/site/..%2F..%2Fsecret.txt",
        "/site/%2e%2e/secret.txt",
    ],
)
async def test_escaped_dots_and_slashes_reach_no_file_outside(
    start_server: StartServer, tmp_path: Path, target: str
) -> None:
    """Escaped ``/`` and ``.`` in a target (decoded inside a path parameter, or in the
    path ``--static`` serves from) never reach a file outside the directories served."""
    (tmp_path / "secret.txt").write_text("secret")
    site = tmp_path / "www"
    (site / "site").mkdir(parents=True)
    (site / "site" / "index.html").write_text("<p>hello</p>")
    server = await start_server(static_dir=str(site), idle_timeout=60.0)
    client = await RawClient.open(server.port)
    client.send(request("GET", "/site/index.html"))
    assert (await client.answer()).body == b"<p>hello</p>"
    client.send(request("GET", target))
    answer = await client.answer()
    assert answer.status in (400, 404), answer
    assert b"secret" not in answer.body and b"root:" not in answer.body
    client.close()


async def test_a_mixed_pipeline_split_anywhere(lean_server: Server) -> None:
    """One pipeline (Content-Length, chunked with extensions and a trailer, gzip, a
    HEAD, a 404 with a body, polls) cut at random places into many writes: the same
    answers as sent whole, every time."""
    chunked = (PUBLISH_HEAD + "Transfer-Encoding: chunked\r\n\r\n").encode() + (
        b"4;x=y\r\n%s\r\n%x\r\n%s\r\n0\r\nX-T: 1\r\n\r\n" % (BODY[:4], len(BODY) - 4, BODY[4:])
    )
    zipped = gzipped(BODY)
    encoded = (
        PUBLISH_HEAD + f"Content-Encoding: gzip\r\nContent-Length: {len(zipped)}\r\n\r\n"
    ).encode() + zipped
    pipeline = b"".join(
        (
            publish("r", "plain"),
            chunked,
            encoded,
            request("HEAD", "/healthz"),
            request("POST", "/nowhere", body=b"\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
            poll("r", "since=0"),
        )
    )
    rng = random.Random(7)
    for round_ in range(20):
        cuts = sorted(rng.sample(range(1, len(pipeline)), 12))
        pieces = [pipeline[a:b] for a, b in zip([0, *cuts], [*cuts, len(pipeline)], strict=True)]
        client = await RawClient.open(lean_server.port)
        for piece in pieces:
            client.writer.write(piece)
            await client.writer.drain()
        statuses = [(await client.answer()).status for _ in range(3)]
        head_status, _ = await head_only(client)
        refused, read = await client.answers(2)
        assert statuses == [201, 201, 201], (round_, statuses)
        assert (head_status, refused.status) == (200, 404), round_
        assert texts(read)[-3:] == ["plain", "hello", "hello"], round_
        client.close()
