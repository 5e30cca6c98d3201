"""The ``Store`` protocol every backend implements, and the rules they share.

A store is the durable side of rooms: it assigns ids (gapless, never reused),
keeps ``client_id``s for idempotency, applies retention, and answers range
reads. It never talks to subscribers; the node fans out what it committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hubbub.protocol.cursors import Bounds
from hubbub.protocol.messages import Message, Publish


@dataclass(frozen=True, slots=True)
class Stamped:
    """A publish waiting to be committed, with the server time it was accepted."""

    publish: Publish
    ts: int


@dataclass(frozen=True, slots=True)
class Appended:
    """The outcome of one publish: the stored message, and whether it is new."""

    message: Message
    created: bool


def bounds_after(last_id: int, retain: int | None) -> Bounds:
    """The ids a room keeps once ``last_id`` is committed under ``retain``."""
    if last_id == 0:
        return Bounds(0, 0)
    first_id = 1 if retain is None else max(1, last_id - retain + 1)
    return Bounds(first_id, last_id)


class Store(Protocol):
    """What the node needs from a backend. Failures raise ``StoreError``."""

    async def open(self) -> dict[str, Bounds]:
        """Open the store and return every room that holds messages, with its bounds."""

    async def close(self) -> None:
        """Finish pending work and release files and connections."""

    async def append(self, batch: Sequence[Stamped]) -> list[Appended]:
        """Commit a batch in one transaction, in order; one ``Appended`` per item."""

    async def read_after(self, room: str, since: int, limit: int) -> list[Message]:
        """Up to ``limit`` messages with ``id > since``, oldest first."""

    async def read_before(self, room: str, before: int, limit: int) -> list[Message]:
        """The newest ``limit`` messages with ``id < before``, oldest first."""

    async def ping(self) -> bool:
        """True while the store can serve."""
