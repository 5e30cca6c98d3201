"""Requests a proxy in front could frame differently than hubbub are refused with
``400`` and the connection closed (issue 18, strict HTTP): on a fresh connection, where
the lean path reads the head, and after a request aiohttp served on the same connection.
A head that can no longer become a request is answered at once, not at the deadline."""

from __future__ import annotations

import pytest

from hubbub.server import Server
from tests.conftest import StartServer
from tests.rawhttp import RawClient, request

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
async def test_refused_after_a_request_aiohttp_served(lean_server: Server, data: bytes) -> None:
    client = await RawClient.open(lean_server.port)
    client.send(request("GET", "/rooms"))  # not a lean route: the connection goes to aiohttp
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
