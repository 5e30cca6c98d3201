"""The Python client surfaces presence changes and typing notices through ``on_event``,
while iterating a subscription still yields messages and gaps only."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from hubbub.client import (
    Client,
    Ephemeral,
    Message,
    PresenceChange,
    TransportName,
    TypingNotice,
)
from hubbub.server import Server
from tests.wire import publish, wait_live

TIMEOUT = 10.0


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_on_event_gets_presence_and_typing(
    server: Server, http: aiohttp.ClientSession, transport: TransportName
) -> None:
    """Everyone present on opening, a join, a typing notice; the iterator yields only the
    message, and its cursor is the message's id."""
    seen: asyncio.Queue[Ephemeral] = asyncio.Queue()
    async with (
        Client(server.url, presence_user="alice") as client,
        client.subscribe("r", None, transport, on_event=seen.put_nowait) as subscription,
    ):
        events = aiter(subscription)
        first = asyncio.ensure_future(anext(events))
        async with asyncio.timeout(TIMEOUT):
            assert await seen.get() == PresenceChange("r", ("alice",), ())
            async with http.ws_connect(f"{server.url}/rooms/r/messages?user=bob") as bob:
                assert await seen.get() == PresenceChange("r", ("bob",), ())
                await wait_live(server, "r", 2)
                await bob.send_str(orjson.dumps({"type": "typing"}).decode())
                assert await seen.get() == TypingNotice("r", "bob")
                stored = await publish(http, server.url, "r", "hello")
                message = await first
        assert isinstance(message, Message) and message.text == "hello"
        assert subscription.cursor == stored["id"]
