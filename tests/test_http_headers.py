"""Headers around the API: CORS when configured, caching and CSP for the page."""

from __future__ import annotations

import aiohttp

from hubbub.server import Server
from tests.conftest import StartServer
from tests.wire import publish


async def test_no_cors_by_default(server: Server, http: aiohttp.ClientSession) -> None:
    """Without --allow-origin, no Access-Control header is ever sent."""
    headers = {"Origin": "https://elsewhere.example"}
    async with http.get(f"{server.url}/rooms/r/messages", headers=headers) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_allowed_origin_can_read_publish_and_stream(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """An allowed origin gets the header on reads, SSE, errors and the preflight."""
    origin = "https://chat.example"
    server = await start_server(allow_origin=f"{origin}, https://other.example")
    url = f"{server.url}/rooms/r/messages"
    async with http.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    ) as pre:
        assert pre.status == 204
        assert pre.headers["Access-Control-Allow-Origin"] == origin
        assert "POST" in pre.headers["Access-Control-Allow-Methods"]
        assert "Content-Type" in pre.headers["Access-Control-Allow-Headers"]
    await publish(http, server.url, "r", "hi")
    async with http.get(url, headers={"Origin": origin}) as read:
        assert read.headers["Access-Control-Allow-Origin"] == origin
        assert read.headers["Vary"] == "Origin"
    sse_headers = {"Origin": origin, "Accept": "text/event-stream"}
    async with http.get(url, headers=sse_headers) as stream:
        assert stream.headers["Access-Control-Allow-Origin"] == origin
    async with http.get(f"{url}?since=-1", headers={"Origin": origin}) as error:
        assert error.status == 400
        assert error.headers["Access-Control-Allow-Origin"] == origin
    async with http.get(url, headers={"Origin": "https://evil.example"}) as other:
        assert "Access-Control-Allow-Origin" not in other.headers


async def test_wildcard_origin(start_server: StartServer, http: aiohttp.ClientSession) -> None:
    """--allow-origin '*' allows every origin."""
    server = await start_server(allow_origin="*")
    async with http.get(f"{server.url}/rooms", headers={"Origin": "https://a.example"}) as resp:
        assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_page_and_static_headers(server: Server, http: aiohttp.ClientSession) -> None:
    """The page forbids inline script; page and scripts are revalidated, never sniffed."""
    async with http.get(f"{server.url}/") as page:
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "require-trusted-types-for 'script'" in csp
        assert page.headers["Cache-Control"] == "no-cache"
    async with http.get(f"{server.url}/static/hubbub-client.js") as script:
        assert script.status == 200
        assert script.headers["Cache-Control"] == "no-cache"
        assert script.headers["X-Content-Type-Options"] == "nosniff"
