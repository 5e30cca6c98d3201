"""The node's operations recorder: a sample every second, kept, shared, streamed.

Once a second, on the wall clock's second so that every node's samples line up, the
recorder reads the node's counters into a :class:`~hubbub.ops.sample.Sample`, keeps it
in the :class:`~hubbub.ops.cluster.Cluster` (15 minutes of every node), publishes it to
the other nodes, merges the whole server's second, and hands the page's update, encoded
once, to every viewer waiting for it. It runs whether anyone watches or not, so a viewer
who arrives during an incident sees the minutes before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import socket
import time
from collections import Counter
from operator import attrgetter
from typing import TYPE_CHECKING

import orjson

from hubbub.ops import limits as process
from hubbub.ops.cluster import Cluster
from hubbub.ops.exchange import Exchange, make_exchange
from hubbub.ops.probes import GcClock, LoopLagProbe, MinuteMax
from hubbub.ops.sample import (
    BUSIEST_ROOMS,
    Counters,
    Limit,
    RoomRow,
    Sample,
    busiest_rooms,
    take_sample,
)
from hubbub.settings import Settings
from hubbub.stats import Stats

if TYPE_CHECKING:
    from hubbub.hub import Hub
    from hubbub.presence import Presence
    from hubbub.store import Store

log = logging.getLogger(__name__)

# Limits are read every this many seconds: counting open files lists /proc/self/fd,
# a millisecond per few thousand connections, and they move slowly.
LIMITS_EVERY = 5
# A room's live streams, for ranking rooms in C.
_LIVE = attrgetter("live_count")


def default_node_name(settings: Settings) -> str:
    """The name a node goes by on the page: ``--node-name``, else host and process id."""
    return settings.node_name or f"{socket.gethostname()}:{os.getpid()}"


class Recorder:
    """Samples a node once a second for the operations page and ``/metrics``."""

    def __init__(
        self,
        settings: Settings,
        stats: Stats,
        hub: Hub,
        presence: Presence,
        store: Store,
        exchange: Exchange | None = None,
    ) -> None:
        self.name = default_node_name(settings)
        self._settings = settings
        self._stats = stats
        self._hub = hub
        self._presence = presence
        self._store = store
        self.cluster = Cluster(self.name)
        self.probe = LoopLagProbe(on_fired=stats.count_loop_lag)
        # The longest store transaction of each second (Stats.commit_longest, taken).
        self.commits = MinuteMax()
        self.gc = GcClock()
        self.exchange = (
            exchange if exchange is not None else make_exchange(settings.redis, self.name)
        )
        self.update = b""  # the newest update, JSON
        self.closing = False
        self._next: asyncio.Future[bytes] | None = None
        self._counters = Counters()
        self._limits: tuple[Limit, ...] = ()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._counters = self._read_counters()
        self._stats.room_messages.clear()
        self.probe.start(loop)
        self.gc.start()
        self.exchange.start(self.cluster.add)
        self._task = loop.create_task(self._run(), name="hubbub-ops-recorder")

    async def stop(self) -> None:
        self.probe.stop()
        self.gc.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.end_viewers()
        await self.exchange.close()

    def end_viewers(self) -> None:
        """The server is shutting down: every viewer's wait ends with ``b""``."""
        self.closing = True
        if self._next is not None and not self._next.done():
            self._next.set_result(b"")

    async def next_update(self) -> bytes:
        """The next second's update (JSON bytes, the same object for every viewer);
        ``b""`` once the server is shutting down."""
        if self.closing:
            return b""
        if self._next is None or self._next.done():
            assert self._loop is not None, "recorder not started"
            self._next = self._loop.create_future()
        return await asyncio.shield(self._next)

    def history(self) -> bytes:
        """Everything kept, for a viewer who just arrived (JSON bytes)."""
        return orjson.dumps(self.cluster.history_event())

    def longest_stall(self) -> float:
        """The longest event-loop stall in the last minute, seconds (for ``/metrics``)."""
        assert self._loop is not None, "recorder not started"
        return self.probe.longest_stall(self._loop.time())

    def longest_busy_stall(self) -> float:
        """The longest stall of the last minute counting only the process's own time."""
        assert self._loop is not None, "recorder not started"
        return self.probe.busy_stall(self._loop.time())

    def longest_commit(self) -> float:
        """The longest store transaction of the last minute, seconds (for ``/metrics``):
        one that waited on a slow disk holds up every publish queued behind it."""
        return max(self.commits.longest(time.monotonic()), self._stats.commit_longest)

    async def _run(self) -> None:
        second = 0
        while True:
            await asyncio.sleep(1.0 - time.time() % 1.0)
            try:
                if second % LIMITS_EVERY == 0:
                    self._limits = await self._read_limits()
                self.tick(round(time.time()))
            except Exception:  # a bad second must not stop the page for good
                log.exception("ops recorder: sampling failed")
            second += 1

    def tick(self, t: int) -> Sample:
        """Take this node's sample for second ``t`` and publish the page's update."""
        counters = self._read_counters()
        self.commits.record(time.monotonic(), self._stats.commit_longest)
        self._stats.commit_longest = 0.0
        span = 1.0
        sample = take_sample(
            self.name,
            t,
            span,
            self._counters,
            counters,
            connections=self._connections(),
            stall=self.probe.take(),
            rooms=self._busiest_rooms(span),
            limits=self._limits,
        )
        self._counters = counters
        self.cluster.add(sample)
        self.exchange.publish(sample)
        whole = self.cluster.tick(t)
        self.update = orjson.dumps(self.cluster.update(whole))
        if self._next is not None and not self._next.done():
            self._next.set_result(self.update)
        return sample

    def _read_counters(self) -> Counters:
        stats = self._stats
        refused = dict(stats.rejected)
        for reason, count in stats.connections_refused.items():
            refused[reason] = refused.get(reason, 0) + count
        return Counters(
            published=stats.published,
            delivered=stats.delivered,
            publish_count=stats.publish_count,
            commits=stats.commits,
            commit_seconds=stats.commit_seconds,
            slow_consumers_dropped=stats.slow_consumers_dropped,
            refused=refused,
            latency=tuple(stats.delivery_latency),
            gc_seconds=self.gc.seconds,
        )

    def _connections(self) -> dict[str, int]:
        stats = self._stats
        counts = {kind: count for kind, count in stats.streams.items() if count}
        counts["longpoll"] = stats.waiting
        counts["tcp"] = stats.connections_open
        return counts

    def _busiest_rooms(self, span: float) -> tuple[RoomRow, ...]:
        messages, self._stats.room_messages = self._stats.room_messages, Counter()
        # Only the rooms that can be shown: those with messages this second rank first,
        # then the most followed. Those are found in C (nlargest on live_count): a pass
        # in Python over every loaded room took 10 ms a second with 16,500 rooms followed
        # (issue 19's chat shape), a stall of the loop; 0.9 ms this way, with the rooms
        # long polls wait on added. Among rooms followed alike, which are shown is left
        # to nlargest.
        rooms = self._hub.rooms
        enough = len(messages) >= BUSIEST_ROOMS
        if enough:
            # Rooms with messages rank first, so the rows are among those with at least
            # the tenth most: at 5,000 msg/s over 16,500 rooms a pass over every room
            # with a message, or over every room, took 4-6 ms a second.
            floor = heapq.nlargest(BUSIEST_ROOMS, messages.values())[-1]
            messages = Counter({name: m for name, m in messages.items() if m >= floor})
        shown = [room for name in messages if (room := rooms.get(name)) is not None]
        if not enough:
            shown += heapq.nlargest(BUSIEST_ROOMS, rooms.values(), key=_LIVE)
            shown += [room for room in rooms.values() if room.waiters]
        # Only rooms someone follows: most loaded rooms are idle, waiting to be forgotten.
        subscribers = {
            room.name: room.live() + len(room.waiters)
            for room in shown
            if room.streams or room.waiters
        }
        # Presence is read only for the rooms shown.
        return tuple(
            RoomRow(row.name, row.messages, row.subscribers, self._present(row.name))
            for row in busiest_rooms(messages, subscribers, span)
        )

    def _present(self, room: str) -> int:
        present = self._presence.present(room)
        return len(present.users) + present.anonymous

    async def _read_limits(self) -> tuple[Limit, ...]:
        stats = self._stats
        try:
            rooms: int | None = await self._store.count_rooms()
        except Exception as exc:  # the store is down: the page says so elsewhere
            log.debug("ops recorder: cannot count rooms: %s", exc)
            rooms = None
        # Listed in a thread: /proc/self/fd of a server holding 15,000 sockets takes
        # 20-70 ms to list, a stall of the whole loop every LIMITS_EVERY seconds (issue 19).
        files = await asyncio.to_thread(process.open_files)
        found = [
            Limit("connections", stats.connections_open, stats.connections_limit or None),
            Limit("files", files or 0, process.file_limit()),
            Limit("memory", process.resident_bytes(), process.memory_limit()),
        ]
        if rooms is not None:
            found.insert(2, Limit("rooms", rooms, self._settings.max_rooms))
        return tuple(found)
