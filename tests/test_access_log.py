"""The access log: one JSON line per request or stream, on both HTTP paths, never a token."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import StartServer
from tests.process import serve
from tests.rawhttp import RawClient, request
from tests.tokens import SECRET, make_token
from tests.wire import SSEReader, ws_json

FIELDS = {"time", "address", "method", "route", "status", "duration", "bytes"}


def _text_of(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def lines_of(path: Path, count: int) -> list[dict[str, Any]]:
    """The log's lines, once there are at least ``count`` (bounded wait)."""
    async with asyncio.timeout(10):
        while True:
            text = await asyncio.to_thread(_text_of, path)
            lines = [json.loads(line) for line in text.splitlines()]
            if len(lines) >= count:
                return lines
            await asyncio.sleep(0.01)


async def test_every_request_and_stream_once_and_never_a_token(
    start_server: StartServer, tmp_path: Path
) -> None:
    """Publishes, polls, an SSE stream, WebSockets and a refusal each get one line with
    every field; a stream's comes when it ends; no token appears, from a header or ?token=."""
    log = tmp_path / "access.log"
    server = await start_server(access_log=str(log), auth_secret=SECRET)
    token = make_token("alice")
    bearer = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{server.url}/rooms/r/messages", json={"text": "hi"}, headers=bearer
        ) as response:
            assert response.status == 201
        async with http.get(f"{server.url}/rooms/r/messages?token={token}") as response:
            assert response.status == 200
        async with http.get(f"{server.url}/rooms/r/messages?token=not-a-token") as response:
            assert response.status == 401
        before_streams = len(await lines_of(log, 3))
        assert before_streams == 3
        async with http.get(
            f"{server.url}/rooms/r/messages?since=0&token={token}",
            headers={"Accept": "text/event-stream"},
        ) as response:
            stream = SSEReader(response)
            assert (await stream.next_event()).json()["text"] == "hi"
            socket = await http.ws_connect(f"{server.url}/rooms/r/messages?since=0&token={token}")
            assert (await ws_json(socket))["message"]["text"] == "hi"
            multiplex = await http.ws_connect(f"{server.url}/ws?token={token}")
            await asyncio.sleep(0)
            assert len(await lines_of(log, 3)) == 3  # no stream has ended
            await socket.close()
            await multiplex.close()
        lines = await lines_of(log, 6)
    assert len(lines) == 6
    text = log.read_text()
    assert token not in text and token.split(".")[2] not in text
    assert "not-a-token" not in text and "Bearer" not in text and "token=" not in text
    for line in lines:
        assert set(line) == FIELDS
        assert line["address"] == "127.0.0.1"
        assert line["duration"] >= 0 and line["bytes"] > 0
    first = [(x["method"], x["route"], x["status"]) for x in lines[:3]]
    assert first == [
        ("POST", "/rooms/r/messages", 201),
        ("GET", "/rooms/r/messages", 200),
        ("GET", "/rooms/r/messages", 401),
    ]
    streams = sorted((x["route"], x["status"]) for x in lines[3:])
    assert streams == [("/rooms/r/messages", 101), ("/rooms/r/messages", 200), ("/ws", 101)]
    sse = next(x for x in lines[3:] if x["status"] == 200)
    assert sse["bytes"] > 100  # the head and the message event, not the head alone


async def test_forwarded_client_is_the_address(start_server: StartServer, tmp_path: Path) -> None:
    """Behind a trusted proxy the line names the forwarded client, on both paths."""
    log = tmp_path / "access.log"
    server = await start_server(access_log=str(log), trusted_proxies=("127.0.0.0/8",))
    forwarded = {"X-Forwarded-For": "198.51.100.7"}
    async with aiohttp.ClientSession() as http:
        for path in ("/rooms/r/messages", "/rooms", "/healthz"):
            async with http.get(f"{server.url}{path}", headers=forwarded) as response:
                assert response.status == 200
    lines = await lines_of(log, 3)
    assert [(x["route"], x["address"]) for x in lines] == [
        ("/rooms/r/messages", "198.51.100.7"),
        ("/rooms", "198.51.100.7"),
        ("/healthz", "198.51.100.7"),
    ]


async def test_dash_writes_to_standard_error(tmp_path: Path) -> None:
    """--access-log - puts the lines on standard error, among the server's own."""
    args = ("--port", "0", "--db", str(tmp_path / "a.db"), "--access-log", "-")
    async with serve(*args) as server, aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/healthz?token=secret-value") as response:
            assert response.status == 200
        await server.read_log_until(b'"route":"/healthz"')
        line = next(x for x in server.log if b'"route":"/healthz"' in x)
        assert set(json.loads(line)) == FIELDS
        assert b"secret-value" not in b"".join(server.log)


@pytest.mark.parametrize("path", ["/rooms/r/messages", "/rooms"], ids=["poll", "rooms"])
async def test_refusal_over_the_cap_names_the_forwarded_client(
    start_server: StartServer, tmp_path: Path, path: str
) -> None:
    """A 503 for a forwarded client over its cap is logged under that client."""
    log = tmp_path / "access.log"
    server = await start_server(
        access_log=str(log), trusted_proxies=("127.0.0.0/8",), max_connections_per_ip=1
    )
    forwarded = "X-Forwarded-For: 198.51.100.8"
    held = await RawClient.open(server.port)
    held.send(request("GET", path, forwarded))
    assert (await held.answer()).status == 200
    over = await RawClient.open(server.port)
    over.send(request("GET", path, forwarded))
    assert (await over.answer()).status == 503
    lines = await lines_of(log, 2)
    assert [(x["status"], x["address"]) for x in lines] == [
        (200, "198.51.100.8"),
        (503, "198.51.100.8"),
    ]
    held.close()
    over.close()
