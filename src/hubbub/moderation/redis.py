"""Moderation in Redis (the first shard): mutes that expire, the audit, and notices.

Mutes are a hash (``room\\nuser`` -> the mute as JSON) and a sorted set of the same fields
scored by when each ends (ms). Each write drops the mutes that ended and sets both keys to
expire when the last mute ends, so Redis forgets mutes by itself. Both keys carry the hash
tag ``{moderation}`` so that one script may touch them in a Redis Cluster too.

The audit is a stream whose entry ids are ``0-ID`` (ids from a counter, taken in the same
script as the append, so ids follow the order entries were added), trimmed to about the
newest 100,000.

Notices travel on one channel that every node subscribes to; a node skips its own. The
subscriber connection is reopened with backoff when it drops, and the node is then told to
resync (notices sent meanwhile were missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from typing import Any

import orjson
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from hubbub import redis_layout as layout
from hubbub.errors import StoreError
from hubbub.moderation.base import OnNotice
from hubbub.protocol.moderation import AuditEntry, Mute

log = logging.getLogger(__name__)

MUTES_KEY = "hubbub:{moderation}:mutes"
MUTES_UNTIL_KEY = "hubbub:{moderation}:mutes:until"
AUDIT_KEY = "hubbub:{moderation}:audit"
AUDIT_ID_KEY = "hubbub:{moderation}:audit:id"
AUDIT_KEPT = 100_000
CHANNEL = b"hubbub:moderation"
_FAILURES = (RedisError, OSError, TimeoutError)

# KEYS: mutes hash, until zset.  ARGV: field, mute JSON, until (ms), now (ms).
PUT_MUTE = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local ended = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
for _, field in ipairs(ended) do
  redis.call('HDEL', KEYS[1], field)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIREAT', KEYS[1], last[2])
  redis.call('PEXPIREAT', KEYS[2], last[2])
end
return 1
"""

# KEYS: audit stream, id counter.  ARGV: entry JSON, entries kept.
RECORD = """
local id = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '0-' .. id, 'e', ARGV[1])
return id
"""


def _field(room: str, user: str) -> str:
    # Neither a room name nor a user name holds a control character.
    return f"{room}\n{user}"


class RedisModeration:
    def __init__(self, url: str) -> None:
        self._url = url
        self._client = layout.connect(url)
        self._put = self._client.register_script(PUT_MUTE)
        self._record = self._client.register_script(RECORD)

    async def _call(self, what: str, operation: Any) -> Any:
        try:
            async with asyncio.timeout(layout.SOCKET_TIMEOUT + layout.CONNECT_TIMEOUT):
                return await operation
        except _FAILURES as exc:
            raise StoreError(f"redis moderation {what}: {exc or type(exc).__name__}") from exc

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        await self._client.aclose()

    async def put_mute(self, mute: Mute, now: float) -> None:
        args: list[str | bytes | int] = [
            _field(mute.room, mute.user),
            orjson.dumps(mute.to_record()),
            int(mute.until * 1000),
            int(now * 1000),
        ]
        await self._call("mute", self._put(keys=[MUTES_KEY, MUTES_UNTIL_KEY], args=args))

    async def lift_mute(self, room: str, user: str) -> bool:
        field = _field(room, user)
        pipe = self._client.pipeline(transaction=True)
        pipe.hdel(MUTES_KEY, field)
        pipe.zrem(MUTES_UNTIL_KEY, field)
        removed, _ = await self._call("unmute", pipe.execute())
        return bool(removed)

    async def mutes(self, now: float) -> list[Mute]:
        stored = await self._call("mutes", self._client.hgetall(MUTES_KEY))
        mutes = [Mute.from_record(orjson.loads(value)) for value in stored.values()]
        return [m for m in mutes if m.until > now]

    async def record(self, entry: AuditEntry) -> int:
        args: list[bytes | int] = [orjson.dumps(entry.to_record()), AUDIT_KEPT]
        added = self._record(keys=[AUDIT_KEY, AUDIT_ID_KEY], args=args)
        return int(await self._call("audit", added))

    async def audit(self, before: int | None, limit: int) -> list[AuditEntry]:
        if before is not None and before <= 1:
            return []
        high = "+" if before is None else f"0-{before - 1}"
        entries = await self._call("audit", self._client.xrevrange(AUDIT_KEY, high, "-", limit))
        return [
            AuditEntry.from_record(orjson.loads(fields[b"e"]), layout.entry_id(entry_id))
            for entry_id, fields in entries
        ]


class RedisNotices:
    """Notices between nodes over one Redis channel."""

    def __init__(self, url: str, *, max_backoff: float = 2.0) -> None:
        self._url = url
        self._max_backoff = max_backoff
        self.node = secrets.token_urlsafe(9)
        self._sender = layout.connect(url)
        self._listener = layout.connect(url, socket_timeout=None)
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()

    async def start(self, on_notice: OnNotice) -> None:
        """Subscribe; waits a bounded time for the first subscription, then runs regardless."""
        self._task = asyncio.get_running_loop().create_task(self._run(on_notice))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(layout.SOCKET_TIMEOUT + layout.CONNECT_TIMEOUT):
                await self.connected.wait()

    async def close(self) -> None:
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._sender.aclose()
        await self._listener.aclose()

    def send(self, notice: dict[str, Any]) -> None:
        payload = orjson.dumps({**notice, "node": self.node})
        task = asyncio.get_running_loop().create_task(self._publish(payload))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _publish(self, payload: bytes) -> None:
        try:
            async with asyncio.timeout(layout.SOCKET_TIMEOUT + layout.CONNECT_TIMEOUT):
                await self._sender.publish(CHANNEL, payload)
        except _FAILURES as exc:
            log.warning("redis moderation: could not send a notice to the other nodes: %s", exc)

    async def _run(self, on_notice: OnNotice) -> None:
        delay, missed = 0.0, False
        while True:
            pubsub: PubSub = self._listener.pubsub()
            try:
                async with asyncio.timeout(layout.SOCKET_TIMEOUT + layout.CONNECT_TIMEOUT):
                    await pubsub.subscribe(CHANNEL)
                    while (await pubsub.get_message(timeout=layout.SOCKET_TIMEOUT)) is None:
                        pass  # the subscribe confirmation comes first
                self.connected.set()
                if missed:
                    on_notice({"kind": "resync"})
                missed, delay = True, 0.0
                await self._read(pubsub, on_notice)
            except asyncio.CancelledError:
                raise
            except _FAILURES as exc:
                log.warning("redis moderation: notice connection lost: %s", exc)
                missed = True
            finally:
                self.connected.clear()
                with contextlib.suppress(*_FAILURES):
                    await pubsub.aclose()
            delay = min(self._max_backoff, max(0.05, delay * 2))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    async def _read(self, pubsub: PubSub, on_notice: OnNotice) -> None:
        interval = 5.0
        loop = asyncio.get_running_loop()
        heard = loop.time()
        while True:
            message = await pubsub.get_message(timeout=interval)
            now = loop.time()
            if message is None:
                if now - heard > 2 * interval:
                    raise TimeoutError("no answer to PING on the notice connection")
                await pubsub.ping()
                continue
            heard = now
            if message["type"] != "message":
                continue
            try:
                notice = orjson.loads(message["data"])
            except orjson.JSONDecodeError:
                log.error("redis moderation: unreadable notice")
                continue
            if isinstance(notice, dict) and notice.get("node") != self.node:
                on_notice(notice)
