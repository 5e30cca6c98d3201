"""Adversarial tests of the embedding hooks on hubbub's HTTP stack: request filters and
answer hooks that raise, on routes answered at once, in a task, in a future's callback,
and on refusals. What fails is a ``500`` with the connection closed, never a hang nor a
connection dropped without an answer, and the server goes on serving."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest

from hubbub.http.answers import Answer
from hubbub.http.head import Request
from hubbub.server import Server
from hubbub.settings import Settings
from tests.rawhttp import RawClient, poll, publish, request
from tests.rawws import frame, upgrade_request


@pytest.fixture
async def embedded(settings: Settings) -> AsyncIterator[Server]:
    server = Server(settings)  # started by the test, after it changes server.app
    yield server
    await server.stop()


def sync_route(request: Request) -> Answer:
    return Answer(200, b'{"sync":true}')


async def failed_and_closed(server: Server, data: bytes) -> None:
    """``data`` gets a ``500`` and the connection closes (bounded); a new connection is
    served."""
    client = await RawClient.open(server.port)
    client.send(data)
    answer = await client.answer(timeout=5)
    assert answer.status == 500, answer
    assert answer.json()["error"]["code"] == "internal_error"
    assert await client.rest(timeout=5) == b""
    client.close()
    client = await RawClient.open(server.port)
    client.send(request("GET", "/sync"))
    assert (await client.answer(timeout=5)).status == 200
    client.close()


HOOKED = {
    "a route answered at once": request("GET", "/sync?fail"),
    "a route answered in a task": request("GET", "/healthz?fail"),
    "a publish answered in its commit's callback": publish("r", "x")[:5]
    + b"/rooms/r/messages?fail"
    + publish("r", "x")[22:],
    "a streamed answer": request("GET", "/admin/stream?fail"),
    "a 404": request("GET", "/no/such?fail"),
    "a 405": request("DELETE", "/healthz?fail"),
}


@pytest.mark.parametrize("data", HOOKED.values(), ids=HOOKED.keys())
async def test_an_answer_hook_that_raises_is_a_500(embedded: Server, data: bytes) -> None:
    def hook(request: Request, answer: Answer) -> None:
        if "fail" in request.query:
            raise RuntimeError("the hook fails")

    embedded.app.routes.add("GET", "/sync", sync_route)
    embedded.app.answer_hooks.append(hook)
    await embedded.start()
    await failed_and_closed(embedded, data)


async def test_a_held_long_poll_whose_hook_raises_is_a_500(embedded: Server) -> None:
    """The hook fails on the answer of a long poll woken by a publish."""

    def hook(request: Request, answer: Answer) -> None:
        if "fail" in request.query:
            raise RuntimeError("the hook fails")

    embedded.app.routes.add("GET", "/sync", sync_route)
    embedded.app.answer_hooks.append(hook)
    await embedded.start()
    client = await RawClient.open(embedded.port)
    client.send(poll("r", "since=0&wait=10&fail"))
    other = await RawClient.open(embedded.port)
    other.send(publish("r", "wake"))
    assert (await other.answer()).status == 201
    answer = await client.answer(timeout=5)
    assert answer.status == 500, answer
    assert await client.rest(timeout=5) == b""
    client.close()
    other.close()


Filter = Callable[[Request], Answer | Awaitable[Answer | None] | None]


async def failing_later(request: Request) -> Answer | None:
    raise RuntimeError("the filter fails")


def failing_now(request: Request) -> Answer | None:
    raise RuntimeError("the filter fails")


@pytest.mark.parametrize("check", [failing_now, failing_later], ids=["sync", "async"])
async def test_a_filter_that_raises_is_a_500(embedded: Server, check: Filter) -> None:
    def only_marked(request: Request) -> Answer | Awaitable[Answer | None] | None:
        return check(request) if "fail" in request.query else None

    embedded.app.routes.add("GET", "/sync", sync_route)
    embedded.app.request_filters.append(only_marked)
    await embedded.start()
    await failed_and_closed(embedded, request("GET", "/sync?fail"))
    await failed_and_closed(embedded, request("GET", "/rooms/r/messages?since=0&fail"))


async def test_an_answer_of_an_unlisted_status_is_served(embedded: Server) -> None:
    """An embedding route's status outside Python's ``HTTPStatus`` (``499``, ``299``)
    is still written, with a status line of its own."""

    def odd(request: Request) -> Answer:
        return Answer(int(request.params["status"]), b"{}")

    embedded.app.routes.add("GET", "/sync", sync_route)
    embedded.app.routes.add("GET", "/odd/{status}", odd)
    await embedded.start()
    client = await RawClient.open(embedded.port)
    client.send(request("GET", "/odd/499"))
    answer = await client.answer(timeout=5)
    assert answer.status == 499, answer
    client.send(request("GET", "/sync"))
    assert (await client.answer(timeout=5)).status == 200
    client.close()


async def test_an_upgrade_behind_an_async_filter_keeps_its_frames(embedded: Server) -> None:
    """A filter that waits holds a WebSocket upgrade; the frames sent with its head
    (a publish) reach the stream once it starts, not the HTTP parser."""
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(request: Request) -> Answer | None:
        entered.set()
        await release.wait()
        return None

    embedded.app.routes.add("GET", "/sync", sync_route)
    embedded.app.request_filters.append(slow)
    await embedded.start()
    client = await RawClient.open(embedded.port)
    upgrade = upgrade_request("/rooms/r/messages?since=0")
    text = orjson.dumps({"type": "publish", "user": "a", "text": "framed"})
    client.send(upgrade + frame(0x1, text))
    async with asyncio.timeout(5):
        await entered.wait()
    client.send(frame(0x1, text.replace(b"framed", b"second")))  # while the filter holds
    await client.writer.drain()
    release.set()
    async with asyncio.timeout(5):
        top = await client.reader.readuntil(b"\r\n\r\n")
    assert top.startswith(b"HTTP/1.1 101 "), top
    acked: list[str] = []
    async with asyncio.timeout(5):
        while len(acked) < 2:
            _, second = await client.reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                size = int.from_bytes(await client.reader.readexactly(2), "big")
            event = orjson.loads(await client.reader.readexactly(size))
            assert event["type"] != "error", event
            if event["type"] == "ack":
                acked.append(event["message"]["text"])
    assert acked == ["framed", "second"]
    client.close()


@pytest.mark.parametrize(
    "data",
    [
        request("GET", "/rooms/r/messages", "Accept: text/event-stream"),
        request("GET", "/admin/stream"),
    ],
    ids=["SSE on the room URL", "the operations page's stream"],
)
async def test_an_answer_hook_sees_a_streams_head(embedded: Server, data: bytes) -> None:
    """docs/design.md, Embedding: a stream's head is shown to the hooks before the stream
    starts (a header they add is on it)."""
    seen: list[str] = []

    def mark(request: Request, answer: Answer) -> None:
        seen.append(request.path)
        answer.headers.append(("X-Embedded", "yes"))

    embedded.app.answer_hooks.append(mark)
    await embedded.start()
    client = await RawClient.open(embedded.port)
    client.send(data)
    async with asyncio.timeout(5):
        top = await client.reader.readuntil(b"\r\n\r\n")
    assert top.startswith(b"HTTP/1.1 200"), top
    assert b"\r\nX-Embedded: yes\r\n" in top, top
    assert len(seen) == 1
    client.close()


REFUSED_FRAMING = {
    "417": (request("POST", "/rooms/r/messages", "Expect: teapot", body=b"{}"), 417),
    "chunked 413": (
        request("POST", "/rooms/r/messages", "Transfer-Encoding: chunked")
        + b"%x\r\n%s\r\n0\r\n\r\n" % (70_000, b"x" * 70_000),
        413,
    ),
    "broken chunk": (
        request("POST", "/rooms/r/messages", "Transfer-Encoding: chunked") + b"zz\r\n",
        400,
    ),
    "Transfer-Encoding over HTTP/1.0": (
        b"POST /rooms/r/messages HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
}


@pytest.mark.parametrize(("data", "status"), REFUSED_FRAMING.values(), ids=REFUSED_FRAMING.keys())
async def test_an_answer_hook_sees_a_refused_body(
    embedded: Server, data: bytes, status: int
) -> None:
    """A request whose head was read but whose body is refused (an expectation, a body
    over the limit, broken chunks) is a refusal the hooks see too ("refusals
    included"), and the connection still closes after it."""
    seen: list[tuple[str, int]] = []

    def mark(request: Request, answer: Answer) -> None:
        seen.append((request.path, answer.status))
        answer.headers.append(("X-Embedded", "yes"))

    embedded.app.answer_hooks.append(mark)
    await embedded.start()
    client = await RawClient.open(embedded.port)
    client.send(data)
    answer = await client.answer(timeout=5)
    assert answer.status == status, answer
    assert answer.headers.get("x-embedded") == "yes"
    assert answer.headers.get("connection") == "close"
    assert seen == [("/rooms/r/messages", status)]
    client.writer.write_eof()
    assert await client.rest(timeout=5) == b""
    client.close()
