"""The Broker over Redis pub/sub: one subscriber connection per shard, only the rooms asked for.

A room's messages travel on ``hubbub:{room}:ch`` of the shard that holds the room (the same shard
the Redis store writes it to). With the Redis store, the store's append script already published
them, so ``publish`` does nothing; with a store that cannot publish (SQLite shared by several
processes on one machine) ``publish`` sends them after commit.

A dropped connection (Redis restarted, ``CLIENT KILL``, a silent link caught by the ping) is
reopened by the shard's own task with backoff; once every room is subscribed again the node is
told through ``on_resync``, because whatever was published in between was missed, and the node
fills those holes from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from hubbub import redis_layout as layout
from hubbub.broker.base import Deliver, Resync
from hubbub.protocol.messages import Message

log = logging.getLogger(__name__)

# Every subscriber connection listens here too, so it is in subscribed mode (and its PINGs are
# answered in-band) even before the node has a room to listen to.
HEARTBEAT_CHANNEL = b"hubbub:heartbeat"


class _ShardLink:
    """The subscriber connection to one shard, kept open by its own task."""

    def __init__(self, client: Redis, ping_interval: float, max_backoff: float) -> None:
        self._client = client
        self._ping_interval = ping_interval
        self._max_backoff = max_backoff
        self.rooms: set[str] = set()
        self._pubsub: PubSub | None = None
        self._confirmations: dict[bytes, asyncio.Future[None]] = {}
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, deliver: Deliver, on_resync: Resync) -> None:
        self._task = asyncio.create_task(self._run(deliver, on_resync))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # Bounded: redis-py can swallow a cancellation mid-command (a worker whose
            # parent died then never exited); the task is left behind.
            await asyncio.wait([self._task], timeout=layout.SOCKET_TIMEOUT)
        await self._drop()
        await self._client.aclose()

    async def subscribe(self, room: str) -> None:
        self.rooms.add(room)
        name = layout.channel(room).encode()
        pubsub = self._pubsub
        if pubsub is None:
            return  # down: subscribed on reconnection, which resyncs every room
        confirmed = self._confirmations.get(name)
        if confirmed is None:
            confirmed = asyncio.get_running_loop().create_future()
            self._confirmations[name] = confirmed
            try:
                await pubsub.subscribe(name)
            except (RedisError, OSError):
                return  # the reading task sees the same failure and reconnects
        try:
            async with asyncio.timeout(layout.SOCKET_TIMEOUT):
                await asyncio.shield(confirmed)
        except TimeoutError:
            return

    async def unsubscribe(self, room: str) -> None:
        self.rooms.discard(room)
        if self._pubsub is not None:
            # On failure the reading task sees the same and reconnects without the room.
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(layout.channel(room).encode())

    async def _run(self, deliver: Deliver, on_resync: Resync) -> None:
        delay = 0.0
        missed = False  # True once a connection was lost or never made: a resync is owed
        while True:
            try:
                await self._connect(deliver)
                if missed:
                    log.info("redis broker: subscribed again; resyncing rooms")
                    on_resync()
                missed = True
                delay = 0.0
                await self._read(deliver)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("redis broker: subscriber connection lost: %s", exc)
                missed = True
            await self._drop()
            delay = min(self._max_backoff, max(0.05, delay * 2))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    async def _connect(self, deliver: Deliver) -> None:
        """Subscribe to every room wanted now; returns once Redis confirmed each one."""
        pubsub = self._client.pubsub()
        self._pubsub = pubsub
        names = [HEARTBEAT_CHANNEL, *(layout.channel(room).encode() for room in self.rooms)]
        pending = set(names)
        async with asyncio.timeout(layout.SOCKET_TIMEOUT + layout.CONNECT_TIMEOUT):
            await pubsub.subscribe(*names)
            while pending:
                message = await pubsub.get_message(timeout=layout.SOCKET_TIMEOUT)
                if message is not None:
                    if message["type"] == "subscribe":
                        pending.discard(message["channel"])
                    self._handle(message, deliver)
        self.connected.set()

    async def _read(self, deliver: Deliver) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        loop = asyncio.get_running_loop()
        heard = loop.time()
        while True:
            message = await pubsub.get_message(timeout=self._ping_interval)
            now = loop.time()
            if message is None:
                if now - heard > 2 * self._ping_interval:
                    raise TimeoutError("no answer to PING on the subscriber connection")
                await pubsub.ping()
                continue
            heard = now
            self._handle(message, deliver)

    def _handle(self, message: dict[str, Any], deliver: Deliver) -> None:
        kind, name = message["type"], message["channel"]
        if kind == "subscribe":
            confirmed = self._confirmations.pop(name, None)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            return
        if kind != "message":
            return
        room = layout.room_of_channel(name)
        if room is None or room not in self.rooms:
            return  # a message still in flight when the room was unsubscribed
        try:
            epoch, messages = layout.decode_payload(room, message["data"])
        except (ValueError, KeyError, TypeError) as exc:
            log.error("redis broker: unreadable message on %r: %s", name, exc)
            return
        deliver(room, epoch, messages)

    async def _drop(self) -> None:
        """Forget the connection; anyone waiting for a confirmation returns (resync covers it)."""
        self.connected.clear()
        pubsub, self._pubsub = self._pubsub, None
        for confirmed in self._confirmations.values():
            if not confirmed.done():
                confirmed.set_result(None)
        self._confirmations.clear()
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()


class _ShardSender:
    """Publishes to one shard in the order ``send`` was called, over one connection.

    One task sends whatever queued up meanwhile as one pipeline, so a node's publishes reach
    the others in commit order (a reorder would cost them a store read) and a burst costs one
    round trip.
    """

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._queue: list[tuple[str, bytes]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def send(self, channel: str, payload: bytes) -> None:
        self._queue.append((channel, payload))
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if batch:
                await self._publish(batch)
            if self._closing and not self._queue:
                return

    async def _publish(self, batch: list[tuple[str, bytes]]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for channel, payload in batch:
            pipe.publish(channel, payload)
        try:
            async with asyncio.timeout(layout.SOCKET_TIMEOUT + layout.CONNECT_TIMEOUT):
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            # Receivers notice the hole by id at the room's next message and read the store.
            log.warning("redis broker: could not publish %d batches: %s", len(batch), exc)

    async def close(self) -> None:
        """Send what is queued (bounded by the publish timeout), then disconnect."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self._client.aclose()


