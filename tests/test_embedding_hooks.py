"""An embedding application's request filters and answer hooks see every request and
every answer, those of the hot routes included, and its own routes are served beside
hubbub's (docs/design.md, Embedding): one server stack, nothing skipped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from hubbub.http.answers import Answer
from hubbub.http.head import Request
from hubbub.server import Server
from hubbub.settings import Settings

# The hot routes (polls, publishes), and colder ones.
REQUESTS = [
    ("POST", "/rooms/r/messages", {"user": "a", "text": "hi"}),
    ("GET", "/rooms/r/messages?since=0", None),
    ("GET", "/rooms/r/messages?since=0&wait=5", None),
    ("GET", "/rooms", None),
    ("GET", "/healthz", None),
    ("GET", "/no/such/route", None),
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
            assert response.headers.get("X-Embedded") == "yes", path
            statuses.append(response.status)
    return statuses


async def test_an_answer_hook_sees_every_answer(
    embedded: Server, http: aiohttp.ClientSession
) -> None:
    """Answers of every route, refusals included, pass through the hook first."""
    seen: list[tuple[str, int]] = []

    def hook(request: Request, answer: Answer) -> None:
        seen.append((request.target, answer.status))
        answer.headers.append(("X-Embedded", "yes"))

    embedded.app.answer_hooks.append(hook)
    await embedded.start()
    statuses = await send_all(embedded, http)
    assert statuses == [201, 200, 200, 200, 200, 404]
    assert [target for target, _ in seen] == [path for _, path, _ in REQUESTS]
    assert [status for _, status in seen] == statuses


async def test_a_filter_sees_every_request_and_may_answer_it(
    embedded: Server, http: aiohttp.ClientSession
) -> None:
    """A filter runs before every route (a WebSocket upgrade's too) and may answer."""
    seen: list[str] = []

    def only_known(request: Request) -> Answer | None:
        seen.append(request.target)
        if request.headers.get("X-Key") != "k":
            return Answer(403, b'{"refused": true}')
        return None

    def mark(request: Request, answer: Answer) -> None:
        answer.headers.append(("X-Embedded", "yes"))

    embedded.app.request_filters.append(only_known)
    embedded.app.answer_hooks.append(mark)
    await embedded.start()
    http.headers["X-Key"] = "k"
    assert await send_all(embedded, http) == [201, 200, 200, 200, 200, 404]
    assert seen == [path for _, path, _ in REQUESTS]
    del http.headers["X-Key"]
    async with http.get(embedded.url + "/rooms/r/messages?since=0") as refused:
        assert refused.status == 403
        assert await refused.json() == {"refused": True}
    with pytest.raises(aiohttp.WSServerHandshakeError) as failed:
        await http.ws_connect(embedded.url + "/ws")
    assert failed.value.status == 403
    assert seen[-1] == "/ws"


async def test_a_route_of_its_own_beside_hubbubs(
    embedded: Server, http: aiohttp.ClientSession
) -> None:
    """An application's route is served by the same stack, path parameters decoded."""

    def hello(request: Request) -> Answer:
        return Answer(200, orjson.dumps({"hello": request.params["name"]}))

    embedded.app.routes.add("GET", "/hello/{name}", hello)
    await embedded.start()
    async with http.get(embedded.url + "/hello/w%C3%B6rld") as response:
        assert response.status == 200
        assert await response.json() == {"hello": "wörld"}
    async with http.post(embedded.url + "/hello/x") as wrong:
        assert wrong.status == 405
        assert wrong.headers["Allow"] == "GET, HEAD"
    async with http.get(embedded.url + "/healthz") as health:
        assert health.status == 200
