"""Reads: from the room's cache when it reaches, from the store when it must; polls.

A read never returns a message the hub has not applied yet (``_fanned_out``):
a stream that read it here and then went live would otherwise get it twice.
"""

from __future__ import annotations

import asyncio

from hubbub.errors import reading_store
from hubbub.hub import Hub, Room
from hubbub.protocol.corrections import latest_states, latest_view
from hubbub.protocol.cursors import Bounds, Cursor, stream_start
from hubbub.protocol.encoding import EncodedMessage, latest_body, poll_body
from hubbub.protocol.messages import MESSAGE, Message
from hubbub.stats import Stats
from hubbub.store import Store


class Reads:
    """Cache-or-store reads, short polls, and long polls that wait for the next message."""

    def __init__(self, hub: Hub, store: Store, stats: Stats) -> None:
        self._hub = hub
        self._store = store
        self._stats = stats
        self.closing = False

    async def read_after(
        self, room: Room, cursor: int, limit: int, upto: int | None = None
    ) -> list[EncodedMessage]:
        """Up to ``limit`` messages with ``id > cursor``, never past the room's ``last_id``
        (or past ``upto``, the ``last_id`` of a snapshot the caller took)."""
        cached = room.cached_after(cursor, limit)
        if cached is not None:
            return cached
        with reading_store():
            rows = await self._store.read_after(room.name, cursor, limit)
        return _fanned_out(room, rows, upto)

    async def read_before(
        self, room: Room, before: int, limit: int, upto: int | None = None
    ) -> list[EncodedMessage]:
        """The newest ``limit`` messages with ``id < before``."""
        cached = room.cached_before(before, limit)
        if cached is not None:
            return cached
        with reading_store():
            rows = await self._store.read_before(room.name, before, limit)
        messages = _fanned_out(room, rows, upto)
        room.seed(messages)
        return messages

    async def poll(
        self,
        name: str,
        since: Cursor | None,
        before: int | None,
        limit: int,
        *,
        latest: bool = False,
        around: int | None = None,
    ) -> bytes:
        """A short poll: after a cursor, or the newest ``limit`` (below ``before``), or
        the ``limit`` messages around the id ``around``; ``latest``: with edits and
        deletes applied (``?view=latest``)."""
        room = await self._hub.acquire(name)
        try:
            await self._hub.catch_up(room, since)
            if around is not None:
                return await self._poll_around(room, around, limit, latest)
            if latest:
                return await self._poll_latest(room, since, before, limit)
            if since is None:
                return await self._poll_before(room, before, limit)
            return await self.poll_after(room, stream_start(since, room.bounds).cursor, limit)
        finally:
            self._hub.release(room)

    async def _poll_latest(
        self, room: Room, since: Cursor | None, before: int | None, limit: int
    ) -> bytes:
        """The same page as the plain poll, each message shown as its corrections left it."""
        bounds = room.bounds
        if since is None:
            end = bounds.last_id + 1 if before is None else before
            page = await self.read_before(room, end, limit, upto=bounds.last_id)
        else:
            start = stream_start(since, bounds).cursor
            page = await self.read_after(room, start, limit, upto=bounds.last_id)
        return await self._latest_body(room, page, bounds)

    async def _latest_body(self, room: Room, page: list[EncodedMessage], bounds: Bounds) -> bytes:
        plain = [m.id for m in page if m.message.kind == MESSAGE]
        corrections: list[Message] = []
        if plain:
            corrections = await self._corrections(room, plain[0], plain[-1], bounds)
        messages = [m.message for m in page]
        return latest_body(latest_view(messages, latest_states(corrections)), bounds)

    async def _poll_around(self, room: Room, around: int, limit: int, latest: bool) -> bytes:
        """``limit`` messages around ``around``: the older half (ids below it), then it and
        what follows; a client shows a search hit in its place, then resumes from the
        page's last id."""
        bounds = room.bounds
        older: list[EncodedMessage] = []
        if limit > 1:
            older = await self.read_before(room, around, (limit - 1) // 2, upto=bounds.last_id)
        newer = await self.read_after(room, around - 1, limit - len(older), upto=bounds.last_id)
        page = older + newer
        if latest:
            return await self._latest_body(room, page, bounds)
        return poll_body(page, bounds)

    async def _corrections(
        self, room: Room, first: int, last: int, bounds: Bounds
    ) -> list[Message]:
        """Edits and deletes of ids ``first`` to ``last``, committed up to ``bounds``."""
        # A correction's id is above its target's: a cache reaching back to ``first``
        # holds every one of them.
        cached = room.cached_after(first - 1, bounds.last_id)
        if cached is not None:
            rows = [m.message for m in cached]
        else:
            with reading_store():
                rows = await self._store.corrections(room.name, first, last)
        return [
            m
            for m in rows
            if m.target is not None and first <= m.target <= last and m.id <= bounds.last_id
        ]

    async def message(self, name: str, message_id: int) -> Message | None:
        """One message of a room by id (cache first), or None if the room does not keep it."""
        room = await self._hub.acquire(name)
        try:
            if not room.bounds.first_id <= message_id <= room.bounds.last_id:
                return None
            found = await self.read_after(room, message_id - 1, 1)
            return found[0].message if found else None
        finally:
            self._hub.release(room)

    async def poll_after(self, room: Room, cursor: int, limit: int) -> bytes:
        """A poll answer from ``cursor``; identical answers are built once per message."""
        cached = room.cached_after(cursor, limit)
        if cached is not None:
            return room.memo((cursor, limit), lambda: poll_body(cached, room.bounds))
        # One snapshot: the answer's last_id is never ahead of its messages, so a
        # client may take it as its next cursor when the answer was not cut by limit.
        bounds = room.bounds
        messages = await self.read_after(room, cursor, limit, upto=bounds.last_id)
        return poll_body(messages, bounds)

    async def _poll_before(self, room: Room, before: int | None, limit: int) -> bytes:
        bounds = room.bounds
        end = bounds.last_id + 1 if before is None else before
        messages = await self.read_before(room, end, limit, upto=bounds.last_id)
        return poll_body(messages, bounds)

    async def long_poll(self, name: str, cursor: Cursor | None, limit: int, wait: float) -> bytes:
        """Answer at once if there is something to say, else hold up to ``wait`` seconds."""
        room = await self._hub.acquire(name)
        try:
            await self._hub.catch_up(room, cursor)
            start = stream_start(cursor, room.bounds)
            if start.gap is not None or start.cursor < room.bounds.last_id or self.closing:
                return await self.poll_after(room, start.cursor, limit)
            await self.wait_for_next(room, wait)
            if room.stale:  # its log started over while we waited: answer from the new one
                self._hub.release(room)
                room = await self._hub.acquire(name)
                start = stream_start(cursor, room.bounds)
            return await self.poll_after(room, start.cursor, limit)
        finally:
            self._hub.release(room)

    async def wait_for_next(self, room: Room, wait: float | None, *, count: bool = True) -> None:
        """Wait until the room's next message (or shutdown), at most ``wait`` seconds.

        ``count``: shown in ``/metrics`` as a waiting long poll.
        """
        if self.closing:
            return
        loop = self._hub.loop
        waiter: asyncio.Future[None] = loop.create_future()
        # A timer that resolves the waiter, rather than asyncio.timeout(): no
        # cancellation machinery and no loop lookups on the long-poll path.
        timer = None if wait is None else loop.call_later(wait, _resolve, waiter)
        room.add_waiter(waiter)
        step = 1 if count else 0
        self._stats.waiting += step
        try:
            await waiter
        finally:
            # Whether answered, timed out or cancelled by a vanished client,
            # nothing keeps a reference to the waiter after this.
            if timer is not None:
                timer.cancel()
            self._stats.waiting -= step
            room.drop_waiter(waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _fanned_out(room: Room, rows: list[Message], upto: int | None) -> list[EncodedMessage]:
    """Store rows the hub has already applied (and at most ``upto``), encoded."""
    last_id = room.bounds.last_id
    if upto is not None:
        last_id = min(last_id, upto)
    epoch = room.bounds.epoch
    return [EncodedMessage(row, epoch) for row in rows if row.id <= last_id]
