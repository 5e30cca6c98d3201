"""hubbub.Client against real servers on port 0, over every transport."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest

from hubbub.client import (
    TRANSPORTS,
    Backoff,
    Client,
    Connected,
    Disconnected,
    Event,
    Gap,
    Message,
    Refused,
    Status,
    Subscription,
    TransportChoice,
    TransportName,
    Unreachable,
    Unsupported,
)
from hubbub.http.head import Request
from hubbub.server import Server
from hubbub.settings import Settings
from tests.conftest import StartServer
from tests.proxy import ABORT, Action, Proxy, answer, is_upgrade

TIMEOUT = 10.0
EVERY: list[TransportChoice] = [*TRANSPORTS, "auto"]


def quick_client(url: str) -> Client:
    """A client with test-sized timeouts: reconnects in tens of milliseconds."""
    return Client(
        url,
        connect_timeout=2.0,
        request_timeout=5.0,
        idle_timeout=15.0,  # 3 x the test server's heartbeat: a slow test is not a dead stream
        long_poll_wait=1.0,
        poll_interval=0.05,
        backoff=Backoff(initial=0.02, maximum=0.2),
    )


class Follower:
    """Iterates a subscription in the background, keeping its events and statuses."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.statuses: list[Status] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, sub: Subscription) -> None:
        self.sub = sub
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        async for event in self.sub:
            self.events.append(event)
            self._changed.set()

    def on_status(self, status: Status) -> None:
        self.statuses.append(status)
        self._changed.set()

    @property
    def ids(self) -> list[int]:
        return [e.id for e in self.events if isinstance(e, Message)]

    @property
    def gaps(self) -> list[Gap]:
        return [e for e in self.events if isinstance(e, Gap)]

    def count(self, kind: type[Status]) -> int:
        return sum(isinstance(s, kind) for s in self.statuses)

    async def until(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        """Wait, bounded, until ``predicate()`` holds; the iterator's own error surfaces."""
        assert self._task is not None
        async with asyncio.timeout(timeout):
            while not predicate():
                if self._task.done():
                    self._task.result()  # raises what ended the iteration
                    raise AssertionError("the subscription ended")
                self._changed.clear()
                await self._changed.wait()

    async def connected(self, times: int = 1) -> None:
        await self.until(lambda: self.count(Connected) >= times)

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.sub.aclose()


@asynccontextmanager
async def follow(
    client: Client,
    room: str,
    since: int | None,
    transport: TransportChoice,
    *,
    epoch: str | None = None,
) -> AsyncIterator[Follower]:
    follower = Follower()
    sub = client.subscribe(room, since, transport, epoch=epoch, on_status=follower.on_status)
    follower.start(sub)
    try:
        yield follower
    finally:
        await follower.stop()


async def drain(sub: Subscription) -> None:
    """Iterate ``sub`` to its end (an error, here), within the guard timeout."""
    async with asyncio.timeout(TIMEOUT):
        async for _ in sub:
            pass


@pytest.mark.parametrize("transport", EVERY)
async def test_publish_and_receive(server: Server, transport: TransportChoice) -> None:
    """From now: only messages published after subscribing, each once, in order."""
    async with quick_client(server.url) as client:
        await client.publish("r", "alice", "before")
        async with follow(client, "r", None, transport) as follower:
            await follower.connected()
            sent = [await client.publish("r", "alice", f"m{i}") for i in range(3)]
            await follower.until(lambda: len(follower.ids) == 3)
            assert follower.events == sent
            expected = "ws" if transport == "auto" else transport
            assert follower.statuses == [Connected(expected)]
            assert follower.sub.transport == expected
            assert follower.sub.cursor == 4


@pytest.mark.parametrize("transport", EVERY)
async def test_since_zero_replays_then_follows(server: Server, transport: TransportChoice) -> None:
    """since=0 is the whole room, then live messages, with no seam between them."""
    async with quick_client(server.url) as client:
        for i in range(5):
            await client.publish("r", "bob", f"old{i}")
        async with follow(client, "r", 0, transport) as follower:
            await follower.until(lambda: len(follower.ids) == 5)
            await client.publish("r", "bob", "new")
            await follower.until(lambda: len(follower.ids) == 6)
            assert follower.ids == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("transport", EVERY)
async def test_resume_after_restart(start_server: StartServer, transport: TransportChoice) -> None:
    """Stopped and restarted on the same port and database: nothing lost or doubled."""
    server = await start_server()
    async with (
        quick_client(server.url) as client,
        follow(client, "r", 0, transport) as follower,
    ):
        await client.publish("r", "a", "one")
        await client.publish("r", "a", "two")
        await follower.until(lambda: len(follower.ids) == 2)
        await server.stop()
        await follower.until(lambda: follower.count(Disconnected) >= 1)
        restarted = await start_server(port=server.port)
        # Published while the follower may still be away: it catches up from its cursor.
        await client.publish("r", "a", "three", retry_for=TIMEOUT)
        await follower.connected(times=2)
        await client.publish("r", "a", "four")
        await follower.until(lambda: len(follower.ids) == 4)
        assert follower.ids == [1, 2, 3, 4]
        assert not follower.gaps
        assert restarted.port == server.port
        if transport == "auto":  # an unreachable server is waited for, not fallen back from
            assert follower.sub.transport == "ws"


@pytest.mark.parametrize("transport", EVERY)
async def test_gap_for_messages_no_longer_kept(
    start_server: StartServer, transport: TransportChoice
) -> None:
    """With retain=3, a cursor at 1 gets a Gap naming ids 2 and 3, then 4 to 6."""
    server = await start_server(retain=3)
    async with quick_client(server.url) as client:
        for i in range(6):
            await client.publish("r", "a", f"m{i}")
        epoch = (await client.history("r")).epoch
        async with follow(client, "r", 1, transport) as follower:
            await follower.until(lambda: len(follower.ids) == 3)
            assert follower.events[0] == Gap(cursor=1, first_id=4, last_id=6, epoch=epoch)
            assert follower.gaps[0].missed == range(2, 4)
            assert follower.ids == [4, 5, 6]
            assert follower.sub.cursor == 6


@pytest.mark.parametrize("transport", EVERY)
async def test_reset_gap_after_memory_store_restart(
    start_server: StartServer, transport: TransportChoice
) -> None:
    """A memory store restarted under the follower: a reset Gap, then the new room's ids."""
    server = await start_server(store="memory")
    async with (
        quick_client(server.url) as client,
        follow(client, "r", 0, transport) as follower,
    ):
        for i in range(3):
            await client.publish("r", "a", f"old{i}")
        await follower.until(lambda: len(follower.ids) == 3)
        await server.stop()
        await start_server(store="memory", port=server.port)
        after = await client.publish("r", "a", "after", retry_for=TIMEOUT)
        await follower.until(lambda: len(follower.events) == 5)
        gap, message = follower.events[3:]
        assert isinstance(gap, Gap) and gap.reset and gap.cursor == 3
        assert message == after and after.id == 1


async def test_subscription_waits_for_a_server_that_is_down(settings: Settings) -> None:
    """A server not up yet is retried with backoff, then followed once it listens."""
    port = free_port()
    async with (
        quick_client(f"http://127.0.0.1:{port}") as client,
        follow(client, "r", 0, "auto") as follower,
    ):
        await follower.until(lambda: follower.count(Disconnected) >= 2)
        status = follower.statuses[0]
        assert isinstance(status, Disconnected) and status.retry_in <= 0.2
        async with Server(replace(settings, port=port)) as server:
            await client.publish("r", "a", "hi")
            await follower.until(lambda: follower.ids == [1])
            assert follower.sub.transport == "ws"
            assert server.port == port


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_a_silent_stream_is_taken_for_dead(
    start_server: StartServer, transport: TransportName
) -> None:
    """No frame, no heartbeat for idle_timeout: the stream is reopened, losing nothing."""
    server = await start_server(heartbeat=60.0)
    client = Client(server.url, idle_timeout=0.2, backoff=Backoff(initial=0.02, maximum=0.05))
    async with client, follow(client, "r", 0, transport) as follower:
        await follower.until(lambda: follower.count(Disconnected) >= 1)
        status = follower.statuses[1]
        assert isinstance(status, Disconnected) and "not even a heartbeat" in status.reason
        await client.publish("r", "a", "still here")
        await follower.until(lambda: follower.ids == [1])
        await follower.connected(times=2)


async def refuse_websocket(head: bytes) -> Action:
    """What a proxy that does not pass upgrades answers."""
    return answer("403 Forbidden", "no websockets here") if is_upgrade(head) else None


@pytest.mark.parametrize(("broken", "expected"), [(["ws"], "sse"), (["ws", "sse"], "longpoll")])
async def test_auto_falls_back_past_broken_transports(
    settings: Settings, broken: list[TransportName], expected: TransportName
) -> None:
    """A refused upgrade, then an event stream answered as plain JSON: the next one is used."""

    def drop_accept(request: Request) -> None:
        if "sse" in broken and "text/event-stream" in (request.headers.get("accept") or ""):
            # A proxy that drops Accept: the server answers a plain read.
            del request.headers["accept"]

    server = Server(settings)
    server.app.request_filters.append(drop_accept)
    async with (
        server,
        Proxy(server.port, refuse_websocket) as proxy,
        quick_client(proxy.url) as client,
        follow(client, "r", 0, "auto") as follower,
    ):
        await follower.connected()
        await client.publish("r", "a", "hi")
        await follower.until(lambda: follower.ids == [1])
        assert follower.statuses == [Connected(expected)]


async def test_auto_falls_back_when_a_transport_cannot_open(server: Server) -> None:
    """A WebSocket cut before it opens, while plain reads work: on to SSE, not a retry loop."""

    async def cut_upgrades(head: bytes) -> Action:
        return ABORT if is_upgrade(head) else None  # a proxy that times upgrades out

    async with (
        Proxy(server.port, cut_upgrades) as proxy,
        quick_client(proxy.url) as client,
        follow(client, "r", 0, "auto") as f,
    ):
        await f.connected()
        assert f.statuses == [Connected("sse")]


async def test_a_transport_asked_for_by_name_is_not_replaced(server: Server) -> None:
    """transport="ws" through a proxy that refuses upgrades raises Unsupported."""
    async with Proxy(server.port, refuse_websocket) as proxy, quick_client(proxy.url) as client:
        with pytest.raises(Unsupported, match="403"):
            await drain(client.subscribe("r", 0, "ws"))


@pytest.mark.parametrize("transport", EVERY)
async def test_refusal_ends_the_subscription(server: Server, transport: TransportChoice) -> None:
    """A server that answers 404 to the room's URL (a wrong base URL) is not retried."""
    async with quick_client(server.url + "/not-hubbub") as client:
        with pytest.raises(Refused) as caught:
            await drain(client.subscribe("r", 0, transport))
        assert (caught.value.status, caught.value.code) == (404, "not_found")


async def test_publish_returns_the_stored_message(server: Server) -> None:
    """The stored message comes back with its id, timestamp and a client_id."""
    async with quick_client(server.url) as client:
        message = await client.publish("r", "alice", "hello")
        assert (message.id, message.room, message.user, message.text) == (
            1,
            "r",
            "alice",
            "hi"[:0] + "hello",
        )
        assert message.ts > 0 and message.client_id is not None


async def test_publish_is_idempotent_by_client_id(server: Server) -> None:
    """The same client_id twice stores one message and answers it both times."""
    async with quick_client(server.url) as client:
        first = await client.publish("r", "alice", "once", client_id="c-1")
        again = await client.publish("r", "alice", "twice?", client_id="c-1")
        assert again == first
        assert (await client.history("r")).last_id == 1


async def test_publish_refused_is_not_retried(server: Server) -> None:
    """A blank text is refused with the protocol's code, at once, even with retry_for."""
    async with quick_client(server.url) as client:
        with pytest.raises(Refused) as caught:
            await client.publish("r", "alice", "   ", retry_for=TIMEOUT)
        assert (caught.value.status, caught.value.code) == (400, "invalid_message")
        assert not caught.value.retryable


async def test_publish_retries_until_the_server_is_back(start_server: StartServer) -> None:
    """With retry_for, a publish outlasts a restart; without, it fails fast."""
    server = await start_server()
    await server.stop()
    retries: list[float] = []
    retried = asyncio.Event()

    def on_retry(error: Exception, delay: float) -> None:
        assert isinstance(error, Unreachable)
        retries.append(delay)
        retried.set()

    async with quick_client(server.url) as client:
        with pytest.raises(Unreachable, match="cannot connect"):
            await client.publish("r", "alice", "now")
        task = asyncio.create_task(
            client.publish("r", "alice", "later", retry_for=TIMEOUT, on_retry=on_retry)
        )
        async with asyncio.timeout(TIMEOUT):
            await retried.wait()
        await start_server(port=server.port)
        async with asyncio.timeout(TIMEOUT):
            message = await task
        assert message.id == 1 and retries


async def test_history_pages(server: Server) -> None:
    """history: the newest by default, before=N scrolls back, since=N reads forward."""
    async with quick_client(server.url) as client:
        for i in range(5):
            await client.publish("r", "a", f"m{i}")
        newest = await client.history("r", limit=2)
        assert [m.id for m in newest.messages] == [4, 5]
        assert (newest.first_id, newest.last_id) == (1, 5)
        assert [m.id for m in (await client.history("r", limit=2, before=4)).messages] == [2, 3]
        assert [m.id for m in (await client.history("r", since=3)).messages] == [4, 5]
        empty = await client.history("other")
        assert (empty.messages, empty.first_id, empty.last_id) == ((), 0, 0)


async def test_unreachable_server() -> None:
    """Nothing listening: history and publish raise Unreachable with the reason."""
    async with quick_client(f"http://127.0.0.1:{free_port()}") as client:
        with pytest.raises(Unreachable, match="Connection refused"):
            await client.history("r")


def test_bad_arguments_are_value_errors() -> None:
    """A bad room, cursor, transport or URL is the caller's mistake, found before any I/O."""
    client = Client("http://127.0.0.1:1")
    with pytest.raises(ValueError, match="room"):
        client.subscribe(".hidden")
    with pytest.raises(ValueError, match="since"):
        client.subscribe("r", since=-1)
    with pytest.raises(ValueError, match="transport"):
        client.subscribe("r", transport="carrier-pigeon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="URL"):
        Client("ftp://example.org")
    with pytest.raises(ValueError, match="long_poll_wait"):
        Client("http://127.0.0.1:1", long_poll_wait=61)


async def test_a_closed_client_says_so() -> None:
    """Using a client after close() is a clear error, not a leaked session."""
    client = Client("http://127.0.0.1:1")
    await client.close()
    with pytest.raises(RuntimeError, match="closed"):
        await client.history("r")


def free_port() -> int:
    """A port that nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_websocket_after_a_cold_route_on_the_pool(server: Server) -> None:
    """The client's pooled connection served a route aiohttp answers (presence, typing): a
    WebSocket asked for by name still opens, on a connection of its own."""
    async with Client(server.url) as client:
        for _ in range(3):  # the pool's connections all went to aiohttp
            await client.presence("general")
            await client.typing("general", "alice")
        await client.publish("general", "alice", "hello")
        async with client.subscribe("general", since=0, transport="ws") as subscription:
            async with asyncio.timeout(10):
                event = await anext(aiter(subscription))
        assert isinstance(event, Message) and event.text == "hello"
