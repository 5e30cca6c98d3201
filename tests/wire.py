"""Test helpers that speak hubbub's wire protocol over real sockets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from hubbub.server import Server

TIMEOUT = 10.0
# Events that are never stored and carry no cursor (docs/protocol.md, "Presence and typing").
EPHEMERAL = ("presence", "typing")


async def publish(
    http: aiohttp.ClientSession,
    base: str,
    room: str,
    text: str,
    *,
    user: str = "alice",
    client_id: str | None = None,
) -> dict[str, Any]:
    """Publish over HTTP and return the stored message (asserting 201 or 200)."""
    body: dict[str, Any] = {"user": user, "text": text}
    if client_id is not None:
        body["client_id"] = client_id
    async with http.post(f"{base}/rooms/{room}/messages", json=body) as response:
        assert response.status in (200, 201), await response.text()
        message: dict[str, Any] = await response.json()
        return message


async def poll(http: aiohttp.ClientSession, base: str, room: str, **params: Any) -> dict[str, Any]:
    """A short or long poll; returns the JSON answer (asserting 200)."""
    query = {k: str(v) for k, v in params.items()}
    async with http.get(f"{base}/rooms/{room}/messages", params=query) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


@dataclass
class Event:
    """One SSE event, or a comment when ``comment`` is set."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None
    comment: str | None = None

    def json(self) -> Any:
        return orjson.loads(self.data)

    @property
    def position(self) -> int | None:
        """The id part of an ``id: EPOCH:N`` line (None without an id line)."""
        return None if self.id is None else int(self.id.rpartition(":")[2])

    @property
    def epoch(self) -> str | None:
        return None if self.id is None else self.id.rpartition(":")[0]


@dataclass
class SSEReader:
    """Parses an SSE response as the WHATWG event-stream grammar says."""

    response: aiohttp.ClientResponse
    _buffer: bytes = b""
    _pending: list[Event] = field(default_factory=list)

    async def next(self, timeout: float = TIMEOUT) -> Event:
        """The next event or comment, within ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while not self._pending:
                chunk = await self.response.content.readany()
                if not chunk:
                    raise EOFError("stream ended")
                self._buffer += chunk
                self._parse()
        return self._pending.pop(0)

    async def next_event(
        self, timeout: float = TIMEOUT, *, ready: bool = False, ephemeral: bool = False
    ) -> Event:
        """The next event that is not a comment (nor a ``ready`` event, nor a ``presence``
        or ``typing`` one, unless asked)."""
        while True:
            event = await self.next(timeout)
            if event.comment is not None and not event.data:
                continue
            if event.event == "ready" and not ready:
                continue
            if event.event in EPHEMERAL and not ephemeral:
                continue
            return event

    def _parse(self) -> None:
        while b"\n\n" in self._buffer:
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            event = Event()
            data: list[str] = []
            for line in block.decode().split("\n"):
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    event.comment = value
                elif name == "data":
                    data.append(value)
                elif name == "event":
                    event.event = value
                elif name == "id":
                    event.id = value
                elif name == "retry":
                    event.retry = int(value)
            event.data = "\n".join(data)
            self._pending.append(event)


async def ws_json(
    ws: aiohttp.ClientWebSocketResponse,
    timeout: float = TIMEOUT,
    *,
    ready: bool = False,
    ephemeral: bool = False,
) -> Any:
    """The next text frame, decoded (``ready``, ``presence`` and ``typing`` frames skipped
    unless asked)."""
    while True:
        msg = await ws.receive(timeout=timeout)
        assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data)
        frame = orjson.loads(msg.data)
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind == "ready" and not ready:
            continue
        if kind in EPHEMERAL and not ephemeral:
            continue
        return frame


async def wait_live(server: Server, room: str, count: int) -> None:
    """Until ``count`` streams of ``room`` are live on the server (bounded)."""
    async with asyncio.timeout(10):
        while True:
            state = server.node.hub.rooms.get(room)
            live = 0 if state is None else state.live()
            if live == count:
                return
            await asyncio.sleep(0.005)


async def wait_for_waiters(server: Server, count: int) -> None:
    """Until exactly ``count`` long polls are held by the server (bounded)."""
    async with asyncio.timeout(10):
        while server.node.stats.waiting != count:
            await asyncio.sleep(0.005)
