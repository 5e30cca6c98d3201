"""The lobby as the tutorials see it: its newest messages, and who is waiting for the next.

One hub listener per server feeds every view of the dialect. It keeps the
lobby's newest ``LIST_SIZE`` messages in memory, each encoded once in both of
the dialect's shapes, so GET /messages and the SSE list are spliced from
cached bytes instead of read from the store on every poll. The listener runs
inside the hub's fan-out and never awaits: it resolves held ``/subscribe``
requests, queues WebSocket frames for the next flush, and wakes list streams.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from hubbub.compat.dialect import LIST_SIZE, json_list, listed, sse_item, sse_list_event
from hubbub.node import Node
from hubbub.outbox import Outbox
from hubbub.protocol.encoding import EncodedMessage, ws_frame
from hubbub.protocol.messages import Message


class Entry:
    """One lobby message in the dialect's two shapes, encoded once."""

    __slots__ = ("_frame", "id", "listed", "sse_item", "user")

    def __init__(self, message: Message) -> None:
        self.id = message.id
        self.user = message.user
        self.listed = listed(message)
        self.sse_item = sse_item(message)
        self._frame: bytes | None = None

    @property
    def frame(self) -> bytes:
        """The WebSocket text frame, built only once a socket wants it."""
        if self._frame is None:
            self._frame = ws_frame(self.listed)
        return self._frame


@dataclass(eq=False, slots=True)
class ListStream:
    """An SSE client of the list: woken when the list changes for it."""

    owner: str | None  # the ``?id=`` it connected with; its own messages do not wake it
    wake: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(eq=False, slots=True)
class Socket:
    """A WebSocket client: frames go to its outbox; ``close`` ends it at shutdown."""

    outbox: Outbox
    close: Callable[[], None]


class TutorialLobby:
    """Every view of the dialect, over one room (``settings.lobby``)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.room = node.settings.lobby
        self.closing = False
        self.sockets: set[Socket] = set()
        self.lists: set[ListStream] = set()
        self._window: deque[Entry] = deque(maxlen=LIST_SIZE)
        self._frames: list[bytes] = []  # this loop iteration's frames, for every socket
        self.held: set[asyncio.Future[Message | None]] = set()
        self._listed: bytes | None = None
        self._event: bytes | None = None
        self._stop: Callable[[], None] | None = None

    # Life cycle (the application's startup, shutdown and cleanup)

    async def start(self) -> None:
        """Load the newest messages; listen first, so none published meanwhile is lost."""
        self._stop = self.node.hub.listen(self.room, self._on_message)
        end = self.node.bounds(self.room).last_id + 1
        loaded = [Entry(m.message) for m in await self.node.read_before(self.room, end, LIST_SIZE)]
        arrived = [entry for entry in self._window if not loaded or entry.id > loaded[-1].id]
        self._window.clear()
        self._window.extend(loaded)
        self._window.extend(arrived)
        self._changed()

    def shutdown(self) -> None:
        """Let go of every held request and end every stream."""
        self.closing = True
        self.flush(asyncio.get_running_loop().time())  # frames already queued still go out
        held, self.held = self.held, set()
        for future in held:
            if not future.done():
                future.set_result(None)
        for stream in self.lists:
            stream.wake.set()
        for socket in tuple(self.sockets):
            socket.close()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None

    # What the views read

    def listed_json(self) -> bytes:
        """GET /messages: the newest messages, oldest first, built once per change."""
        if self._listed is None:
            self._listed = json_list(entry.listed for entry in self._window)
        return self._listed

    def list_event(self) -> bytes:
        """The SSE tutorial's ``data: [...]`` event, built once per change."""
        if self._event is None:
            self._event = sse_list_event(entry.sse_item for entry in self._window)
        return self._event

    def hold(self) -> asyncio.Future[Message | None]:
        """A future for the next lobby message; None when the server shuts down."""
        future: asyncio.Future[Message | None] = asyncio.get_running_loop().create_future()
        if self.closing:
            future.set_result(None)
        else:
            self.held.add(future)
        return future

    def release(self, future: asyncio.Future[Message | None]) -> None:
        """Forget a held request (answered, or its client went away)."""
        self.held.discard(future)

    # Fan-out

    def _on_message(self, message: EncodedMessage) -> None:
        """Called by the hub for each new lobby message, in id order; never awaits."""
        entry = Entry(message.message)
        self._window.append(entry)
        self._changed()
        stats = self.node.stats
        if self.held:
            held, self.held = self.held, set()
            for future in held:
                if not future.done():
                    future.set_result(message.message)
                    stats.delivered += 1
        if self.sockets:
            if not self._frames:
                self.node.scheduler.mark_room(self)
            self._frames.append(entry.frame)
        for stream in self.lists:
            # A client is not woken for its own message (it shows that one itself).
            if stream.owner != entry.user:
                stream.wake.set()

    def flush(self, now: float) -> None:
        """Write this iteration's frames to every socket: joined once, the same bytes for all.

        Called by the node's flush scheduler once per loop iteration, like a room's
        own fan-out, so a burst of messages costs one join, not one per socket.
        """
        frames, self._frames = self._frames, []
        if not frames:
            return
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        sockets = tuple(self.sockets)  # a slow consumer leaves the set as it is dropped
        for socket in sockets:
            socket.outbox.write_shared(data, now)
        self.node.stats.delivered += len(frames) * len(sockets)

    def _changed(self) -> None:
        first_id = self.node.bounds(self.room).first_id
        window = self._window
        # Retention removed these from the room: the tutorials must not show them either.
        while window and window[0].id < first_id:
            window.popleft()
        self._listed = self._event = None
