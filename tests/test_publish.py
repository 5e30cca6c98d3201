"""Publishing over HTTP: ids, idempotency, and every error of the protocol's table."""

from __future__ import annotations

import asyncio
import sqlite3

import aiohttp
import pytest

from hubbub.server import Server
from hubbub.settings import Settings
from hubbub.store import SQLiteStore
from tests.conftest import StartServer
from tests.wire import poll, publish, wait_live, ws_json


async def test_publish_returns_the_stored_message(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """201 with id, room, user, text, ts and the client_id sent."""
    message = await publish(http, server.url, "general", "hello", client_id="c-1")
    assert message["id"] == 1 and message["room"] == "general"
    assert (message["user"], message["text"], message["client_id"]) == ("alice", "hello", "c-1")
    assert isinstance(message["ts"], int) and message["ts"] > 1_700_000_000_000
    plain = await publish(http, server.url, "general", "again")
    assert plain["id"] == 2 and "client_id" not in plain


async def test_ids_gapless_under_100_concurrent_publishers(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """100 concurrent publishers get ids 1..100 with no gap and no repeat."""
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as many:
        results = await asyncio.gather(
            *(publish(many, server.url, "busy", f"m{i}", user=f"u{i}") for i in range(100))
        )
    assert sorted(m["id"] for m in results) == list(range(1, 101))
    stored = await poll(http, server.url, "busy", since=0, limit=1000)
    assert [m["id"] for m in stored["messages"]] == list(range(1, 101))
    assert {m["text"] for m in stored["messages"]} == {f"m{i}" for i in range(100)}


async def test_repeated_client_id_answers_200_with_the_original(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """The second publish with a client_id returns the first message and stores nothing."""
    url = f"{server.url}/rooms/r/messages"
    async with http.post(url, json={"user": "a", "text": "one", "client_id": "k"}) as first:
        assert first.status == 201
        original = await first.json()
    async with http.post(url, json={"user": "b", "text": "two", "client_id": "k"}) as second:
        assert second.status == 200
        assert await second.json() == original
    assert (await poll(http, server.url, "r"))["last_id"] == 1


BAD_REQUESTS: list[tuple[str, dict[str, str], bytes, int, str]] = [
    ("r", {"Content-Type": "application/json"}, b"{not json", 400, "invalid_json"),
    ("r", {"Content-Type": "application/json"}, b"\xff\xfe\x00{}", 400, "invalid_json"),
    ("r", {"Content-Type": "application/json"}, b"[1]", 400, "invalid_json"),
    ("r", {"Content-Type": "application/json"}, b'{"user":"a"}', 400, "invalid_message"),
    ("r", {"Content-Type": "application/json"}, b'{"user":"a","text":" "}', 400, "invalid_message"),
    (
        "r",
        {"Content-Type": "application/json"},
        b'{"user":"a","text":"x\\u0000"}',
        400,
        "invalid_message",
    ),
    (".r", {"Content-Type": "application/json"}, b'{"user":"a","text":"hi"}', 400, "invalid_room"),
    (
        "r",
        {"Content-Type": "text/plain"},
        b'{"user":"a","text":"hi"}',
        415,
        "unsupported_media_type",
    ),
    ("r", {}, b'{"user":"a","text":"hi"}', 415, "unsupported_media_type"),
]


@pytest.mark.parametrize(("room", "headers", "body", "status", "code"), BAD_REQUESTS)
async def test_errors_change_nothing(
    server: Server,
    http: aiohttp.ClientSession,
    room: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    code: str,
) -> None:
    """Each refused publish answers its status and code, and nothing stored changes."""
    await publish(http, server.url, "r", "before")
    async with http.post(f"{server.url}/rooms/{room}/messages", data=body, headers=headers) as resp:
        assert resp.status == status
        error = (await resp.json())["error"]
        assert error["code"] == code and error["message"]
    after = await poll(http, server.url, "r", since=0)
    assert [m["text"] for m in after["messages"]] == ["before"]
    assert (await publish(http, server.url, "r", "after"))["id"] == 2


async def test_text_limit_is_max_text(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Text of max_text characters is accepted; one more is invalid_message."""
    server = await start_server(max_text=10)
    await publish(http, server.url, "r", "x" * 10)
    async with http.post(
        f"{server.url}/rooms/r/messages", json={"user": "a", "text": "x" * 11}
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "invalid_message"


async def test_body_over_limit_is_413(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """A body over max_body is 413 body_too_large, declared or chunked."""
    server = await start_server(max_body=1000)
    big = b'{"user":"a","text":"' + b"x" * 2000 + b'"}'
    url = f"{server.url}/rooms/r/messages"
    headers = {"Content-Type": "application/json"}
    async with http.post(url, data=big, headers=headers) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "body_too_large"

    async def chunks() -> object:
        for _ in range(4):
            yield b" " * 400

    async with http.post(url, data=chunks(), headers=headers) as resp:
        assert resp.status == 413
    assert (await poll(http, server.url, "r"))["last_id"] == 0


async def test_oversized_body_is_refused_before_it_is_sent(
    start_server: StartServer,
) -> None:
    """The 413 arrives while the client has sent only a sliver of a declared 100 MB body."""
    server = await start_server(max_body=1000)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"POST /rooms/r/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000000\r\n\r\n" + b"{" + b" " * 5000
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    assert status.startswith(b"HTTP/1.1 413")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert b"Connection: close" in head
    writer.close()


async def test_store_failure_answers_503_and_accepts_nothing(
    settings: Settings, http: aiohttp.ClientSession
) -> None:
    """While another process holds the database locked, publishes are 503 and use no id."""
    store = SQLiteStore(settings.db, busy_timeout=0.05)
    async with Server(settings, store) as server:
        await publish(http, server.url, "r", "one")
        blocker = sqlite3.connect(settings.db, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            async with http.post(
                f"{server.url}/rooms/r/messages", json={"user": "a", "text": "x"}
            ) as resp:
                assert resp.status == 503
                assert (await resp.json())["error"]["code"] == "unavailable"
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert (await publish(http, server.url, "r", "two"))["id"] == 2


async def test_healthz(server: Server, http: aiohttp.ClientSession) -> None:
    """healthz is 200 ok while the store serves."""
    async with http.get(f"{server.url}/healthz") as resp:
        assert resp.status == 200 and await resp.json() == {"status": "ok"}


async def test_unknown_paths_answer_json(server: Server, http: aiohttp.ClientSession) -> None:
    """404 and 405 use the same error shape."""
    async with http.get(f"{server.url}/nope") as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    async with http.delete(f"{server.url}/rooms/r/messages") as resp:
        assert resp.status == 405
        assert (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_refused_requests_do_not_disturb_subscribers(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """A live subscriber sees none of the refused publishes, only the next good one."""
    server = await start_server(max_body=1000)
    async with http.ws_connect(f"{server.url}/rooms/r/messages") as ws:
        await wait_live(server, "r", 1)
        for room, headers, body, status, _ in BAD_REQUESTS:
            url = f"{server.url}/rooms/{room}/messages"
            async with http.post(url, data=body, headers=headers) as resp:
                assert resp.status == status
        async with http.post(
            f"{server.url}/rooms/r/messages",
            data=b"x" * 5000,
            headers={"Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 413
        await publish(http, server.url, "r", "good")
        frame = await ws_json(ws)
        assert (frame["type"], frame["message"]["id"], frame["message"]["text"]) == (
            "message",
            1,
            "good",
        )
