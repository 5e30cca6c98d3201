"""What the adversarial tests of the HTTP stack share: a publish's head, the
connections a server holds, answers read by hand (HEAD), bounded waits."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable

from hubbub.http.connection import FrontConnection
from hubbub.server import Server
from tests.rawhttp import Answer, RawClient, request

PUBLISH_HEAD = (
    "POST /rooms/r/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
)
BODY = b'{"user":"a","text":"hello"}'


def front_connections(server: Server) -> set[FrontConnection]:
    """The server's HTTP connections (white box)."""
    assert server.front is not None
    return {c for c in server.front.connections if isinstance(c, FrontConnection)}


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Until ``condition()`` holds (bounded)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def still_usable(client: RawClient) -> None:
    """The connection still serves a request."""
    client.send(request("GET", "/healthz"))
    assert (await client.answer()).status == 200


def texts(answer: Answer) -> list[str]:
    return [m["text"] for m in answer.json()["messages"]]


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


async def head_only(client: RawClient) -> tuple[int, dict[str, str]]:
    """An answer to HEAD: its status and headers (no body follows them)."""
    async with asyncio.timeout(5):
        top = await client.reader.readuntil(b"\r\n\r\n")
    status_line, *lines = top[:-4].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers
