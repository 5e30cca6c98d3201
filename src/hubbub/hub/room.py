"""A room in memory: its bounds, its newest messages, and the streams listening.

Each room keeps a short contiguous cache of its newest messages, so live
readers (long polls waking up, streams resuming from a recent cursor, page
loads) are served without touching the store; and the frames fanned out during
the current loop iteration, per wire format, which :meth:`Room.flush` joins
once and writes, as the same bytes, to every live stream of that format.

A :class:`Stream` is one connection that receives a room's messages, whatever its
transport. Transports subclass it (SSE, WebSocket, the tutorial dialect's socket).
The core writes bytes through its outbox, in the stream's
:class:`~hubbub.protocol.encoding.WireFormat`, and asks it to keep itself alive
(:meth:`Stream.tick`); it never asks which transport a stream is. A stream and the
room it is attached to refer to each other, so both live in this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence, Set
from typing import Any, ClassVar

from hubbub.hub.outbox import Outbox, http_chunk
from hubbub.principal import Principal
from hubbub.protocol.cursors import Bounds
from hubbub.protocol.encoding import EncodedMessage, WireFormat
from hubbub.runtime import CALLBACK_CONTEXT
from hubbub.store.base import bounds_after

# Told, in a callback of the loop, that a stream has ended (``Stream.when_ended``).
EndCallback = Callable[["Stream"], None]


class Stream:
    """One streaming connection to one room."""

    # Whether :meth:`tick` does anything: the heartbeat's round visits only those that
    # do (a GET /ws subscription's peer is kept alive by its socket, issue 19: 30,000
    # of them made every round twice as long for nothing).
    KEEPS_ALIVE: ClassVar[bool] = False

    __slots__ = (
        "_answers",
        "_told",
        "_waiter",
        "expiry",
        "finished",
        "format",
        "last_ping",
        "last_seen",
        "live",
        "outbox",
        "present",
        "principal",
        "reason",
        "room",
        "skip",
        "state",
        "user",
    )

    def __init__(
        self, room: str, fmt: WireFormat, outbox: Outbox, principal: Principal, now: float
    ) -> None:
        self.room = room
        self.format = fmt
        self.outbox = outbox
        self.principal = principal
        # Frames of the room's pending batch this stream already got while catching
        # up (it went live mid-iteration); the next flush skips them for it.
        self.skip = 0
        self.last_seen = now  # last frame received from the peer
        self.last_ping = now
        self.state: Room | None = None  # the room, from attach to detach
        # The name this connection is present under (None: counted as anonymous), and
        # whether it is counted in its room's presence now.
        self.user: str | None = None
        self.present = False
        # Why the server ended the stream; None while it is open. No future per stream
        # (issue 19: an idle stream is this object, nothing else the collector tracks):
        # whoever must hear of the end (:meth:`when_ended`) is told in a callback of the
        # loop, as a future's callbacks are; :meth:`wait` makes a future for a task.
        self.reason: str | None = None
        self._told: EndCallback | list[EndCallback] | None = None
        self._waiter: asyncio.Future[str] | None = None
        # The node's, while it serves the stream without a task (streams.py): the timer
        # of the token's expiry, and who is told why the stream ended once it is detached.
        self.expiry: asyncio.TimerHandle | None = None
        self.finished: Callable[[Stream, str], None] | None = None
        # Joined to its room's live frames (after its catch-up), and the answers to its
        # connection's publishes held until then (None: none held, no list).
        self.live = False
        self._answers: list[bytes] | None = None

    @property
    def ended(self) -> bool:
        return self.reason is not None

    def end(self, reason: str) -> None:
        """Ask the transport to end the stream: ``shutdown``, ``slow``, ``timeout``,
        ``reset`` (the room's log started over), ``gap``, ``expired`` (its token
        expired: the client reconnects with a fresh one) or ``gone``."""
        if self.reason is not None:
            return
        self.reason = reason
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(reason)
        told = self._told
        if told is not None:
            self._told = None
            loop = asyncio.get_running_loop()
            for callback in told if isinstance(told, list) else (told,):
                loop.call_soon(callback, self, context=CALLBACK_CONTEXT)

    def when_ended(self, callback: EndCallback) -> None:
        """Call ``callback(stream)`` in a callback of the loop once the stream has ended
        (soon, if it has), after those registered before it."""
        if self.reason is not None:
            asyncio.get_running_loop().call_soon(callback, self, context=CALLBACK_CONTEXT)
            return
        told = self._told
        if told is None:
            self._told = callback  # the usual case: one callback, no list
        elif isinstance(told, list):
            told.append(callback)
        else:
            self._told = [told, callback]

    def wait(self) -> asyncio.Future[str]:
        """A future of the reason the stream ends, for a task that waits for it."""
        waiter = self._waiter
        if waiter is None:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            if self.reason is not None:
                waiter.set_result(self.reason)
        return waiter

    def answer_after(self, frame: bytes) -> None:
        """Queue the answer to a publish to this stream's room from its own connection (an
        ``ack``), which must follow the message it acknowledges: after this iteration's
        room frames when the stream is live; else once its catch-up, which brings the
        message, is done (:meth:`went_live`, or the stream's end)."""
        if self.live:
            self.outbox.push_after(frame)
        elif self._answers is None:
            self._answers = [frame]
        else:
            self._answers.append(frame)

    def went_live(self) -> None:
        """Its catch-up is out and it receives the room's frames: held answers follow."""
        self.live = True
        self.release_answers()

    def release_answers(self) -> None:
        """Queue the answers held for the catch-up's end (it went live, or it ended)."""
        answers, self._answers = self._answers, None
        for frame in answers or ():
            self.outbox.push_after(frame)

    def release(self) -> None:
        """Detached: nothing more goes out through this stream. A stream that owns its
        connection closes its outbox; a subscription sharing one leaves it open."""
        self.outbox.close()

    def tick(self, now: float, interval: float) -> None:
        """Called every quarter heartbeat; transports keep their peer alive here."""


# Newest messages each room keeps in memory; enough for a page load (100) and
# for any live reader that is a little behind.
RECENT_CACHE = 256
# Distinct poll answers memoised per room between publishes.
POLL_MEMO = 64
# A room's waiters when no long poll waits: one empty set for all rooms (issue 19: an
# empty set per room is one more object the collector tracks).
NO_WAITERS: frozenset[asyncio.Future[None]] = frozenset()


class Room:
    """A room's in-memory state: bounds, recent messages, streams, waiters."""

    __slots__ = (
        "_memo",
        "backlog",
        "bounds",
        "cache_size",
        "filling",
        "last_used",
        "live_count",
        "name",
        "pending",
        "pins",
        "recent",
        "scheduled",
        "stale",
        "streams",
        "waiters",
    )

    def __init__(self, name: str, bounds: Bounds, now: float = 0.0) -> None:
        self.name = name
        self.bounds = bounds
        self.recent: list[EncodedMessage] = []  # contiguous ids ending at bounds.last_id
        self.cache_size = RECENT_CACHE
        self.streams: dict[WireFormat, set[Stream]] = {}
        # Live streams over every format, kept as they join and leave: the operations
        # sampler reads it for every room each second (16,000 rooms in issue 19's shape).
        self.live_count = 0
        # Long polls waiting for the next message (add_waiter, drop_waiter).
        self.waiters: Set[asyncio.Future[None]] = NO_WAITERS
        self._memo: dict[object, bytes] = {}
        # Frames fanned out since the last flush, per wire format.
        self.pending: dict[WireFormat, list[bytes]] = {}
        self.scheduled = False  # marked for this iteration's flush
        # Readers using the room right now (a stream catching up, a poll reading).
        self.pins = 0
        self.last_used = now
        # The sequencer (hub.py): messages that arrived after a hole, while it is filled
        # (None: none, nor a list, as nearly always).
        self.backlog: list[EncodedMessage] | None = None
        self.filling = False
        # The hub let go of this room (its log was reset): late users must not join it.
        self.stale = False

    def live(self) -> int:
        return self.live_count

    def idle(self) -> bool:
        return not (self.pins or self.waiters or self.filling or self.live())

    def append(self, message: EncodedMessage, retain: int | None) -> None:
        self.bounds = bounds_after(message.id, retain, self.bounds.epoch)
        recent = self.recent
        if recent and recent[-1].id != message.id - 1:
            recent.clear()  # never let the cache hold a hole
        recent.append(message)
        size = self.cache_size
        keep_from = max(self.bounds.first_id, message.id - size + 1)
        drop = keep_from - recent[0].id
        # Trim in slices (amortised), but never serve what retention removed.
        if drop > size // 4 or (drop > 0 and recent[0].id < self.bounds.first_id):
            del recent[:drop]
        self._memo.clear()

    def fan_out(self, message: EncodedMessage) -> int:
        """Queue ``message`` for every live stream; returns the deliveries queued."""
        delivered = 0
        for fmt, streams in self.streams.items():
            if streams:
                pending = self.pending.get(fmt)
                if pending is None:
                    pending = self.pending[fmt] = []
                pending.append(fmt.message(message))
                delivered += len(streams)
        return delivered

    def fan_out_event(self, name: str, body: dict[str, Any]) -> int:
        """Queue an ephemeral event for every live stream, encoded once per format."""
        delivered = 0
        for fmt, streams in self.streams.items():
            if streams:
                frame = fmt.event(self.name, name, body)
                if frame:
                    pending = self.pending.get(fmt)
                    if pending is None:
                        pending = self.pending[fmt] = []
                    pending.append(frame)
                    delivered += len(streams)
        return delivered

    def seed(self, messages: list[EncodedMessage]) -> None:
        """Fill an empty cache from a store read that ends at the newest id."""
        if self.recent or not messages or messages[-1].id != self.bounds.last_id:
            return
        self.recent = messages[-self.cache_size :]

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

    def memo(self, key: object, build: Callable[[], bytes]) -> bytes:
        """An answer built once per key until the next message."""
        body = self._memo.get(key)
        if body is None:
            if len(self._memo) >= POLL_MEMO:
                self._memo.clear()
            body = self._memo[key] = build()
        return body

    def hold_back(self, messages: Sequence[EncodedMessage]) -> None:
        """Keep messages that came after a hole until it is filled (``backlog``)."""
        if self.backlog is None:
            self.backlog = list(messages)
        else:
            self.backlog.extend(messages)

    def add_waiter(self, waiter: asyncio.Future[None]) -> None:
        waiters = self.waiters
        if isinstance(waiters, set):
            waiters.add(waiter)
        else:
            self.waiters = {waiter}

    def drop_waiter(self, waiter: asyncio.Future[None]) -> None:
        waiters = self.waiters
        if isinstance(waiters, set):
            waiters.discard(waiter)
            if not waiters:
                self.waiters = NO_WAITERS

    def wake_waiters(self) -> None:
        waiters, self.waiters = self.waiters, NO_WAITERS
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def join(self, stream: Stream) -> None:
        """Make ``stream`` live; frames already pending were part of its catch-up."""
        fmt = stream.format
        pending = self.pending.get(fmt)
        stream.skip = len(pending) if pending else 0
        streams = self.streams.get(fmt)
        if streams is None:
            streams = self.streams[fmt] = set()
        if stream not in streams:
            streams.add(stream)
            self.live_count += 1

    def leave(self, stream: Stream) -> bool:
        """Remove a stream; True if it was live."""
        streams = self.streams.get(stream.format)
        if streams is None or stream not in streams:
            return False
        streams.discard(stream)
        self.live_count -= 1
        return True

    def flush(self, now: float) -> None:
        """Write this iteration's frames: joined once, the same bytes to every stream."""
        pending, self.pending = self.pending, {}
        self.scheduled = False
        for fmt, frames in pending.items():
            streams = self.streams.get(fmt)
            if frames and streams:
                _write_all(streams, frames, b"".join(frames), fmt.chunked, now)


def _write_all(
    streams: set[Stream], frames: list[bytes], data: bytes, chunked: bool, now: float
) -> None:
    # Framed once for every chunked (HTTP/1.1 streamed body) stream of the format.
    chunk = http_chunk(data) if chunked else data
    # A tuple: a write can overflow a stream, whose end may leave the set.
    for stream in tuple(streams):
        outbox = stream.outbox
        if stream.skip:
            rest = b"".join(frames[stream.skip :])
            stream.skip = 0
            if rest:
                outbox.write_shared(http_chunk(rest) if outbox.chunked else rest, now)
        else:
            outbox.write_shared(chunk if outbox.chunked else data, now)
