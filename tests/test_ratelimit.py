"""Publish rate limiting: off by default, 429 with Retry-After when configured."""

from __future__ import annotations

import aiohttp
import pytest

from hubbub.protocol.ratelimit import RateLimiter, retry_after_header
from tests.conftest import StartServer
from tests.wire import poll, publish, ws_json


def test_token_bucket() -> None:
    """A burst is allowed, then one publish per 1/rate seconds."""
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", 0.0) == pytest.approx(0.5)
    assert limiter.take("b", 0.0) == 0.0  # clients are independent
    assert limiter.take("a", 0.5) == 0.0
    limiter.forget_idle(10.0)
    assert len(limiter) == 0


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    """Retry-After is a whole number of seconds, at least 1."""
    assert [retry_after_header(s) for s in (0.01, 1.0, 1.2)] == ["1", "1", "2"]


async def test_http_publish_over_rate_is_429(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Past the burst, a publish is 429 rate_limited with Retry-After, and not stored."""
    server = await start_server(rate_limit=0.5, rate_burst=2)
    await publish(http, server.url, "r", "one")
    await publish(http, server.url, "r", "two")
    async with http.post(
        f"{server.url}/rooms/r/messages", json={"user": "a", "text": "three"}
    ) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "2"
        assert (await resp.json())["error"]["code"] == "rate_limited"
    assert (await poll(http, server.url, "r"))["last_id"] == 2


async def test_websocket_publish_over_rate_gets_an_error_frame(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Over WebSocket the refusal is an error frame; the connection stays open."""
    server = await start_server(rate_limit=0.5, rate_burst=1)
    async with http.ws_connect(f"{server.url}/rooms/r/messages") as ws:
        await ws.send_str('{"type":"publish","user":"a","text":"ok","client_id":"1"}')
        assert {(await ws_json(ws))["type"], (await ws_json(ws))["type"]} == {"message", "ack"}
        await ws.send_str('{"type":"publish","user":"a","text":"too fast","client_id":"2"}')
        error = await ws_json(ws)
        assert (error["type"], error["code"], error["client_id"]) == ("error", "rate_limited", "2")
    assert (await poll(http, server.url, "r"))["last_id"] == 1


async def test_limit_is_off_by_default(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Without --rate-limit, bursts are not refused."""
    server = await start_server()
    for i in range(30):
        await publish(http, server.url, "r", f"m{i}")
