"""Two nodes on one real Redis: a cursor a node has not reached yet is caught up from the
store (``Hub.catch_up``), not told as a gap, on the lean path's long poll and on SSE.

Node B reaches Redis through a small TCP relay that can hold what Redis sends on B's
Pub/Sub connection, so "B has not yet received the message" is a state the test sets,
not a race it hopes to win.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from hubbub.server import Server
from tests.conftest import StartServer
from tests.rawhttp import RawClient, poll, publish
from tests.redis_server import RedisServer, needs_redis
from tests.wire import SSEReader, wait_for_waiters

pytestmark = needs_redis


class PubSubRelay:
    """Relays TCP to Redis; while :attr:`holding`, what Redis sends on a connection that
    subscribed is kept back (commands and their answers on other connections flow)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.open = asyncio.Event()  # set: Pub/Sub traffic flows
        self.open.set()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._server is not None:
            self._server.close()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        redis_r, redis_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        subscribed = asyncio.Event()
        loop = asyncio.get_running_loop()
        up = loop.create_task(self._pipe(client_r, redis_w, subscribed, watch=True))
        down = loop.create_task(self._pipe(redis_r, client_w, subscribed, watch=False))
        self._tasks.update((up, down))
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait((up, down), return_when=asyncio.FIRST_COMPLETED)
        up.cancel()
        down.cancel()
        client_w.close()
        redis_w.close()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        subscribed: asyncio.Event,
        *,
        watch: bool,
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if watch and b"SUBSCRIBE" in data.upper():
                    subscribed.set()
                if not watch and subscribed.is_set():
                    await self.open.wait()
                writer.write(data)
                await writer.drain()


@pytest.fixture
async def relay(redis: RedisServer) -> AsyncIterator[PubSubRelay]:
    started = PubSubRelay(redis.port)
    await started.start()
    yield started
    started.open.set()
    await started.stop()


async def b_behind_a(
    start_server: StartServer, redis: RedisServer, relay: PubSubRelay
) -> tuple[Server, Server, RawClient, str]:
    """Nodes A and B with rooms r and m; id 2 of r acknowledged by A, not delivered to B
    (held by the relay). Returns A, B, a client of A and r's epoch."""
    node_a = await start_server(store="redis", redis=(redis.url,))
    node_b = await start_server(store="redis", redis=(relay.url,))
    a = await RawClient.open(node_a.port)
    b = await RawClient.open(node_b.port)
    for room in ("m", "r"):
        a.send(publish(room, "one"))
        assert (await a.answer()).json()["id"] == 1
        async with asyncio.timeout(10):  # B has the room loaded and receives its messages
            while True:
                b.send(poll(room, "since=0&wait=5"))
                seen = (await b.answer()).json()
                if seen["last_id"] == 1:
                    break
    b.close()
    relay.open.clear()  # from here B hears nothing from Redis's Pub/Sub
    a.send(publish("r", "two"))
    assert (await a.answer()).json()["id"] == 2
    return node_a, node_b, a, seen["epoch"]


async def test_cursor_ahead_of_a_node_is_caught_up_not_a_gap(
    start_server: StartServer,
    redis: RedisServer,
    relay: PubSubRelay,
    http: aiohttp.ClientSession,
) -> None:
    """Id 2 acknowledged by A, not yet delivered to B: B serves since=2 (a short poll
    reaching 2, SSE ready at 2, a long poll held) with no gap, then delivers 3."""
    _, node_b, a, epoch = await b_behind_a(start_server, redis, relay)
    b = await RawClient.open(node_b.port)
    b.send(poll("r", f"since=2&epoch={epoch}"))
    short = (await b.answer()).json()  # not a gap: B's answer reaches the cursor
    assert (short["messages"], short["last_id"], short["epoch"]) == ([], 2, epoch)
    cursor = {"since": "2", "epoch": epoch}
    url = f"{node_b.url}/rooms/r/messages"
    async with http.get(url, params=cursor, headers={"Accept": "text/event-stream"}) as stream:
        events = SSEReader(stream)
        ready = await events.next_event(ready=True)
        assert ready.event == "ready", ready  # no gap event before it
        assert (ready.json()["since"], ready.epoch) == (2, epoch)
        b.send(poll("r", f"since=2&epoch={epoch}&wait=10"))
        await wait_for_waiters(node_b, 1)  # held: no gap to tell

        relay.open.set()
        a.send(publish("r", "three"))
        assert (await a.answer()).json()["id"] == 3
        message = await events.next_event()
        assert (message.event, message.position, message.epoch) == ("message", 3, epoch)
        answer = (await b.answer()).json()  # no gap, whenever it is answered
        assert answer["epoch"] == epoch and answer["last_id"] >= 2
        assert all(m["id"] > 2 for m in answer["messages"])
    a.close()
    b.close()


async def test_late_delivery_of_a_caught_up_id_keeps_a_long_poll_held(
    start_server: StartServer, redis: RedisServer, relay: PubSubRelay
) -> None:
    """A long poll held past a caught-up cursor is answered by the next new id, not by
    the late arrival of one it already had."""
    _, node_b, a, epoch = await b_behind_a(start_server, redis, relay)
    b = await RawClient.open(node_b.port)
    b.send(poll("r", f"since=2&epoch={epoch}&wait=10"))
    await wait_for_waiters(node_b, 1)
    relay.open.set()
    # The late id 2 of r comes first on B's Pub/Sub connection; a message of m after it
    # tells when it has been handled.
    a.send(publish("m", "marker"))
    assert (await a.answer()).json()["id"] == 2
    marker = await RawClient.open(node_b.port)
    marker.send(poll("m", "since=1&wait=10"))
    assert [m["id"] for m in (await marker.answer()).json()["messages"]] == [2]
    marker.close()
    a.send(publish("r", "three"))
    assert (await a.answer()).json()["id"] == 3
    answer = (await b.answer()).json()
    assert [m["id"] for m in answer["messages"]] == [3]
    a.close()
    b.close()
