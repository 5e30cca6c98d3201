"""An in-process store: fast, and forgets everything at restart.

Useful for tests and for deployments that accept losing history. Every
instance starts a new epoch, so after a restart clients holding a cursor from
before are told a reset (a gap naming the new epoch), never served the new log
as if it were the old one.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

from hubbub.protocol.corrections import Latest
from hubbub.protocol.cursors import Bounds
from hubbub.protocol.messages import MESSAGE, Message
from hubbub.protocol.search import Query, matches
from hubbub.protocol.tokens import allows
from hubbub.store.base import (
    Appended,
    Found,
    SearchScope,
    Stamped,
    bounds_after,
    refused_append,
)
from hubbub.store.epochs import new_epoch


@dataclass(slots=True)
class _Room:
    # None: the store's epoch (one per process life); a room cleared has its own.
    epoch: str | None = None
    last_id: int = 0
    messages: list[Message] = field(default_factory=list)
    by_client_id: dict[str, Message] = field(default_factory=dict)
    corrections: list[Message] = field(default_factory=list)  # edits and deletes, in id order
    seqs: list[int] = field(default_factory=list)  # commit order across rooms, per message


class MemoryStore:
    """Rooms as Python lists; retention trims the head of each list."""

    durable = False

    def __init__(self, retain: int | None = None, *, max_rooms: int | None = None) -> None:
        self._retain = retain
        self._max_rooms = max_rooms
        self._rooms: dict[str, _Room] = {}
        self._names: list[str] = []  # rooms holding messages, sorted: GET /rooms pages it
        self.epoch = new_epoch()  # one log per process life: a restart is a reset
        self._seq = 0  # commit order across rooms: searches answer newest first

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def append(self, batch: Sequence[Stamped]) -> list[Appended]:
        results: list[Appended] = []
        for item in batch:
            pub = item.publish
            room = self._rooms.get(pub.room)
            if room is None or not room.last_id:  # a new room, or one cleared
                if self._max_rooms is not None and len(self._names) >= self._max_rooms:
                    results.append(refused_append(item, self._epoch_of(room)))
                    continue
                if room is None:
                    room = self._rooms[pub.room] = _Room()
            if pub.client_id is not None and pub.client_id in room.by_client_id:
                original = room.by_client_id[pub.client_id]
                results.append(Appended(original, created=False, epoch=self._epoch_of(room)))
                continue
            if not room.last_id:
                bisect.insort(self._names, pub.room)
            room.last_id += 1
            message = item.message(room.last_id)
            room.messages.append(message)
            self._seq += 1
            room.seqs.append(self._seq)
            if pub.target is not None:
                room.corrections.append(message)
            if pub.client_id is not None:
                room.by_client_id[pub.client_id] = message
            self._trim(room)
            results.append(Appended(message, created=True, epoch=self._epoch_of(room)))
        return results

    def _trim(self, room: _Room) -> None:
        if self._retain is None or len(room.messages) <= self._retain:
            return
        dropped = room.messages[: -self._retain]
        del room.messages[: -self._retain]
        del room.seqs[: -self._retain]
        for message in dropped:
            if message.client_id is not None:
                room.by_client_id.pop(message.client_id, None)
        first_id = room.messages[0].id
        if room.corrections and room.corrections[0].id < first_id:
            room.corrections = [c for c in room.corrections if c.id >= first_id]

    async def bounds(self, room: str) -> Bounds:
        state = self._rooms.get(room)
        if state is None:
            return bounds_after(0, self._retain, self.epoch)
        return bounds_after(state.last_id, self._retain, self._epoch_of(state))

    def _epoch_of(self, room: _Room | None) -> str:
        return self.epoch if room is None or room.epoch is None else room.epoch

    async def bounds_many(self, rooms: Sequence[str]) -> dict[str, Bounds]:
        return {room: await self.bounds(room) for room in rooms}

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

    async def corrections(self, room: str, first: int, last: int) -> list[Message]:
        state = self._rooms.get(room)
        if state is None:
            return []
        return [c for c in state.corrections if c.target is not None and first <= c.target <= last]

    async def list_rooms(
        self, after: str | None, limit: int, until: str | None = None
    ) -> list[tuple[str, int]]:
        names = self._names
        start = 0 if after is None else bisect.bisect_right(names, after)
        end = len(names) if until is None else bisect.bisect_right(names, until)
        return [
            (name, self._rooms[name].last_id) for name in names[start : min(end, start + limit)]
        ]

    async def count_rooms(self) -> int:
        return len(self._names)

    async def clear(self, room: str) -> str:
        state = self._rooms.get(room)
        if state is not None and state.last_id:
            self._names.remove(room)
        epoch = new_epoch()
        self._rooms[room] = _Room(epoch)
        return epoch

    async def ping(self) -> bool:
        return True

    async def search(self, query: Query, scope: SearchScope) -> list[Found]:
        """A scan of every retained message of the rooms in scope: the memory store
        holds no index (its rooms are only what one process keeps)."""
        below = self._seq + 1
        if scope.before is not None:
            below = self._seq_below(*scope.before)
        hits: list[tuple[int, Found]] = []
        for name in self._names:
            if allows(scope.rooms, name):
                hits += self._room_hits(self._rooms[name], query, below)
        hits.sort(key=lambda hit: hit[0], reverse=True)
        return [found for _, found in hits[: scope.limit]]

    def _seq_below(self, name: str, before: int) -> int:
        """The commit position of the room's first message with id >= ``before`` (or just
        after its newest one): hits below it are the page's."""
        room = self._rooms.get(name)
        if room is None:
            return 0
        index = self._index_after(room, before - 1)
        if index < len(room.seqs):
            return room.seqs[index]
        return room.seqs[-1] + 1 if room.seqs else 0

    def _room_hits(self, room: _Room, query: Query, below: int) -> list[tuple[int, Found]]:
        states: dict[int, Latest] = {}
        for correction in room.corrections:
            if correction.target is not None:
                states.setdefault(correction.target, Latest()).apply(correction)
        hits = []
        for message, seq in zip(room.messages, room.seqs, strict=True):
            if seq >= below or message.kind != MESSAGE:
                continue
            state = states.get(message.id)
            if state is not None and state.deleted:
                continue
            text = message.text if state is None or state.text is None else state.text
            if matches(text, message.user, query):
                edited = None if state is None else state.edited_ts
                hits.append((seq, Found(message, text, edited)))
        return hits
