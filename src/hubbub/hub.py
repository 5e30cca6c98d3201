"""The hub: rooms in memory, their live subscribers, and fan-out.

The hub never awaits a client. Fan-out appends the message's pre-encoded bytes
(one encoding per wire format) to each live subscriber's outbox and wakes the
long-poll waiters; the outboxes are written later, once per loop iteration.

Each room also keeps its bounds and a short contiguous cache of its newest
messages, so live readers (long polls waking up, streams resuming from a
recent cursor, page loads) are served without touching the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Literal

from hubbub.outbox import Outbox
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

    __slots__ = ("done", "kind", "last_ping", "last_seen", "outbox", "room")

    def __init__(self, room: str, kind: StreamKind, outbox: Outbox, now: float) -> None:
        self.room = room
        self.kind = kind
        self.outbox = outbox
        self.last_seen = now  # last frame received from the peer (WebSocket)
        self.last_ping = now
        # Resolved with the reason once the server ends the stream.
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def end(self, reason: str) -> None:
        if not self.done.done():
            self.done.set_result(reason)


class Room:
    """A room's in-memory state: bounds, recent messages, listeners."""

    __slots__ = ("_memo", "bounds", "listeners", "name", "recent", "sse", "waiters", "ws")

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


class Hub:
    """Rooms by name, and the fan-out of committed messages."""

    def __init__(self, retain: int | None) -> None:
        self._retain = retain
        self.rooms: dict[str, Room] = {}

    def load(self, bounds: dict[str, Bounds]) -> None:
        """Adopt the store's rooms at start-up."""
        self.rooms = {name: Room(name, b) for name, b in bounds.items()}

    def room(self, name: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(name, Bounds())
        return room

    def bounds(self, name: str) -> Bounds:
        room = self.rooms.get(name)
        return room.bounds if room is not None else Bounds()

    def forget_if_idle(self, name: str) -> None:
        room = self.rooms.get(name)
        if room is not None and room.idle():
            del self.rooms[name]

    def deliver(self, messages: Iterable[EncodedMessage]) -> int:
        """Fan committed messages (in id order) out to every live listener.

        Returns the number of stream deliveries queued, for metrics.
        """
        delivered = 0
        for message in messages:
            room = self.room(message.message.room)
            room.append(message, self._retain)
            if room.ws:
                frame = message.ws
                for sub in room.ws:
                    sub.outbox.push(frame)
                delivered += len(room.ws)
            if room.sse:
                event = message.sse
                for sub in room.sse:
                    sub.outbox.push(event)
                delivered += len(room.sse)
            if room.waiters:
                room.wake_waiters()
            for listener in tuple(room.listeners):
                listener(message)
        return delivered

    def go_live(self, sub: Subscriber) -> None:
        room = self.room(sub.room)
        (room.ws if sub.kind == "ws" else room.sse).add(sub)

    def leave(self, sub: Subscriber) -> bool:
        """Remove a stream; True if it was live."""
        room = self.rooms.get(sub.room)
        if room is None:
            return False
        live = room.ws if sub.kind == "ws" else room.sse
        was_live = sub in live
        live.discard(sub)
        self.forget_if_idle(sub.room)
        return was_live

    def listen(self, room: str, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` (synchronously, never awaiting) with each new message of
        ``room``; returns the function that stops it."""
        self.room(room).listeners.add(listener)

        def stop() -> None:
            state = self.rooms.get(room)
            if state is not None:
                state.listeners.discard(listener)
                self.forget_if_idle(room)

        return stop

    def drop_unwatched_caches(self) -> None:
        """Free the recent-message cache of rooms nobody listens to.

        Without this, every room that ever had a message would keep up to
        ``RECENT_CACHE`` messages in memory for the life of the process.
        """
        for room in self.rooms.values():
            if room.recent and room.unwatched():
                room.recent = []
                room.clear_memo()

    def subscribers(self) -> list[Subscriber]:
        return [sub for room in self.rooms.values() for sub in (*room.ws, *room.sse)]

    def wake_all_waiters(self) -> None:
        for room in self.rooms.values():
            room.wake_waiters()
