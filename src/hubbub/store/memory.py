"""An in-process store: fast, and forgets everything at restart.

Useful for tests and for deployments that accept losing history. A restart
resets every room, which clients see as a gap (their cursor is beyond
``last_id``), exactly as the protocol describes.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

from hubbub.protocol.cursors import Bounds
from hubbub.protocol.messages import Message
from hubbub.store.base import Appended, Stamped, bounds_after


@dataclass(slots=True)
class _Room:
    last_id: int = 0
    messages: list[Message] = field(default_factory=list)
    by_client_id: dict[str, Message] = field(default_factory=dict)


class MemoryStore:
    """Rooms as Python lists; retention trims the head of each list."""

    def __init__(self, retain: int | None = None) -> None:
        self._retain = retain
        self._rooms: dict[str, _Room] = {}

    async def open(self) -> dict[str, Bounds]:
        return {
            name: bounds_after(room.last_id, self._retain)
            for name, room in self._rooms.items()
            if room.last_id
        }

    async def close(self) -> None:
        return None

    async def append(self, batch: Sequence[Stamped]) -> list[Appended]:
        results: list[Appended] = []
        for item in batch:
            pub = item.publish
            room = self._rooms.setdefault(pub.room, _Room())
            if pub.client_id is not None and pub.client_id in room.by_client_id:
                results.append(Appended(room.by_client_id[pub.client_id], created=False))
                continue
            room.last_id += 1
            message = Message(room.last_id, pub.room, pub.user, pub.text, item.ts, pub.client_id)
            room.messages.append(message)
            if pub.client_id is not None:
                room.by_client_id[pub.client_id] = message
            self._trim(room)
            results.append(Appended(message, created=True))
        return results

    def _trim(self, room: _Room) -> None:
        if self._retain is None or len(room.messages) <= self._retain:
            return
        dropped = room.messages[: -self._retain]
        del room.messages[: -self._retain]
        for message in dropped:
            if message.client_id is not None:
                room.by_client_id.pop(message.client_id, None)

    def _index_after(self, room: _Room, since: int) -> int:
        return bisect.bisect_right(room.messages, since, key=lambda m: m.id)

    async def read_after(self, room: str, since: int, limit: int) -> list[Message]:
        state = self._rooms.get(room)
        if state is None:
            return []
        start = self._index_after(state, since)
        return state.messages[start : start + limit]

    async def read_before(self, room: str, before: int, limit: int) -> list[Message]:
        state = self._rooms.get(room)
        if state is None:
            return []
        end = self._index_after(state, before - 1)
        return state.messages[max(0, end - limit) : end]

    async def ping(self) -> bool:
        return True
