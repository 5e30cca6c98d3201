"""The hub: rooms by name, their live subscribers, and fan-out.

The hub never awaits a client and never writes to a socket. Fan-out appends
each committed message's pre-encoded bytes (one encoding per wire format) to
its room's pending frames and wakes the room's long-poll waiters; the
``FlushScheduler`` writes the frames once per loop iteration (see outbox.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from hubbub.outbox import FlushScheduler
from hubbub.protocol.cursors import Bounds
from hubbub.protocol.encoding import EncodedMessage
from hubbub.room import RECENT_CACHE, Listener, Room, StreamKind, Subscriber

__all__ = ["RECENT_CACHE", "Hub", "Listener", "Room", "StreamKind", "Subscriber"]


class Hub:
    """Rooms by name, and the fan-out of committed messages."""

    def __init__(self, retain: int | None, scheduler: FlushScheduler | None = None) -> None:
        self._retain = retain
        self.scheduler = scheduler  # set when the node starts on a loop
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
            if room.ws or room.sse:
                if not (room.pending_ws or room.pending_sse):
                    assert self.scheduler is not None, "streams need a started node"
                    self.scheduler.mark_room(room)
                if room.ws:
                    room.pending_ws.append(message.ws)
                    delivered += len(room.ws)
                if room.sse:
                    room.pending_sse.append(message.sse)
                    delivered += len(room.sse)
            if room.waiters:
                room.wake_waiters()
            for listener in tuple(room.listeners):
                listener(message)
        return delivered

    def go_live(self, sub: Subscriber) -> None:
        self.room(sub.room).join(sub)

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
