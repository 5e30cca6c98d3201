"""The ``Store`` protocol every backend implements, and the rules they share.

A store is the durable side of rooms and the authority for a room's bounds and epoch: it assigns ids
(gapless, never reused), keeps ``client_id``s for idempotency, applies retention, and answers range
reads. It never talks to subscribers. Rooms are not loaded at open: a database with a million rooms
opens at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hubbub.protocol.cursors import Bounds
from hubbub.protocol.messages import Message, Publish
from hubbub.protocol.search import Query


@dataclass(frozen=True, slots=True)
class Stamped:
    """A publish waiting to be committed, with the server time it was accepted."""

    publish: Publish
    ts: int  # server time the publish was accepted, ms since the Unix epoch

    def message(self, id_: int) -> Message:
        """The message this publish is stored as, at position ``id_``."""
        pub = self.publish
        return Message(
            id_, pub.room, pub.user, pub.text, self.ts, pub.client_id, pub.kind, pub.target
        )


@dataclass(frozen=True, slots=True)
class Appended:
    """The outcome of one publish: the stored message, whether it is new, and its room's epoch.

    ``refused``: the publish would have created a room past the store's ``max_rooms``; nothing
    was stored, ``message`` is the publish with id 0 and ``created`` is False.
    """

    message: Message
    created: bool
    epoch: str
    refused: bool = False


def refused_append(item: Stamped, epoch: str) -> Appended:
    """The answer to a publish refused because it would create a room past ``max_rooms``."""
    return Appended(item.message(0), created=False, epoch=epoch, refused=True)


def bounds_after(last_id: int, retain: int | None, epoch: str) -> Bounds:
    """The ids a room keeps once ``last_id`` is committed under ``retain``."""
    if last_id == 0:
        return Bounds(0, 0, epoch)
    first_id = 1 if retain is None else max(1, last_id - retain + 1)
    return Bounds(first_id, last_id, epoch)


@dataclass(frozen=True, slots=True)
class Found:
    """A search hit: the stored message (its ``text`` may be the first or the current:
    read ``text``), its text now, and ``edited_ts`` when an edit changed it. A deleted
    message is never found."""

    message: Message
    text: str
    edited_ts: int | None = None


@dataclass(frozen=True, slots=True)
class SearchScope:
    """Where a search looks and from where: ``rooms``, room names and prefixes ending in
    ``*`` (None: every room); at most ``limit`` hits; ``before``, ``(room, id)``: only hits
    committed before that room's first message with an id of at least ``id`` (or after
    its newest one): in one room the ids below ``id``, across rooms the hits after the
    one a page ended with."""

    rooms: tuple[str, ...] | None
    limit: int
    before: tuple[str, int] | None = None


class Store(Protocol):
    """What the node needs from a backend. Failures raise ``hubbub.errors.StoreError``."""

    # False for a store whose acknowledged writes may be lost (documented weaker durability)
    durable: bool

    async def open(self) -> None:
        """Open files/connections. Loads no rooms."""

    async def close(self) -> None:
        """Finish pending work and release files and connections."""

    async def append(self, batch: Sequence[Stamped]) -> list[Appended]:
        """Commit a batch atomically and in order; one ``Appended`` per item.

        Ids are taken inside the write (never from a cache another process could have passed),
        so several processes or nodes may append to one room at once. A ``client_id`` already
        used in the room returns the stored original with ``created=False``. Retention: once the
        batch commits, each touched room keeps exactly its newest ``retain`` ids.

        Room cap: a store made with ``max_rooms`` refuses (``Appended.refused``) a publish that
        would create a room while ``max_rooms`` rooms hold messages, checked inside the same
        write that would create it, so concurrent batches (or processes) cannot overshoot.
        """

    async def bounds(self, room: str) -> Bounds:
        """The room's bounds and epoch now. An empty room has an epoch already: the one its
        first message will be stored under (unless its log is lost in between)."""

    async def bounds_many(self, rooms: Sequence[str]) -> dict[str, Bounds]:
        """:meth:`bounds` of several rooms in one read: a reconnect storm loads thousands
        of rooms, and one store round trip each was most of a subscription's cost."""

    async def read_after(self, room: str, since: int, limit: int) -> list[Message]:
        """Up to ``limit`` messages with ``id > since``, oldest first."""

    async def read_before(self, room: str, before: int, limit: int) -> list[Message]:
        """The newest ``limit`` messages with ``id < before``, oldest first."""

    async def corrections(self, room: str, first: int, last: int) -> list[Message]:
        """The edits and deletes the room keeps whose ``target`` is ``first`` to ``last``,
        oldest first (``?view=latest`` applies them to a page of the log)."""

    async def list_rooms(
        self, after: str | None, limit: int, until: str | None = None
    ) -> list[tuple[str, int]]:
        """Rooms holding messages, ``(name, last_id)``, names ascending, names > ``after``
        and, with ``until``, names <= ``until``."""

    async def count_rooms(self) -> int:
        """How many rooms hold messages (the ones ``list_rooms`` pages); cheap to call."""

    async def clear(self, room: str) -> str:
        """Drop every message of ``room`` and start its log over in a new epoch (returned),
        so that every cursor into the old log is told a reset. The room then holds no
        messages (``list_rooms`` leaves it out) until its next publish, which takes id 1."""

    async def ping(self) -> bool:
        """True while the store can take writes (not only reads)."""

    async def search(self, query: Query, scope: SearchScope) -> list[Found]:
        """Messages matching ``query`` by their current text, newest first.

        Raises ``Indexing`` while the store is still indexing what it held before search
        existed, ``SearchUnavailable`` if it keeps no search index."""
