"""Streams from attach to detach: catch-up from a cursor, then live; heartbeats.

A stream opens with a gap (when its cursor cannot be served as it is) and a
``ready`` frame naming the epoch and the cursor it continues from, then every
message after that cursor. The last check that the stream has caught up and
the switch to live happen with no ``await`` between them, so no message can
slip in between: every id is delivered exactly once, in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol

from hubbub.hub import Hub, Outbox, Room, Stream
from hubbub.presence import Presence
from hubbub.protocol.cursors import Cursor, stream_start
from hubbub.reads import Reads
from hubbub.runtime import CALLBACK_CONTEXT
from hubbub.sliced import SlicedRound
from hubbub.stats import Stats

# Messages read per step while a stream catches up.
CATCH_UP_PAGE = 200
# The longest timer the loop is asked for (about 68 years): an ``exp`` far in the
# future must not overflow the event loop's clock arithmetic.
LONGEST_TIMER = float(2**31)

Drain = Callable[[], Awaitable[None]]
# Told why a stream started with Streams.start ended (the stream, the reason), once it is
# detached. One callable serves all of a connection's streams: none is made per stream.
Finished = Callable[[Stream, str], None]

log = logging.getLogger("hubbub")


class KeptAlive(Protocol):
    """A connection that keeps its peer alive on the node's tick, not a stream itself."""

    def tick(self, now: float, interval: float) -> None: ...


