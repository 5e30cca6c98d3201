"""An embedding application's middleware and answer hooks see every request and every
answer, those of the hot routes included (docs/design.md, Embedding): the lean path,
which builds no aiohttp objects, steps aside rather than skip them silently."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from hubbub.server import Server
from hubbub.settings import Settings

# The hot routes the lean path serves, and two it never did.
REQUESTS = [
    ("POST", "/rooms/r/messages", {"user": "a", "text": "hi"}),
    ("GET", "/rooms/r/messages?since=0", None),
    ("GET", "/rooms/r/messages?since=0&wait=5", None),
    ("GET", "/rooms", None),
    ("GET", "/healthz", None),
]


@pytest.fixture
async def embedded(settings: Settings) -> AsyncIterator[Server]:
    server = Server(settings)  # started by the test, after it changes server.app
    yield server
    await server.stop()


async def send_all(server: Server, http: aiohttp.ClientSession) -> list[int]:
    statuses = []
    for method, path, body in REQUESTS:
        async with http.request(method, server.url + path, json=body) as response:
            await response.read()
            statuses.append(response.status)
    return statuses


async def test_hubbubs_own_hooks_keep_the_lean_path(embedded: Server) -> None:
    """Only an application's own middleware or hook turns the lean path off."""
    await embedded.start()
    site = embedded._site
    assert site is not None and site.front is not None and site.front.lean


async def test_an_answer_hook_sees_every_answer(
    embedded: Server, http: aiohttp.ClientSession
) -> None:
    seen: list[str] = []

    async def hook(request: web.Request, response: web.StreamResponse) -> None:
        seen.append(request.path_qs)
        response.headers["X-Embedded"] = "yes"

    embedded.app.on_response_prepare.append(hook)
    await embedded.start()
    site = embedded._site
    assert site is not None and site.front is not None and not site.front.lean  # aiohttp
    assert await send_all(embedded, http) == [201, 200, 200, 200, 200]
    assert seen == [path for _, path, _ in REQUESTS]
    async with http.get(embedded.url + "/rooms/r/messages?since=0") as response:
        assert response.headers["X-Embedded"] == "yes"


async def test_a_middleware_sees_every_request(
    embedded: Server, http: aiohttp.ClientSession
) -> None:
    seen: list[str] = []

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        seen.append(request.path_qs)
        return await handler(request)

    embedded.app.middlewares.append(middleware)
    await embedded.start()
    assert await send_all(embedded, http) == [201, 200, 200, 200, 200]
    assert seen == [path for _, path, _ in REQUESTS]


async def test_a_route_of_its_own_beside_hubbubs(
    embedded: Server, http: aiohttp.ClientSession
) -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": "world"})

    embedded.app.router.add_get("/hello", hello)
    await embedded.start()
    async with http.get(embedded.url + "/hello") as response:
        assert await response.json() == {"hello": "world"}
    assert await send_all(embedded, http) == [201, 200, 200, 200, 200]
