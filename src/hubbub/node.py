"""The node: one store, one committer, one hub, and the reads every transport shares.

Transports call the node and nothing below it. The node decides where a read
starts (the cursor rules of ``protocol.cursors``), serves it from the hub's
cache when it can and from the store when it must, and brings a new stream
from its cursor to live without a gap or a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable

from hubbub.committer import Committed, Committer
from hubbub.errors import RateLimited
from hubbub.hub import Hub, Subscriber
from hubbub.outbox import FlushScheduler
from hubbub.protocol.cursors import Bounds, Start, stream_start
from hubbub.protocol.encoding import (
    SSE_PING,
    WS_PING_FRAME,
    EncodedMessage,
    poll_body,
    sse_gap,
    ws_gap,
)
from hubbub.protocol.messages import Message, Publish
from hubbub.protocol.ratelimit import RateLimiter
from hubbub.settings import Settings
from hubbub.stats import Stats
from hubbub.store import Appended, Store, make_store

log = logging.getLogger(__name__)


def _rate_limiter(settings: Settings) -> RateLimiter | None:
    if settings.rate_limit is None:
        return None
    burst = settings.rate_burst or max(1, math.ceil(settings.rate_limit))
    return RateLimiter(settings.rate_limit, burst)


# Messages read from the store per step while a stream catches up.
CATCH_UP_PAGE = 200


class Node:
    """Everything a transport needs, behind one object built per server."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store if store is not None else make_store(settings)
        self.hub = Hub(settings.retain)
        self.stats = Stats()
        self.committer = Committer(self.store, self._on_commit, self.stats)
        self.closing = False
        self.rate_limiter = _rate_limiter(settings)
        # Every stream from attach to detach, live or still catching up.
        self._streams: set[Subscriber] = set()
        self._scheduler: FlushScheduler | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None

    # Life cycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._scheduler = self.hub.scheduler = FlushScheduler(loop)
        self.hub.load(await self.store.open())
        self.committer.start()
        self._heartbeat_task = loop.create_task(self._heartbeat(), name="hubbub-heartbeat")

    def begin_shutdown(self) -> None:
        """Answer every waiting long poll and end every stream."""
        self.closing = True
        self.hub.wake_all_waiters()
        for sub in self._streams:
            sub.end("shutdown")

    async def stop(self) -> None:
        """Commit what is queued, then close the store."""
        self.closing = True
        await self.committer.close()
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        await self.store.close()

    @property
    def scheduler(self) -> FlushScheduler:
        assert self._scheduler is not None, "node not started"
        return self._scheduler

    # Publishing

    def check_rate(self, client: str) -> None:
        """Refuse a publish from ``client`` over its rate (429), when limiting is on."""
        if self.rate_limiter is None:
            return
        wait = self.rate_limiter.take(client, asyncio.get_running_loop().time())
        if wait:
            raise RateLimited(f"over {self.rate_limiter.rate:g} publishes per second", wait)

    def submit(self, publish: Publish) -> asyncio.Future[Committed]:
        """Queue a publish; ids follow submission order. Resolves once committed."""
        return self.committer.submit(publish)

    async def publish(self, publish: Publish) -> Committed:
        return await self.submit(publish)

    def _on_commit(self, results: list[Appended]) -> list[EncodedMessage]:
        encoded = [EncodedMessage(appended.message) for appended in results]
        fresh = [enc for enc, appended in zip(encoded, results, strict=True) if appended.created]
        self.stats.published += len(fresh)
        self.stats.delivered += self.hub.deliver(fresh)
        return encoded

    # Reading

    def bounds(self, room: str) -> Bounds:
        return self.hub.bounds(room)

    def start_of(self, room: str, cursor: int | None) -> Start:
        return stream_start(cursor, self.hub.bounds(room))

    async def read_after(
        self, room: str, cursor: int, limit: int, upto: int | None = None
    ) -> list[EncodedMessage]:
        """Up to ``limit`` messages with ``id > cursor``, never past the hub's ``last_id``
        (or past ``upto``, the ``last_id`` of a snapshot the caller took)."""
        state = self.hub.rooms.get(room)
        if state is None:
            return []
        cached = state.cached_after(cursor, limit)
        if cached is not None:
            return cached
        return self._fanned_out(room, await self.store.read_after(room, cursor, limit), upto)

    async def read_before(
        self, room: str, before: int, limit: int, upto: int | None = None
    ) -> list[EncodedMessage]:
        state = self.hub.rooms.get(room)
        if state is None:
            return []
        cached = state.cached_before(before, limit)
        if cached is not None:
            return cached
        return self._fanned_out(room, await self.store.read_before(room, before, limit), upto)

    def _fanned_out(self, room: str, rows: list[Message], upto: int | None) -> list[EncodedMessage]:
        """Store rows the hub has already fanned out (and at most ``upto``), encoded.

        A row committed but not yet fanned out is left for the fan-out: a stream
        that read it here and then went live would otherwise get it twice.
        """
        last_id = self.hub.bounds(room).last_id
        if upto is not None:
            last_id = min(last_id, upto)
        return [EncodedMessage(row) for row in rows if row.id <= last_id]

    async def poll_after(self, room: str, cursor: int, limit: int) -> bytes:
        """A poll answer from ``cursor``; identical answers are built once per publish."""
        state = self.hub.rooms.get(room)
        if state is not None:
            cached = state.cached_after(cursor, limit)
            if cached is not None:
                return state.memo((cursor, limit), lambda: poll_body(cached, state.bounds))
        # One snapshot: the answer's last_id is never ahead of its messages, so a
        # client may take it as its next cursor when the answer was not cut by limit.
        bounds = self.hub.bounds(room)
        messages = await self.read_after(room, cursor, limit, upto=bounds.last_id)
        return poll_body(messages, bounds)

    async def poll_before(self, room: str, before: int | None, limit: int) -> bytes:
        """The newest ``limit`` messages below ``before`` (below infinity when None)."""
        bounds = self.hub.bounds(room)
        end = bounds.last_id + 1 if before is None else before
        messages = await self.read_before(room, end, limit, upto=bounds.last_id)
        return poll_body(messages, bounds)

    async def long_poll(self, room: str, since: int | None, limit: int, wait: float) -> bytes:
        """Answer at once if there is something to say, else hold up to ``wait`` seconds."""
        start = self.start_of(room, since)
        if start.gap is not None or start.cursor < self.hub.bounds(room).last_id or self.closing:
            return await self.poll_after(room, start.cursor, limit)
        state = self.hub.room(room)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        state.waiters.add(waiter)
        self.stats.waiting += 1
        try:
            async with asyncio.timeout(wait):
                await waiter
        except TimeoutError:
            pass
        finally:
            # Whether answered, timed out or cancelled by a vanished client,
            # nothing keeps a reference to the waiter after this.
            self.stats.waiting -= 1
            self.hub.room(room).waiters.discard(waiter)
            self.hub.forget_if_idle(room)
        return await self.poll_after(room, start.cursor, limit)

    # Streams

    async def attach(
        self, sub: Subscriber, cursor: int | None, drain: Callable[[], Awaitable[None]]
    ) -> None:
        """Send ``sub`` everything after its cursor, then make it live.

        The last check that the stream has caught up and the switch to live
        happen with no ``await`` between them, so no publish can slip in
        between: every id is delivered exactly once, in order.
        """
        gap = ws_gap if sub.kind == "ws" else sse_gap
        outbox = sub.outbox
        self._streams.add(sub)
        if self.closing:
            sub.end("shutdown")
            return
        start = self.start_of(sub.room, cursor)
        if start.gap is not None:
            outbox.push(gap(start.gap))
        position = start.cursor
        while position < self.hub.bounds(sub.room).last_id:
            page = await self.read_after(sub.room, position, CATCH_UP_PAGE)
            if outbox.closed or sub.done.done():
                return
            if not page or page[0].id != position + 1:
                # Retention removed what this stream was about to read: say so.
                bounds = self.hub.bounds(sub.room)
                outbox.push(gap(bounds))
                if not page:
                    position = bounds.last_id
                    break
            for message in page:
                outbox.push(message.ws if sub.kind == "ws" else message.sse)
                if outbox.backlog() > outbox.limit // 2:
                    outbox.flush(asyncio.get_running_loop().time())
                    await drain()
            position = page[-1].id
            outbox.flush(asyncio.get_running_loop().time())
            await drain()
            if outbox.closed or sub.done.done():
                return
        # What this stream was sent alone (a gap frame) goes before the room's frames.
        outbox.flush(asyncio.get_running_loop().time())
        self.hub.go_live(sub)
        self.stats.count_stream(sub.kind, +1)

    def detach(self, sub: Subscriber) -> None:
        self._streams.discard(sub)
        sub.outbox.close()
        if self.hub.leave(sub):
            self.stats.count_stream(sub.kind, -1)

    async def _heartbeat(self) -> None:
        """Ping WebSocket peers every heartbeat; SSE only when the stream was idle."""
        interval = self.settings.heartbeat
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval / 4)
            now = loop.time()
            self.hub.drop_unwatched_caches()
            if self.rate_limiter is not None:
                self.rate_limiter.forget_idle(now)
            for sub in self.hub.subscribers():
                if sub.kind == "ws":
                    if now - sub.last_seen > 2 * interval:
                        sub.end("timeout")
                    elif now - sub.last_ping >= interval:
                        sub.last_ping = now
                        sub.outbox.push(WS_PING_FRAME)
                elif now - max(sub.outbox.last_write, sub.last_ping) >= interval:
                    sub.last_ping = now
                    sub.outbox.push(SSE_PING)
