"""hubbub's HTTP connection (front/) on real sockets: pipelining, every route on one
connection, limits, tokens, CORS, vanishing clients, shutdown and caps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hubbub.http.connection import FrontConnection
from hubbub.http.writing import MAX_PIPELINE
from hubbub.server import Server
from tests.conftest import StartServer
from tests.rawhttp import Answer, RawClient, poll, publish, request
from tests.tokens import SECRET, make_token
from tests.wire import wait_for_waiters

Comparable = tuple[int, dict[str, str], bytes]
Scenario = Callable[[Server], Awaitable[list[Answer]]]


async def on_both_paths(
    start_server: StartServer, tmp_path: Path, scenario: Scenario, **overrides: Any
) -> list[Comparable]:
    """Run ``scenario`` on a server with its own store and return its answers."""
    server = await start_server(db=str(tmp_path / "server.db"), **overrides)
    return [a.comparable() for a in await scenario(server)]


def front_connections(server: Server) -> set[FrontConnection]:
    """The server's HTTP connections (white box: for back-pressure)."""
    assert server.front is not None
    return {c for c in server.front.connections if isinstance(c, FrontConnection)}


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Until ``condition()`` holds (bounded)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


def ids(answer: Answer) -> list[int]:
    return [m["id"] for m in answer.json()["messages"]]


# Pipelining


async def test_pipelined_publishes_get_consecutive_ids_in_order(server: Server) -> None:
    """Twenty publishes in one write: twenty 201s, in request order, ids 1 to 20."""
    client = await RawClient.open(server.port)
    client.send(*(publish("r", f"m{n}") for n in range(1, 21)))
    answers = await client.answers(20)
    assert [a.status for a in answers] == [201] * 20
    assert [(a.json()["id"], a.json()["text"]) for a in answers] == [
        (n, f"m{n}") for n in range(1, 21)
    ]
    client.close()


async def test_mixed_pipeline_is_answered_in_request_order(server: Server) -> None:
    """A held long poll then a short poll in one write: the short poll's answer, ready
    first, waits behind the long poll's, which another client's publish wakes."""
    client = await RawClient.open(server.port)
    client.send(publish("r", "one"))
    assert (await client.answer()).json()["id"] == 1
    client.send(poll("r", "since=1&wait=10"), poll("r", "since=0"))
    await wait_for_waiters(server, 1)
    other = await RawClient.open(server.port)
    other.send(publish("r", "two"))
    assert (await other.answer()).status == 201
    held, short = await client.answers(2)
    assert (held.status, ids(held)) == (200, [2])
    assert (short.status, ids(short)) == (200, [1])  # read before "two" was published
    client.close()
    other.close()


async def test_poll_pipelined_after_a_publish_sees_it(server: Server) -> None:
    """A poll pipelined after a publish answers with that publish's message."""
    client = await RawClient.open(server.port)
    client.send(poll("r"), publish("r", "cached"))  # the room is loaded, its cache warm
    assert [a.status for a in await client.answers(2)] == [200, 201]
    client.send(publish("r", "mine"), poll("r", "since=1"))
    published, read = await client.answers(2)
    assert (published.status, published.json()["id"]) == (201, 2)
    assert ids(read) == [2]
    client.close()


UNUSUAL = {
    "healthz": [request("GET", "/healthz")],
    "rooms": [request("GET", "/rooms")],
    "chunked": [
        request(
            "POST",
            "/rooms/r/messages",
            "Content-Type: application/json",
            "Transfer-Encoding: chunked",
        )
        + b'1d\r\n{"user":"bob","text":"chunk"}\r\n0\r\n\r\n'
    ],
    "expect": [
        request(
            "POST",
            "/rooms/r/messages",
            "Content-Type: application/json",
            "Expect: 100-continue",
            body=b'{"user":"bob","text":"expect"}',
        )
    ],
    "sse-like-accept": [request("GET", "/rooms/r/messages?since=0", "Accept: text/html")],
    "escaped": [request("GET", "/rooms/r/messages?user=a%20b")],
}


@pytest.mark.parametrize("name", UNUSUAL)
async def test_unusual_requests_after_polls_and_publishes(
    start_server: StartServer, tmp_path: Path, name: str
) -> None:
    """An unusual request (chunked, expecting 100-continue with its body already sent,
    escaped...) pipelined after polls and publishes is answered after them, and the
    connection keeps serving requests. A body that came with its head is not invited
    with a 100 Continue (RFC 9110 section 10.1.1 lets the server omit it)."""
    other = UNUSUAL[name]
    expected = 3

    async def scenario(server: Server) -> list[Answer]:
        client = await RawClient.open(server.port)
        client.send(publish("r", "one"), poll("r", "since=0"), *other)
        answers = await client.answers(expected)
        client.send(publish("r", "after"), poll("r", "since=0"))
        answers += await client.answers(2)
        client.close()
        return answers

    answers = await on_both_paths(start_server, tmp_path, scenario, store="memory")
    statuses = [status for status, _, _ in answers]
    assert statuses[:2] == [201, 200] and statuses[-2:] == [201, 200]
    if name == "expect":
        assert statuses[2] == 201