class RedisBroker:
    """Carries committed messages between nodes through Redis pub/sub, sharded like the store."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        store_publishes: bool = True,
        ping_interval: float = 5.0,
        max_backoff: float = 2.0,
    ) -> None:
        if not urls:
            raise ValueError("RedisBroker needs at least one Redis URL")
        self._urls = list(urls)
        self._store_publishes = store_publishes
        self._ping_interval = ping_interval
        self._max_backoff = max_backoff
        self._links: list[_ShardLink] = []
        self._senders: list[_ShardSender] = []

    def _link(self, room: str) -> _ShardLink:
        return self._links[layout.shard_of(room, len(self._links))]

    async def start(self, deliver: Deliver, on_resync: Resync) -> None:
        """Open every shard's subscriber; waits a bounded time for them, then runs regardless
        (a shard that is down keeps retrying and resyncs when it comes up)."""
        self._links = [
            _ShardLink(layout.connect(url), self._ping_interval, self._max_backoff)
            for url in self._urls
        ]
        if not self._store_publishes:
            self._senders = [_ShardSender(layout.connect(url)) for url in self._urls]
        for link in self._links:
            link.start(deliver, on_resync)
        try:
            async with asyncio.timeout(layout.SOCKET_TIMEOUT + layout.CONNECT_TIMEOUT):
                await asyncio.gather(*(link.connected.wait() for link in self._links))
        except TimeoutError:
            log.warning("redis broker: not every shard is reachable yet; retrying")

    async def close(self) -> None:
        for sender in self._senders:
            await sender.close()
        for link in self._links:
            await link.close()
        self._links, self._senders = [], []

    async def subscribe(self, room: str) -> None:
        await self._link(room).subscribe(room)

    def subscribe_now(self, room: str) -> bool:
        return False  # a SUBSCRIBE holds once redis confirms it

    async def unsubscribe(self, room: str) -> None:
        await self._link(room).unsubscribe(room)

    def publish(self, room: str, epoch: str, messages: Sequence[Message]) -> None:
        """PUBLISH after the commit, off the publish path (never awaited by the publisher).

        An empty batch under a new epoch (a room cleared) tells the other nodes to check
        the room; the Redis store's clear script publishes that itself."""
        if self._store_publishes:
            return
        sender = self._senders[layout.shard_of(room, len(self._senders))]
        sender.send(layout.channel(room), layout.encode_payload(epoch, messages))

    def healthy(self) -> bool:
        return bool(self._links) and all(link.connected.is_set() for link in self._links)
