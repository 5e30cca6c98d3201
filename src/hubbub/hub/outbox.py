"""Bounded per-connection outboxes, and the once-per-iteration flush.

Writing each message to each socket separately costs one ``send`` syscall per
delivery and caps a core near 250k deliveries/s (docs/benchmarks.md). So
nothing on the publish path writes. Fan-out only appends a message's
pre-encoded bytes to its room's pending list; one callback per event-loop
iteration joins each room's pending frames once and writes those same bytes to
every live subscriber of the room (:meth:`Outbox.write_shared`). Under light
load that is one message per write; under heavy load batches grow by themselves,
and the Python work per iteration is per subscriber, not per delivery.

Bytes for one connection only (acks, errors, pings, a stream's catch-up) go
through :meth:`Outbox.push` and are written in the same callback, after the
room's shared bytes. An ``ack`` goes through :meth:`Outbox.push_after`: it stays
behind the rooms' frames even when the connection's opening frames of a new
subscription go out before them (``mark_first``).

The bound counts what the server holds for the connection: its own pending bytes
plus the transport's user-space write buffer (not the kernel's). Past it the
subscriber is a slow consumer and is closed; it resumes from its cursor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol


def http_chunk(data: bytes) -> bytes:
    """HTTP/1.1 chunked framing (RFC 9112 section 7.1) for a streamed body."""
    return b"%x\r\n%b\r\n" % (len(data), data)


# Seconds a room's frames that may wait (presence changes) wait at most for a flush.
LATER = 0.05


class Flushable(Protocol):
    def flush(self, now: float) -> None: ...


class Opening(Flushable, Protocol):
    def flush_opening(self, now: float) -> None: ...


class FlushScheduler:
    """Flushes everything marked during one loop iteration in a single callback.

    Rooms are flushed before connection outboxes, so an ``ack`` follows the
    ``message`` frame it acknowledges. Outboxes marked ``first`` go before the rooms:
    those of streams that went live in this iteration, whose opening frames (``ready``,
    catch-up, who is here) must precede the room's, and which then leave in one write
    however many rooms a connection opened in the iteration (a reconnect storm).
    """

    __slots__ = ("_first", "_later", "_loop", "_outboxes", "_rooms", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._first: list[Opening] = []
        self._rooms: list[Flushable] = []
        self._outboxes: list[Flushable] = []
        self._scheduled = False
        # Rooms whose pending frames may wait (mark_room_later), until the timer.
        self._later: dict[Flushable, None] = {}

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush_all)

    def mark_room(self, room: Flushable) -> None:
        self._rooms.append(room)
        self._schedule()

    def mark_room_later(self, room: Flushable) -> None:
        """Flush ``room`` within :data:`LATER` seconds, or with its next message if that
        comes sooner (that flush writes its pending frames in order). A room's later
        frames then share one write per stream however many loop iterations added
        them (a storm's presence joins: one write per member per iteration otherwise)."""
        if not self._later:
            self._loop.call_later(LATER, self._mark_later)
        self._later[room] = None

    def _mark_later(self) -> None:
        # Through the next flush, not written here: the opening frames of the streams
        # that went live meanwhile must go first (mark_first).
        later, self._later = self._later, {}
        for room in later:
            self.mark_room(room)

    def mark(self, outbox: Flushable) -> None:
        self._outboxes.append(outbox)
        self._schedule()

    def mark_first(self, outbox: Opening) -> None:
        self._first.append(outbox)
        self._schedule()

    def _flush_all(self) -> None:
        self._scheduled = False
        first, self._first = self._first, []
        rooms, self._rooms = self._rooms, []
        outboxes, self._outboxes = self._outboxes, []
        now = self._loop.time()
        for opening in first:
            opening.flush_opening(now)
        for room in rooms:
            room.flush(now)
        for outbox in outboxes:
            outbox.flush(now)


def _no_overflow() -> None:
    """What a closed outbox's overflow does: nothing (it writes nothing more)."""


class Outbox:
    """What the server holds for one connection, with the slow-consumer rule."""

    __slots__ = (
        "_after",
        "_on_overflow",
        "_pending",
        "_pending_size",
        "_scheduler",
        "_transport",
        "chunked",
        "closed",
        "last_write",
        "limit",
        "sent",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        scheduler: FlushScheduler,
        *,
        limit: int,
        on_overflow: Callable[[], None],
        chunked: bool = False,
    ) -> None:
        self._transport = transport
        self._scheduler = scheduler
        self._on_overflow = on_overflow
        # None when nothing is queued: an idle connection holds no list (issue 19: an
        # empty list is one more object the collector tracks per connection).
        self._pending: list[bytes] | None = None
        # What must follow this iteration's room frames (acks), None when nothing does.
        self._after: list[bytes] | None = None
        self._pending_size = 0
        self.chunked = chunked  # an HTTP/1.1 streamed body: each write is one chunk
        self.limit = limit
        self.closed = False
        self.last_write = 0.0
        self.sent = 0  # bytes written, for the access log

    def push(self, data: bytes) -> None:
        """Queue bytes for this connection only; written in this iteration's flush."""
        if self.closed:
            return
        pending = self._pending
        if pending is None:
            self._pending = [data]
            self._scheduler.mark(self)
        else:
            pending.append(data)
        self._held(len(data))

    def push_after(self, data: bytes) -> None:
        """Queue bytes that must follow the room frames of this iteration (an ``ack``
        after the ``message`` it acknowledges): written in the flush after the rooms',
        never by :meth:`flush_opening`."""
        if self.closed:
            return
        if self._after is None:
            self._after = []
            self._scheduler.mark(self)
        self._after.append(data)
        self._held(len(data))

    def _held(self, size: int) -> None:
        self._pending_size += size
        if self._pending_size > self.limit:
            self.overflow()

    def flush(self, now: float) -> None:
        """Write everything pushed since the last flush in one call."""
        pending, after = self._pending, self._after
        if after is not None:
            self._after = None
            pending = after if pending is None else pending + after
        self._write(pending, now)

    def flush_opening(self, now: float) -> None:
        """Write what was pushed, before the rooms' frames of this iteration (a new
        subscription's opening frames), leaving what must follow them."""
        self._write(self._pending, now)

    def _write(self, frames: list[bytes] | None, now: float) -> None:
        if self.closed or frames is None:
            return
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        self._pending = None
        self._pending_size -= len(data)  # what stays held: an ack flush_opening left
        self.write_shared(http_chunk(data) if self.chunked else data, now)

    def write_shared(self, data: bytes, now: float) -> None:
        """Write bytes already framed for this connection (often shared by many)."""
        if self.closed:
            return
        transport = self._transport
        if transport.is_closing():
            self.closed = True
            return
        transport.write(data)
        self.sent += len(data)
        self.last_write = now
        if transport.get_write_buffer_size() > self.limit:
            self.overflow()

    def backlog(self) -> int:
        """Bytes held for this connection: the outbox plus the transport's buffer."""
        return self._pending_size + self._transport.get_write_buffer_size()

    def overflow(self) -> None:
        """The peer is not reading fast enough: drop what is queued and close."""
        if self.closed:
            return
        on_overflow = self._on_overflow  # close() lets it go
        self.close()
        on_overflow()

    def close(self) -> None:
        """Stop writing; what is pending is discarded. The overflow callback is let go:
        it usually refers to the stream that refers to this outbox, a cycle only the
        garbage collector would otherwise free (issue 19: none on the hot paths)."""
        self.closed = True
        self._pending = None
        self._after = None
        self._pending_size = 0
        self._on_overflow = _no_overflow