async def test_another_route_waits_for_a_held_long_poll(server: Server) -> None:
    """A request of another route behind a held long poll is answered once the poll is."""
    client = await RawClient.open(server.port)
    client.send(poll("r", "since=0&wait=10"), request("GET", "/healthz"))
    await wait_for_waiters(server, 1)
    other = await RawClient.open(server.port)
    other.send(publish("r", "wake"))
    assert (await other.answer()).status == 201
    held, health = await client.answers(2)
    assert (held.status, ids(held)) == (200, [1])
    assert (health.status, health.json()) == (200, {"status": "ok"})
    client.close()
    other.close()


# Connection: close


async def test_connection_close_on_a_publish(server: Server) -> None:
    """The answer says ``Connection: close``, the server closes, later bytes are ignored."""
    client = await RawClient.open(server.port)
    client.send(publish("r", "last", "Connection: close"), publish("r", "ignored"))
    answer = await client.answer()
    assert (answer.status, answer.headers["connection"]) == (201, "close")
    assert await client.rest() == b""
    check = await RawClient.open(server.port)
    check.send(poll("r", "since=0"))
    assert ids(await check.answer()) == [1]
    check.close()


async def test_connection_close_on_a_poll(server: Server) -> None:
    """A poll with ``Connection: close`` is answered so, then closed; later bytes ignored."""
    client = await RawClient.open(server.port)
    client.send(poll("r", "", "Connection: close"), publish("r", "ignored"))
    answer = await client.answer()
    assert (answer.status, answer.headers.get("connection")) == (200, "close")
    assert await client.rest(timeout=2) == b""


# Limits


async def test_body_over_max_body_is_aiohttps_413(
    start_server: StartServer, tmp_path: Path
) -> None:
    """A Content-Length over --max-body is refused as aiohttp refuses it."""

    async def scenario(server: Server) -> list[Answer]:
        client = await RawClient.open(server.port)
        client.send(publish("r", "small"), publish("r", "x" * 300))
        answers = await client.answers(2)
        await client.rest()
        client.close()
        return answers

    answers = await on_both_paths(start_server, tmp_path, scenario, max_body=200, store="memory")
    assert [status for status, _, _ in answers] == [201, 413]


async def test_trickled_body_gets_408_after_earlier_answers(start_server: StartServer) -> None:
    """A body slower than body_timeout: the publish before it is answered, then 408, closed."""
    server = await start_server(body_timeout=0.3)
    client = await RawClient.open(server.port)
    client.send(publish("r", "whole"), publish("r", "cut")[:-5])
    done, late = await client.answers(2)
    assert done.status == 201
    assert (late.status, late.json()["error"]["code"]) == (408, "request_timeout")
    assert late.headers["connection"] == "close"
    assert await client.rest() == b""
    client.close()


async def test_incomplete_head_is_closed_at_the_idle_deadline(start_server: StartServer) -> None:
    """No complete head within idle_timeout (of opening, or of the last answer): closed."""
    server = await start_server(idle_timeout=0.3)
    partial = await RawClient.open(server.port)
    partial.send(poll("r")[:20])
    assert await partial.rest(timeout=5) == b""
    idle = await RawClient.open(server.port)
    idle.send(poll("r"))
    assert (await idle.answer()).status == 200
    assert await idle.rest(timeout=5) == b""
    partial.close()
    idle.close()


async def test_head_over_8190_bytes_is_aiohttps(start_server: StartServer, tmp_path: Path) -> None:
    """A head longer than aiohttp's limit, after a lean request, is answered as aiohttp
    answers it. (Sent in its own write: aiohttp refuses a whole read holding one.)"""

    async def scenario(server: Server) -> list[Answer]:
        client = await RawClient.open(server.port)
        client.send(poll("r"))
        answers = [await client.answer()]
        client.send(poll("r", "", "X-Big: " + "b" * 9000))
        answers.append(await client.answer())
        await client.rest()
        client.close()
        return answers

    answers = await on_both_paths(start_server, tmp_path, scenario, store="memory")
    assert answers[0][0] == 200 and answers[1][0] in (400, 431)


