"""Search over HTTP: the routes, the answers, paging, access, errors, ``?around=``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hubbub.protocol.search import encode_next
from hubbub.server import Server
from tests.conftest import StartServer
from tests.redis_server import RedisServer, needs_redis
from tests.tokens import SECRET, bearer, make_token
from tests.wire import poll, publish


async def get(
    http: aiohttp.ClientSession,
    url: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> dict[str, Any]:
    query = {k: str(v) for k, v in params.items()}
    async with http.get(url, params=query, headers=headers) as response:
        assert response.status == status, await response.text()
        if status == 200:
            assert response.headers["Cache-Control"] == "no-store"
        answer: dict[str, Any] = await response.json()
        return answer


async def test_room_search_answers_hits_with_ranges(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """A hit is the message (room, id, user, ts, text) plus the matched ranges."""
    await publish(http, server.url, "general", "Ship the Café release")
    await publish(http, server.url, "general", "nothing here", user="bob")
    await publish(http, server.url, "random", "cafe elsewhere")
    answer = await get(http, f"{server.url}/rooms/general/search", q="cafe ship")
    assert answer["before"] is None
    [hit] = answer["hits"]
    assert {k: hit[k] for k in ("room", "id", "user", "text")} == {
        "room": "general",
        "id": 1,
        "user": "alice",
        "text": "Ship the Café release",
    }
    assert isinstance(hit["ts"], int)
    assert hit["ranges"] == [[0, 4], [9, 13]]
    assert (await get(http, f"{server.url}/rooms/general/search", q="from:bob"))["hits"][0][
        "id"
    ] == 2


async def test_search_across_rooms_pages_with_next(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """``GET /search``: newest first across rooms, ``limit`` a page, ``next`` the rest."""
    for n in range(5):
        await publish(http, server.url, "a" if n % 2 else "b", f"alpha {n}")
    first = await get(http, f"{server.url}/search", q="alpha", limit=2)
    assert [h["text"] for h in first["hits"]] == ["alpha 4", "alpha 3"]
    second = await get(http, f"{server.url}/search", q="alpha", limit=2, next=first["next"])
    assert [h["text"] for h in second["hits"]] == ["alpha 2", "alpha 1"]
    third = await get(http, f"{server.url}/search", q="alpha", limit=2, next=second["next"])
    assert [h["text"] for h in third["hits"]] == ["alpha 0"]
    assert third["next"] is None
    only_a = await get(http, f"{server.url}/search", q="alpha", rooms="a")
    assert [h["room"] for h in only_a["hits"]] == ["a", "a"]


async def test_room_search_pages_with_before(server: Server, http: aiohttp.ClientSession) -> None:
    """A room's pages: ``before`` is the id to send next, null on the last page."""
    for n in range(5):
        await publish(http, server.url, "r", f"beta {n}")
    url = f"{server.url}/rooms/r/search"
    page = await get(http, url, q="beta", limit=3)
    assert ([h["id"] for h in page["hits"]], page["before"]) == ([5, 4, 3], 3)
    page = await get(http, url, q="beta", limit=3, before=page["before"])
    assert ([h["id"] for h in page["hits"]], page["before"]) == ([2, 1], None)
    assert len((await get(http, url, q="beta"))["hits"]) == 5  # default 20


async def test_results_agree_with_view_latest(server: Server, http: aiohttp.ClientSession) -> None:
    """An edit is found by its new text, marked edited; a delete is never found."""
    await publish(http, server.url, "r", "typo here")
    await publish(http, server.url, "r", "regret this")
    for body in (
        {"type": "edit", "target": 1, "user": "alice", "text": "fixed here"},
        {"type": "delete", "target": 2, "user": "alice"},
    ):
        async with http.post(f"{server.url}/rooms/r/messages", json=body) as response:
            assert response.status == 201
    for url in (f"{server.url}/rooms/r/search", f"{server.url}/search"):
        assert (await get(http, url, q="typo"))["hits"] == []
        assert (await get(http, url, q="regret"))["hits"] == []
        [hit] = (await get(http, url, q="fixed"))["hits"]
        latest = (await poll(http, server.url, "r", view="latest"))["messages"][0]
        assert {k: hit[k] for k in latest} == latest
        assert hit["edited"] is True and hit["ranges"] == [[0, 5]]


@pytest.mark.parametrize(
    "query",
    ['"open', "*", "a *", "**", "", "!!!", "from:", "x*y", "w " * 20],
)
async def test_every_bad_query_is_400_invalid_query(
    server: Server, http: aiohttp.ClientSession, query: str
) -> None:
    """On both routes, a query the index cannot take is a 400 with the JSON error."""
    for url in (f"{server.url}/rooms/r/search", f"{server.url}/search"):
        answer = await get(http, url, 400, q=query)
        assert answer["error"]["code"] == "invalid_query"


