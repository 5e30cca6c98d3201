"""The hub: rooms in memory by name, loaded on first use, and a sequencer per room.

A room is loaded when a reader first needs it (its bounds and epoch come from
the store, the authority) and forgotten once nobody has used it for
``room_idle`` seconds, so a store with a million rooms costs nothing until they
are used. While a room is in memory this node is subscribed to it on the broker.

Messages reach a room from two sides: this node's own commits, and the broker
(other nodes' commits). Both go through :meth:`Hub.apply`, the room's
sequencer: it applies only ``last_id + 1``, drops what it already has, and
fills a hole from the store before going on, so a live stream never jumps over
an id, whatever the broker loses, repeats or reorders. A message of another
epoch means the room's log started over: its streams are ended (they reconnect
and are told the reset) and the room is loaded afresh.

The hub never awaits a client and never writes to a socket: fan-out appends
pre-encoded bytes to the room's pending frames; the ``FlushScheduler`` writes
them once per loop iteration (see outbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from functools import partial
from itertools import islice
from typing import Any

from hubbub.broker.base import Broker
from hubbub.errors import StoreError, reading_store
from hubbub.hub.outbox import FlushScheduler
from hubbub.hub.room import Room
from hubbub.hub.sequencer import hole_end, hole_rows, in_order
from hubbub.protocol.cursors import Bounds, Cursor
from hubbub.protocol.encoding import EncodedMessage
from hubbub.protocol.messages import Message
from hubbub.stats import Stats
from hubbub.store.base import Store

log = logging.getLogger(__name__)

# Messages read from the store per step while a hole is filled.
FILL_PAGE = 1000
# Pause before reading the store again when a fill failed.
FILL_RETRY = 0.5
# Rooms per store read of bounds. The read's end wakes each room's loading and then
# its streams, which go live and flush their opening frames in the next iterations (a
# storm's read of 1,740 rooms stalled the loop 16 ms, then 14 ms for their flush; issue
# 19). In the chat shape a room read wakes about two streams (its own, and its
# connection's group room waiting with it): 256 rooms made runs of 5-7 ms, 128 half.
BOUNDS_BATCH = 128
# While rooms keep being asked for, the next read of bounds waits this long after the
# last one ended, so that it holds more of them: a read costs about 80-100 us of CPU
# (the hand-off to the store's thread and back) whether it holds 3 rooms or 12, and in
# a storm of 5,000 connects a second one read right after another held about 3 (issue
# 19). A room asked for while reads are idle is read at once.
BOUNDS_GAP = 0.002


class Hub:
    """Rooms by name, their loading and forgetting, and the per-room sequencer."""

    def __init__(
        self,
        store: Store,
        broker: Broker,
        stats: Stats,
        *,
        retain: int | None,
        room_idle: float,
        shared: bool = False,
    ) -> None:
        self._store = store
        # Other nodes append to the same logs (through the broker).
        self._shared = shared
        self._broker = broker
        self._stats = stats
        self._retain = retain
        self._room_idle = room_idle
        self.scheduler: FlushScheduler | None = None  # set when the node starts on a loop
        self.rooms: dict[str, Room] = {}
        self._loading: dict[str, asyncio.Future[Room]] = {}
        # Messages for a room that arrived while it was loading, applied once it is.
        self._early: dict[str, list[tuple[str, Sequence[EncodedMessage]]]] = {}
        self._unsubscribing: dict[str, asyncio.Task[None]] = {}
        # Rooms whose bounds are asked for while no read is in flight (this loop
        # iteration) or while one is: read together, in the next read.
        self._bounds_wanted: dict[str, asyncio.Future[Bounds]] = {}
        self._bounds_reading = False
        self._bounds_timer: asyncio.TimerHandle | None = None  # the next read, BOUNDS_GAP on
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.scheduler = FlushScheduler(loop)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The node's loop, kept so hot paths need not ask for it (CPython 3.11's
        ``get_running_loop`` makes a ``getpid`` system call every time)."""
        assert self._loop is not None, "hub not started"
        return self._loop

    # Loading and forgetting

    async def acquire(self, name: str) -> Room:
        """The room, loaded if needed, pinned until :meth:`release`."""
        room = self.rooms.get(name)
        if room is None:
            with reading_store():
                room = await asyncio.shield(self.load(name))
        room.pins += 1
        return room

    def load(self, name: str) -> asyncio.Future[Room]:
        """The room's loading (started if it is not loading yet), as :meth:`acquire`
        awaits it, for a caller that waits with a callback instead (no task of its own).

        When the broker subscribes in this step (one node: ``subscribe_now``) and no
        unsubscribe of the room is pending, the loading is a future its bounds' read
        completes (:meth:`_bounds_read`), not a task: a reconnect storm loads a room
        per user (issue 19), and a task with its coroutines cost two more loop steps
        each. Otherwise :meth:`_load` awaits what it must, in a task."""
        loading = self._loading.get(name)
        if loading is None:
            loop = self.loop
            if name not in self._unsubscribing and self._broker.subscribe_now(name):
                # As _load: subscribed first, then the bounds read; a message committed
                # in between arrives in _early and the sequencer keeps what they lack.
                loading = loop.create_future()
                self._early[name] = []
                bounds = self._bounds_of(name)
                bounds.add_done_callback(partial(self._bounds_read, name, loading))
            else:
                loading = loop.create_task(self._load(name))
            self._loading[name] = loading
        return loading

    def _bounds_read(
        self, name: str, loading: asyncio.Future[Room], bounds: asyncio.Future[Bounds]
    ) -> None:
        """The end of a :meth:`load` without a task: what :meth:`_load` does after its
        bounds came (or failed: the broker is left, in the background as at eviction,
        and a load meanwhile waits for that)."""
        try:
            if bounds.cancelled():
                self._unsubscribe_later(name)
                loading.cancel()
                return
            error = bounds.exception()
            if error is not None:
                self._unsubscribe_later(name)
                loading.set_exception(error)
                return
            loading.set_result(self._loaded_room(name, bounds.result()))
        finally:
            self._early.pop(name, None)
            self._loading.pop(name, None)

    def loaded(self, name: str) -> Room | None:
        """The room if it is in memory now (then it is current: a stale one is not kept)."""
        return self.rooms.get(name)

    def writes_of(self, name: str) -> int:
        """The writes one flush of the room makes now: one per live stream, and one
        answer per long poll it would wake (for cutting a commit, commit_slices.py)."""
        room = self.rooms.get(name)
        return 0 if room is None else room.live_count + len(room.waiters)

    def pin(self, room: Room) -> None:
        """What :meth:`acquire` does to a room already loaded, until :meth:`release`."""
        room.pins += 1

    def behind(self, room: Room, cursor: Cursor | None) -> bool:
        """A cursor ahead of what this node has applied: with other nodes, the client saw
        the message on one of them and the broker has not brought it here yet."""
        return (
            self._shared
            and cursor is not None
            and cursor.since > room.bounds.last_id
            and cursor.epoch in (None, room.bounds.epoch)
            and not room.stale
        )

    async def catch_up(self, room: Room, cursor: Cursor | None) -> None:
        """A cursor :meth:`behind` this node: read the store first, so that it is served
        instead of being told a gap that never was."""
        if self.behind(room, cursor):
            await self._resync_room(room)

    def release(self, room: Room) -> None:
        room.pins -= 1
        assert self._loop is not None
        room.last_used = self._loop.time()

    async def _load(self, name: str) -> Room:
        try:
            pending = self._unsubscribing.pop(name, None)
            if pending is not None:
                await pending
            self._early[name] = []
            # Subscribe first, then read the bounds: a message committed in between
            # arrives in _early and the sequencer keeps what the bounds do not hold.
            await self._broker.subscribe(name)
            try:
                bounds = await self._bounds_of(name)
            except BaseException:
                await self._broker.unsubscribe(name)
                raise
            return self._loaded_room(name, bounds)
        finally:
            self._early.pop(name, None)
            self._loading.pop(name, None)

    def _loaded_room(self, name: str, bounds: Bounds) -> Room:
        """The end of a load, with a task or without: the room in memory, with what
        arrived for it while its bounds were read applied."""
        room = self.rooms[name] = Room(name, bounds, self.loop.time())
        for epoch, messages in self._early.pop(name, []):
            self._sequence(room, epoch, messages)
        return room

    def _bounds_of(self, name: str) -> asyncio.Future[Bounds]:
        """The room's bounds, read with those of every room loading in the same loop
        iteration in one store read (a reconnect storm loads thousands at once), at most
        :data:`BOUNDS_BATCH` a read. One read is in flight at a time: the rooms asked for
        meanwhile wait for it to end and are read together next, so a storm spread over
        many iterations still makes few reads (each a hand-off to the store's thread and
        back)."""
        wanted = self._bounds_wanted
        future = wanted.get(name)
        if future is None:
            if not wanted and not self._bounds_reading:
                self._bounds_reading = True
                self.loop.call_soon(self._read_bounds)
            future = wanted[name] = self.loop.create_future()
        return future

    def _read_bounds(self) -> None:
        wanted = self._bounds_wanted
        if len(wanted) <= BOUNDS_BATCH:
            self._bounds_wanted = {}
        else:  # the first rooms asked for now, the rest in the reads after it
            wanted = {name: wanted.pop(name) for name in list(islice(wanted, BOUNDS_BATCH))}
        if not wanted:
            self._bounds_reading = False
            return
        task = self.loop.create_task(self._store.bounds_many(list(wanted)))
        self._tasks.add(task)

        def done(task: asyncio.Task[dict[str, Bounds]]) -> None:
            self._tasks.discard(task)
            if task.cancelled():  # the hub is closing: nothing more is read
                wanted.update(self._bounds_wanted)
                self._bounds_wanted = {}
                self._bounds_reading = False
            elif 0 < len(self._bounds_wanted) < BOUNDS_BATCH:
                # Rooms asked for meanwhile: read with those asked for a little longer.
                self._bounds_timer = self.loop.call_later(BOUNDS_GAP, self._read_bounds_later)
            else:
                # A full read at once (a backlog), or none: reads go idle.
                self._read_bounds()
            for name, future in wanted.items():
                if future.done():
                    continue
                if task.cancelled():
                    future.cancel()
                elif (error := task.exception()) is not None:
                    future.set_exception(error)
                else:
                    future.set_result(task.result()[name])

        task.add_done_callback(done)

    def _read_bounds_later(self) -> None:
        self._bounds_timer = None
        self._read_bounds()

    def evict_idle(self, now: float) -> None:
        """Forget rooms nobody used for ``room_idle`` seconds (memory and broker)."""
        idle = [
            room
            for room in self.rooms.values()
            if room.idle() and now - room.last_used >= self._room_idle
        ]
        for room in idle:
            self._forget(room)

    def _forget(self, room: Room) -> None:
        if self.rooms.get(room.name) is room:
            del self.rooms[room.name]
        room.stale = True
        self._unsubscribe_later(room.name)

    def _unsubscribe_later(self, name: str) -> None:
        """Leave ``name`` on the broker in a task; its next load waits for that first."""
        task = self.loop.create_task(self._broker.unsubscribe(name))
        self._unsubscribing[name] = task
        task.add_done_callback(lambda _: self._unsubscribing.pop(name, None))

    # The sequencer

    def on_broker(self, name: str, epoch: str, messages: Sequence[Message]) -> None:
        """Other nodes' messages, from the broker: encoded once here, then sequenced."""
        if name in self.rooms or name in self._early:
            self.apply(name, epoch, [EncodedMessage(m, epoch) for m in messages])

    def apply(self, name: str, epoch: str, messages: Sequence[EncodedMessage]) -> int:
        """Committed messages of one room, in id order. Returns deliveries queued."""
        room = self.rooms.get(name)
        if room is None:
            early = self._early.get(name)
            if early is not None:
                early.append((epoch, messages))
            return 0  # nobody on this node reads the room: the store has it
        return self._sequence(room, epoch, messages)

    def _sequence(self, room: Room, epoch: str, messages: Sequence[EncodedMessage]) -> int:
        if epoch != room.bounds.epoch:
            # Another epoch: either the log started over, or this is a late message
            # of the old one. The store decides.
            self._check(room)
            return 0
        if room.filling:
            room.hold_back(messages)
            return 0
        before = room.bounds.last_id
        if len(messages) == 1 and messages[0].id == before + 1:
            # What nearly every arrival is (a room's one message of a commit, next in
            # order): delivered without in_order's run list.
            delivered = self._deliver(room, messages[0])
        else:
            delivered = 0
            run, hole = in_order(before, messages)
            for message in run:
                delivered += self._deliver(room, message)
            if hole < len(messages):
                room.hold_back(messages[hole:])
                self._fill(room)
        if room.waiters and room.bounds.last_id > before:
            # Only something new wakes a long poll: a late repeat of what a catch-up
            # already read would answer it with nothing.
            room.wake_waiters()
        return delivered

    def _deliver(self, room: Room, message: EncodedMessage) -> int:
        room.append(message, self._retain)
        if not room.streams:
            return 0
        delivered = room.fan_out(message)
        if delivered and not room.scheduled:
            room.scheduled = True
            assert self.scheduler is not None, "streams need a started node"
            self.scheduler.mark_room(room)
        return delivered

    def broadcast(self, name: str, event: str, body: dict[str, Any], *, later: bool = False) -> int:
        """An ephemeral event to the live streams of ``name`` on this node, if loaded;
        ``later``: it may wait for the room's next flush (``FlushScheduler.LATER`` at
        most), in its place among the room's frames."""
        room = self.rooms.get(name)
        if room is None or room.stale:
            return 0
        delivered = room.fan_out_event(event, body)
        if delivered and not room.scheduled:
            assert self.scheduler is not None
            if later:
                self.scheduler.mark_room_later(room)
            else:
                room.scheduled = True
                self.scheduler.mark_room(room)
        return delivered

    def _fill(self, room: Room) -> None:
        room.filling = True
        task = asyncio.get_running_loop().create_task(self._fill_from_store(room))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fill_from_store(self, room: Room) -> None:
        """Read the hole from the store, then apply what waited behind it."""
        epoch = room.bounds.epoch
        before = room.bounds.last_id
        while not room.stale:
            end = hole_end(room.bounds.last_id, room.backlog or ())
            if end is None:
                break
            try:
                rows = await self._store.read_after(room.name, room.bounds.last_id, FILL_PAGE)
            except StoreError as exc:
                log.warning("room %s: cannot fill a hole from the store yet: %s", room.name, exc)
                await asyncio.sleep(FILL_RETRY)
                continue
            filled = hole_rows(room.bounds.last_id, rows, end)
            if filled is None:
                # Retention removed the hole: live streams cannot go on without a jump.
                self._end_streams(room, "gap")
                self._forget(room)
                return
            for row in filled:
                self._stats.delivered += self._deliver(room, EncodedMessage(row, epoch))
        room.filling = False
        backlog, room.backlog = room.backlog or [], None
        backlog.sort(key=lambda m: m.id)
        if not room.stale:
            self._stats.delivered += self._sequence(room, epoch, backlog)
            if room.waiters and room.bounds.last_id > before:
                room.wake_waiters()

    def recheck(self, name: str) -> None:
        """The room's log may have started over (it was cleared): if it is loaded here,
        check it against the store, which resets it if its epoch changed."""
        room = self.rooms.get(name)
        if room is not None:
            self._check(room)

    def resync(self) -> None:
        """The broker may have missed messages: check every room against the store."""
        for room in tuple(self.rooms.values()):
            self._check(room)

    def _check(self, room: Room) -> None:
        task = asyncio.get_running_loop().create_task(self._resync_room(room))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resync_room(self, room: Room) -> None:
        try:
            bounds = await self._store.bounds(room.name)
        except StoreError as exc:
            log.warning("room %s: cannot check the store after a broker outage: %s", room.name, exc)
            return
        if room.stale:
            return
        if bounds.epoch != room.bounds.epoch:
            self._reset(room, bounds.epoch)
        elif bounds.last_id > room.bounds.last_id and not room.filling:
            # Missed while the broker was away: applied in order like any arrival.
            try:
                rows = await self._store.read_after(room.name, room.bounds.last_id, FILL_PAGE)
            except StoreError as exc:
                log.warning("room %s: cannot catch up from the store: %s", room.name, exc)
                return
            encoded = [EncodedMessage(row, bounds.epoch) for row in rows]
            self._stats.delivered += self._sequence(room, bounds.epoch, encoded)

    def _reset(self, room: Room, epoch: str) -> None:
        """The room's log started over (new epoch): end its streams, load it afresh."""
        log.warning("room %s: its log started over (epoch %s)", room.name, epoch)
        self._end_streams(room, "reset")
        room.wake_waiters()
        self._forget(room)

    def _end_streams(self, room: Room, reason: str) -> None:
        for streams in room.streams.values():
            for stream in tuple(streams):
                stream.end(reason)

    # Views over every room

    def wake_all_waiters(self) -> None:
        for room in self.rooms.values():
            room.wake_waiters()

    async def close(self) -> None:
        if self._bounds_timer is not None:  # nothing more is read: as a cancelled read
            self._bounds_timer.cancel()
            self._bounds_timer = None
            wanted, self._bounds_wanted = self._bounds_wanted, {}
            self._bounds_reading = False
            for future in wanted.values():
                future.cancel()
        for task in tuple(self._tasks):
            task.cancel()
        for pending in tuple(self._unsubscribing.values()):
            with contextlib.suppress(Exception):
                await pending
