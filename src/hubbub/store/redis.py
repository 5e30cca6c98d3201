"""Rooms' logs in Redis, shared by every node: the store for several machines.

Each publish batch is one Lua script per room (see ``redis_scripts``) that creates the room's
epoch if missing, takes ids with ``HINCRBY``, checks ``client_id``, appends to the room's stream,
applies retention, indexes the room and publishes the new messages on the room's channel, all
atomically. Why a stream rather than a sorted set for the log: a stream is an append-only radix
tree of listpacks whose entry ids (``0-ID``) are the message ids, so it stores a message in
about its JSON's size with no per-entry index, and ``XRANGE``/``XTRIM MINID`` are exactly
"ids after N" and "keep the newest N"; a sorted set would index every message twice (hash table
and skip list) and need the id in each member to keep members unique.

A ``201`` means durable: ``open`` checks that Redis fsyncs its append-only file on every write
(with ``appendfsync always`` Redis fsyncs before it sends the script's reply, and before it sends
the published messages to subscribers, one fsync for everything that arrived in one event-loop
turn). Without that, it refuses to open unless the operator accepted weaker durability.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from hubbub import redis_layout as layout
from hubbub.errors import SearchUnavailable, StoreError
from hubbub.protocol.cursors import Bounds
from hubbub.protocol.messages import Message
from hubbub.protocol.search import Query
from hubbub.store.base import Appended, Found, SearchScope, Stamped, refused_append
from hubbub.store.epochs import new_epoch
from hubbub.store.redis_scripts import APPEND, BOUNDS, CLEAR

log = logging.getLogger(__name__)

# The operator flag that accepts a Redis which may lose acknowledged writes (the lead names it).
WEAK_DURABILITY_FLAG = "--redis-weak-durability"
# Client ids kept per room when the log is unbounded (retain None): a retry is recognised as
# long as fewer than this many newer client_ids were published in the room.
CLIENT_ID_WINDOW = 10_000
# Eviction policies that never evict hubbub's keys (it sets no TTL on a room holding messages).
# /healthz writes this key (expiring) on every shard to learn that writes are taken.
HEALTH_PROBE_KEY = "hubbub:health"
HEALTH_PROBE_TTL_MS = 60_000
SAFE_EVICTION = {"noeviction", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"}


class RedisStore:
    """The Store on one or more Redis servers; rooms are sharded by ``layout.shard_of``."""

    def __init__(
        self,
        urls: Sequence[str],
        retain: int | None = None,
        *,
        require_fsync: bool = True,
        client_id_window: int = CLIENT_ID_WINDOW,
        timeout: float = layout.SOCKET_TIMEOUT,
        max_rooms: int | None = None,
    ) -> None:
        if not urls:
            raise ValueError("RedisStore needs at least one Redis URL")
        self._urls = list(urls)
        self._retain = retain
        self._require_fsync = require_fsync
        self._client_id_window = client_id_window
        self._timeout = timeout
        # Each shard enforces its share of the cap in its append script (a script sees only its
        # own shard): max_rooms / shards, rounded up. Rooms spread evenly by hash, so the total
        # reaches about max_rooms; a shard that fills first refuses its new rooms a little early.
        self._shard_cap = 0 if max_rooms is None else -(-max_rooms // len(self._urls))
        self._shards: list[Redis] = []
        self._refusing = False
        self.durable = False

    def _shard_index(self, room: str) -> int:
        if not self._shards:
            raise StoreError("redis store is not open")
        return layout.shard_of(room, len(self._shards))

    def _shard(self, room: str) -> Redis:
        return self._shards[self._shard_index(room)]

    async def _call(self, what: str, operation: Awaitable[Any]) -> Any:
        """Run one Redis operation; every failure is a prompt StoreError (the node's 503)."""
        try:
            # The socket timeouts bound each read; this bounds the whole call (connect included).
            async with asyncio.timeout(self._timeout + layout.CONNECT_TIMEOUT):
                return await operation
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreError(f"redis {what}: {exc or type(exc).__name__}") from exc

    async def open(self) -> None:
        self._shards = [layout.connect(url, socket_timeout=self._timeout) for url in self._urls]
        self._append = [shard.register_script(APPEND) for shard in self._shards]
        self._bounds = [shard.register_script(BOUNDS) for shard in self._shards]
        self._clear = [shard.register_script(CLEAR) for shard in self._shards]
        try:
            checks = [
                self._check_durability(url, s)
                for url, s in zip(self._urls, self._shards, strict=True)
            ]
            verified = await asyncio.gather(*checks)
        except BaseException:
            await self.close()
            raise
        self.durable = all(verified)
        if not self.durable:
            log.warning(
                "redis store: acknowledged publishes may be lost (%s)", WEAK_DURABILITY_FLAG
            )

    async def _check_durability(self, url: str, shard: Redis) -> bool:
        """True if ``url`` keeps every acknowledged write; raise if it does not and the operator
        did not accept that."""
        try:
            config: dict[str, str] = {}
            for name in ("appendonly", "appendfsync", "maxmemory-policy"):
                reply = await self._call("CONFIG GET", shard.config_get(name))
                config.update({_text(k): _text(v) for k, v in reply.items()})
        except StoreError as exc:
            cause = exc.__cause__
            refused = str(cause).lower()
            if not (
                isinstance(cause, ResponseError)
                and ("unknown command" in refused or "noperm" in refused)
            ):
                raise StoreError(f"cannot use redis at {url}: {exc}") from exc
            if self._require_fsync:
                raise StoreError(
                    f"redis at {url} does not allow CONFIG GET (managed Redis?), so hubbub cannot "
                    "check that it sets appendonly yes and appendfsync always; make sure it does "
                    f"and start with {WEAK_DURABILITY_FLAG} to accept what cannot be checked"
                ) from exc
            return False
        wrong = []
        if config.get("appendonly") != "yes":
            wrong.append("appendonly yes")
        if config.get("appendfsync") != "always":
            wrong.append("appendfsync always")
        if config.get("maxmemory-policy", "noeviction") not in SAFE_EVICTION:
            wrong.append("maxmemory-policy noeviction")
        if not wrong:
            return True
        if self._require_fsync:
            settings = " and ".join(wrong)
            raise StoreError(
                f"redis at {url} may lose acknowledged messages: set {settings} "
                f"(redis.conf, or CONFIG SET then CONFIG REWRITE), "
                f"or start with {WEAK_DURABILITY_FLAG} to accept that"
            )
        return False

    async def close(self) -> None:
        shards, self._shards = self._shards, []
        for shard in shards:
            await shard.aclose()

    async def append(self, batch: Sequence[Stamped]) -> list[Appended]:
        by_room: dict[str, list[int]] = defaultdict(list)
        for index, item in enumerate(batch):
            by_room[item.publish.room].append(index)
        results: list[Appended | None] = [None] * len(batch)
        # One script per room, rooms concurrently: a room's order is its script's argument order.
        outcomes = await asyncio.gather(
            *(self._append_room(room, [batch[i] for i in items]) for room, items in by_room.items())
        )
        for items, appended in zip(by_room.values(), outcomes, strict=True):
            for index, outcome in zip(items, appended, strict=True):
                results[index] = outcome
        return [r for r in results if r is not None]

    async def _append_room(self, room: str, items: list[Stamped]) -> list[Appended]:
        script = self._append[self._shard_index(room)]
        keys = [
            layout.meta_key(room),
            layout.log_key(room),
            layout.client_ids_key(room),
            layout.ROOMS_INDEX,
            layout.corrections_key(room),
        ]
        args: list[Any] = [
            new_epoch(),
            self._retain or 0,
            self._client_id_window,
            room,
            layout.channel(room),
            self._shard_cap,
        ]
        bodies = []
        for item in items:
            pub = item.publish
            body = layout.message_body(
                pub.user, pub.text, item.ts, pub.client_id, pub.kind, pub.target
            )
            bodies.append(body)
            target = "" if pub.target is None else str(pub.target)
            args += [pub.client_id or "", target, body]
        reply = await self._call("append", script(keys=keys, args=args))
        epoch = reply[0].decode()
        if int(reply[1]) < 0:
            return [refused_append(item, epoch) for item in items]
        appended = []
        for body, outcome in zip(bodies, reply[2:], strict=True):
            message_id, created = int(outcome[0]), outcome[1] == 1
            stored = body if created else outcome[2]
            message = layout.message_from_body(room, message_id, stored)
            appended.append(Appended(message, created, epoch))
        return appended

    async def bounds(self, room: str) -> Bounds:
        script = self._bounds[self._shard_index(room)]
        reply = await self._call("bounds", script(keys=_bounds_keys(room), args=[new_epoch()]))
        return _bounds_of(reply)

    async def bounds_many(self, rooms: Sequence[str]) -> dict[str, Bounds]:
        # One pipeline per shard: a script call per room (each gives a missing room its
        # epoch atomically), one round trip for all of them.
        names = list(dict.fromkeys(rooms))
        by_shard: dict[int, list[str]] = defaultdict(list)
        for name in names:
            by_shard[self._shard_index(name)].append(name)
        found: dict[str, Bounds] = {}
        for index, shard_rooms in by_shard.items():
            pipe = self._shards[index].pipeline(transaction=False)
            script = self._bounds[index]
            for name in shard_rooms:
                await script(keys=_bounds_keys(name), args=[new_epoch()], client=pipe)
            replies = await self._call("bounds", pipe.execute())
            found.update(zip(shard_rooms, map(_bounds_of, replies), strict=True))
        return {name: found[name] for name in names}

    async def read_after(self, room: str, since: int, limit: int) -> list[Message]:
        entries = await self._call(
            "read", self._shard(room).xrange(layout.log_key(room), f"0-{since + 1}", "+", limit)
        )
        return [_entry_message(room, entry) for entry in entries]

    async def read_before(self, room: str, before: int, limit: int) -> list[Message]:
        if before <= 1:
            return []
        entries = await self._call(
            "read",
            self._shard(room).xrevrange(layout.log_key(room), f"0-{before - 1}", "-", limit),
        )
        return [_entry_message(room, entry) for entry in reversed(entries)]

    async def corrections(self, room: str, first: int, last: int) -> list[Message]:
        shard = self._shard(room)
        ids = await self._call(
            "corrections", shard.zrangebyscore(layout.corrections_key(room), first, last)
        )
        if not ids:
            return []
        pipe = shard.pipeline(transaction=False)
        for raw in sorted(int(i) for i in ids):
            pipe.xrange(layout.log_key(room), f"0-{raw}", f"0-{raw}")
        found = await self._call("corrections", pipe.execute())
        return [_entry_message(room, entries[0]) for entries in found if entries]

    async def list_rooms(
        self, after: str | None, limit: int, until: str | None = None
    ) -> list[tuple[str, int]]:
        start = "-" if after is None else f"({after}"
        end = "+" if until is None else f"[{until}"
        pages = await asyncio.gather(
            *(self._list_shard(shard, start, end, limit) for shard in self._shards)
        )
        return list(heapq.merge(*pages))[:limit]

    async def _list_shard(
        self, shard: Redis, start: str, end: str, limit: int
    ) -> list[tuple[str, int]]:
        names = await self._call(
            "list rooms", shard.zrangebylex(layout.ROOMS_INDEX, start, end, 0, limit)
        )
        if not names:
            return []
        pipe = shard.pipeline(transaction=False)
        for name in names:
            pipe.hget(layout.meta_key(name.decode()), "last_id")
        last_ids = await self._call("list rooms", pipe.execute())
        return [
            (name.decode(), int(last_id))
            for name, last_id in zip(names, last_ids, strict=True)
            if last_id is not None
        ]

    async def count_rooms(self) -> int:
        cards = await asyncio.gather(
            *(self._call("count rooms", shard.zcard(layout.ROOMS_INDEX)) for shard in self._shards)
        )
        return sum(int(card) for card in cards)

    async def clear(self, room: str) -> str:
        script = self._clear[self._shard_index(room)]
        keys = [
            layout.meta_key(room),
            layout.log_key(room),
            layout.client_ids_key(room),
            layout.ROOMS_INDEX,
            layout.corrections_key(room),
        ]
        epoch = await self._call(
            "clear", script(keys=keys, args=[new_epoch(), room, layout.channel(room)])
        )
        return _text(epoch)

    async def search(self, query: Query, scope: SearchScope) -> list[Found]:
        """No search: the Redis servers hubbub runs on have no search module (plain
        ``redis-server`` has no ``FT.SEARCH``), and an index kept by the append script
        would cost every publish a write per word and hold the text twice in memory
        (docs/protocol.md, *Search*). Searching needs the SQLite or memory store."""
        raise SearchUnavailable(
            "the Redis store keeps no search index; search needs --store sqlite"
        )

    async def ping(self) -> bool:
        """True while every shard takes a write now.

        A real (tiny, expiring) write, because a Redis that answers may still refuse writes:
        a replica (READONLY), ``min-replicas-to-write`` unmet (NOREPLICAS), a failed append-only
        file or snapshot (MISCONF), ``maxmemory`` reached under ``noeviction`` (OOM).
        """
        try:
            await asyncio.gather(
                *(
                    self._call("ping", shard.set(HEALTH_PROBE_KEY, b"1", px=HEALTH_PROBE_TTL_MS))
                    for shard in self._shards
                )
            )
        except StoreError as exc:
            if not self._refusing:  # once per outage, not once per health check
                log.warning("redis store: not taking writes: %s", exc)
            self._refusing = True
            return False
        if self._refusing:
            log.info("redis store: taking writes again")
        self._refusing = False
        return bool(self._shards)


def _entry_message(room: str, entry: tuple[bytes, dict[bytes, bytes]]) -> Message:
    entry_id, fields = entry
    return layout.message_from_body(room, layout.entry_id(entry_id), fields[b"m"])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bounds_keys(room: str) -> list[str]:
    return [
        layout.meta_key(room),
        layout.log_key(room),
        layout.client_ids_key(room),
        layout.corrections_key(room),
    ]


def _bounds_of(reply: Any) -> Bounds:
    """The bounds script's ``(epoch, last_id, first_entry)`` as :class:`Bounds`."""
    epoch, last_id, first_entry = reply
    if not last_id:
        return Bounds(0, 0, epoch.decode())
    first_id = layout.entry_id(first_entry) if first_entry else last_id
    return Bounds(first_id, int(last_id), epoch.decode())