async def test_refused_bodies_keep_the_connection(
    start_server: StartServer, tmp_path: Path
) -> None:
    """Invalid JSON (400), a wrong Content-Type (415), a bad room (400): answered as aiohttp
    does, and the next request on the connection is served."""
    wrong_type = request("POST", "/rooms/r/messages", "Content-Type: text/plain", body=b"{}")
    bad_json = request("POST", "/rooms/r/messages", "Content-Type: application/json", body=b"{nope")

    async def scenario(server: Server) -> list[Answer]:
        client = await RawClient.open(server.port)
        client.send(bad_json, wrong_type, publish(".bad", "x"), poll("r", "since=-1"))
        client.send(publish("r", "fine"))
        answers = await client.answers(5)
        client.close()
        return answers

    answers = await on_both_paths(start_server, tmp_path, scenario, store="memory")
    assert [(status, b'"code":"' in body) for status, _, body in answers[:4]] == [
        (400, True),
        (415, True),
        (400, True),
        (400, True),
    ]
    assert b"invalid_json" in answers[0][2] and b"unsupported_media_type" in answers[1][2]
    assert answers[4][0] == 201


async def test_get_with_a_body(start_server: StartServer, tmp_path: Path) -> None:
    """A poll that carries a Content-Length body: the body is not a request of its own."""

    async def scenario(server: Server) -> list[Answer]:
        client = await RawClient.open(server.port)
        smuggled = request("GET", "/rooms/r/messages", body=poll("r", "since=0"))
        client.send(smuggled, request("GET", "/healthz"))
        answers = await client.answers(2)
        client.close()
        return answers

    answers = await on_both_paths(start_server, tmp_path, scenario, store="memory")
    assert [status for status, _, _ in answers] == [200, 200]


async def test_request_without_host(start_server: StartServer, tmp_path: Path) -> None:
    """An HTTP/1.1 poll or publish without ``Host`` is refused as aiohttp refuses it."""

    async def scenario(server: Server) -> list[Answer]:
        answers = []
        for sent in (
            request("GET", "/rooms/r/messages", host=False),
            publish("r", "x").replace(b"Host: 127.0.0.1\r\n", b""),
        ):
            client = await RawClient.open(server.port)
            client.send(sent)
            answers.append(await client.answer())
            client.close()
        return answers

    answers = await on_both_paths(start_server, tmp_path, scenario, store="memory")
    assert [status for status, _, _ in answers] == [400, 400]


async def test_bare_lf_head_is_answered(start_server: StartServer) -> None:
    """A head with bare LF line ends is answered (400, as aiohttp does), not left hanging."""
    server = await start_server(idle_timeout=0.5)
    client = await RawClient.open(server.port)
    client.send(b"GET /rooms/r/messages HTTP/1.1\nHost: test\n\n")
    answer = await client.answer(timeout=5)
    assert answer.status == 400
    client.close()


# Tokens and CORS


async def test_tokens_on_the_lean_path(start_server: StartServer, tmp_path: Path) -> None:
    """401 with a challenge (no token, a bad one), 403 outside the token's rooms, as aiohttp."""
    good = make_token("alice", read=["a"], write=["a"])
    expired = make_token("alice", ttl=-60)
    bearer = f"Authorization: Bearer {good}"

    async def scenario(server: Server) -> list[Answer]:
        client = await RawClient.open(server.port)
        client.send(
            poll("a"),
            publish("a", "x", user=None),
            poll("a", "", f"Authorization: Bearer {expired}"),
            poll("b", "", bearer),
            publish("b", "x", bearer, user=None),
            publish("a", "mine", bearer, user=None),
            poll("a", f"since=0&token={good}"),
        )
        answers = await client.answers(7)
        client.close()
        return answers

    answers = await on_both_paths(
        start_server, tmp_path, scenario, auth_secret=SECRET, store="memory"
    )
    assert [status for status, _, _ in answers] == [401, 401, 401, 403, 403, 201, 200]
    assert answers[0][1]["www-authenticate"] == 'Bearer realm="hubbub"'
    assert answers[2][1]["www-authenticate"] == 'Bearer realm="hubbub", error="invalid_token"'
    assert b'"user":"alice"' in answers[5][2]


