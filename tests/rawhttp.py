"""A raw HTTP/1.1 client for tests of the lean path: bytes written as given, answers
read one at a time, so pipelining and hand-offs can be checked on a real socket."""

from __future__ import annotations

import asyncio
import re
import socket
from dataclasses import dataclass
from typing import Any

import orjson

TIMEOUT = 10.0
# Headers that differ between the lean path and aiohttp's by design.
UNCOMPARED = frozenset({"date", "server"})


@dataclass
class Answer:
    """One HTTP answer: status, headers by lower-cased name, body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    def comparable(self) -> tuple[int, dict[str, str], bytes]:
        """What must be equal on both paths: the status, the headers but ``Date`` and
        ``Server``, and the body with epochs and timestamps (which differ by server) masked."""
        headers = {k: v for k, v in self.headers.items() if k not in UNCOMPARED}
        body = re.sub(rb'"epoch":"[0-9a-f]+"', b'"epoch":"E"', self.body)
        body = re.sub(rb'"ts":[0-9.e+-]+', b'"ts":0', body)
        if "content-length" in headers:
            headers["content-length"] = str(len(body))
        return self.status, headers, body


class RawClient:
    """One TCP connection to a server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, *, receive_buffer: int | None = None) -> RawClient:
        """Connect; ``receive_buffer`` shrinks the socket's receive buffer (set before
        connecting, so the window is small from the start)."""
        if receive_buffer is None:
            return cls(*await asyncio.open_connection("127.0.0.1", port))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        return cls(*await asyncio.open_connection(sock=sock))

    def send(self, *requests: bytes) -> None:
        """Write every request in one ``write``."""
        self.writer.write(b"".join(requests))

    async def answer(self, timeout: float = TIMEOUT) -> Answer:
        """The next answer (an interim ``100 Continue`` included), within ``timeout``."""
        async with asyncio.timeout(timeout):
            top = await self.reader.readuntil(b"\r\n\r\n")
            status_line, *lines = top[:-4].decode("latin-1").split("\r\n")
            headers: dict[str, str] = {}
            for line in lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            status = int(status_line.split()[1])
            length = int(headers.get("content-length", "0"))
            body = await self.reader.readexactly(length) if length else b""
            return Answer(status, headers, body)

    async def answers(self, count: int, timeout: float = TIMEOUT) -> list[Answer]:
        return [await self.answer(timeout) for _ in range(count)]

    async def rest(self, timeout: float = TIMEOUT) -> bytes:
        """Everything the server sends until it closes (bounded); raises if it does not."""
        async with asyncio.timeout(timeout):
            try:
                return await self.reader.read()
            except ConnectionError:  # the server reset the connection: closed all the same
                return b""

    def close(self) -> None:
        self.writer.close()


def request(
    method: str, target: str, *headers: str, body: bytes | None = None, host: bool = True
) -> bytes:
    """A request's bytes: request line, ``Host``, the header lines, ``Content-Length`` when
    a body is given, and the body."""
    lines = [f"{method} {target} HTTP/1.1"]
    if host:
        lines.append("Host: 127.0.0.1")
    lines.extend(headers)
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def publish(
    room: str, text: str, *headers: str, user: str | None = "alice", client_id: str | None = None
) -> bytes:
    """A JSON publish to ``room``."""
    fields: dict[str, str] = {"text": text}
    if user is not None:
        fields["user"] = user
    if client_id is not None:
        fields["client_id"] = client_id
    return request(
        "POST",
        f"/rooms/{room}/messages",
        "Content-Type: application/json",
        *headers,
        body=orjson.dumps(fields),
    )


def poll(room: str, query: str = "", *headers: str) -> bytes:
    """A short or long poll of ``room`` (``query`` without its ``?``)."""
    target = f"/rooms/{room}/messages" + (f"?{query}" if query else "")
    return request("GET", target, *headers)