class Streams:
    """Every stream of this node, from attach to detach."""

    def __init__(self, hub: Hub, reads: Reads, stats: Stats, presence: Presence) -> None:
        self._hub = hub
        self._presence = presence
        self._reads = reads
        self._stats = stats
        self.open: set[Stream] = set()
        # The open streams whose tick keeps their peer alive (Stream.KEEPS_ALIVE).
        self.ticking: set[Stream] = set()
        # GET /ws sockets: pinged on the same tick, so none holds a timer of its own.
        self.kept_alive: set[KeptAlive] = set()
        # The heartbeat's round over both, and the (now, interval) it was started with.
        self._round: SlicedRound[Stream | KeptAlive] | None = None
        self._tick_at = (0.0, 0.0)
        self.closing = False
        self._done = self._on_done  # bound once, shared by every stream's callback
        # Per outbox (connection), the room loadings its subscriptions wait for, while
        # any is not done: see start.
        self._opening: dict[Outbox, set[asyncio.Future[Room]]] = {}

    async def run(self, stream: Stream, cursor: Cursor | None, drain: Drain) -> str:
        """Catch ``stream`` up from ``cursor``, keep it live until it ends, then detach it.

        Returns why it ended: ``shutdown``, ``slow``, ``timeout``, ``reset``, ``gap``,
        ``expired`` (the token that opened it expired) or ``gone``.
        """
        expiry = self._expire_at(stream)
        try:
            await self._attach(stream, cursor, drain)
            return await stream.wait()
        except TimeoutError:
            stream.outbox.overflow()  # could not drain during catch-up
            return "slow"
        except ConnectionError:
            return "gone"
        finally:
            if expiry is not None:
                expiry.cancel()
            # Whatever was queued before the end still goes out (a last message
            # before shutdown), then nothing refers to this stream any more.
            stream.outbox.flush(asyncio.get_running_loop().time())
            self.detach(stream)

    def start(
        self, stream: Stream, cursor: Cursor | None, drain: Drain, finished: Finished
    ) -> None:
        """What :meth:`run` does, holding no task once the stream is live.

        A stream whose room is loaded and whose catch-up is all in the room's cache
        (a reconnect storm's resumes, nearly always) goes live in this step; one whose
        room is loading waits for it with a callback and then does the same. So does one
        whose room is loaded while another room of its connection is loading, and one
        whose room loaded before its connection's other (a storm's personal room and its
        group's): they wait for each other and go live in the same step, so their
        opening frames leave in one write instead of two. Any other
        (a store read, a wait for the client to drain, other nodes' presence) catches
        up in a task that ends when it goes live. From then on the stream is its own
        object, with the node's expiry timer and ``finished`` in its slots, and the end
        callback this object shares by all (``Stream.when_ended``): an idle socket costs
        no coroutine, future or callback object. ``finished`` is told the reason once it
        is detached (``error`` if the catch-up failed; that is logged).
        """
        stream.expiry = self._expire_at(stream)
        stream.finished = finished
        self._opened(stream)
        if not self.closing and self._presence.knows(stream.room):
            room = self._hub.loaded(stream.room)
            loading = self._sibling_loading(stream.outbox)
            if room is None:
                loading = self._hub.load(stream.room)
                loads = self._opening.get(stream.outbox)
                if loads is None:
                    loads = self._opening[stream.outbox] = set()
                loads.add(loading)
            if loading is not None:
                loading.add_done_callback(partial(self._loaded, stream, cursor, drain))
                return
            assert room is not None
            if self._open_now(stream, cursor, room):
                stream.when_ended(self._done)
                return
        self._start_task(stream, cursor, drain)

    def _loaded(
        self,
        stream: Stream,
        cursor: Cursor | None,
        drain: Drain,
        loading: asyncio.Future[Room],
    ) -> None:
        """The room of a stream that waited for it is loaded (or failed to load), or the
        room its connection's other subscription waited for."""
        loads = self._opening.get(stream.outbox)
        if loads is not None:
            loads.discard(loading)
            if not loads:
                del self._opening[stream.outbox]
        if stream.ended or self.closing:
            stream.end("shutdown")  # (ended already: its reason stays)
            stream.when_ended(self._done)
            return
        sibling = self._sibling_loading(stream.outbox)
        if sibling is not None:  # its connection's other room: then both go live
            sibling.add_done_callback(partial(self._loaded, stream, cursor, drain))
            return
        # (After a sibling's load, its own room may have failed: not loaded, the task's.)
        failed = loading.cancelled() or loading.exception() is not None
        room = None if failed else self._hub.loaded(stream.room)
        if room is not None and self._open_now(stream, cursor, room):
            stream.when_ended(self._done)
            return
        # Anything else is the task's, a failed load included (acquire reads it again
        # and fails the stream as it always has).
        self._start_task(stream, cursor, drain)

    def _sibling_loading(self, outbox: Outbox) -> asyncio.Future[Room] | None:
        """A room loading that another subscription of ``outbox``'s connection waits
        for, if one is not done."""
        for loading in self._opening.get(outbox, ()):
            if not loading.done():
                return loading
        return None

    def _start_task(self, stream: Stream, cursor: Cursor | None, drain: Drain) -> None:
        attach = self._hub.loop.create_task(self._attach(stream, cursor, drain))
        attach.add_done_callback(partial(self._attached, stream))

    def _open_now(self, stream: Stream, cursor: Cursor | None, room: Room) -> bool:
        """Open ``stream`` on ``room`` and make it live in this step, if nothing needs
        waiting for: its presence known, no catch-up from the store, what it is owed
        (from the room's cache) at most half its outbox. False, with nothing done, if
        anything does (the task's path then)."""
        if not self._presence.knows(stream.room) or self._hub.behind(room, cursor):
            return False
        start = stream_start(cursor, room.bounds)
        owed = room.cached_after(start.cursor, CATCH_UP_PAGE)
        if owed is None or (owed and owed[-1].id != room.bounds.last_id):
            return False  # not all in the cache, or more than a page
        fmt, outbox = stream.format, stream.outbox
        frames = [fmt.message(message) for message in owed]
        if sum(map(len, frames)) > outbox.limit // 2:
            return False  # the task's path flushes and waits for the client to drain
        self._hub.pin(room)
        stream.state = room
        name = stream.room
        if start.gap is not None:
            outbox.push(fmt.gap(name, room.bounds, start.cursor))
        outbox.push(fmt.ready(name, room.bounds, start.cursor))
        for frame in frames:
            outbox.push(frame)
        self._go_live(stream, room)
        return True

    def _attached(self, stream: Stream, attach: asyncio.Task[None]) -> None:
        error = None if attach.cancelled() else attach.exception()
        if error is None:
            stream.when_ended(self._done)
            return
        if isinstance(error, TimeoutError):
            stream.outbox.overflow()  # could not drain during catch-up
            reason = "slow"
        elif isinstance(error, ConnectionError):
            reason = "gone"
        else:
            log.error("hubbub: error serving a stream", exc_info=error)
            reason = "error"
        self._finish(stream, reason)

    def _on_done(self, stream: Stream) -> None:
        assert stream.reason is not None, "told only once the stream has ended"
        self._finish(stream, stream.reason)

    def _finish(self, stream: Stream, reason: str) -> None:
        """As :meth:`run`'s end: what was queued goes out, then the stream is detached."""
        expiry, finished = stream.expiry, stream.finished
        stream.expiry = stream.finished = None
        if expiry is not None:
            expiry.cancel()
        stream.release_answers()  # acks held for a catch-up that ended first
        stream.outbox.flush(asyncio.get_running_loop().time())
        self.detach(stream)
        if finished is not None:
            finished(stream, reason)

    def _expire_at(self, stream: Stream) -> asyncio.TimerHandle | None:
        """A stream lives no longer than its token: end it at ``exp``."""
        expires = stream.principal.expires
        if expires is None:
            return None
        delay = min(max(0.0, expires - time.time()), LONGEST_TIMER)
        loop = self._hub.loop
        return loop.call_later(delay, stream.end, "expired", context=CALLBACK_CONTEXT)

    async def _attach(self, stream: Stream, cursor: Cursor | None, drain: Drain) -> None:
        self._opened(stream)
        if self.closing:
            stream.end("shutdown")
            return
        await self._presence.watch(stream.room)  # other nodes' view, before the snapshot
        room = stream.state = await self._hub.acquire(stream.room)
        if stream.ended:
            return  # ended while its room loaded (an unsubscribe): nothing goes out
        await self._hub.catch_up(room, cursor)
        if stream.ended:
            return
        fmt, outbox, name = stream.format, stream.outbox, stream.room
        loop = asyncio.get_running_loop()
        start = stream_start(cursor, room.bounds)
        if start.gap is not None:
            outbox.push(fmt.gap(name, room.bounds, start.cursor))
        outbox.push(fmt.ready(name, room.bounds, start.cursor))
        position = start.cursor
        while position < room.bounds.last_id:
            page = await self._reads.read_after(room, position, CATCH_UP_PAGE)
            if outbox.closed or stream.ended:
                return
            if not page or page[0].id != position + 1:
                # Retention removed what this stream was about to read: say so.
                position = page[0].id - 1 if page else room.bounds.last_id
                outbox.push(fmt.gap(name, room.bounds, position))
                if not page:
                    break
            for message in page:
                outbox.push(fmt.message(message))
                if outbox.backlog() > outbox.limit // 2:
                    outbox.flush(loop.time())
                    await drain()
            position = page[-1].id
            outbox.flush(loop.time())
            await drain()
            if outbox.closed or stream.ended:
                return
        if room.stale:
            outbox.flush(loop.time())
            stream.end("reset")  # the log started over while this stream caught up
            return
        self._go_live(stream, room)

    def _go_live(self, stream: Stream, room: Room) -> None:
        """Present, then told who is here, then live, in one step: the ``joined`` this
        queues for the others is pending, so the stream skips it (its snapshot has it)."""
        fmt, outbox, name = stream.format, stream.outbox, stream.room
        self._presence.join(name, stream.user)
        stream.present = True
        snapshot = self._presence.present(name)
        outbox.push(fmt.event(name, "presence", {"joined": sorted(snapshot.users), "left": []}))
        # What this stream was sent alone (gap, ready, the rest of its catch-up, who is
        # here) goes out before the room's frames: first in this iteration's flush.
        scheduler = self._hub.scheduler
        assert scheduler is not None, "streams need a started node"
        scheduler.mark_first(outbox)
        room.join(stream)
        self._stats.count_stream(fmt.name, +1)
        stream.went_live()

    def _opened(self, stream: Stream) -> None:
        self.open.add(stream)
        if stream.KEEPS_ALIVE:
            self.ticking.add(stream)

    def detach(self, stream: Stream) -> None:
        """Take an ended stream out of its room. Safe to call twice: an unsubscribe
        detaches at once (nothing of the room may follow the frame that confirms it),
        before the stream's task winds down and detaches again."""
        self.open.discard(stream)
        self.ticking.discard(stream)
        stream.release_answers()  # an unsubscribe: its connection goes on
        stream.release()
        if stream.present:
            stream.present = False
            self._presence.leave(stream.room, stream.user)
        room = stream.state
        if room is not None:
            stream.state = None
            if room.leave(stream):
                self._stats.count_stream(stream.format.name, -1)
            self._hub.release(room)

    def tick(self, now: float, interval: float) -> None:
        """Let every stream and socket keep its peer alive (or drop a silent one), a
        slice per loop iteration (``sliced.py``: all at once stalled the loop)."""
        self._tick_at = (now, interval)
        if self._round is None:
            self._round = SlicedRound(self._hub.loop, self._tick_one, self._still_open)
        self._round.start([*self.ticking, *self.kept_alive])

    def _tick_one(self, one: Stream | KeptAlive) -> None:
        one.tick(*self._tick_at)

    def _still_open(self, one: Stream | KeptAlive) -> bool:
        return one in self.ticking or one in self.kept_alive

    def end_all(self, reason: str) -> None:
        self.closing = True
        for stream in tuple(self.open):
            stream.end(reason)
