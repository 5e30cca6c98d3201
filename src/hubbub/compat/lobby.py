"""The lobby as the tutorials see it: one more view on the lobby room's machinery.

The dialect keeps no cache, fan-out or waiters of its own. Its list answers
are spliced from the room's cache (sized to ``LIST_SIZE`` for the lobby) with
each message's dialect encodings built once (``EncodedMessage.form``); its
WebSocket clients are streams of the room in their own wire format, flushed
with the room's other streams; ``GET /subscribe`` and the SSE list wait on
the room's waiters, like a long poll.
"""

from __future__ import annotations

from hubbub.compat.dialect import LIST_SIZE, json_list, listed, sse_item, sse_list_event
from hubbub.hub import Room, Stream
from hubbub.node import Node
from hubbub.protocol.encoding import EncodedMessage, WireFormat, ws_frame
from hubbub.protocol.messages import Message


def _frame(message: Message) -> bytes:
    return ws_frame(listed(message))


class TutorialFrames(WireFormat):
    """The terminal tutorial's WebSocket: one ``{"id", "text", "username"}`` frame per
    message, and nothing else (it has no cursor, so no gap and no ready frame)."""

    __slots__ = ()

    def message(self, message: EncodedMessage) -> bytes:
        return message.form("tutorial-frame", _frame)


TUTORIAL_FRAMES = TutorialFrames("ws")


class TutorialLobby:
    """Every view of the dialect, over one room (``settings.lobby``)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.name = node.settings.lobby
        self.closing = False
        self._room: Room | None = None
        # Who is connected, for shutdown and for tests; deliveries go through the room.
        self.lists: set[object] = set()
        self.held: set[object] = set()

    # Life cycle (the application's startup, shutdown and cleanup)

    async def start(self) -> None:
        """Keep the lobby loaded for the server's life, its cache holding the list."""
        await self.room()

    def shutdown(self) -> None:
        self.closing = True

    def stop(self) -> None:
        if self._room is not None:
            self.node.hub.release(self._room)
            self._room = None

    async def room(self) -> Room:
        """The lobby room, pinned; loaded again if its log started over."""
        room = self._room
        if room is not None and not room.stale:
            return room
        if room is not None:
            self.node.hub.release(room)
            self._room = None
        room = await self.node.hub.acquire(self.name)
        room.cache_size = max(room.cache_size, LIST_SIZE)
        self._room = room
        await self.newest(room)  # fills the cache from the store
        return room

    @property
    def sockets(self) -> set[Stream]:
        room = self._room
        return room.streams.get(TUTORIAL_FRAMES, set()) if room is not None else set()

    # What the views read

    async def newest(self, room: Room) -> list[EncodedMessage]:
        end = room.bounds.last_id + 1
        return await self.node.reads.read_before(room, end, LIST_SIZE, upto=end - 1)

    async def _memo(self, key: str) -> bytes:
        room = await self.room()
        messages = await self.newest(room)

        def make() -> bytes:
            if key == "list":
                return json_list(m.form("tutorial-listed", listed) for m in messages)
            return sse_list_event(m.form("tutorial-sse", sse_item) for m in messages)

        if messages and messages[-1].id != room.bounds.last_id:
            return make()  # a message arrived while we read: do not memoise this one
        return room.memo(("tutorial", key), make)

    async def listed_json(self) -> bytes:
        """GET /messages: the newest messages, oldest first, built once per change."""
        return await self._memo("list")

    async def list_event(self) -> bytes:
        """The SSE tutorial's ``data: [...]`` event, built once per change."""
        return await self._memo("event")

    async def next_message(self) -> Message | None:
        """The next lobby message; None when the server shuts down."""
        room = await self.room()
        position = room.bounds.last_id
        token = object()
        self.held.add(token)
        try:
            while not (self.closing or self.node.closing or room.stale) and (
                room.bounds.last_id == position
            ):
                await self.node.reads.wait_for_next(room, None)
        finally:
            self.held.discard(token)
        if self.closing or self.node.closing or room.stale:
            return None
        after = await self.node.reads.read_after(room, position, 1)
        return after[0].message if after else None

    async def changed(self, seen: int, owner: str | None, wait: float) -> tuple[int, bool]:
        """Wait up to ``wait`` for messages after ``seen`` that ``owner`` did not send.

        Returns the new ``seen`` and whether the list changed for this client (a
        client is not sent the list again for its own message: it shows it itself).
        """
        room = await self.room()
        if room.bounds.last_id == seen:
            await self.node.reads.wait_for_next(room, wait, count=False)
        last_id = room.bounds.last_id
        if last_id == seen or self.closing:
            return last_id, False
        new = await self.node.reads.read_after(room, seen, last_id - seen)
        others = not new or any(m.message.user != owner for m in new)
        return last_id, others