@pytest.mark.parametrize("allowed", ["https://a.example, https://b.example", "*"])
async def test_cors_headers_on_lean_answers(
    start_server: StartServer, tmp_path: Path, allowed: str
) -> None:
    """An allowed origin gets Access-Control-Allow-Origin (and Vary unless ``*``) on polls,
    publishes and errors, as on aiohttp's path; another origin gets none."""
    origin = "Origin: https://a.example"

    async def scenario(server: Server) -> list[Answer]:
        client = await RawClient.open(server.port)
        client.send(
            publish("r", "x", origin),
            poll("r", "since=0", origin),
            poll("r", "since=-1", origin),
            poll("r", "since=0", "Origin: https://evil.example"),
            poll("r", "since=0&wait=5", origin),
        )
        answers = await client.answers(5)
        client.close()
        return answers

    answers = await on_both_paths(
        start_server, tmp_path, scenario, allow_origin=allowed, store="memory"
    )
    expected = "https://a.example" if allowed != "*" else "*"
    for index in (0, 1, 2, 4):
        headers = answers[index][1]
        assert headers["access-control-allow-origin"] == expected
        assert ("vary" in headers) is (allowed != "*")
    if allowed != "*":
        assert "access-control-allow-origin" not in answers[3][1]


# Vanishing clients, shutdown, caps


async def test_vanished_client_leaves_no_waiter(server: Server) -> None:
    """A client that closes during a held long poll (after pipelining it) releases it."""
    client = await RawClient.open(server.port)
    client.send(poll("r", "since=0&wait=30"), poll("r", "since=0&wait=30"))
    await wait_for_waiters(server, 2)
    client.close()
    await wait_for_waiters(server, 0)
    await until(lambda: not front_connections(server))


async def test_shutdown_answers_a_held_long_poll(start_server: StartServer) -> None:
    """Stopping the server answers a held long poll and closes its connection."""
    server = await start_server(store="memory")
    client = await RawClient.open(server.port)
    client.send(poll("r", "since=0&wait=30"))
    await wait_for_waiters(server, 1)
    stopping = asyncio.get_running_loop().create_task(server.stop())
    answer = await client.answer()
    assert (answer.status, answer.json()["messages"]) == (200, [])
    assert await client.rest() == b""
    async with asyncio.timeout(10):
        await stopping
    client.close()


async def test_connection_caps_refuse_with_aiohttps_503(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Past max_connections a lean server hands the connection to aiohttp, which answers
    503 JSON; connections_open returns to 0 once every client closed."""
    server = await start_server(max_connections=2, max_connections_per_ip=2)
    held = [await RawClient.open(server.port) for _ in range(2)]
    for client in held:
        client.send(publish("r", "x"))
        assert (await client.answer()).status == 201
    refused = await RawClient.open(server.port)
    refused.send(publish("r", "refused"))
    answer = await refused.answer()
    assert (answer.status, answer.json()["error"]["code"]) == (503, "too_many_connections")
    assert answer.headers["retry-after"] == "5"
    assert await refused.rest() == b""
    for client in [*held, refused]:
        client.close()
    await until(lambda: server.node.stats.connections_open == 0)
    async with http.get(f"{server.url}/metrics") as resp:
        assert "\nhubbub_connections_open 1\n" in await resp.text()  # this request's own


async def test_per_address_cap_on_the_lean_path(start_server: StartServer) -> None:
    """max_connections_per_ip: the extra connection's poll gets 503, the others are served."""
    server = await start_server(max_connections_per_ip=1)
    first = await RawClient.open(server.port)
    first.send(poll("r"))
    assert (await first.answer()).status == 200
    second = await RawClient.open(server.port)
    second.send(poll("r"))
    assert (await second.answer()).status == 503
    assert server.node.stats.connections_refused["max_connections_per_ip"] == 1
    first.send(poll("r"))
    assert (await first.answer()).status == 200
    first.close()
    second.close()
    await until(lambda: server.node.stats.connections_open == 0)


# Back-pressure


async def test_pipelined_publishes_from_a_client_that_does_not_read(
    start_server: StartServer,
) -> None:
    """200 large publishes, answers unread: the server stops reading (at most MAX_PIPELINE
    waiting) and answers all of them, in order, once the client reads."""
    server = await start_server(max_text=30_000, store="memory")
    client = await RawClient.open(server.port, receive_buffer=4096)
    text = "t" * 29_000
    client.send(*(publish("r", f"{n} {text}") for n in range(1, 201)))
    await until(lambda: any(not c._reading for c in front_connections(server)))
    connection = next(iter(front_connections(server)))
    assert len(connection._pending) <= MAX_PIPELINE
    assert server.node.stats.published < 200  # the rest was not taken
    answers = await client.answers(200)
    assert [a.status for a in answers] == [201] * 200
    assert [a.json()["id"] for a in answers] == list(range(1, 201))
    assert [a.json()["text"].split()[0] for a in answers] == [str(n) for n in range(1, 201)]
    client.send(poll("r", "limit=1"))
    assert ids(await client.answer()) == [200]
    client.close()
