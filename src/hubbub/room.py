"""A room in memory: its bounds, its newest messages, and who is listening.

Each room keeps a short contiguous cache of its newest messages, so live
readers (long polls waking up, streams resuming from a recent cursor, page
loads) are served without touching the store; and the frames fanned out during
the current loop iteration, which :meth:`Room.flush` joins once and writes, as
the same bytes, to every live subscriber.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

from hubbub.outbox import Outbox, http_chunk
from hubbub.protocol.cursors import Bounds
from hubbub.protocol.encoding import EncodedMessage
from hubbub.store.base import bounds_after

StreamKind = Literal["ws", "sse"]
Listener = Callable[[EncodedMessage], None]

# Newest messages each room keeps in memory; enough for a page load (100) and
# for any live reader that is a little behind.
RECENT_CACHE = 256
# Distinct (cursor, limit) poll answers memoised per room between publishes.
POLL_MEMO = 64


class Subscriber:
    """One streaming connection (SSE or WebSocket) to one room."""

    __slots__ = ("done", "kind", "last_ping", "last_seen", "outbox", "room", "skip")

    def __init__(self, room: str, kind: StreamKind, outbox: Outbox, now: float) -> None:
        self.room = room
        self.kind = kind
        self.outbox = outbox
        # Frames of the room's pending batch this stream already got while catching
        # up (it went live mid-iteration); the next flush skips them for it.
        self.skip = 0
        self.last_seen = now  # last frame received from the peer (WebSocket)
        self.last_ping = now
        # Resolved with the reason once the server ends the stream.
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def end(self, reason: str) -> None:
        if not self.done.done():
            self.done.set_result(reason)


class Room:
    """A room's in-memory state: bounds, recent messages, listeners."""

    __slots__ = (
        "_memo",
        "bounds",
        "listeners",
        "name",
        "pending_sse",
        "pending_ws",
        "recent",
        "sse",
        "waiters",
        "ws",
    )

    def __init__(self, name: str, bounds: Bounds) -> None:
        self.name = name
        self.bounds = bounds
        self.recent: list[EncodedMessage] = []  # contiguous ids ending at bounds.last_id
        self.ws: set[Subscriber] = set()
        self.sse: set[Subscriber] = set()
        self.waiters: set[asyncio.Future[None]] = set()
        # Other views of the room (the tutorial dialect): called with each new message.
        self.listeners: set[Listener] = set()
        self._memo: dict[tuple[int, int], bytes] = {}
        # Frames fanned out since the last flush, per wire format.
        self.pending_ws: list[bytes] = []
        self.pending_sse: list[bytes] = []

    def unwatched(self) -> bool:
        return not (self.ws or self.sse or self.waiters or self.listeners)

    def idle(self) -> bool:
        return self.unwatched() and not self.bounds.last_id

    def append(self, message: EncodedMessage, retain: int | None) -> None:
        self.bounds = bounds_after(message.id, retain)
        recent = self.recent
        if recent and recent[-1].id != message.id - 1:
            recent.clear()  # never let the cache hold a hole
        recent.append(message)
        keep_from = max(self.bounds.first_id, message.id - RECENT_CACHE + 1)
        drop = keep_from - recent[0].id
        # Trim in slices (amortised), but never serve what retention removed.
        if drop > RECENT_CACHE // 4 or (drop > 0 and recent[0].id < self.bounds.first_id):
            del recent[:drop]
        self.clear_memo()

    def cached_after(self, cursor: int, limit: int) -> list[EncodedMessage] | None:
        """Messages with ``id > cursor`` from the cache, or None if it does not reach."""
        if cursor >= self.bounds.last_id:
            return []
        recent = self.recent
        if not recent or recent[0].id > cursor + 1:
            return None
        start = cursor + 1 - recent[0].id
        return recent[start : start + limit]

    def cached_before(self, before: int, limit: int) -> list[EncodedMessage] | None:
        """The newest ``limit`` messages with ``id < before``, or None if not all cached."""
        recent = self.recent
        end_id = min(before - 1, self.bounds.last_id)
        if end_id < self.bounds.first_id or end_id < 1:
            return []
        if not recent:
            return None
        start_id = max(end_id - limit + 1, self.bounds.first_id)
        if recent[0].id > start_id:
            return None
        offset = recent[0].id
        return recent[start_id - offset : end_id - offset + 1]

    def clear_memo(self) -> None:
        self._memo.clear()

    def memo(self, key: tuple[int, int], build: Callable[[], bytes]) -> bytes:
        """A poll answer built once per (cursor, limit) until the next publish."""
        body = self._memo.get(key)
        if body is None:
            if len(self._memo) >= POLL_MEMO:
                self._memo.clear()
            body = self._memo[key] = build()
        return body

    def wake_waiters(self) -> None:
        waiters, self.waiters = self.waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def join(self, sub: Subscriber) -> None:
        """Make ``sub`` live; frames already pending were part of its catch-up."""
        if sub.kind == "ws":
            sub.skip = len(self.pending_ws)
            self.ws.add(sub)
        else:
            sub.skip = len(self.pending_sse)
            self.sse.add(sub)

    def flush(self, now: float) -> None:
        """Write this iteration's frames: joined once, the same bytes to every stream."""
        if self.pending_ws:
            frames, self.pending_ws = self.pending_ws, []
            _write_all(self.ws, frames, b"".join(frames), False, now)
        if self.pending_sse:
            events, self.pending_sse = self.pending_sse, []
            _write_all(self.sse, events, b"".join(events), True, now)


def _write_all(
    subs: set[Subscriber], frames: list[bytes], data: bytes, sse: bool, now: float
) -> None:
    # Framed once for every chunked (HTTP/1.1 SSE) stream; only SSE outboxes are chunked.
    chunk = http_chunk(data) if sse else data
    # A tuple: a write can overflow a subscriber, whose end may leave the set.
    for sub in tuple(subs):
        outbox = sub.outbox
        if sub.skip:
            rest = b"".join(frames[sub.skip :])
            sub.skip = 0
            if rest:
                outbox.write_shared(http_chunk(rest) if outbox.chunked else rest, now)
        else:
            outbox.write_shared(chunk if outbox.chunked else data, now)