async def test_bad_parameters(server: Server, http: aiohttp.ClientSession) -> None:
    """No q, a bad limit, before, next or rooms: 400 with the parameter's code."""
    assert (await get(http, f"{server.url}/search", 400))["error"]["code"] == "invalid_query"
    for params in ({"limit": "101"}, {"limit": "0"}, {"next": "zz"}):
        answer = await get(http, f"{server.url}/search", 400, None, q="x", **params)
        assert answer["error"]["code"] == "invalid_parameter"
    answer = await get(http, f"{server.url}/rooms/r/search", 400, q="x", before="-1")
    assert answer["error"]["code"] == "invalid_parameter"
    # Past the largest id a store holds (2**63 - 1): a 400, never the store's overflow.
    room_search = f"{server.url}/rooms/r/search"
    assert (await get(http, room_search, q="x", before=2**63 - 1))["hits"] == []
    answer = await get(http, room_search, 400, q="x", before=2**63)
    assert answer["error"]["code"] == "invalid_parameter"
    answer = await get(http, f"{server.url}/search", 400, q="x", next=encode_next("r", 2**63))
    assert answer["error"]["code"] == "invalid_parameter"
    answer = await get(http, f"{server.url}/search", 400, q="x", rooms="a,..")
    assert answer["error"]["code"] == "invalid_room"


async def test_a_token_finds_nothing_of_a_room_it_may_not_read(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """A token reading only ``general``: no hit, count, name or page of ``secret``, on
    every route, through ``rooms`` and through a ``next`` made for another token."""
    server = await start_server(auth_secret=SECRET)
    admin = bearer(make_token("admin"))
    for n in range(4):
        for room in ("general", "secret"):
            body = {"text": f"launch code {n} in {room}"}
            url = f"{server.url}/rooms/{room}/messages"
            async with http.post(url, json=body, headers=admin) as response:
                assert response.status == 201
    reader = bearer(make_token("bob", read=["general"]))
    seen = []
    params: dict[str, Any] = {"q": "launch", "limit": 1}
    while True:
        page = await get(http, f"{server.url}/search", headers=reader, **params)
        seen += [hit["room"] for hit in page["hits"]]
        assert "secret" not in str(page)
        if page["next"] is None:
            break
        params["next"] = page["next"]
    assert seen == ["general"] * 4
    refused = await get(http, f"{server.url}/rooms/secret/search", 403, headers=reader, q="x")
    assert refused["error"]["code"] == "forbidden"
    await get(http, f"{server.url}/search", 403, headers=reader, q="launch", rooms="secret")
    # A next the admin got, pointing into secret: refused like any malformed next.
    page = await get(http, f"{server.url}/search", headers=admin, q="launch", limit=1)
    assert page["hits"][0]["room"] == "secret"
    stolen = await get(
        http, f"{server.url}/search", 400, headers=reader, q="launch", next=page["next"]
    )
    garbage = await get(http, f"{server.url}/search", 400, headers=reader, q="launch", next="x")
    assert stolen == garbage
    await get(http, f"{server.url}/search", 401, q="launch")


async def test_around_reads_the_messages_around_one(
    start_server: StartServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """``?around=ID&limit=N``: the older half, the message, what follows."""
    server = await start_server(db=str(tmp_path / "around.db"))
    for n in range(1, 11):
        await publish(http, server.url, "r", f"m{n}")
    page = await poll(http, server.url, "r", around=5, limit=5)
    assert [m["id"] for m in page["messages"]] == [3, 4, 5, 6, 7]
    assert page["last_id"] == 10
    page = await poll(http, server.url, "r", around=10, limit=4, view="latest")
    assert [m["id"] for m in page["messages"]] == [9, 10]
    page = await poll(http, server.url, "r", around=1, limit=3)
    assert [m["id"] for m in page["messages"]] == [1, 2, 3]
    async with http.get(f"{server.url}/rooms/r/messages?around=2&since=1") as response:
        assert response.status == 400


async def test_memory_store_searches(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """The memory store answers the same routes from what it keeps."""
    server = await start_server(store="memory")
    await publish(http, server.url, "r", "gamma ray")
    assert len((await get(http, f"{server.url}/search", q="gam*"))["hits"]) == 1


@needs_redis
async def test_redis_store_answers_501(
    start_server: StartServer, http: aiohttp.ClientSession, redis: RedisServer
) -> None:
    """The Redis store keeps no index: 501 search_unavailable, on both routes."""
    server = await start_server(store="redis", redis=[redis.url])
    for url in (f"{server.url}/search", f"{server.url}/rooms/r/search"):
        answer = await get(http, url, 501, q="x")
        assert answer["error"]["code"] == "search_unavailable"


async def test_search_follows_allow_origin(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """A page of an allowed origin may search: preflight and answer carry CORS."""
    server = await start_server(allow_origin="https://chat.example")
    origin = {"Origin": "https://chat.example"}
    for path in ("/search", "/rooms/r/search"):
        preflight = {**origin, "Access-Control-Request-Method": "GET"}
        async with http.options(f"{server.url}{path}", headers=preflight) as response:
            assert response.status == 204
            assert response.headers["Access-Control-Allow-Headers"] == "Authorization"
        async with http.get(f"{server.url}{path}?q=x", headers=origin) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == "https://chat.example"
