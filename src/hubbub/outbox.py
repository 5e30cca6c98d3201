"""Bounded per-subscriber outboxes, flushed once per event-loop iteration.

Writing each message to each socket separately costs one ``send`` syscall per
delivery and caps a core near 250k deliveries/s (see PERFORMANCE.md). Instead
the hub only appends pre-encoded bytes to an outbox; a single callback per loop
iteration joins what accumulated and writes it with one call. Under light load
that is one message per write; under heavy load batches grow by themselves.

The bound counts what the server holds for the connection: the outbox plus the
transport's user-space write buffer (not the kernel's). Past it the subscriber
is a slow consumer and is closed; it resumes from its cursor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

Framer = Callable[[bytes], bytes]


def _as_is(data: bytes) -> bytes:
    return data


def http_chunk(data: bytes) -> bytes:
    """HTTP/1.1 chunked framing (RFC 9112 section 7.1) for a streamed body."""
    return b"%x\r\n%b\r\n" % (len(data), data)


class FlushScheduler:
    """Collects outboxes that have data and flushes them all in one callback."""

    __slots__ = ("_dirty", "_loop", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[Outbox] = []
        self._scheduled = False

    def mark(self, outbox: Outbox) -> None:
        self._dirty.append(outbox)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush_all)

    def _flush_all(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        now = self._loop.time()
        for outbox in dirty:
            outbox.flush(now)


class Outbox:
    """What is queued for one connection, with the slow-consumer rule."""

    __slots__ = (
        "_framer",
        "_on_overflow",
        "_pending",
        "_pending_size",
        "_scheduler",
        "_transport",
        "closed",
        "last_write",
        "limit",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        scheduler: FlushScheduler,
        *,
        limit: int,
        on_overflow: Callable[[], None],
        framer: Framer = _as_is,
    ) -> None:
        self._transport = transport
        self._scheduler = scheduler
        self._framer = framer
        self._on_overflow = on_overflow
        self._pending: list[bytes] = []
        self._pending_size = 0
        self.limit = limit
        self.closed = False
        self.last_write = 0.0

    def push(self, data: bytes) -> None:
        """Queue bytes for the next flush; never blocks, never writes now."""
        if self.closed:
            return
        if not self._pending:
            self._scheduler.mark(self)
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size > self.limit:
            self.overflow()

    def flush(self, now: float) -> None:
        """Write everything pending in one call, then apply the bound."""
        if self.closed or not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        transport = self._transport
        if transport.is_closing():
            self.closed = True
            return
        transport.write(self._framer(data))
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
        self.closed = True
        self._pending.clear()
        self._pending_size = 0
        self._on_overflow()

    def close(self) -> None:
        """Stop queueing; what is pending is discarded."""
        self.closed = True
        self._pending.clear()
        self._pending_size = 0
