"""Test helpers for moderation: calls with a token, and waiting for a frame of a kind."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from tests.tokens import bearer, make_token
from tests.wire import TIMEOUT, SSEReader

ALICE = make_token("alice")
BOB = make_token("bob")
CAROL = make_token("carol")
MIA = make_token("mia", mod=["general"])  # moderates general only
ROOT = make_token("root", admin=True)


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str | None,
    body: dict[str, Any] | None = None,
) -> tuple[int, Any, aiohttp.ClientResponse]:
    """One request; its status, its JSON body (None when empty) and the response."""
    headers = bearer(token) if token is not None else {}
    async with http.request(method, url, json=body, headers=headers) as response:
        raw = await response.read()
        return response.status, orjson.loads(raw) if raw else None, response


async def frame_of(
    ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = TIMEOUT
) -> dict[str, Any]:
    """The next text frame whose ``type`` is ``kind`` (others skipped)."""
    while True:
        msg = await ws.receive(timeout=timeout)
        assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
        frame: dict[str, Any] = orjson.loads(msg.data)
        if frame.get("type") == kind:
            return frame


async def close_of(
    ws: aiohttp.ClientWebSocketResponse, timeout: float = TIMEOUT
) -> tuple[int, str]:
    """The code and reason of the server's close frame (text frames before it skipped)."""
    while True:
        msg = await ws.receive(timeout=timeout)
        if msg.type is aiohttp.WSMsgType.TEXT:
            continue
        assert msg.type is aiohttp.WSMsgType.CLOSE, (msg.type, msg.data)
        return int(msg.data), str(msg.extra)


async def event_of(reader: SSEReader, kind: str, timeout: float = TIMEOUT) -> Any:
    """The data of the next SSE event named ``kind`` (others skipped)."""
    while True:
        event = await reader.next(timeout)
        if event.event == kind and event.comment is None:
            return event


async def send(ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> None:
    await ws.send_str(orjson.dumps(frame).decode())


async def read(
    http: aiohttp.ClientSession, base: str, room: str, token: str, **params: Any
) -> dict[str, Any]:
    """A poll with ``token``; the JSON answer (asserting 200)."""
    query = {k: str(v) for k, v in params.items()}
    url = f"{base}/rooms/{room}/messages"
    async with http.get(url, params=query, headers=bearer(token)) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer
