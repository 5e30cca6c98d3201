"""Presence across nodes through Redis: the union of every node's connections, with a TTL.

Each node counts its own connections with a :class:`MemoryPresence` (the grace included:
a user whose last connection here closed stays in this node's snapshot until the grace
ends). Whenever a room's counts change here, and every ``ttl / 3`` seconds for every room
it has connections in, the node writes its snapshot of the room to Redis with an expiry of
``ttl`` and publishes it on the room's presence channel (one script, redis_scripts.py).

A node listens to the presence channel of each room it has connections in, and keeps the
other nodes' latest snapshots of it in memory, each valid ``ttl`` seconds after it was
heard. Its view of the room is the union: its own counts plus every live snapshot. Every
node turns changes of that union into ``joined`` / ``left`` events for its own streams, so
a user with tabs on two nodes joins once and leaves once, everywhere. A node that dies
stops refreshing: others forget its snapshots within the TTL (plus one sweep, ``ttl / 3``)
and its users leave. A node that stops cleanly keeps its users present for the grace only.
Typing notices travel on the same channel and are never stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from hubbub import redis_layout as layout
from hubbub.errors import Unavailable
from hubbub.presence import redis_scripts as scripts
from hubbub.presence.base import OnChange, OnTyping, Present
from hubbub.presence.memory import MemoryPresence

log = logging.getLogger(__name__)

_FAILURES = (RedisError, OSError, TimeoutError)
# Nothing is sent here: the subscriber connection listens so it is in subscribed mode before
# the node has a room, and so a test can count the nodes whose presence listens.
HEARTBEAT_CHANNEL = b"hubbub:presence:heartbeat"


@dataclass(slots=True)
class _Snapshot:
    """Another node's connections in one room, as last heard, until ``expires`` (loop time)."""

    version: int
    expires: float
    users: dict[str, int] = field(default_factory=dict)
    anonymous: int = 0


