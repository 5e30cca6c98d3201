"""The operations page's routes on real servers: who may read them, and what they say."""

from __future__ import annotations

import asyncio
import gc
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import orjson

from hubbub.server import Server
from hubbub.stats import LAG_BOUNDS
from tests.conftest import StartServer
from tests.process import serve
from tests.redis_server import RedisServer, needs_redis
from tests.tokens import SECRET, bearer, make_token
from tests.wire import wait_live

WAIT = 10.0  # seconds any one expected event may take


async def events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, Any]]:
    """The SSE events of ``response`` as (name, decoded data)."""
    name = "message"
    while True:
        line = (await response.content.readline()).decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            yield name, orjson.loads(line[len("data: ") :])
            name = "message"


async def first_update(
    stream: AsyncIterator[tuple[str, Any]], matches: Any = lambda update: True
) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        async for name, data in stream:
            if name == "update" and matches(data):
                return dict(data)
    raise AssertionError("the stream ended")


async def publish(http: aiohttp.ClientSession, server: Server, room: str, **headers: str) -> None:
    async with http.post(
        f"{server.url}/rooms/{room}/messages", json={"user": "ann", "text": "hi"}, headers=headers
    ) as response:
        assert response.status == 201


async def test_loopback_viewer_gets_history_then_live_seconds(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """Without tokens a local viewer gets the history, then an update a second with the
    messages committed, their latency, the commit and the busiest room."""
    async with http.get(f"{server.url}/admin/stream") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        stream = events(response)
        name, history = await anext(stream)
        assert name == "history" and history["history"] == 900
        assert set(history["nodes"]) <= {server.node.recorder.name}  # none in its first second
        for _ in range(5):
            await publish(http, server, "busy")
        update = await first_update(stream, lambda u: u["whole"]["messages"] > 0)
    whole = update["whole"]
    assert whole["p50_ms"] is not None and whole["p99_ms"] >= whole["p50_ms"]
    assert whole["commit_ms"] is not None and whole["batch"] >= 1
    assert update["rooms"][0]["room"] == "busy"
    [node] = update["nodes"]
    assert node["live"] and node["local"]
    limits = {limit["limit"] for limit in node["limits"]}
    assert {"connections", "files", "memory", "rooms"} <= limits


def block_the_loop(seconds: float) -> None:
    """A stall: the event loop runs nothing else meanwhile (on purpose)."""
    time.sleep(seconds)


async def test_head_is_answered_with_the_headers_alone(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """HEAD /admin/stream: the stream's headers, no body, the same refusal rules."""
    async with http.head(f"{server.url}/admin/stream") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        assert await response.read() == b""
    async with http.head(f"{server.url}/admin/stream", headers={"Forwarded": "x"}) as response:
        assert response.status == 403


async def test_a_stall_of_the_loop_is_seen(server: Server, http: aiohttp.ClientSession) -> None:
    """Blocking the event loop for 300 ms shows as a stall of about that long."""
    async with http.get(f"{server.url}/admin/stream") as response:
        stream = events(response)
        await first_update(stream)
        block_the_loop(0.3)
        update = await first_update(stream, lambda u: u["whole"]["stall_ms"] >= 250)
    assert update["whole"]["stall_ms"] < 5000


async def test_metrics_export_the_stall_and_the_collector(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """/metrics carries the longest stall of the last minute and the collector's time."""
    gc.collect()
    async with http.get(f"{server.url}/metrics") as response:
        text = await response.text()
    values = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert float(values["hubbub_event_loop_stall_seconds"]) >= 0
    assert int(values["hubbub_gc_collections_total"]) >= 1
    assert float(values["hubbub_gc_seconds_total"]) > 0


async def test_metrics_count_stalls_in_the_loop_lag_histogram(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """A 300 ms stall lands over the 0.1 s bound (the probe's timer, every 50 ms, was due
    at least 250 ms before the loop ran again); the buckets are cumulative and end at the
    count."""

    async def lag() -> dict[str, float]:
        async with http.get(f"{server.url}/metrics") as response:
            text = await response.text()
        found = re.findall(
            r'^hubbub_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\d+)$', text, re.M
        )
        values = {le: float(count) for le, count in found}
        values["count"] = float(metric_values(text)["hubbub_event_loop_lag_seconds_count"])
        return values

    before = await lag()
    block_the_loop(0.3)
    async with asyncio.timeout(10):
        while (after := await lag())["count"] - after["0.1"] <= before["count"] - before["0.1"]:
            await asyncio.sleep(0.05)
    counts = [after[str(bound)] for bound in LAG_BOUNDS]
    assert counts == sorted(counts)
    assert after["+Inf"] == after["count"] >= counts[-1]


def metric_values(text: str) -> dict[str, str]:
    return dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )


async def test_metrics_export_the_commits_time_and_the_longest_of_the_minute(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """/metrics carries the time inside store transactions and the longest of the last
    minute, from the second's figure before the recorder takes it, and from the
    recorder's minute after."""
    for room in ("a", "b", "c"):
        await publish(http, server, room)
    stats = server.node.stats
    async with http.get(f"{server.url}/metrics") as response:
        before = metric_values(await response.text())
    total = float(before["hubbub_commit_seconds_total"])
    longest = float(before["hubbub_commit_longest_seconds"])
    assert 0 < longest <= total
    assert longest >= total / int(before["hubbub_commits_total"]) - 1e-6  # at least the mean
    server.node.recorder.tick(round(time.time()))  # the second's sample takes it
    assert stats.commit_longest == 0.0
    async with http.get(f"{server.url}/metrics") as response:
        after = metric_values(await response.text())
    assert float(after["hubbub_commit_longest_seconds"]) >= longest


async def test_a_forwarded_request_is_not_local(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """Through a proxy on this machine every peer looks local: such a request is refused."""
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        async with http.get(f"{server.url}/admin/stream", headers={header: "1"}) as response:
            assert response.status == 403
            body = await response.json()
            assert body["error"]["code"] == "forbidden"


async def test_with_tokens_only_the_admin_claim_reads(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """No token: 401; a token without the admin claim (even from loopback): 403;
    ``admin: true``, in the header or in ?token=: the stream."""
    server = await start_server(auth_secret=SECRET)
    url = f"{server.url}/admin/stream"
    async with http.get(url) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for token in (make_token("bob"), make_token("bob", admin=False)):
        async with http.get(url, headers=bearer(token)) as response:
            assert response.status == 403
    not_a_boolean = jwt.encode(
        {"sub": "root", "admin": "yes", "exp": time.time() + 60}, SECRET, algorithm="HS256"
    )
    async with http.get(url, headers=bearer(not_a_boolean)) as response:
        assert response.status == 401
    async with http.get(url, params={"token": make_token("root", admin=True)}) as response:
        assert response.status == 200
        name, _ = await anext(events(response))
        assert name == "history"


async def test_the_page_shell_loads_for_anyone(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """GET /admin is the page (its data is what is guarded), under the chat page's CSP."""
    server = await start_server(auth_secret=SECRET)
    async with http.get(f"{server.url}/admin") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "admin.js" in await response.text()


async def test_a_viewer_is_let_go_at_shutdown(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Stopping the server ends the stream at once, not after the shutdown timeout."""
    server = await start_server(shutdown_timeout=30.0)
    async with http.get(f"{server.url}/admin/stream") as response:
        await first_update(events(response))
        started = time.monotonic()
        await server.stop()
        assert await response.content.read() is not None
    assert time.monotonic() - started < 10


@needs_redis
async def test_every_node_on_redis_is_named_and_counted(
    start_server: StartServer, http: aiohttp.ClientSession, redis: RedisServer
) -> None:
    """Two nodes on one Redis: the stream of either shows both by name, and the whole
    server's messages count the publishes made on each."""
    a = await start_server(store="redis", redis=(redis.url,), node_name="node-a")
    b = await start_server(store="redis", redis=(redis.url,), node_name="node-b")
    async with http.get(f"{a.url}/admin/stream") as response:
        await first_update(events(response), lambda u: len(u["nodes"]) == 2)
    for _ in range(3):
        await publish(http, a, "shared")
        await publish(http, b, "shared")

    async def counted() -> dict[str, int]:
        """Messages per node in the history node-a keeps (every sample it heard)."""
        async with http.get(f"{a.url}/admin/stream") as response:
            stream = events(response)
            _, history = await anext(stream)
            update = await first_update(stream)
        assert {node["node"] for node in update["nodes"]} == {"node-a", "node-b"}
        assert {n["node"] for n in update["nodes"] if n["local"]} == {"node-a"}
        return {
            name: sum(int(point["messages"]) for point in points)
            for name, points in history["nodes"].items()
        }

    async with asyncio.timeout(WAIT):
        while (seen := await counted()) != {"node-a": 3, "node-b": 3}:
            assert all(count <= 3 for count in seen.values()), seen


@needs_redis
async def test_every_worker_is_named(http: aiohttp.ClientSession, redis: RedisServer) -> None:
    """``serve --workers 2``: whichever worker answers, the page shows both, each named
    after the server, and which of them is answering."""
    args = ("--port", "0", "--store", "redis", "--redis", redis.url)
    async with (
        serve(*args, "--workers", "2", "--node-name", "box") as server,
        http.get(f"{server.url}/admin/stream") as response,
    ):
        update = await first_update(events(response), lambda u: len(u["nodes"]) == 2)
    assert sorted(node["node"] for node in update["nodes"]) == ["box/worker-1", "box/worker-2"]
    assert sorted(node["local"] for node in update["nodes"]) == [False, True]
    assert all(node["live"] for node in update["nodes"])


@needs_redis
async def test_nodes_hear_each_other_again_after_redis_restarts(
    start_server: StartServer, http: aiohttp.ClientSession, redis: RedisServer
) -> None:
    """Redis restarted: once it is back, each node's samples reach the other again."""
    a = await start_server(store="redis", redis=(redis.url,), node_name="node-a")
    await start_server(store="redis", redis=(redis.url,), node_name="node-b")

    def both_live(update: dict[str, Any]) -> bool:
        return {n["node"] for n in update["nodes"] if n["live"]} == {"node-a", "node-b"}

    async with http.get(f"{a.url}/admin/stream") as response:
        stream = events(response)
        await first_update(stream, both_live)
        await redis.restart()
        back = time.time()

        def heard_since(update: dict[str, Any]) -> bool:
            """node-b's own sample of a second after Redis came back reached node-a."""
            points = {n["node"]: n["point"]["t"] for n in update["nodes"]}
            return bool(update["t"] > back + 1 and points.get("node-b") == update["t"])

        await first_update(stream, heard_since)


async def test_the_busiest_rooms_are_those_with_messages_then_followed_ones(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """A second's busiest rooms: those with messages, then the ones with subscribers
    (with ten or more rooms with messages, those alone are read)."""
    recorder, stats = server.node.recorder, server.node.stats

    async def sample_after(rooms: list[str]) -> Any:
        for _ in range(3):  # the recorder's own second may take the counts first: again
            for room in rooms:
                await publish(http, server, room)
            if len(stats.room_messages) == len(rooms):
                return recorder.tick(round(time.time()))  # no await since the check
        raise AssertionError("every attempt crossed a second's sample")

    async with http.ws_connect(f"{server.url}/rooms/crowd/messages") as ws:
        await wait_live(server, "crowd", 1)
        few = await sample_after([f"few{n}" for n in range(3)])
        assert sorted((row.name, row.subscribers) for row in few.rooms) == [
            ("crowd", 1),
            ("few0", 0),
            ("few1", 0),
            ("few2", 0),
        ]
        many = await sample_after([f"many{n}" for n in range(12)])
        assert len(many.rooms) == 10
        assert all(row.name.startswith("many") and row.messages > 0 for row in many.rooms)
        await ws.close()
