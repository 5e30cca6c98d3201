"""Requests a proxy in front could frame differently than hubbub are refused with
``400`` and the connection closed (issue 18, strict HTTP): on a fresh connection, and
after another route's request on the same connection. A head that can no longer become
a request is answered at once, not at the deadline. Bodies: chunked ones pipelined with
what follows, ``Expect: 100-continue``, encoded ones, HTTP/1.0."""

from __future__ import annotations

import pytest

from hubbub.server import Server
from tests.conftest import StartServer
from tests.rawhttp import RawClient, request
from tests.wire import wait_for_waiters

PUBLISH = "POST /rooms/r/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
BODY = b'{"user":"a","text":"hello"}'
CHUNKED_BODY = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)

SMUGGLING = {
    "content-length and transfer-encoding": (
        PUBLISH + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    + CHUNKED_BODY,
    "two content-lengths that differ": (
        PUBLISH + "Content-Length: 27\r\nContent-Length: 26\r\n\r\n"
    ).encode()
    + BODY,
    "a coding before chunked": (PUBLISH + "Transfer-Encoding: gzip, chunked\r\n\r\n").encode()
    + CHUNKED_BODY,
    "chunked twice": (PUBLISH + "Transfer-Encoding: chunked, chunked\r\n\r\n").encode()
    + CHUNKED_BODY,
    "identity": (PUBLISH + "Transfer-Encoding: identity\r\n\r\n").encode() + BODY,
    "obs-fold": b"GET /rooms/r/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\r\n b\r\n\r\n",
    "bare CR in a value": b"GET /rooms/r/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\rb\r\n\r\n",
    "an invalid chunk size": (PUBLISH + "Transfer-Encoding: chunked\r\n\r\n").encode()
    + b"zz\r\n{}\r\n0\r\n\r\n",
    "space before the colon": b"GET /rooms/r/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Length : 0\r\n\r\n",
}


async def refused_and_closed(client: RawClient) -> None:
    answer = await client.answer()
    assert answer.status == 400, answer
    assert answer.json()["error"]["code"] == "invalid_request"
    assert await client.rest() == b""  # closed: nothing after the 400 is read
    client.close()


@pytest.fixture
async def lean_server(start_server: StartServer) -> Server:
    # A long idle deadline: an answer that waited for it would time the test out.
    return await start_server(idle_timeout=60.0)


@pytest.mark.parametrize("data", SMUGGLING.values(), ids=SMUGGLING.keys())
async def test_refused_on_a_new_connection(lean_server: Server, data: bytes) -> None:
    client = await RawClient.open(lean_server.port)
    client.send(data)
    await refused_and_closed(client)


@pytest.mark.parametrize("data", SMUGGLING.values(), ids=SMUGGLING.keys())
async def test_refused_after_another_request(lean_server: Server, data: bytes) -> None:
    client = await RawClient.open(lean_server.port)
    client.send(request("GET", "/rooms"))
    assert (await client.answer()).status == 200
    client.send(data)
    await refused_and_closed(client)


async def test_a_chunked_publish_alone_is_taken(lean_server: Server) -> None:
    client = await RawClient.open(lean_server.port)
    client.send((PUBLISH + "Transfer-Encoding: chunked\r\n\r\n").encode() + CHUNKED_BODY)
    assert (await client.answer()).status == 201
    client.close()


@pytest.mark.parametrize(
    "junk",
    [
        b"hello there, not HTTP\r\n",
        b"GET /rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nbad header line\r\n",
    ],
    ids=["not a request line", "a header line without a colon"],
)
async def test_junk_without_a_blank_line_is_answered_at_once(
    lean_server: Server, junk: bytes
) -> None:
    client = await RawClient.open(lean_server.port)
    client.send(junk)  # no blank line ever comes
    await refused_and_closed(client)


async def test_an_unfinished_head_still_waits(lean_server: Server) -> None:
    """A valid head sent in pieces is not refused early."""
    client = await RawClient.open(lean_server.port)
    client.send(b"GET /rooms/r/messages HTTP/1.1\r\nHo")
    client.send(b"st: 127.0.0.1\r\n\r\n")
    assert (await client.answer()).status == 200
    client.close()


async def test_a_chunked_body_ends_where_the_next_request_starts(lean_server: Server) -> None:
    """llhttp reads the chunks (extensions, a trailer, data holding CRLFs) up to the body's
    end, and the request pipelined after it is served too."""
    body = b'{"user":"a",\r\n"text":"x"}'  # CRLF inside the data, as JSON whitespace
    chunks = b"5;ext=1\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n" % (
        body[:5],
        len(body) - 5,
        body[5:],
    )
    client = await RawClient.open(lean_server.port)
    client.send(
        (PUBLISH + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks,
        request("GET", "/rooms/r/messages?since=0"),
    )
    published, read = await client.answers(2)
    assert (published.status, published.json()["text"]) == (201, "x")
    assert [m["text"] for m in read.json()["messages"]] == ["x"]
    client.close()


async def test_expect_100_continue_invites_the_body(lean_server: Server) -> None:
    """The head alone gets ``100 Continue``; the body sent then is published. A body
    declared over the limit gets ``413`` instead, and is never invited."""
    client = await RawClient.open(lean_server.port)
    head = PUBLISH + f"Content-Length: {len(BODY)}\r\nExpect: 100-continue\r\n\r\n"
    client.send(head.encode())
    assert (await client.answer()).status == 100
    client.send(BODY)
    assert (await client.answer()).status == 201
    client.send((PUBLISH + "Content-Length: 999999999\r\nExpect: 100-continue\r\n\r\n").encode())
    refused = await client.answer()
    assert refused.status == 413 and refused.json()["error"]["code"] == "body_too_large"
    client.close()


async def test_another_expectation_is_417(lean_server: Server) -> None:
    client = await RawClient.open(lean_server.port)
    client.send((PUBLISH + "Content-Length: 2\r\nExpect: something\r\n\r\n").encode())
    refused = await client.answer()
    assert refused.status == 417 and refused.json()["error"]["code"] == "expectation_failed"
    client.close()


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_an_encoded_body_is_decoded(lean_server: Server, coding: str) -> None:
    """``Content-Encoding`` gzip or deflate is decoded (bounded by max_body); another
    coding is ``415``; a body that does not decode is ``400``."""
    import gzip
    import zlib

    encoded = gzip.compress(BODY) if coding == "gzip" else zlib.compress(BODY)
    client = await RawClient.open(lean_server.port)
    head = PUBLISH + f"Content-Encoding: {coding}\r\nContent-Length: {len(encoded)}\r\n\r\n"
    client.send(head.encode() + encoded)
    assert (await client.answer()).json()["text"] == "hello"
    client.send((PUBLISH + "Content-Encoding: br\r\nContent-Length: 2\r\n\r\n{}").encode())
    assert (await client.answer()).status == 415
    client.send((PUBLISH + f"Content-Encoding: {coding}\r\nContent-Length: 2\r\n\r\n{{}}").encode())
    assert (await client.answer()).status == 400
    client.close()


async def test_a_compressed_bomb_is_413(start_server: StartServer) -> None:
    """A small gzip body that decodes past max_body is refused, not inflated in full."""
    import gzip

    server = await start_server(max_body=1024)
    bomb = gzip.compress(b"{" + b" " * 10_000_000 + b"}")
    client = await RawClient.open(server.port)
    head = PUBLISH + f"Content-Encoding: gzip\r\nContent-Length: {len(bomb)}\r\n\r\n"
    client.send(head.encode() + bomb)
    assert (await client.answer()).status == 413
    client.close()


async def test_http10_requests_are_served(lean_server: Server) -> None:
    """HTTP/1.0: served, and closed after the answer unless kept alive."""
    client = await RawClient.open(lean_server.port)
    client.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert (await client.answer()).status == 200
    client.send(b"GET /rooms/r/messages HTTP/1.0\r\n\r\n")
    assert (await client.answer()).status == 200
    assert await client.rest() == b""
    client.close()


async def test_a_head_over_the_limit_is_431(lean_server: Server) -> None:
    client = await RawClient.open(lean_server.port)
    client.send(b"GET /rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"a" * 9000)
    answer = await client.answer()
    assert answer.status == 431
    assert await client.rest() == b""
    client.close()


async def test_100_continue_waits_for_the_answers_owed_before_it(lean_server: Server) -> None:
    """A publish expecting 100-continue behind a held long poll: its ``100 Continue`` comes
    after the long poll's answer, never in its place."""
    client = await RawClient.open(lean_server.port)
    head = PUBLISH + f"Content-Length: {len(BODY)}\r\nExpect: 100-continue\r\n\r\n"
    client.send(request("GET", "/rooms/r/messages?since=0&wait=10"), head.encode())
    await wait_for_waiters(lean_server, 1)
    other = await RawClient.open(lean_server.port)
    other.send((PUBLISH + f"Content-Length: {len(BODY)}\r\n\r\n").encode() + BODY)
    assert (await other.answer()).status == 201
    held = await client.answer()
    assert held.status == 200 and [m["id"] for m in held.json()["messages"]] == [1]
    assert (await client.answer()).status == 100
    client.send(BODY)
    assert (await client.answer()).status == 201
    client.close()
    other.close()