class _Shard:
    """One Redis: a command connection, and a subscriber connection kept open by a task."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = layout.connect(url)
        self.put = self.client.register_script(scripts.PUT)
        self.read = self.client.register_script(scripts.READ)
        self.rooms: set[str] = set()  # presence channels wanted
        self.pubsub: PubSub | None = None
        self.confirmations: dict[bytes, asyncio.Future[None]] = {}
        self.task: asyncio.Task[None] | None = None

    async def subscribe(self, room: str) -> None:
        """Returns once Redis confirmed the subscription (or the connection is down: the
        reconnection reloads every room)."""
        self.rooms.add(room)
        pubsub, name = self.pubsub, layout.who_channel(room).encode()
        if pubsub is None:
            return
        confirmed = self.confirmations.get(name)
        if confirmed is None:
            confirmed = self.confirmations[name] = asyncio.get_running_loop().create_future()
            try:
                await pubsub.subscribe(name)
            except _FAILURES:
                return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(layout.SOCKET_TIMEOUT):
                await asyncio.shield(confirmed)

    async def unsubscribe(self, room: str) -> None:
        self.rooms.discard(room)
        if self.pubsub is not None:
            with contextlib.suppress(*_FAILURES):
                await self.pubsub.unsubscribe(layout.who_channel(room).encode())

    async def drop(self) -> None:
        pubsub, self.pubsub = self.pubsub, None
        for confirmed in self.confirmations.values():
            if not confirmed.done():
                confirmed.set_result(None)
        self.confirmations.clear()
        if pubsub is not None:
            with contextlib.suppress(*_FAILURES):
                await pubsub.aclose()


class RedisPresence:
    """The union of every node's presence; see the module docstring."""

    def __init__(self, urls: Sequence[str], grace: float, ttl: float) -> None:
        if not urls:
            raise ValueError("RedisPresence needs at least one Redis URL")
        self.node = secrets.token_urlsafe(9)
        self.grace, self.ttl = grace, ttl
        self._urls = list(urls)
        self._local = MemoryPresence(grace)
        self._shards: list[_Shard] = []
        self._remote: dict[str, dict[str, _Snapshot]] = {}  # room -> node -> snapshot
        self._watched: set[str] = set()
        self._watching: dict[str, asyncio.Future[None]] = {}
        self._told: dict[str, set[str]] = {}  # room -> users this node's streams were told
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        # Set by close(): the sender stops even if redis-py swallowed its cancellation (it
        # can, mid-command, and close() then waited on it for ever: a worker never exited).
        self._closing = False
        self._version = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._typing: list[tuple[str, bytes]] = []
        self._on_change: OnChange | None = None
        self._on_typing: OnTyping | None = None

    # The Presence protocol

    def start(self, on_change: OnChange, on_typing: OnTyping) -> None:
        self._on_change, self._on_typing = on_change, on_typing
        self._local.start(self._on_local_change)
        self._shards = [_Shard(url) for url in self._urls]
        for shard in self._shards:
            shard.task = asyncio.create_task(self._listen(shard), name="hubbub-presence-sub")
        self._tasks = [
            asyncio.create_task(self._send(), name="hubbub-presence-send"),
            asyncio.create_task(self._refresh(), name="hubbub-presence-refresh"),
        ]

    async def watch(self, room: str) -> None:
        if room in self._watched:
            return
        pending = self._watching.get(room)
        if pending is None:
            pending = self._watching[room] = asyncio.get_running_loop().create_future()
            try:
                await self._load(room)
            finally:
                self._watched.add(room)
                del self._watching[room]
                pending.set_result(None)
                self._recompute(room)
        await asyncio.shield(pending)

    def knows(self, room: str) -> bool:
        return room in self._watched

    def join(self, room: str, user: str | None) -> None:
        self._local.join(room, user)
        if room not in self._watched and room not in self._watching:
            # Joined without a watch first (or after a sweep let the room go): learn the
            # other nodes' view in the background; joins are told when it arrives.
            task = asyncio.get_running_loop().create_task(self.watch(room))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        self._changed(room)

    def leave(self, room: str, user: str | None) -> None:
        self._local.leave(room, user)
        self._changed(room)

    def present(self, room: str) -> Present:
        union = self._local.present(room)
        for snapshot in self._remote.get(room, {}).values():
            for user, count in snapshot.users.items():
                union.users[user] = union.users.get(user, 0) + count
            union.anonymous += snapshot.anonymous
        return union

    async def read(self, room: str) -> Present:
        if room in self._watched:
            return self.present(room)
        union = self._local.present(room)
        loop = asyncio.get_running_loop()
        try:
            stored = await self._fetch(room, loop.time())
        except _FAILURES as exc:
            raise Unavailable("presence cannot be read from Redis now") from exc
        for node, snapshot in stored.items():
            if node != self.node:
                for user, count in snapshot.users.items():
                    union.users[user] = union.users.get(user, 0) + count
                union.anonymous += snapshot.anonymous
        return union

    def typing(self, room: str, user: str) -> None:
        payload = orjson.dumps({"node": self.node, "typing": user})
        self._typing.append((room, payload))
        self._wake.set()

    async def close(self) -> None:
        """Tell the others this node's users stay for the grace only, then disconnect.
        Once: a second call does nothing."""
        if self._closing:
            return
        self._on_change = self._on_typing = None
        self._closing = True
        self._wake.set()
        tasks = [*self._tasks, *self._background]
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a task whose cancellation a client library swallowed is left behind.
            await asyncio.wait(tasks, timeout=layout.SOCKET_TIMEOUT)
        with contextlib.suppress(*_FAILURES):
            async with asyncio.timeout(layout.SOCKET_TIMEOUT):
                await self._flush(set(self._local.rooms()), ttl=self.grace)
        self._local.cancel()
        for shard in self._shards:
            if shard.task is not None:
                shard.task.cancel()
                await asyncio.wait([shard.task], timeout=layout.SOCKET_TIMEOUT)
            await shard.drop()
            await shard.client.aclose()
        self._shards = []

    # This node's side: snapshots written and published

    def _on_local_change(self, room: str, joined: list[str], left: list[str]) -> None:
        self._changed(room)  # a join, or a leave at the end of its grace

    def _changed(self, room: str) -> None:
        self._dirty.add(room)
        self._wake.set()
        self._recompute(room)

    async def _send(self) -> None:
        """Write the rooms changed meanwhile (one round trip per shard), and typing notices."""
        while True:
            await self._wake.wait()
            if self._closing:
                return
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            typing, self._typing = self._typing, []
            try:
                async with asyncio.timeout(layout.SOCKET_TIMEOUT + layout.CONNECT_TIMEOUT):
                    await self._flush(dirty, ttl=self.ttl, typing=typing)
            except _FAILURES as exc:
                # The next refresh writes every room again.
                log.warning("redis presence: could not write presence: %s", exc)

    async def _flush(
        self, rooms: set[str], *, ttl: float, typing: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        by_shard: dict[int, Any] = {}

        def pipe(room: str) -> Any:
            index = layout.shard_of(room, len(self._shards))
            if index not in by_shard:
                by_shard[index] = self._shards[index].client.pipeline(transaction=False)
            return by_shard[index]

        for room in rooms:
            present = self._local.present(room)
            gone = not present.users and not present.anonymous
            self._version += 1
            payload = orjson.dumps(
                {
                    "node": self.node,
                    "v": self._version,
                    "ttl": ttl,
                    "users": present.users,
                    "anonymous": present.anonymous,
                }
            )
            shard = self._shards[layout.shard_of(room, len(self._shards))]
            keys = [layout.who_key(room), layout.expiry_key(room), layout.who_channel(room)]
            args: list[str | bytes | int] = [
                self.node,
                payload,
                max(1, int(ttl * 1000)),
                "1" if gone else "0",
            ]
            await shard.put(keys=keys, args=args, client=pipe(room))
        for room, payload in typing:
            pipe(room).publish(layout.who_channel(room), payload)
        for index, pipeline in by_shard.items():
            try:
                await pipeline.execute()
            except RedisError as exc:
                if "NOSCRIPT" not in str(exc):
                    raise
                await self._shards[index].client.script_load(scripts.PUT)
                await pipeline.execute()

    async def _refresh(self) -> None:
        """Every ttl / 3: refresh this node's rooms, forget expired snapshots and rooms
        nobody here is in any more."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.ttl / 3)
            local = set(self._local.rooms())
            self._dirty |= local
            self._wake.set()
            now = loop.time()
            for room, snapshots in list(self._remote.items()):
                expired = [node for node, s in snapshots.items() if s.expires <= now]
                for node in expired:
                    del snapshots[node]
                if expired:
                    self._recompute(room)
            for room in self._watched - local:
                await self._unwatch(room)

    # Other nodes' side: snapshots heard and loaded

    async def _load(self, room: str) -> None:
        """Subscribe, then read what is stored: nothing published in between is missed.
        Without a subscription yet (connecting, or Redis down) what is stored is read all
        the same, so a stream's first ``presence`` lists the other nodes' users; the
        reconnection subscribes and reads it again."""
        shard = self._shards[layout.shard_of(room, len(self._shards))]
        await shard.subscribe(room)
        loop = asyncio.get_running_loop()
        try:
            stored = await self._fetch(room, loop.time())
        except _FAILURES as exc:
            log.warning("redis presence: cannot read room %s yet: %s", room, exc)
            return
        for node, snapshot in stored.items():
            if node != self.node:
                self._heard(room, node, snapshot)

    async def _fetch(self, room: str, now: float) -> dict[str, _Snapshot]:
        shard = self._shards[layout.shard_of(room, len(self._shards))]
        async with asyncio.timeout(layout.SOCKET_TIMEOUT + layout.CONNECT_TIMEOUT):
            rows = await shard.read(keys=[layout.who_key(room), layout.expiry_key(room)])
        found: dict[str, _Snapshot] = {}
        for i in range(0, len(rows), 3):
            fields = orjson.loads(rows[i + 2])
            found[rows[i].decode()] = _snapshot(fields, now + int(rows[i + 1]) / 1000)
        return found

    def _heard(self, room: str, node: str, snapshot: _Snapshot) -> None:
        snapshots = self._remote.setdefault(room, {})
        known = snapshots.get(node)
        if known is None or known.version < snapshot.version:
            snapshots[node] = snapshot  # an empty one is kept until it expires (a tombstone)

    async def _unwatch(self, room: str) -> None:
        self._watched.discard(room)
        self._remote.pop(room, None)
        self._told.pop(room, None)
        await self._shards[layout.shard_of(room, len(self._shards))].unsubscribe(room)

    async def _listen(self, shard: _Shard) -> None:
        """Keep the subscriber connection open; after a reconnection, reload every room."""
        loop = asyncio.get_running_loop()
        delay = 0.0
        while True:
            try:
                pubsub = shard.pubsub = shard.client.pubsub()
                await pubsub.subscribe(HEARTBEAT_CHANNEL)
                names = [layout.who_channel(room).encode() for room in shard.rooms]
                if names:
                    await pubsub.subscribe(*names)
                for room in list(shard.rooms):
                    task = loop.create_task(self._reload(room))
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)
                delay = 0.0
                while True:
                    message = await pubsub.get_message(timeout=self.ttl / 3)
                    if message is None:
                        await pubsub.ping()
                    else:
                        self._handle(shard, message, loop.time())
            except asyncio.CancelledError:
                raise
            except _FAILURES as exc:
                log.warning("redis presence: subscriber connection lost: %s", exc)
            await shard.drop()
            delay = min(2.0, max(0.05, delay * 2))
            await asyncio.sleep(delay)

    async def _reload(self, room: str) -> None:
        with contextlib.suppress(*_FAILURES):
            loop = asyncio.get_running_loop()
            for node, snapshot in (await self._fetch(room, loop.time())).items():
                if node != self.node:
                    self._heard(room, node, snapshot)
            self._recompute(room)

    def _handle(self, shard: _Shard, message: dict[str, Any], now: float) -> None:
        name = message["channel"]
        if message["type"] == "subscribe":
            confirmed = shard.confirmations.pop(name, None)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            return
        room = (
            layout.room_of_channel(name, layout.WHO_CHANNEL)
            if message["type"] == "message"
            else None
        )
        if room is None or (room not in self._watched and room not in self._watching):
            return
        try:
            fields = orjson.loads(message["data"])
            node = fields["node"]
            if node == self.node:
                return
            if "typing" in fields:
                if self._on_typing is not None:
                    self._on_typing(room, str(fields["typing"]))
                return
            self._heard(room, node, _snapshot(fields, now + float(fields["ttl"])))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("redis presence: unreadable message on %r: %s", name, exc)
            return
        self._recompute(room)

    def _recompute(self, room: str) -> None:
        """Tell this node's streams how the union changed since they were last told."""
        now = set(self.present(room).users)
        before = self._told.get(room, set())
        if now == before:
            return
        if now:
            self._told[room] = now
        else:
            self._told.pop(room, None)
        if self._on_change is not None:
            self._on_change(room, sorted(now - before), sorted(before - now))


def _snapshot(fields: dict[str, Any], expires: float) -> _Snapshot:
    users = {str(user): int(count) for user, count in fields["users"].items()}
    return _Snapshot(int(fields["v"]), expires, users, int(fields["anonymous"]))
